"""`cityops bench`: the cross-domain linkage of an incident's area, at a city's scale.

The city is the map benchmark's (app/bench/map.py: vehicles, sensors, hospitals, requests) plus
ambulances and stops; the map's snapshots are published as the runner publishes them, and the
figure is the median of linkage.compute for an area of 1 km radius once this process holds the
snapshots (what an incident panel pays on each refresh). The first call, which loads them, is
reported beside it.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import redis

from app import store
from app.bench.map import fill_city
from app.model.geo import Area
from app.model.records import Entity
from app.situation import linkage, mapdata
from app.situation.mapdata import Thresholds
from app.situation.mapdata import share as map_share

CENTER = (28.55, 112.36)
AREA_RADIUS_M = 1_000.0


def _extras(r: redis.Redis, ambulances: int, stops: int, seed: int = 3) -> None:
    rng = np.random.default_rng(seed)
    now = time.time()
    lat = CENTER[0] + rng.normal(0, 0.05, ambulances + stops)
    lon = CENTER[1] + rng.normal(0, 0.05, ambulances + stops)
    store.entities.write_batch(r, "medical", "bench-ambulances", entities=[
        Entity("medical", "ambulance", f"m:ambulance:{i}", float(lat[i]), float(lon[i]),
               "available" if i % 3 else "on_call", now, "bench", {"label": f"A{i}"})
        for i in range(ambulances)])
    store.entities.write_batch(r, "transport", "bench-stops", entities=[
        Entity("transport", "stop", f"t:stop:{i}", float(lat[ambulances + i]),
               float(lon[ambulances + i]), "active", now, "bench", {"name": f"Stop {i}"})
        for i in range(stops)])


def bench_linkage(r: redis.Redis, vehicles: int = 20_000, runs: int = 9) -> dict[str, float]:
    """linkage_ms (median, snapshots held) and linkage_first_ms at ``vehicles`` moving vehicles."""
    r.flushall()
    fill_city(r, vehicles, max(vehicles // 10, 1), max(vehicles // 100, 1), max(vehicles // 2, 1))
    _extras(r, max(vehicles // 200, 10), max(vehicles // 20, 10))
    limits = Thresholds.of()
    for domain in ("transport", "water", "medical", "city"):
        map_share.publish(r, domain, limits)
    mapdata.forget_snapshots()
    area = Area.circle(CENTER[0], CENTER[1], AREA_RADIUS_M)
    started = time.perf_counter()
    first = linkage.compute(r, area, limits)
    first_ms = (time.perf_counter() - started) * 1000
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        linkage.compute(r, area, limits)
        times.append((time.perf_counter() - started) * 1000)
    return {"linkage_ms": round(statistics.median(times), 2), "linkage_first_ms": round(first_ms, 1),
            "linkage_vehicles_in_area": float(first.counts.get("vehicles", 0))}
