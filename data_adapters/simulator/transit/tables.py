"""The routes flattened into numpy tables (timetables, stops, shapes), so one search serves every bus."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from data_adapters.simulator.transit.model import Route

# Tables are indexed by rd = 2 * route index + direction (0 outbound, 1 inbound).


@dataclass(frozen=True)
class Timetables:
    """Every (route, direction)'s timetable back to back, keyed by ``rd * tbase`` + seconds into the trip.

    Knots are (time, metres) points: a stop with a dwell has two, so the bus stands still between them.
    """

    tbase: float
    knot_t: np.ndarray
    knot_s: np.ndarray
    knot_start: np.ndarray       # by rd: first knot
    knot_end: np.ndarray         # by rd: one past the last knot
    stop_arr: np.ndarray         # scheduled arrival of each flattened stop, seconds into the trip
    stop_start: np.ndarray       # by rd: index of its first stop in the flattened stops
    stop_ids: list[str]
    stop_dist: np.ndarray        # metres along the trip
    stop_key: np.ndarray         # stop arrivals keyed like the knots
    stop_count: np.ndarray       # by route index

    @classmethod
    def build(cls, routes: Sequence[Route]) -> Timetables:
        """The tables of ``routes`` (all of them, in route index order)."""
        tbase = float(max(r.run_time_s for r in routes) + 10)
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
                dist = r.stop_dist_of(d)
                times, dists = _knots(r.arrivals[d], r.departures[d], dist)
                knot_start.append(len(knot_t))
                knot_t += [rd * tbase + t for t in times]
                knot_s += dists
                knot_end.append(len(knot_t))
                stop_start.append(len(stop_arr))
                stop_arr += r.arrivals[d]
                stop_ids += r.stop_ids_of(d)
                stop_dist += list(dist)
        arrivals = np.array(stop_arr, dtype=np.float64)
        starts = np.array(stop_start, dtype=np.int64)
        # Stop arrival times keyed like the knots, to find the last stop reached with one search.
        stops_per_rd = np.diff(np.append(starts, len(stop_arr)))
        stop_key = np.repeat(np.arange(len(stop_start)), stops_per_rd) * tbase + arrivals
        return cls(tbase=tbase, knot_t=np.array(knot_t), knot_s=np.array(knot_s),
                   knot_start=np.array(knot_start, dtype=np.int64),
                   knot_end=np.array(knot_end, dtype=np.int64),
                   stop_arr=arrivals, stop_start=starts, stop_ids=stop_ids, stop_dist=np.array(stop_dist),
                   stop_key=stop_key, stop_count=np.array([len(r.stop_ids) for r in routes], dtype=np.int64))

    def key(self, rd: np.ndarray, tau: np.ndarray) -> np.ndarray:
        """The table key of ``tau`` seconds into each bus's trip."""
        return rd * self.tbase + tau

    def distance(self, rd: np.ndarray, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Metres along the trip at each key, and whether the bus stands at a stop there."""
        lo, hi = self.knot_start[rd], self.knot_end[rd]
        k = np.clip(np.searchsorted(self.knot_t, key, side="right") - 1, lo, hi - 2)
        t0, t1 = self.knot_t[k], self.knot_t[k + 1]
        s0, s1 = self.knot_s[k], self.knot_s[k + 1]
        f = np.clip((key - t0) / np.maximum(t1 - t0, 1e-9), 0.0, 1.0)
        return s0 + f * (s1 - s0), s1 == s0

    def last_arrival(self, key: np.ndarray) -> np.ndarray:
        """Flattened index of the last stop whose scheduled arrival is at or before each key."""
        return np.searchsorted(self.stop_key, key, side="right") - 1


def _knots(arrivals: list[int], departures: list[int], dist: np.ndarray) -> tuple[list[float], list[float]]:
    """(time, metres) knots of one trip: one per stop, two where it dwells."""
    times: list[float] = []
    dists: list[float] = []
    for arr, dep, s in zip(arrivals, departures, dist, strict=True):
        times.append(arr)
        dists.append(float(s))
        if dep != arr:
            times.append(dep)
            dists.append(float(s))
    return times, dists


@dataclass(frozen=True)
class Shapes:
    """The outbound shapes back to back, keyed by route index * ``gbase`` + metres along the shape."""

    gbase: float
    key: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    bearing: np.ndarray          # of the segment starting at each point, degrees clockwise from north
    start: np.ndarray            # by route index: first point
    end: np.ndarray              # by route index: one past the last point

    @classmethod
    def build(cls, routes: Sequence[Route], center_lat: float) -> Shapes:
        """The shapes of ``routes``; bearings use a flat projection at ``center_lat``."""
        gbase = float(max(r.length_m for r in routes) + 1000.0)
        g_key: list[float] = []
        g_lon: list[float] = []
        g_lat: list[float] = []
        g_start: list[int] = []
        g_end: list[int] = []
        for r in routes:
            g_start.append(len(g_key))
            g_key += list(r.index * gbase + r.shape_dist)
            g_lon += list(r.shape[:, 0])
            g_lat += list(r.shape[:, 1])
            g_end.append(len(g_key))
        lon, lat = np.array(g_lon), np.array(g_lat)
        dx = np.diff(lon) * math.cos(math.radians(center_lat))
        dy = np.diff(lat)
        bearing = np.append((np.degrees(np.arctan2(dx, dy)) + 360.0) % 360.0, 0.0)
        return cls(gbase=gbase, key=np.array(g_key), lon=lon, lat=lat, bearing=bearing,
                   start=np.array(g_start, dtype=np.int64), end=np.array(g_end, dtype=np.int64))

    def locate(self, route: np.ndarray, along: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """lon, lat and outbound bearing at ``along`` metres on each route's outbound shape."""
        gkey = route * self.gbase + along
        g = np.clip(np.searchsorted(self.key, gkey, side="right") - 1, self.start[route], self.end[route] - 2)
        gf = np.clip((gkey - self.key[g]) / np.maximum(self.key[g + 1] - self.key[g], 1e-9), 0, 1)
        lon = self.lon[g] + gf * (self.lon[g + 1] - self.lon[g])
        lat = self.lat[g] + gf * (self.lat[g + 1] - self.lat[g])
        return lon, lat, self.bearing[g]
