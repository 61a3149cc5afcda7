"""Where every bus is at one instant: FleetState, the buses' duties, and the step from schedule to place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from google.transit import gtfs_realtime_pb2 as rt

from data_adapters.simulator.patterns import DAY_S
from data_adapters.simulator.transit.model import Route
from data_adapters.simulator.transit.tables import Shapes, Timetables

INCOMING_M = 80.0  # a moving bus this close to its next stop is INCOMING_AT it


@dataclass
class FleetState:
    """Every vehicle at one instant (arrays indexed like :attr:`Fleet.vehicle_ids`)."""

    now: float
    lat: np.ndarray
    lon: np.ndarray
    bearing: np.ndarray          # degrees clockwise from north
    speed: np.ndarray            # m/s
    delay: np.ndarray            # seconds, positive = late
    direction: np.ndarray        # 0 outbound, 1 inbound
    trip_start: np.ndarray       # scheduled departure, local seconds since the epoch
    service_day: np.ndarray      # local days since the epoch the trip belongs to
    stop_index: np.ndarray       # index (in the trip's stop order) of the current stop
    next_index: np.ndarray       # index of the next stop the vehicle will reach
    status: np.ndarray           # VehicleStopStatus values
    occupancy: np.ndarray        # OccupancyStatus values
    congestion: np.ndarray       # CongestionLevel values


@dataclass(frozen=True)
class Duties:
    """Which route and slot each bus runs, with its route's schedule numbers repeated per bus.

    Bus ``slot`` of a route runs ``slot`` headways behind the first one; buses are numbered route
    by route over the active routes.
    """

    route: np.ndarray
    slot: np.ndarray
    headway: np.ndarray
    offset: np.ndarray           # first outbound departure of the day
    run: np.ndarray              # running time of one trip
    lay_b: np.ndarray            # layover at the inbound terminal
    cycle: np.ndarray            # out and back, layovers included
    length: np.ndarray           # metres
    cruise: np.ndarray           # m/s
    win0: np.ndarray             # start of each direction's frequency window
    win1: np.ndarray

    @classmethod
    def assign(cls, routes: Sequence[Route]) -> Duties:
        """The duties for the vehicles planned on ``routes`` (all routes, in route index order)."""
        route_of, slot_of = [], []
        for r in routes:
            route_of += [r.index] * r.vehicles
            slot_of += list(range(r.vehicles))
        route = np.array(route_of, dtype=np.int64)

        def per_route(values: Iterable[float]) -> np.ndarray:
            return np.array(list(values), dtype=np.float64)[route]

        headway, offset = per_route(r.headway_s for r in routes), per_route(r.offset_s for r in routes)
        return cls(route=route, slot=np.array(slot_of, dtype=np.int64), headway=headway, offset=offset,
                   run=per_route(r.run_time_s for r in routes),
                   lay_b=per_route(r.layover_b_s for r in routes),
                   cycle=headway * per_route(r.vehicles for r in routes),
                   length=per_route(r.length_m for r in routes),
                   cruise=per_route(r.cruise_mps for r in routes), win0=offset,
                   win1=per_route(r.window_start_s(1) for r in routes))


@dataclass(frozen=True)
class Phase:
    """Where each bus is in its duty cycle at a schedule time."""

    direction: np.ndarray        # of the trip it is on (or waits to start)
    tau: np.ndarray              # seconds into that trip (0 during a layover)
    layover: np.ndarray          # waiting at a terminal
    trip_start: np.ndarray       # scheduled departure of the trip, local seconds since the epoch
    service_day: np.ndarray


def phase(duties: Duties, sched: np.ndarray) -> Phase:
    """Each bus's trip at local schedule time ``sched``; in a layover it already belongs to its next trip."""
    run, lay_b, cycle = duties.run, duties.lay_b, duties.cycle
    psi = np.mod(sched - duties.offset - duties.slot * duties.headway, cycle)
    outbound = psi < run
    at_b = (psi >= run) & (psi < run + lay_b)
    inbound = (psi >= run + lay_b) & (psi < 2 * run + lay_b)
    layover = ~(outbound | inbound)
    direction = (at_b | inbound).astype(np.int64)
    tau = np.where(outbound, psi, np.where(inbound, psi - run - lay_b, 0.0))
    until_start = np.where(outbound | inbound, -tau, np.where(at_b, run + lay_b - psi, cycle - psi))
    trip_start = np.rint(sched + until_start)
    win = np.where(direction == 0, duties.win0, duties.win1)
    service_day = np.floor((trip_start - win) / DAY_S).astype(np.int64)
    return Phase(direction, tau, layover, trip_start, service_day)


@dataclass(frozen=True)
class Progress:
    """Each bus along its trip: metres, stop indexes (in the trip's order) and stop status."""

    dist: np.ndarray
    dwelling: np.ndarray
    stop_index: np.ndarray
    next_index: np.ndarray
    status: np.ndarray


def progress(tables: Timetables, route: np.ndarray, at: Phase) -> Progress:
    """How far each bus is along its trip, its current and next stop, and whether it is at or near one."""
    rd = 2 * route + at.direction
    key = tables.key(rd, at.tau)
    dist, at_stop = tables.distance(rd, key)
    dwelling = at_stop | at.layover
    count = tables.stop_count[route]
    # Which stop: count the stops whose scheduled arrival has passed.
    stop_base = tables.stop_start[rd]
    stop_index = np.clip(tables.last_arrival(key) - stop_base, 0, count - 1)
    status = np.where(dwelling, rt.VehiclePosition.STOPPED_AT, rt.VehiclePosition.IN_TRANSIT_TO)
    moving = ~dwelling
    stop_index = np.where(moving, np.minimum(stop_index + 1, count - 1), stop_index)
    stop_index = np.where(at.layover, 0, stop_index)
    remaining = tables.stop_dist[stop_base + stop_index] - dist
    status = np.where(moving & (remaining < INCOMING_M), rt.VehiclePosition.INCOMING_AT, status)
    next_index = np.where(dwelling, np.minimum(stop_index + 1, count - 1), stop_index)
    return Progress(dist, dwelling, stop_index, next_index, status)


def position(shapes: Shapes, duties: Duties, direction: np.ndarray,
             dist: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """lon, lat and bearing of each bus ``dist`` metres into its trip (inbound runs the shape backwards)."""
    along = np.where(direction == 0, dist, duties.length - dist)
    lon, lat, bearing = shapes.locate(duties.route, along)
    return lon, lat, np.where(direction == 0, bearing, (bearing + 180.0) % 360.0)
