"""Laying out one bus route: its path on the roads, its stops and shape, running times, names and colours."""

from __future__ import annotations

import random

import numpy as np

from data_adapters.simulator.city import CityModel, shortest_path
from data_adapters.simulator.transit.model import Route
from data_adapters.simulator.transit.stops import Placed, StopCandidate, StopSites

MIN_STOPS, MAX_STOPS = 8, 40
# Cruise speed between stops. Delay recovery can speed a bus up by at most 25 %, so the top
# speed stays below 35 km/h, and dwell time brings the average to roughly 17-22 km/h.
CRUISE_KMH = (21.0, 27.0)
DWELL_S = (15, 25)
TURN_PENALTY_M = 500.0
ROUTE_COLORS: tuple[str, ...] = (
    "E53935", "1E88E5", "43A047", "FB8C00", "8E24AA", "00897B", "F4511E", "3949AB",
    "C0CA33", "6D4C41", "D81B60", "00ACC1", "FDD835", "5E35B1", "7CB342", "546E7A",
)


def make_route(city: CityModel, sites: StopSites, seed: int, index: int) -> tuple[Route, list[StopCandidate]]:
    """Route ``index`` (a pure function of city, seed and index) and the stop sites it serves."""
    rng = random.Random(f"{seed}/route/{index}")
    path, picked = _path_with_stops(city, sites, rng)
    return _route_from(city, sites, index, rng, path, picked), [c for _, c in picked]


def _path_with_stops(city: CityModel, sites: StopSites, rng: random.Random) -> tuple[list[int], list[Placed]]:
    """A road path between two terminals some 5-21 km apart, and at most MAX_STOPS stops along it."""
    xy = sites.node_xy
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
        weights = {edge: length * rng.uniform(1.0, 1.6) for edge, length in sites.edge_length.items()}
        path = shortest_path(city, start, goal, weights, TURN_PENALTY_M)
        if len(path) < 2 or len(set(path)) != len(path):
            continue
        picked = sites.pick(path, rng)
        if len(picked) >= MIN_STOPS:
            return path, picked[:MAX_STOPS]
    raise RuntimeError("the city is too small for bus routes")  # pragma: no cover


def _route_from(city: CityModel, sites: StopSites, index: int, rng: random.Random, path: list[int],
                picked: list[Placed]) -> Route:
    """The Route serving ``picked`` along ``path``: shape, running times, names and colours."""
    lon, lat, shape_dist, stop_dist = _shape(city, sites.node_xy, path, picked)
    cruise = rng.uniform(*CRUISE_KMH) / 3.6
    dwell = rng.randint(*DWELL_S)
    legs = [max(1, int(round(g / cruise))) for g in np.diff(stop_dist)]
    out = _timetable(legs, dwell)
    back = _timetable(legs[::-1], dwell)
    color = ROUTE_COLORS[index % len(ROUTE_COLORS)]
    return Route(
        index=index, route_id=f"r{index + 1}", short_name=str(index + 1),
        long_name=_long_name(city, lon, lat), color=color, text_color=_text_color(color),
        shape=np.column_stack([lon, lat]), shape_dist=shape_dist,
        stop_ids=[c.stop_id for _, c in picked], stop_dist=stop_dist,
        cruise_mps=cruise, dwell_s=dwell, arrivals=(out[0], back[0]), departures=(out[1], back[1]),
        headsigns=(picked[-1][1].name, picked[0][1].name))


def _shape(city: CityModel, xy: np.ndarray, path: list[int],
           picked: list[Placed]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """lon, lat and metres along the outbound shape, and each stop's metres along it.

    The shape runs from the first stop to the last so the terminals sit on its ends.
    """
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
    return lon, lat, shape_dist, stop_dist


def _timetable(legs: list[int], dwell: int) -> tuple[list[int], list[int]]:
    """Arrival and departure offsets at each stop: no dwell at the terminals (that is layover)."""
    arrivals, departures = [0], [0]
    for n, leg in enumerate(legs):
        arrive = departures[-1] + leg
        arrivals.append(arrive)
        departures.append(arrive if n == len(legs) - 1 else arrive + dwell)
    return arrivals, departures


def _long_name(city: CityModel, lon: np.ndarray, lat: np.ndarray) -> str:
    """"Heshan - Ziyang" from the terminals' districts, or "Ziyang Local" when both are in one."""
    first = city.district_at(float(lon[0]), float(lat[0]))
    last = city.district_at(float(lon[-1]), float(lat[-1]))
    a_name, b_name = (first.name if first else city.name), (last.name if last else city.name)
    return f"{a_name} - {b_name}" if a_name != b_name else f"{a_name} Local"


def _text_color(color: str) -> str:
    """Black or white text, whichever reads better on ``color`` (hex RRGGBB)."""
    r, g, b = (int(color[k:k + 2], 16) for k in (0, 2, 4))
    return "000000" if 0.299 * r + 0.587 * g + 0.114 * b > 160 else "FFFFFF"
