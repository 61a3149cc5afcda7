"""The demo city's ambulances: a GTFS-Realtime VehiclePositions feed, as an AVL system exports it.

Ambulances wait at their stations (the hospitals and two stand-alone posts). Now and then one
is dispatched: it drives along the roads to an incident, stays on scene, takes the patient to
the nearest hospital, hands over, and drives back to its station. While on a call its
VehiclePosition carries a TripDescriptor with ``trip_id`` ``call-<n>``; available ambulances
(at the station or on the way back) carry none. Calls are drawn per ambulance and 4-hour window
from the seed (busier by day), so positions are a pure function of time; in the rainstorm most
ambulances are sent into the flooded district.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from google.transit import gtfs_realtime_pb2 as rt

from data_adapters.simulator.city import CityModel, points_in_polygon, shortest_path
from data_adapters.simulator.medical import Hospital
from data_adapters.simulator.patterns import emergency_calls, local_hours, uniform, zone
from data_adapters.simulator.scenario import Scenario

DEFAULT_AMBULANCES = 12
MAX_AMBULANCES = 2_000
CALL_WINDOW_S = 4 * 3600       # at most one regular call per ambulance per window
CALL_START_SPREAD_S = 3600     # a call starts in the first hour of its window
CALL_SHARE = 0.45              # share of windows with a call, on an average hour
STORM_CALL_SHARE = 0.75        # share of ambulances the rainstorm sends out
SPEED_MPS = 11.0               # about 40 km/h through city traffic with sirens on
SCENE_S = (600, 1200)
HANDOVER_S = (600, 1200)
TURN_PENALTY_M = 150.0
STANDALONE_POSTS = 2


@dataclass(frozen=True)
class Leg:
    """A part of a call: driving a path (several points) or waiting at one, from t0 to t1."""

    t0: float
    t1: float
    xy: np.ndarray        # (n, 2) local metres; one row when waiting
    on_call: bool


@dataclass(frozen=True)
class Call:
    """One dispatch of one ambulance."""

    number: int
    start: float
    end: float
    legs: tuple[Leg, ...]
    incident_node: int
    hospital: int


class AmbulanceService:
    """The ambulance fleet of the city and where each ambulance is at any time."""

    def __init__(self, city: CityModel, hospitals: list[Hospital], seed: int = 1,
                 ambulances: int = DEFAULT_AMBULANCES, scenario: Scenario | None = None) -> None:
        if not 0 <= ambulances <= MAX_AMBULANCES:
            raise ValueError(f"ambulances must be from 0 to {MAX_AMBULANCES}")
        if not hospitals:
            raise ValueError("ambulances need at least one hospital")
        self.city, self.hospitals, self.seed, self.scenario = city, hospitals, seed, scenario
        self.tz = zone(city.timezone)
        nodes = np.array(city.nodes)
        x, y = city.to_xy(nodes[:, 0], nodes[:, 1])
        self._xy = np.column_stack([x, y])
        self._weights = {(min(a, b), max(a, b)): float(np.hypot(*(self._xy[a] - self._xy[b])))
                         for a, b in city.edges}
        posts = [int(uniform(seed, 120, k, 0)[0] * len(nodes)) for k in range(STANDALONE_POSTS)]
        self.stations = [h.node for h in hospitals] + posts
        self.ids = [f"amb-{k + 1:02d}" for k in range(ambulances)]
        self.labels = [f"120-{k + 1:02d}" for k in range(ambulances)]
        self.plates = [f"湘H·J{k + 1:04d}" for k in range(ambulances)]
        self._flooded = np.zeros(0, dtype=np.int64)
        if scenario is not None:
            inside = points_in_polygon(nodes[:, 0], nodes[:, 1], scenario.district.polygon)
            self._flooded = np.flatnonzero(inside)
        self._paths: dict[tuple[int, int], np.ndarray] = {}
        self._calls: dict[tuple[int, int], Call | None] = {}

    def __len__(self) -> int:
        """The number of ambulances."""
        return len(self.ids)

    def home(self, ambulance: int) -> int:
        """The node of an ambulance's station."""
        return self.stations[ambulance % len(self.stations)]

    def phase(self, ambulance: int) -> float:
        """Where an ambulance's call windows begin: staggered, so calls do not all come at once."""
        return CALL_WINDOW_S * float(uniform(self.seed, 129, ambulance, 0)[0])

    # -- calls ---------------------------------------------------------------------------------
    def path(self, a: int, b: int) -> np.ndarray:
        """The road path from node a to node b as (n, 2) local metres (cached)."""
        key = (a, b)
        if key not in self._paths:
            nodes = shortest_path(self.city, a, b, self._weights, TURN_PENALTY_M) if a != b else [a]
            self._paths[key] = self._xy[nodes or [a, b]]
        return self._paths[key]

    def _build(self, ambulance: int, number: int, start: float, incident: int) -> Call:
        """The legs of a call from the station to ``incident``, a hospital, and back."""
        seed, key = self.seed, number
        home = self.home(ambulance)
        # The nearest hospital as the crow flies: what a dispatcher's map shows first.
        hospital = min(self.hospitals,
                       key=lambda h: float(np.hypot(*(self._xy[h.node] - self._xy[incident]))))
        legs: list[Leg] = []
        t = float(start)

        def drive(a: int, b: int, on_call: bool) -> None:
            nonlocal t
            xy = self.path(a, b)
            length = float(np.hypot(*np.diff(xy, axis=0).T).sum()) if len(xy) > 1 else 0.0
            legs.append(Leg(t, t + max(length / SPEED_MPS, 1.0), xy, on_call))
            t = legs[-1].t1

        def wait(node: int, span: tuple[int, int], stream: int) -> None:
            nonlocal t
            length = span[0] + (span[1] - span[0]) * float(uniform(seed, stream, key, 0)[0])
            legs.append(Leg(t, t + length, self._xy[[node]], True))
            t = legs[-1].t1

        drive(home, incident, True)
        wait(incident, SCENE_S, 121)
        drive(incident, hospital.node, True)
        wait(hospital.node, HANDOVER_S, 122)
        drive(hospital.node, home, False)
        return Call(number, float(start), t, tuple(legs), incident, hospital.index)

    def regular_call(self, ambulance: int, window: int) -> Call | None:
        """The call of an ambulance in a 4-hour window, if it has one."""
        cache_key = (ambulance, window)
        if cache_key in self._calls:
            return self._calls[cache_key]
        seed = self.seed
        begin = window * CALL_WINDOW_S + self.phase(ambulance)
        middle = begin + CALL_WINDOW_S / 2
        share = CALL_SHARE * float(emergency_calls(local_hours(np.array([middle]), self.tz))[0])
        call = None
        if uniform(seed, 123, ambulance, window)[0] < share:
            spread = CALL_START_SPREAD_S * float(uniform(seed, 124, ambulance, window)[0])
            start = begin + spread
            incident = int(uniform(seed, 125, ambulance, window)[0] * len(self._xy))
            call = self._build(ambulance, window * 10_000 + ambulance, start, incident)
        if len(self._calls) > 50_000:
            self._calls.clear()  # a long-running demo must not grow without bound
        self._calls[cache_key] = call
        return call

    def storm_call(self, ambulance: int) -> Call | None:
        """The rainstorm call of an ambulance (into the flooded district), if it gets one."""
        scenario = self.scenario
        if scenario is None or uniform(self.seed, 126, ambulance, 0)[0] >= STORM_CALL_SHARE:
            return None
        cache_key = (ambulance, -1)
        if cache_key not in self._calls:
            start = scenario.start + 60.0 * (10.0 + 90.0 * float(uniform(self.seed, 127, ambulance, 0)[0]))
            pool = self._flooded if len(self._flooded) else np.arange(len(self._xy))
            incident = int(pool[int(uniform(self.seed, 128, ambulance, 0)[0] * len(pool))])
            number = int(scenario.start) // 60 * 10_000 + ambulance
            self._calls[cache_key] = self._build(ambulance, number, start, incident)
        return self._calls[cache_key]

    def call_at(self, ambulance: int, now: float) -> Call | None:
        """The call an ambulance is on (or driving back from) at ``now``, if any."""
        storm = self.storm_call(ambulance)
        if storm is not None and storm.start <= now < storm.end:
            return storm
        window = math.floor((now - self.phase(ambulance)) / CALL_WINDOW_S)
        for w in (window, window - 1):
            call = self.regular_call(ambulance, w)
            if call is None or not call.start <= now < call.end:
                continue
            # The rainstorm call takes precedence over a regular one it overlaps.
            if storm is not None and storm.start < call.end and call.start < storm.end:
                continue
            return call
        return None

    # -- positions -----------------------------------------------------------------------------
    def state(self, ambulance: int, now: float) -> tuple[float, float, float, float, str | None]:
        """(lon, lat, bearing, speed m/s, trip_id or None) of an ambulance at ``now``."""
        call = self.call_at(ambulance, now)
        if call is None:
            x, y = self._xy[self.home(ambulance)]
            lon, lat = self.city.to_lonlat(x, y)
            return float(lon), float(lat), 0.0, 0.0, None
        leg = next(leg for leg in call.legs if leg.t0 <= now < leg.t1)
        trip = f"call-{call.number}" if leg.on_call else None
        if len(leg.xy) == 1:
            lon, lat = self.city.to_lonlat(*leg.xy[0])
            return float(lon), float(lat), 0.0, 0.0, trip
        steps = np.hypot(*np.diff(leg.xy, axis=0).T)
        along = (now - leg.t0) / (leg.t1 - leg.t0) * float(steps.sum())
        cumulative = np.concatenate([[0.0], np.cumsum(steps)])
        k = int(min(np.searchsorted(cumulative, along, side="right") - 1, len(steps) - 1))
        f = (along - cumulative[k]) / max(float(steps[k]), 1e-9)
        (x0, y0), (x1, y1) = leg.xy[k], leg.xy[k + 1]
        lon, lat = self.city.to_lonlat(x0 + f * (x1 - x0), y0 + f * (y1 - y0))
        bearing = (math.degrees(math.atan2(x1 - x0, y1 - y0)) + 360.0) % 360.0
        return float(lon), float(lat), bearing, SPEED_MPS, trip

    def vehicle_positions(self, now: float) -> bytes:
        """A GTFS-Realtime VehiclePositions feed (FULL_DATASET) of every ambulance at ``now``."""
        feed = rt.FeedMessage()
        feed.header.gtfs_realtime_version = "2.0"
        feed.header.incrementality = rt.FeedHeader.FULL_DATASET
        feed.header.timestamp = int(now)
        for k, (vid, label, plate) in enumerate(zip(self.ids, self.labels, self.plates, strict=True)):
            lon, lat, bearing, speed, trip = self.state(k, now)
            entity = feed.entity.add()
            entity.id = vid
            vp = entity.vehicle
            if trip is not None:
                vp.trip.trip_id = trip
            vp.vehicle.id, vp.vehicle.label, vp.vehicle.license_plate = vid, label, plate
            vp.position.latitude, vp.position.longitude = lat, lon
            vp.position.bearing, vp.position.speed = bearing, speed
            vp.timestamp = int(now)
        return feed.SerializeToString()

