"""The demo city's buses: routes on the street grid, a GTFS schedule, and a fleet that runs it live.

The schedule is frequency-based (GTFS ``frequencies.txt`` with ``exact_times=1``): each route has one
template trip per direction and a headway, so the static feed stays small at any fleet size while
every departure still has exact scheduled times. A vehicle shuttles between the two terminals of its
route, ``headway`` behind the previous one. Its position is a pure function of wall time: it is where
its schedule put it ``delay`` seconds ago, and the delay itself is a deterministic function of
(seed, vehicle, time). Any polling pattern, a restart, or a second process therefore sees the same
city at the same instant.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import random
import zipfile
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Iterable, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from google.transit import gtfs_realtime_pb2 as rt

from data_adapters.simulator.city import CityModel, points_in_polygon, shortest_path
from data_adapters.simulator.patterns import uniform

DAY_S = 86_400
DEFAULT_VEHICLES = 200
DEFAULT_ROUTES = 12
MAX_VEHICLES_PER_ROUTE = 60
# Past DEFAULT_ROUTES, one route per this many vehicles: below the cap on average, so the cap only
# binds on short routes, whose extra buses just wait longer at the terminals.
VEHICLES_PER_ROUTE = 48
MIN_STOPS, MAX_STOPS = 8, 40
MIN_LAYOVER_S = 240
MIN_HEADWAY_S = 60
# Headways divide the day exactly, so a vehicle's cycle lines up with every service day.
HEADWAYS_S: tuple[int, ...] = tuple(d for d in range(MIN_HEADWAY_S, DAY_S + 1) if DAY_S % d == 0)
# Stop candidates sit at these fractions of every road segment (about 270 m apart on an
# 800 m grid); a route serves every other one, which gives the 400-600 m stop spacing of a city bus.
STOP_FRACTIONS: tuple[float, ...] = (1 / 6, 1 / 2, 5 / 6)
# Cruise speed between stops. Delay recovery can speed a bus up by at most 25 %, so the top
# speed stays below 35 km/h, and dwell time brings the average to roughly 17-22 km/h.
CRUISE_KMH = (21.0, 27.0)
DWELL_S = (15, 25)
TURN_PENALTY_M = 500.0

# Delay model (seconds). Slopes are bounded so that a bus never drives backwards (the delay grows
# slower than time) and never catches up faster than 1.25x its cruise speed.
DELAY_MIN_S, DELAY_MAX_S = -120.0, 900.0
NOISE_PERIOD_S, NOISE_AMPLITUDE_S = 1200.0, 45.0
INCIDENT_BUCKET_S = 7200.0
INCIDENT_PROBABILITY = 0.2
INCIDENT_RAMP = 0.75      # delay gained per second while stuck
INCIDENT_RECOVERY = 0.1   # delay recovered per second afterwards
INCIDENT_MINUTES = (2.0, 12.0)
RUSH_AMPLITUDE_S = 150.0
# Delay areas (a flooded district) add delay on top of all that. The calm delay's slope already
# reaches about +0.92 s/s (incident + noise) and -0.22 s/s (recovery + noise), so an area's extra
# delay may rise at most 0.07 s/s and fall at most 0.025 s/s: a bus still never drives backwards
# and never catches up faster than 25 % above its cruise speed.
AREA_MAX_RISE = 0.07
AREA_MAX_FALL = 0.025
AREA_SAMPLE_M = 50.0

AGENCY_ID = "YYBUS"
ROUTE_COLORS: tuple[str, ...] = (
    "E53935", "1E88E5", "43A047", "FB8C00", "8E24AA", "00897B", "F4511E", "3949AB",
    "C0CA33", "6D4C41", "D81B60", "00ACC1", "FDD835", "5E35B1", "7CB342", "546E7A",
)
LANDMARKS: tuple[str, ...] = (
    "Yiyang Railway Station", "Yiyang South Station", "Central Hospital", "Hunan City University",
    "Yiyang Normal School", "Municipal Government", "Olympic Sports Centre", "Huilongshan Park",
    "Long-distance Bus Station", "Wanda Plaza", "No. 1 Middle School", "Maternal and Child Hospital",
    "Taohualun Market", "Gaoxin Industrial Park", "Zijiang Bridge North", "Qiushui Lake",
    "Traditional Chinese Medicine Hospital", "Yiyang Library", "Xinhua Bookstore", "Exhibition Centre",
)
DATE_FORMAT = "%Y%m%d"
ZIP_TIMESTAMP = (2024, 1, 1, 0, 0, 0)


# -- deterministic hashing: shared with the other models of the city --------------------------------
_uniform = uniform


# -- the network ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stop:
    """A bus stop: ``stop_id`` is stable for a given city (it names the road segment it is on)."""

    stop_id: str
    name: str
    lat: float
    lon: float


@dataclass
class Route:
    """One bus line: its path, its stops in the outbound direction, its running times and service plan.

    Times are integer seconds from the trip's departure; ``arrivals[d][i]`` and ``departures[d][i]``
    are for the i-th stop of direction d (0 outbound, 1 inbound, the same stops reversed).
    """

    index: int
    route_id: str
    short_name: str
    long_name: str
    color: str
    text_color: str
    shape: np.ndarray            # (n, 2) lon, lat of the outbound path
    shape_dist: np.ndarray       # metres along it
    stop_ids: list[str]          # outbound order
    stop_dist: np.ndarray        # metres along the outbound shape
    cruise_mps: float
    dwell_s: int
    arrivals: tuple[list[int], list[int]]
    departures: tuple[list[int], list[int]]
    headsigns: tuple[str, str]
    vehicles: int = 0
    headway_s: int = 0
    offset_s: int = 0            # first outbound departure of the day, in [0, headway)
    layover_a_s: int = 0         # at the outbound terminal (first stop)
    layover_b_s: int = 0         # at the inbound terminal (last stop)

    @property
    def length_m(self) -> float:
        """Length of the route from first to last stop."""
        return float(self.shape_dist[-1])

    @property
    def run_time_s(self) -> int:
        """Scheduled time from the first stop to the last, dwell included."""
        return self.arrivals[0][-1]

    @property
    def cycle_s(self) -> int:
        """Time for one vehicle to go out and back, layovers included."""
        return self.vehicles * self.headway_s

    def trip_id(self, direction: int) -> str:
        """The template trip of a direction (frequency-based: one per direction)."""
        return f"{self.route_id}-{'out' if direction == 0 else 'in'}"

    def window_start_s(self, direction: int) -> int:
        """Start of the direction's frequency window (seconds after midnight, below one headway)."""
        if direction == 0 or self.headway_s == 0:  # no headway: the route has no vehicles
            return self.offset_s
        return (self.offset_s + self.run_time_s + self.layover_b_s) % self.headway_s


@dataclass
class _StopCandidate:
    stop_id: str
    name: str
    x: float
    y: float


@dataclass
class TransitNetwork:
    """Routes and stops of the demo city, with a service plan for a number of vehicles."""

    city: CityModel
    seed: int
    stops: list[Stop] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    vehicles: int = 0
    _candidates: dict[int, list[_StopCandidate]] = field(default_factory=dict, repr=False)
    _stop_by_id: dict[str, Stop] = field(default_factory=dict, repr=False)

    @classmethod
    def generate(cls, city: CityModel, routes: int | None = None, seed: int = 1,
                 vehicles: int = DEFAULT_VEHICLES) -> "TransitNetwork":
        """Routes on the city's roads for ``vehicles``: ``routes`` at least, more if the fleet needs them."""
        network = cls(city=city, seed=seed)
        network._build_candidates()
        network._add_routes(routes if routes is not None else DEFAULT_ROUTES)
        network.plan_service(vehicles)
        return network

    # -- construction ------------------------------------------------------------------------
    def _build_candidates(self) -> None:
        """Possible stop positions and names on every road segment (used ones become stops)."""
        city = self.city
        rng = random.Random(f"{self.seed}/landmarks")
        mids = list(range(len(city.edges)))
        rng.shuffle(mids)
        landmark_of = dict(zip(mids, LANDMARKS, strict=False))  # fewer landmarks than edges
        xs, ys = city.to_xy(np.array([n[0] for n in city.nodes]), np.array([n[1] for n in city.nodes]))
        self._node_xy = np.column_stack([xs, ys])
        for e, (a, b) in enumerate(city.edges):
            (ia, ja), (ib, jb) = city.node_lines[a], city.node_lines[b]
            if ja == jb:
                road, cross_a, cross_b = city.row_names[ja], city.column_names[ia], city.column_names[ib]
            else:
                road, cross_a, cross_b = city.column_names[ia], city.row_names[ja], city.row_names[jb]
            names = (f"{road} / {cross_a}",
                     landmark_of.get(e) or f"{road} ({_short(cross_a)}-{_short(cross_b)})",
                     f"{road} / {cross_b}")
            pa, pb = self._node_xy[a], self._node_xy[b]
            self._candidates[e] = [
                _StopCandidate(f"S{e:04d}{k}", names[k], *(pa + f * (pb - pa)))
                for k, f in enumerate(STOP_FRACTIONS)]
        self._edge_of = {(a, b): e for e, (a, b) in enumerate(city.edges)}
        self._edge_length = {(a, b): float(np.hypot(*(self._node_xy[a] - self._node_xy[b])))
                             for a, b in city.edges}

    def _add_routes(self, count: int) -> None:
        """Append routes until there are ``count``; route i depends only on (city, seed, i)."""
        while len(self.routes) < count:
            self.routes.append(self._make_route(len(self.routes)))
        self.stops = sorted(self._stop_by_id.values(), key=lambda s: s.stop_id)

    def stop(self, stop_id: str) -> Stop:
        """The stop with this id."""
        return self._stop_by_id[stop_id]

    def _make_route(self, index: int) -> Route:
        rng = random.Random(f"{self.seed}/route/{index}")
        city, xy = self.city, self._node_xy
        n_nodes = len(city.nodes)
        for _attempt in range(200):
            start = rng.randrange(n_nodes)
            want_m = rng.uniform(MIN_STOPS + 2, MAX_STOPS) * 530.0
            dist = np.hypot(*(xy - xy[start]).T)
            # Grid paths are ~1.25x the straight line; aim the far terminal accordingly.
            near = np.flatnonzero((dist > 0.55 * want_m) & (dist < 0.85 * want_m))
            if near.size == 0:
                continue
            goal = int(near[rng.randrange(near.size)])
            weights = {edge: length * rng.uniform(1.0, 1.6) for edge, length in self._edge_length.items()}
            path = shortest_path(city, start, goal, weights, TURN_PENALTY_M)
            if len(path) < 2 or len(set(path)) != len(path):
                continue
            picked = self._pick_stops(path, rng)
            if len(picked) >= MIN_STOPS:
                return self._route_from(index, rng, path, picked[:MAX_STOPS])
        raise RuntimeError("the city is too small for bus routes")  # pragma: no cover

    def _pick_stops(self, path: list[int], rng: random.Random) -> list[tuple[float, _StopCandidate]]:
        """Stops along ``path`` as (distance along it, candidate), about 400-600 m apart."""
        xy = self._node_xy
        along: list[tuple[float, _StopCandidate]] = []
        travelled = 0.0
        for a, b in pairwise(path):
            length = float(np.hypot(*(xy[b] - xy[a])))
            edge = self._edge_of[(min(a, b), max(a, b))]
            cands = self._candidates[edge] if a < b else self._candidates[edge][::-1]
            fracs = STOP_FRACTIONS if a < b else tuple(1 - f for f in reversed(STOP_FRACTIONS))
            along += [(travelled + f * length, c) for f, c in zip(fracs, cands, strict=True)]
            travelled += length
        picked = [along[0]]
        for k in range(1, len(along)):
            target = rng.uniform(450.0, 560.0)
            gap = along[k][0] - picked[-1][0]
            if gap < 380.0:
                continue
            later = along[k + 1][0] - picked[-1][0] if k + 1 < len(along) else math.inf
            if abs(gap - target) <= abs(later - target):
                picked.append(along[k])
        return picked

    def _route_from(self, index: int, rng: random.Random, path: list[int],
                    picked: list[tuple[float, _StopCandidate]]) -> Route:
        city, xy = self.city, self._node_xy
        # The shape runs from the first stop to the last so terminals sit on its ends.
        cum = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy[path], axis=0).T))])
        s_first, s_last = picked[0][0], picked[-1][0]
        inner = [k for k in range(len(path)) if s_first < cum[k] < s_last]
        pts = ([(picked[0][1].x, picked[0][1].y)] + [tuple(xy[path[k]]) for k in inner]
               + [(picked[-1][1].x, picked[-1][1].y)])
        pxy = np.array(pts, dtype=float)
        shape_dist = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(pxy, axis=0).T))])
        lon, lat = city.to_lonlat(pxy[:, 0], pxy[:, 1])
        stop_dist = np.array([s - s_first for s, _ in picked])
        stop_dist[-1] = shape_dist[-1]  # exact, so the last stop is the shape's end

        for _, cand in picked:
            if cand.stop_id not in self._stop_by_id:
                slon, slat = city.to_lonlat(cand.x, cand.y)
                self._stop_by_id[cand.stop_id] = Stop(cand.stop_id, cand.name, round(float(slat), 6),
                                                      round(float(slon), 6))

        cruise = rng.uniform(*CRUISE_KMH) / 3.6
        dwell = rng.randint(*DWELL_S)
        gaps = np.diff(stop_dist)
        legs = [max(1, int(round(g / cruise))) for g in gaps]
        out = _timetable(legs, dwell)
        back = _timetable(legs[::-1], dwell)
        first = city.district_at(float(lon[0]), float(lat[0]))
        last = city.district_at(float(lon[-1]), float(lat[-1]))
        a_name, b_name = (first.name if first else city.name), (last.name if last else city.name)
        long_name = f"{a_name} - {b_name}" if a_name != b_name else f"{a_name} Local"
        color = ROUTE_COLORS[index % len(ROUTE_COLORS)]
        route = Route(
            index=index, route_id=f"r{index + 1}", short_name=str(index + 1), long_name=long_name,
            color=color, text_color=_text_color(color),
            shape=np.column_stack([lon, lat]), shape_dist=shape_dist,
            stop_ids=[c.stop_id for _, c in picked], stop_dist=stop_dist,
            cruise_mps=cruise, dwell_s=dwell, arrivals=(out[0], back[0]), departures=(out[1], back[1]),
            headsigns=(picked[-1][1].name, picked[0][1].name))
        return route

    # -- service plan ------------------------------------------------------------------------
    def plan_service(self, vehicles: int) -> None:
        """Share ``vehicles`` between routes (adding routes past ~60 per route) and set headways."""
        if vehicles < 1:
            raise ValueError("the fleet needs at least one vehicle")
        self._add_routes(max(len(self.routes), math.ceil(vehicles / VEHICLES_PER_ROUTE)))
        routes = self.routes[:vehicles]
        # Vehicles follow the running time, so every route gets a similar headway.
        shares = _allocate(vehicles, [2 * r.run_time_s + 2 * MIN_LAYOVER_S for r in routes],
                           MAX_VEHICLES_PER_ROUTE)
        for route in self.routes:
            route.vehicles = 0
        for route, k in zip(routes, shares, strict=True):
            minimum_cycle = 2 * route.run_time_s + 2 * MIN_LAYOVER_S
            headway = next(h for h in HEADWAYS_S if h * k >= minimum_cycle)
            spare = k * headway - 2 * route.run_time_s
            route.vehicles, route.headway_s = k, headway
            route.layover_b_s = spare // 2
            route.layover_a_s = spare - route.layover_b_s
            route.offset_s = random.Random(f"{self.seed}/offset/{route.index}").randrange(headway)
        self.vehicles = vehicles

    @property
    def active_routes(self) -> list[Route]:
        """Routes with at least one vehicle (the ones in the GTFS feed)."""
        return [r for r in self.routes if r.vehicles > 0]

    # -- GTFS static ---------------------------------------------------------------------------
    def to_gtfs_zip(self) -> bytes:
        """The network as a GTFS static zip (byte-identical for the same city, seed and fleet size)."""
        routes = self.active_routes
        used = sorted({s for r in routes for s in r.stop_ids})
        files: dict[str, tuple[list[str], Iterable[list[Any]]]] = {
            "agency.txt": (["agency_id", "agency_name", "agency_url", "agency_timezone", "agency_lang",
                            "agency_phone"],
                           [[AGENCY_ID, f"{self.city.name} Public Transport (CityOps demo)",
                             "https://cityops.invalid/demo", self.city.timezone, "zh", ""]]),
            "stops.txt": (["stop_id", "stop_name", "stop_lat", "stop_lon", "location_type"],
                          [[s.stop_id, s.name, f"{s.lat:.6f}", f"{s.lon:.6f}", 0]
                           for s in map(self.stop, used)]),
            "routes.txt": (["route_id", "agency_id", "route_short_name", "route_long_name", "route_type",
                            "route_color", "route_text_color"],
                           [[r.route_id, AGENCY_ID, r.short_name, r.long_name, 3, r.color, r.text_color]
                            for r in routes]),
            "trips.txt": (["route_id", "service_id", "trip_id", "trip_headsign", "direction_id", "shape_id"],
                          [[r.route_id, "daily", r.trip_id(d), r.headsigns[d], d, r.trip_id(d)]
                           for r in routes for d in (0, 1)]),
            "shapes.txt": (["shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence",
                            "shape_dist_traveled"], self._shape_rows(routes)),
            "stop_times.txt": (["trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence",
                                "shape_dist_traveled", "timepoint"], self._stop_time_rows(routes)),
            "frequencies.txt": (["trip_id", "start_time", "end_time", "headway_secs", "exact_times"],
                                [[r.trip_id(d), gtfs_time(r.window_start_s(d)),
                                  gtfs_time(r.window_start_s(d) + DAY_S), r.headway_s, 1]
                                 for r in routes for d in (0, 1)]),
            "calendar.txt": (["service_id", "monday", "tuesday", "wednesday", "thursday", "friday",
                              "saturday", "sunday", "start_date", "end_date"],
                             [["daily", 1, 1, 1, 1, 1, 1, 1, "20240101", "20391231"]]),
        }
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, (header, rows) in files.items():
                text = io.StringIO()
                writer = csv.writer(text, lineterminator="\n")
                writer.writerow(header)
                writer.writerows(rows)
                # A fixed timestamp keeps the archive byte-identical from run to run.
                info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, text.getvalue().encode("utf-8"))
        return buffer.getvalue()

    def _shape_rows(self, routes: list[Route]) -> Iterable[list[Any]]:
        for r in routes:
            total = r.length_m
            for d in (0, 1):
                order = range(len(r.shape)) if d == 0 else range(len(r.shape) - 1, -1, -1)
                for seq, k in enumerate(order, start=1):
                    dist = r.shape_dist[k] if d == 0 else total - r.shape_dist[k]
                    yield [r.trip_id(d), f"{r.shape[k, 1]:.6f}", f"{r.shape[k, 0]:.6f}", seq, f"{dist:.1f}"]

    def _stop_time_rows(self, routes: list[Route]) -> Iterable[list[Any]]:
        for r in routes:
            total = r.length_m
            for d in (0, 1):
                start = r.window_start_s(d)
                stops = r.stop_ids if d == 0 else r.stop_ids[::-1]
                dists = r.stop_dist if d == 0 else total - r.stop_dist[::-1]
                for seq, (stop, arr, dep, dist) in enumerate(
                        zip(stops, r.arrivals[d], r.departures[d], dists, strict=True), start=1):
                    yield [r.trip_id(d), gtfs_time(start + arr), gtfs_time(start + dep),
                           stop, seq, f"{dist:.1f}", 1]


def _timetable(legs: list[int], dwell: int) -> tuple[list[int], list[int]]:
    """Arrival and departure offsets at each stop: no dwell at the terminals (that is layover)."""
    arrivals, departures = [0], [0]
    for n, leg in enumerate(legs):
        arrive = departures[-1] + leg
        arrivals.append(arrive)
        departures.append(arrive if n == len(legs) - 1 else arrive + dwell)
    return arrivals, departures


def _allocate(total: int, weights: list[int], cap: int) -> list[int]:
    """Split ``total`` in proportion to ``weights``: at least 1 and at most ``cap`` each.

    Shares that would pass the cap are pinned to it and the rest is split again among the others;
    the remainders go to the largest fractions (ties to the lowest index, so it is deterministic).
    """
    n = len(weights)
    if total > n * cap:
        raise ValueError(f"{total} vehicles do not fit {n} routes of at most {cap}")
    pinned: dict[int, int] = {}
    while True:
        free = [i for i in range(n) if i not in pinned]
        rest = total - sum(pinned.values())
        weight = sum(weights[i] for i in free)
        raw = {i: rest * weights[i] / weight for i in free}
        over = [i for i in free if raw[i] > cap]
        if not over:
            break
        pinned.update((i, cap) for i in over)
    shares = {i: max(1, min(cap, int(raw[i]))) for i in free}
    shares.update(pinned)
    leftover = total - sum(shares.values())
    order = sorted(free, key=lambda i: (shares[i] - raw[i], i))
    step = 1 if leftover > 0 else -1
    while leftover:
        for i in order if step > 0 else reversed(order):
            if leftover and 1 <= shares[i] + step <= cap:
                shares[i] += step
                leftover -= step
    return [shares[i] for i in range(n)]


def _short(road: str) -> str:
    return road.removesuffix(" Rd").removesuffix(" Ave")


def _text_color(color: str) -> str:
    r, g, b = (int(color[k:k + 2], 16) for k in (0, 2, 4))
    return "000000" if 0.299 * r + 0.587 * g + 0.114 * b > 160 else "FFFFFF"


def gtfs_time(seconds: int) -> str:
    """Seconds after midnight as GTFS HH:MM:SS (hours may pass 24 for trips after midnight)."""
    seconds = int(seconds)
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


# -- the fleet ------------------------------------------------------------------------------------
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
class DelayArea:
    """Extra delay for the buses of routes through an area (a flooded district) for a while.

    The extra delay rises linearly from ``start`` over ``rise_s``, holds for ``hold_s`` and falls
    linearly over ``fall_s``; a route wholly inside the area gets up to ``peak_s``.
    """

    polygon: tuple[tuple[float, float], ...]
    start: float
    peak_s: float
    rise_s: float
    hold_s: float
    fall_s: float

    def profile(self, now: float) -> float:
        """How much of the peak applies at ``now`` (0 to 1)."""
        up = (now - self.start) / self.rise_s
        down = 1.0 - (now - self.start - self.rise_s - self.hold_s) / self.fall_s
        return min(1.0, max(0.0, min(up, down)))


class Fleet:
    """The buses of a :class:`TransitNetwork`, each shuttling along its route on a trip."""

    def __init__(self, network: TransitNetwork, vehicles: int | None = None, seed: int | None = None) -> None:
        if vehicles is not None and vehicles != network.vehicles:
            network.plan_service(vehicles)
        self.network = network
        self.seed = network.seed if seed is None else seed
        self.city = network.city
        self._zone = _zone(network.city.timezone)
        self._state: FleetState | None = None
        self._areas: list[tuple[DelayArea, np.ndarray]] = []
        self._prepare()

    def __len__(self) -> int:
        """The number of vehicles."""
        return len(self.vehicle_ids)

    def _prepare(self) -> None:
        """Flatten routes into numpy lookup tables so a step is a handful of vector operations."""
        net = self.network
        routes = net.routes
        route_of, slot_of = [], []
        for r in net.active_routes:
            route_of += [r.index] * r.vehicles
            slot_of += list(range(r.vehicles))
        self.route = np.array(route_of, dtype=np.int64)
        self.slot = np.array(slot_of, dtype=np.int64)
        n = len(route_of)
        self.vehicle_ids = [f"bus-{k + 1:05d}" for k in range(n)]
        self.labels = [f"{routes[r].short_name}-{s + 1:02d}" for r, s in zip(route_of, slot_of, strict=True)]
        self.plates = [f"湘H·D{k + 1:05d}" for k in range(n)]
        # Encoded once: merging bytes is much cheaper than setting three fields per vehicle per feed.
        self._descriptors = [rt.VehicleDescriptor(id=v, label=lb, license_plate=p).SerializeToString()
                             for v, lb, p in zip(self.vehicle_ids, self.labels, self.plates, strict=True)]
        self._short_descriptors = [rt.VehicleDescriptor(id=v, label=lb).SerializeToString()
                                   for v, lb in zip(self.vehicle_ids, self.labels, strict=True)]

        def per_route(values: Iterable[float]) -> np.ndarray:
            return np.array(list(values), dtype=np.float64)[self.route]

        self._headway = per_route(r.headway_s for r in routes)
        self._offset = per_route(r.offset_s for r in routes)
        self._run = per_route(r.run_time_s for r in routes)
        self._lay_b = per_route(r.layover_b_s for r in routes)
        self._cycle = self._headway * per_route(r.vehicles for r in routes)
        self._length = per_route(r.length_m for r in routes)
        self._cruise = per_route(r.cruise_mps for r in routes)
        self._win1 = per_route(r.window_start_s(1) for r in routes)
        self._win0 = self._offset

        # Timetables of every (route, direction) back to back: knot times offset by rd * TBASE
        # make one searchsorted serve all vehicles at once.
        self._tbase = float(max(r.run_time_s for r in routes) + 10)
        knot_t: list[float] = []
        knot_s: list[float] = []
        knot_start: list[int] = []
        knot_end: list[int] = []
        stop_arr: list[int] = []
        stop_ids: list[str] = []
        stop_dist: list[float] = []
        stop_start: list[int] = []
        for r in routes:
            for d in (0, 1):
                rd = 2 * r.index + d
                dist = r.stop_dist if d == 0 else r.length_m - r.stop_dist[::-1]
                times: list[float] = []
                dists: list[float] = []
                for arr, dep, s in zip(r.arrivals[d], r.departures[d], dist, strict=True):
                    times.append(arr)
                    dists.append(float(s))
                    if dep != arr:
                        times.append(dep)
                        dists.append(float(s))
                knot_start.append(len(knot_t))
                knot_t += [rd * self._tbase + t for t in times]
                knot_s += dists
                knot_end.append(len(knot_t))
                stop_start.append(len(stop_arr))
                stop_arr += r.arrivals[d]
                stop_ids += r.stop_ids if d == 0 else r.stop_ids[::-1]
                stop_dist += list(dist)
        self._knot_t = np.array(knot_t)
        self._knot_s = np.array(knot_s)
        self._knot_start = np.array(knot_start, dtype=np.int64)
        self._knot_end = np.array(knot_end, dtype=np.int64)
        self._stop_arr = np.array(stop_arr, dtype=np.float64)
        self._stop_start = np.array(stop_start, dtype=np.int64)
        self._stop_ids = stop_ids
        self._stop_dist = np.array(stop_dist)
        # Stop arrival times keyed like the knots, to find the last stop reached with one search.
        stops_per_rd = np.diff(np.append(self._stop_start, len(stop_arr)))
        self._stop_key = np.repeat(np.arange(len(stop_start)), stops_per_rd) * self._tbase + self._stop_arr
        self._stop_count = np.array([len(r.stop_ids) for r in routes], dtype=np.int64)[self.route]

        # Outbound shapes back to back, keyed by route index * GBASE + metres along the shape.
        self._gbase = float(max(r.length_m for r in routes) + 1000.0)
        g_key: list[float] = []
        g_lon: list[float] = []
        g_lat: list[float] = []
        g_start: list[int] = []
        g_end: list[int] = []
        for r in routes:
            g_start.append(len(g_key))
            g_key += list(r.index * self._gbase + r.shape_dist)
            g_lon += list(r.shape[:, 0])
            g_lat += list(r.shape[:, 1])
            g_end.append(len(g_key))
        self._g_key, self._g_lon, self._g_lat = np.array(g_key), np.array(g_lon), np.array(g_lat)
        self._g_start, self._g_end = np.array(g_start, dtype=np.int64), np.array(g_end, dtype=np.int64)
        dx = np.diff(self._g_lon) * math.cos(math.radians(self.city.center.lat))
        dy = np.diff(self._g_lat)
        self._g_bearing = np.append((np.degrees(np.arctan2(dx, dy)) + 360.0) % 360.0, 0.0)

        # Per-vehicle and per-route character of the delay and the load.
        ids = np.arange(n)
        self._base_delay = -20.0 + 100.0 * _uniform(self.seed, 1, ids, 0)
        self._rush_factor = (0.4 + _uniform(self.seed, 2, self.route, 0))
        self._popularity = 0.6 + 0.6 * _uniform(self.seed, 3, self.route, 0)
        self._ids = ids
        self._trip_ids = [(r.trip_id(0), r.trip_id(1)) for r in routes]
        self._route_ids = [r.route_id for r in routes]

    # -- time ----------------------------------------------------------------------------------
    def utc_offset(self, now: float) -> int:
        """Seconds the city's clock is ahead of UTC at ``now``."""
        moment = dt.datetime.fromtimestamp(now, dt.timezone.utc)
        offset = moment.astimezone(self._zone).utcoffset()
        return int(offset.total_seconds()) if offset is not None else 0

    def delays(self, now: float) -> np.ndarray:
        """Each vehicle's delay in seconds at ``now`` (a pure function of seed, vehicle and time)."""
        ids = self._ids
        t = float(now)
        # Smooth noise: random values every NOISE_PERIOD_S, eased together with a cosine.
        knot = math.floor(t / NOISE_PERIOD_S)
        frac = t / NOISE_PERIOD_S - knot
        a = 2.0 * _uniform(self.seed, 10, ids, knot) - 1.0
        b = 2.0 * _uniform(self.seed, 10, ids, knot + 1) - 1.0
        noise = NOISE_AMPLITUDE_S * (a + (b - a) * (1.0 - math.cos(math.pi * frac)) / 2.0)

        # Incidents: at most one per vehicle per bucket, shaped up-then-down and ending inside the
        # bucket so two never overlap (which would break the slope bounds).
        bucket = math.floor(t / INCIDENT_BUCKET_S)
        happens = _uniform(self.seed, 11, ids, bucket) < INCIDENT_PROBABILITY
        stuck = 60.0 * (INCIDENT_MINUTES[0] + (INCIDENT_MINUTES[1] - INCIDENT_MINUTES[0])
                        * _uniform(self.seed, 12, ids, bucket))
        peak = INCIDENT_RAMP * stuck
        total = stuck + peak / INCIDENT_RECOVERY
        begin = _uniform(self.seed, 13, ids, bucket) * (INCIDENT_BUCKET_S - total)
        x = t - bucket * INCIDENT_BUCKET_S - begin
        incident = np.where(x < stuck, INCIDENT_RAMP * x, peak - INCIDENT_RECOVERY * (x - stuck))
        incident = np.where(happens & (x > 0) & (x < total), incident, 0.0)

        # Rush hours make every bus on a route a little later, more on busy routes.
        hours = ((t + self.utc_offset(t)) % DAY_S) / 3600.0
        rush = RUSH_AMPLITUDE_S * self._rush_factor * (
            math.exp(-((hours - 8.0) ** 2) / 2.0) + 0.8 * math.exp(-((hours - 17.75) ** 2) / 2.4))
        delay = np.clip(self._base_delay + rush + noise + incident, DELAY_MIN_S, DELAY_MAX_S)
        for area, weight in self._areas:
            share = area.profile(t)
            if share > 0.0:
                delay = delay + area.peak_s * share * weight
        return delay

    # -- delay areas ---------------------------------------------------------------------------
    def add_delay_area(self, polygon: Sequence[tuple[float, float]], start: float, peak_s: float,
                       rise_s: float = 0.0, hold_s: float = 0.0, fall_s: float = 0.0) -> DelayArea:
        """Delay the buses of routes through ``polygon`` (a closed ring of lon, lat) from ``start``.

        A bus gets up to ``peak_s`` times the share of its route inside the area (doubled, at most
        1), varied per bus. Ramps shorter than the slope bounds allow are lengthened, so positions
        stay a pure, forward-moving function of time. Calm behaviour is unchanged without areas.
        """
        if peak_s < 0:
            raise ValueError("peak_s must not be negative")
        area = DelayArea(tuple((float(x), float(y)) for x, y in polygon), float(start), float(peak_s),
                         max(rise_s, peak_s / AREA_MAX_RISE, 1.0), max(hold_s, 0.0),
                         max(fall_s, peak_s / AREA_MAX_FALL, 1.0))
        share = self.route_shares(area.polygon)[self.route]
        jitter = 0.7 + 0.3 * _uniform(self.seed, 40 + len(self._areas), self._ids, 0)
        self._areas.append((area, np.minimum(1.0, 2.0 * share) * jitter))
        self._state = None  # the cached step no longer holds
        return area

    def route_shares(self, polygon: Sequence[tuple[float, float]]) -> np.ndarray:
        """Share of each route's length (indexed by route index) that lies inside ``polygon``."""
        shares = np.zeros(len(self.network.routes))
        for route in self.network.routes:
            along = np.arange(0.0, route.length_m + AREA_SAMPLE_M, AREA_SAMPLE_M)
            lon = np.interp(along, route.shape_dist, route.shape[:, 0])
            lat = np.interp(along, route.shape_dist, route.shape[:, 1])
            shares[route.index] = float(points_in_polygon(lon, lat, polygon).mean())
        return shares

    # -- simulation ----------------------------------------------------------------------------
    def step(self, now: float) -> FleetState:
        """Move every vehicle to wall time ``now`` (UTC epoch seconds) and return the state."""
        cached = self._state
        if cached is not None and cached.now == now:
            return cached
        delay = self.delays(now)
        slope = (delay - self.delays(now - 2.0)) / 2.0
        local = now + self.utc_offset(now)
        sched = local - delay  # the schedule time at which the vehicle is where it is now
        run, lay_b, cycle = self._run, self._lay_b, self._cycle
        psi = np.mod(sched - self._offset - self.slot * self._headway, cycle)
        outbound = psi < run
        at_b = (psi >= run) & (psi < run + lay_b)
        inbound = (psi >= run + lay_b) & (psi < 2 * run + lay_b)
        layover = ~(outbound | inbound)
        direction = (at_b | inbound).astype(np.int64)
        tau = np.where(outbound, psi, np.where(inbound, psi - run - lay_b, 0.0))
        # During a layover the vehicle already belongs to its next trip, waiting at the first stop.
        until_start = np.where(outbound | inbound, -tau,
                               np.where(at_b, run + lay_b - psi, cycle - psi))
        trip_start = np.rint(sched + until_start)
        win = np.where(direction == 0, self._win0, self._win1)
        service_day = np.floor((trip_start - win) / DAY_S).astype(np.int64)

        rd = 2 * self.route + direction
        lo, hi = self._knot_start[rd], self._knot_end[rd]
        key = rd * self._tbase + tau
        k = np.clip(np.searchsorted(self._knot_t, key, side="right") - 1, lo, hi - 2)
        t0, t1 = self._knot_t[k], self._knot_t[k + 1]
        s0, s1 = self._knot_s[k], self._knot_s[k + 1]
        f = np.clip((key - t0) / np.maximum(t1 - t0, 1e-9), 0.0, 1.0)
        dist = s0 + f * (s1 - s0)
        dwelling = (s1 == s0) | layover

        # Which stop: count the stops whose scheduled arrival has passed.
        stop_base = self._stop_start[rd]
        arrived = np.searchsorted(self._stop_key, key, side="right") - 1
        stop_index = np.clip(arrived - stop_base, 0, self._stop_count - 1)
        status = np.where(dwelling, rt.VehiclePosition.STOPPED_AT, rt.VehiclePosition.IN_TRANSIT_TO)
        moving = ~dwelling
        stop_index = np.where(moving, np.minimum(stop_index + 1, self._stop_count - 1), stop_index)
        stop_index = np.where(layover, 0, stop_index)
        remaining = self._stop_dist[stop_base + stop_index] - dist
        status = np.where(moving & (remaining < 80.0), rt.VehiclePosition.INCOMING_AT, status)
        next_index = np.where(dwelling, np.minimum(stop_index + 1, self._stop_count - 1), stop_index)

        # Position on the outbound shape (inbound runs it backwards).
        along = np.where(direction == 0, dist, self._length - dist)
        gkey = self.route * self._gbase + along
        g = np.clip(np.searchsorted(self._g_key, gkey, side="right") - 1,
                    self._g_start[self.route], self._g_end[self.route] - 2)
        gf = np.clip((gkey - self._g_key[g]) / np.maximum(self._g_key[g + 1] - self._g_key[g], 1e-9), 0, 1)
        lon = self._g_lon[g] + gf * (self._g_lon[g + 1] - self._g_lon[g])
        lat = self._g_lat[g] + gf * (self._g_lat[g + 1] - self._g_lat[g])
        bearing = np.where(direction == 0, self._g_bearing[g], (self._g_bearing[g] + 180.0) % 360.0)
        speed = np.where(dwelling, 0.0, self._cruise * (1.0 - slope))

        hours = (local % DAY_S) / 3600.0
        demand = 0.25 + 0.55 * (math.exp(-((hours - 7.75) ** 2) / 1.5)
                                + math.exp(-((hours - 17.5) ** 2) / 2.0))
        if hours < 6.0 or hours > 22.0:
            demand *= 0.4
        per_trip = _uniform(self.seed, 20, self._ids, trip_start.astype(np.int64))
        load = demand * self._popularity + 0.35 * (per_trip - 0.5)
        occupancy = np.digitize(load, (0.2, 0.45, 0.7, 0.9, 1.05)).astype(np.int64)
        boarding = np.minimum(occupancy, rt.VehiclePosition.MANY_SEATS_AVAILABLE)
        occupancy = np.where(layover, boarding, occupancy)
        congestion = np.where(slope > 0.5, rt.VehiclePosition.CONGESTION,
                              np.where(slope > 0.2, rt.VehiclePosition.STOP_AND_GO,
                                       rt.VehiclePosition.RUNNING_SMOOTHLY))

        state = FleetState(now=now, lat=lat, lon=lon, bearing=bearing, speed=speed, delay=delay,
                           direction=direction, trip_start=trip_start, service_day=service_day,
                           stop_index=stop_index, next_index=next_index, status=status,
                           occupancy=occupancy, congestion=congestion)
        # Returned from the local, not the attribute: the server builds feeds in parallel threads,
        # and another step may replace the cached state before this one returns.
        self._state = state
        return state

    # -- GTFS-Realtime -------------------------------------------------------------------------
    def _feed(self, now: float) -> rt.FeedMessage:
        feed = rt.FeedMessage()
        feed.header.gtfs_realtime_version = "2.0"
        feed.header.incrementality = rt.FeedHeader.FULL_DATASET
        feed.header.timestamp = int(now)
        return feed

    def _trip_fields(self, state: FleetState) -> tuple[list[str], list[str], list[str]]:
        """trip_id, start_time and start_date of every vehicle's trip."""
        day_names: dict[int, str] = {}
        trip_ids, start_times, start_dates = [], [], []
        for r, d, start, day in zip(self.route.tolist(), state.direction.tolist(),
                                    state.trip_start.tolist(), state.service_day.tolist(), strict=True):
            trip_ids.append(self._trip_ids[r][d])
            start_times.append(gtfs_time(int(start) - day * DAY_S))
            name = day_names.get(day)
            if name is None:
                name = day_names[day] = (dt.date(1970, 1, 1) + dt.timedelta(days=day)).strftime(DATE_FORMAT)
            start_dates.append(name)
        return trip_ids, start_times, start_dates

    def vehicle_positions(self, now: float) -> bytes:
        """A GTFS-Realtime VehiclePositions feed of the whole fleet at ``now``."""
        state = self.step(now)
        feed = self._feed(now)
        stamp = int(now)
        trip_ids, start_times, start_dates = self._trip_fields(state)
        stop_pos = (self._stop_start[2 * self.route + state.direction] + state.stop_index).tolist()
        columns = zip(self.vehicle_ids, self._descriptors, self.route.tolist(),
                      state.direction.tolist(), trip_ids, start_times, start_dates,
                      state.lat.tolist(), state.lon.tolist(), state.bearing.tolist(), state.speed.tolist(),
                      state.stop_index.tolist(), stop_pos, state.status.tolist(),
                      state.occupancy.tolist(), state.congestion.tolist(), strict=True)
        stop_ids, route_ids = self._stop_ids, self._route_ids
        for (vid, descriptor, r, d, trip_id, start_time, start_date, lat, lon, bearing, speed,
             stop_index, stop_at, status, occupancy, congestion) in columns:
            entity = feed.entity.add()
            entity.id = vid
            vp = entity.vehicle
            trip = vp.trip
            trip.trip_id = trip_id
            trip.route_id = route_ids[r]
            trip.direction_id = d
            trip.start_time = start_time
            trip.start_date = start_date
            vp.vehicle.MergeFromString(descriptor)
            position = vp.position
            position.latitude = lat
            position.longitude = lon
            position.bearing = bearing
            position.speed = speed
            vp.current_stop_sequence = stop_index + 1
            vp.stop_id = stop_ids[stop_at]
            vp.current_status = status
            vp.timestamp = stamp
            vp.congestion_level = congestion
            vp.occupancy_status = occupancy
        return feed.SerializeToString()

    def trip_updates(self, now: float) -> bytes:
        """A GTFS-Realtime TripUpdates feed: every vehicle's delay and its next stop's arrival."""
        state = self.step(now)
        feed = self._feed(now)
        stamp = int(now)
        offset = self.utc_offset(now)
        trip_ids, start_times, start_dates = self._trip_fields(state)
        rd = 2 * self.route + state.direction
        flat = self._stop_start[rd] + state.next_index
        # Predicted arrival: scheduled arrival (UTC) pushed back by the current delay.
        delay = np.rint(state.delay).astype(np.int64)
        arrival = (state.trip_start - offset + self._stop_arr[flat]).astype(np.int64) + delay
        columns = zip(self.vehicle_ids, self._short_descriptors, self.route.tolist(),
                      state.direction.tolist(), trip_ids, start_times, start_dates, delay.tolist(),
                      arrival.tolist(), state.next_index.tolist(), flat.tolist(), strict=True)
        stop_ids, route_ids = self._stop_ids, self._route_ids
        for vid, descriptor, r, d, trip_id, start_time, start_date, late, when, next_index, at in columns:
            entity = feed.entity.add()
            entity.id = f"tu-{vid}"
            tu = entity.trip_update
            trip = tu.trip
            trip.trip_id = trip_id
            trip.route_id = route_ids[r]
            trip.direction_id = d
            trip.start_time = start_time
            trip.start_date = start_date
            tu.vehicle.MergeFromString(descriptor)
            tu.delay = late
            tu.timestamp = stamp
            stu = tu.stop_time_update.add()
            stu.stop_sequence = next_index + 1
            stu.stop_id = stop_ids[at]
            stu.arrival.delay = late
            stu.arrival.time = when
        return feed.SerializeToString()

    def alerts(self, now: float) -> bytes:
        """A GTFS-Realtime Alerts feed: usually empty, sometimes a detour on one route."""
        feed = self._feed(now)
        for detour in self.detours(now):
            route = detour["route"]
            entity = feed.entity.add()
            entity.id = detour["id"]
            alert = entity.alert
            period = alert.active_period.add()
            period.start, period.end = detour["start"], detour["end"]
            informed = alert.informed_entity.add()
            informed.agency_id = AGENCY_ID
            informed.route_id = route.route_id
            informed.route_type = 3
            alert.cause = detour["cause"]
            alert.effect = rt.Alert.DETOUR
            alert.severity_level = rt.Alert.WARNING
            road, reason_en, reason_zh = detour["road"], detour["reason_en"], detour["reason_zh"]
            _translate(alert.header_text, en=f"Route {route.short_name} detour",
                       zh=f"{route.short_name}路公交临时绕行")
            _translate(alert.description_text,
                       en=f"Route {route.short_name} ({route.long_name}) is diverted around {road} "
                          f"because of {reason_en}; some stops are not served.",
                       zh=f"因{reason_zh}，{route.short_name}路公交在{road}附近临时绕行，部分站点暂停服务。")
        return feed.SerializeToString()

    def detours(self, now: float) -> list[dict[str, Any]]:
        """The detours announced at ``now``: a few per day, each for 15-45 minutes."""
        routes = self.network.active_routes
        found = []
        hour = math.floor(now / 3600.0)
        for bucket in (hour - 1, hour):
            if _uniform(self.seed, 30, 0, bucket)[0] >= 0.3:
                continue
            start = int(bucket * 3600 + 1800 * _uniform(self.seed, 31, 0, bucket)[0])
            end = start + int(900 + 1800 * _uniform(self.seed, 32, 0, bucket)[0])
            # Announced ten minutes ahead, as operators do for planned works.
            if not (start - 600 <= now < end):
                continue
            route = routes[int(_uniform(self.seed, 33, 0, bucket)[0] * len(routes))]
            reasons = (("road works", "道路施工", rt.Alert.CONSTRUCTION),
                       ("a traffic accident", "交通事故", rt.Alert.ACCIDENT),
                       ("a police operation", "警方处置", rt.Alert.POLICE_ACTIVITY))
            reason_en, reason_zh, cause = reasons[int(_uniform(self.seed, 34, 0, bucket)[0] * len(reasons))]
            mid = route.stop_ids[len(route.stop_ids) // 2]
            road = self.network.stop(mid).name.split(" / ")[0].split(" (")[0]
            found.append({"id": f"detour-{route.route_id}-{bucket}", "route": route, "start": start,
                          "end": end, "cause": cause, "reason_en": reason_en, "reason_zh": reason_zh,
                          "road": road})
        return found


def _translate(text: Any, **languages: str) -> None:
    for language, value in languages.items():
        translation = text.translation.add()
        translation.text = value
        translation.language = language


def _zone(name: str) -> dt.tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # no tz database: China's fixed offset is the default
        return dt.timezone(dt.timedelta(hours=8))
