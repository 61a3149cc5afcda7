"""Fleet: the buses of a network, their delays and state at any instant, and their realtime feeds."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from data_adapters.simulator.patterns import utc_offset, zone
from data_adapters.simulator.transit import realtime
from data_adapters.simulator.transit.delays import Breakdowns, DelayArea, DelayModel, route_shares
from data_adapters.simulator.transit.detours import detours
from data_adapters.simulator.transit.load import congestion, occupancy, route_popularity
from data_adapters.simulator.transit.model import Route, Stop
from data_adapters.simulator.transit.motion import Duties, FleetState, phase, position, progress
from data_adapters.simulator.transit.network import TransitNetwork
from data_adapters.simulator.transit.tables import Shapes, Timetables


class Fleet:
    """The buses of a :class:`TransitNetwork`, each shuttling along its route on a trip."""

    def __init__(self, network: TransitNetwork, vehicles: int | None = None, seed: int | None = None) -> None:
        if vehicles is not None and vehicles != network.vehicles:
            network.plan_service(vehicles)
        self.network = network
        self.seed = network.seed if seed is None else seed
        self.city = network.city
        self._zone = zone(network.city.timezone)
        self._state: FleetState | None = None
        routes = network.routes
        self._duties = Duties.assign(routes)
        self.route, self.slot = self._duties.route, self._duties.slot
        n = len(self.route)
        self.vehicle_ids = [f"bus-{k + 1:05d}" for k in range(n)]
        self.labels = [f"{routes[r].short_name}-{s + 1:02d}"
                       for r, s in zip(self.route.tolist(), self.slot.tolist(), strict=True)]
        self.plates = [f"湘H·D{k + 1:05d}" for k in range(n)]
        self._timetables = Timetables.build(routes)
        self._shapes = Shapes.build(routes, self.city.center.lat)
        self._names = realtime.FeedNames.of(self.vehicle_ids, self.labels, self.plates, self.route, routes,
                                            self._timetables.stop_ids)
        self._delays = DelayModel(self.seed, self.route, self._zone)
        self._ids = np.arange(n)
        self._popularity = route_popularity(self.seed, self.route)
        self._notices: Callable[[float], list[dict[str, Any]]] | None = None

    def __len__(self) -> int:
        """The number of vehicles."""
        return len(self.vehicle_ids)

    # -- time and delay ----------------------------------------------------------------------
    def utc_offset(self, now: float) -> int:
        """Seconds the city's clock is ahead of UTC at ``now``."""
        return utc_offset(now, self._zone)

    def delays(self, now: float) -> np.ndarray:
        """Each vehicle's delay in seconds at ``now`` (a pure function of seed, vehicle and time)."""
        return self._delays.at(now)

    def add_delay_area(self, polygon: Sequence[tuple[float, float]], start: float, peak_s: float,
                       rise_s: float = 0.0, hold_s: float = 0.0, fall_s: float = 0.0) -> DelayArea:
        """Delay the buses of routes through ``polygon`` (a closed ring of lon, lat) from ``start``.

        A bus gets up to ``peak_s`` times the share of its route inside the area (doubled, at most
        1), varied per bus. Ramps shorter than the slope bounds allow are lengthened, so positions
        stay a pure, forward-moving function of time. Calm behaviour is unchanged without areas.
        """
        area = DelayArea.within_bounds(polygon, start, peak_s, rise_s, hold_s, fall_s)
        self._delays.add_area(area, self.route_shares(area.polygon)[self.route])
        self._state = None  # the cached step no longer holds
        return area

    def add_incidents(self, breakdowns: Breakdowns,
                      notices: Callable[[float], list[dict[str, Any]]]) -> None:
        """Unplanned incidents (the demo's trickle): ``breakdowns(t)`` stop buses (see
        DelayModel.add_breakdowns), ``notices(now)`` are listed as service alerts beside the detours."""
        self._delays.add_breakdowns(breakdowns)
        self._notices = notices
        self._state = None

    def where(self, vehicle: int, now: float) -> tuple[Route, Stop]:
        """The route of ``vehicle`` and the stop it is at or last left at ``now``."""
        state = self.step(now)
        stop_at = int(self._flat_stop(state, state.stop_index)[vehicle])
        return (self.network.routes[int(self.route[vehicle])],
                self.network.stop(self._timetables.stop_ids[stop_at]))

    def route_shares(self, polygon: Sequence[tuple[float, float]]) -> np.ndarray:
        """Share of each route's length (indexed by route index) that lies inside ``polygon``."""
        return route_shares(self.network.routes, polygon)

    # -- simulation --------------------------------------------------------------------------
    def step(self, now: float) -> FleetState:
        """Move every vehicle to wall time ``now`` (UTC epoch seconds) and return the state."""
        cached = self._state
        if cached is not None and cached.now == now:
            return cached
        delay = self.delays(now)
        slope = (delay - self.delays(now - 2.0)) / 2.0
        local = now + self.utc_offset(now)
        # The schedule time at which the vehicle is where it is now.
        at = phase(self._duties, local - delay)
        along = progress(self._timetables, self.route, at)
        lon, lat, bearing = position(self._shapes, self._duties, at.direction, along.dist)
        speed = np.where(along.dwelling, 0.0, self._duties.cruise * (1.0 - slope))
        state = FleetState(now=now, lat=lat, lon=lon, bearing=bearing, speed=speed, delay=delay,
                           direction=at.direction, trip_start=at.trip_start, service_day=at.service_day,
                           stop_index=along.stop_index, next_index=along.next_index, status=along.status,
                           occupancy=occupancy(self.seed, self._ids, self._popularity, local, at.trip_start,
                                               at.layover),
                           congestion=congestion(slope))
        # Returned from the local, not the attribute: the server builds feeds in parallel threads,
        # and another step may replace the cached state before this one returns.
        self._state = state
        return state

    def _flat_stop(self, state: FleetState, index: np.ndarray) -> np.ndarray:
        """Each vehicle's stop ``index`` (in its trip's order) in the flattened timetable stops."""
        return self._timetables.stop_start[2 * self.route + state.direction] + index

    # -- GTFS-Realtime -----------------------------------------------------------------------
    def vehicle_positions(self, now: float) -> bytes:
        """A GTFS-Realtime VehiclePositions feed of the whole fleet at ``now``."""
        state = self.step(now)
        stop_at = self._flat_stop(state, state.stop_index)
        return realtime.vehicle_positions(self._names, state, stop_at.tolist())

    def trip_updates(self, now: float) -> bytes:
        """A GTFS-Realtime TripUpdates feed: every vehicle's delay and its next stop's arrival."""
        state = self.step(now)
        flat = self._flat_stop(state, state.next_index)
        # Predicted arrival: scheduled arrival (UTC) pushed back by the current delay.
        delay = np.rint(state.delay).astype(np.int64)
        scheduled = state.trip_start - self.utc_offset(now) + self._timetables.stop_arr[flat]
        arrival = scheduled.astype(np.int64) + delay
        return realtime.trip_updates(self._names, state, flat.tolist(), delay.tolist(), arrival.tolist())

    def alerts(self, now: float) -> bytes:
        """A GTFS-Realtime Alerts feed: usually empty, sometimes a detour on one route (and the
        notices of unplanned incidents, when add_incidents gave any)."""
        notices = self._notices(now) if self._notices is not None else []
        return realtime.alerts(self.detours(now), now, notices)

    def detours(self, now: float) -> list[dict[str, Any]]:
        """The detours announced at ``now``: a few per day, each for 15-45 minutes."""
        return detours(self.seed, self.network.active_routes, self.network.stop, now)
