"""Benchmark of a 100,000-entity city: ingest, Redis memory, map publish and the changed tick.

80,000 vehicles come from four GTFS-rt feeds of 20,000 (a megacity has several operators) and
20,000 other things share the store: stops, water sensors with pressure readings, hospitals with
beds, open service requests. Every write goes through the adapters' own path (parse + store for
the vehicles, write_batch for the rest), on a private Redis.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
import redis

from app import store
from app.bench.ingest import CENTER, vehicle_positions_feed
from app.model.records import Entity, Observation, RawPayload
from app.pipeline.ingest import ingest
from app.situation.mapdata import Thresholds
from app.situation.mapdata import share as map_share
from data_adapters.transport.adapter import GtfsRealtimeAdapter

FEEDS = 4
VEHICLES_PER_FEED = 20_000
# The 20,000 others: what a large city's stops, sensors, hospitals and open requests add up to.
OTHERS = {"stops": 8_000, "sensors": 4_000, "hospitals": 400, "requests": 7_600}


def _spread(rng: np.random.Generator, n: int, spread: float = 0.12) -> tuple[np.ndarray, np.ndarray]:
    return (CENTER[0] + rng.uniform(-spread, spread, n),
            CENTER[1] + rng.uniform(-spread * 1.2, spread * 1.2, n))


def fill_others(r: redis.Redis, now: float, counts: dict[str, int] = OTHERS, seed: int = 3) -> int:
    """Write the city's stops, sensors, hospitals and requests; returns how many things."""
    rng = np.random.default_rng(seed)
    lat, lon = _spread(rng, counts["stops"])
    store.entities.write_batch(r, "transport", "mega-static", entities=[
        Entity("transport", "stop", f"mega-static:stop:{i}", float(lat[i]), float(lon[i]),
               "active", now, "bench", {"name": f"Stop {i}", "code": str(10_000 + i)})
        for i in range(counts["stops"])], replaces=["stop"])
    lat, lon = _spread(rng, counts["sensors"])
    store.entities.write_batch(r, "water", "mega-water", entities=[
        Entity("water", "sensor", f"mega-water:sensor:{i}", float(lat[i]), float(lon[i]),
               "active", now, "bench", {"metrics": ["pressure_bar"], "zone": f"Z{i % 40}"})
        for i in range(counts["sensors"])],
        observations=[Observation(f"mega-water:sensor:{i}", "pressure_bar",
                                  float(rng.uniform(1, 4)), "bar", now)
                      for i in range(counts["sensors"])])
    lat, lon = _spread(rng, counts["hospitals"])
    store.entities.write_batch(r, "medical", "mega-medical", entities=[
        Entity("medical", "hospital", f"mega-medical:hospital:{i}", float(lat[i]), float(lon[i]),
               "active", now, "bench", {"name": f"Hospital {i}"})
        for i in range(counts["hospitals"])],
        observations=[Observation(f"mega-medical:hospital:{i}", "beds_available",
                                  float(rng.integers(0, 60)), "1", now)
                      for i in range(counts["hospitals"])])
    lat, lon = _spread(rng, counts["requests"])
    store.entities.write_batch(r, "city", "mega-city", entities=[
        Entity("city", "request", f"mega-city:request:{i}", float(lat[i]), float(lon[i]), "open",
               now, "bench", {"service_name": "Pothole",
                              "expected_at": now + float(rng.uniform(-86_400, 86_400))})
        for i in range(counts["requests"])])
    return sum(counts.values())


def _adapters(feeds: int) -> list[GtfsRealtimeAdapter]:
    return [GtfsRealtimeAdapter({"name": f"mega-{f}", "url": f"http://127.0.0.1/mega-{f}",
                                 "kind": "vehicle_positions"}) for f in range(feeds)]


def _keys_memory(r: redis.Redis) -> int:
    """The keys' own memory (used_memory would also count the client's query buffers)."""
    return sum(r.memory_usage(key, samples=0) or 0 for key in r.scan_iter(count=1_000))


def bench_megacity(r: redis.Redis, runs: int = 3, feeds: int = FEEDS,
                   per_feed: int = VEHICLES_PER_FEED,
                   others: dict[str, int] = OTHERS) -> dict[str, float]:
    """The 100,000-entity figures: ingest rate, Redis bytes per entity, the map publish per
    batch of every vehicle, and the changed wall tick (in the web app's request path)."""
    from app.bench.map import bench_tick_on

    r.flushdb()
    start = time.time()
    adapters = _adapters(feeds)
    # One poll per feed per run, each a second newer than the last (the steady state).
    payloads = [[vehicle_positions_feed(per_feed, seed=10 + f, now=start + run)
                 for f in range(feeds)] for run in range(runs + 1)]
    things = fill_others(r, start, others)
    for adapter, payload in zip(adapters, payloads[0], strict=True):
        ingest(r, adapter, RawPayload(payload, "bench"))
    vehicles = feeds * per_feed
    limits = Thresholds.of()
    for domain in ("transport", "water", "medical", "city"):
        map_share.publish(r, domain, limits)
    memory = _keys_memory(r)

    ingest_s, publish_ms = [], []
    for run in range(1, runs + 1):
        started = time.perf_counter()
        for adapter, payload in zip(adapters, payloads[run], strict=True):
            ingest(r, adapter, RawPayload(payload, "bench"))
        ingest_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        map_share.publish(r, "transport", limits)
        publish_ms.append((time.perf_counter() - started) * 1000)
    tick = bench_tick_on(r, runs=runs, move=lambda run: _move(r, adapters, per_feed, start, run))
    return {
        "entities_100k": float(vehicles + things),
        "ingest_entities_per_s_100k": vehicles / statistics.median(ingest_s),
        "redis_bytes_per_entity_100k": memory / (vehicles + things),
        "map_publish_ms_100k": statistics.median(publish_ms),
        "tick_changed_ms_100k": tick["tick_changed_ms"],
        "tick_changed_bytes_100k": tick["tick_changed_bytes"],
    }


def _move(r: redis.Redis, adapters: list[GtfsRealtimeAdapter], per_feed: int, start: float,
          run: int) -> None:
    """Every vehicle of every feed moves (a new poll with other positions)."""
    for f, adapter in enumerate(adapters):
        payload = vehicle_positions_feed(per_feed, seed=100 * run + f, now=start + 50 + run)
        ingest(r, adapter, RawPayload(payload, "bench"))


def figures_of(result: dict[str, Any]) -> dict[str, Any]:
    """The headline figures of a megacity run (the rest goes to the growth table)."""
    return {k: v for k, v in result.items() if k.endswith("_100k")}


def bench_worker_memory(seconds: float = 30.0, walls: int = 3, feeds: int = FEEDS,
                        per_feed: int = VEHICLES_PER_FEED,
                        others: dict[str, int] = OTHERS) -> dict[str, float]:
    """Resident memory of the largest web worker of a `cityops up` serving the 100,000-entity
    city for ``seconds``: wall displays on their status and map ticks, an operator reading the API
    (the soak's clients), while every vehicle moves each second and the map is published."""
    import threading

    from app import accounts
    from app.bench.web import _redis_of, running_up, worker_memory_mb
    from app.soak.clients import SOAK_USER, LoadStats, start_clients

    password = "bench megacity password"
    with running_up(workers=2) as up:
        r = _redis_of(up)
        start = time.time()
        adapters = _adapters(feeds)
        fill_others(r, start, others)
        for f, adapter in enumerate(adapters):
            ingest(r, adapter, RawPayload(vehicle_positions_feed(per_feed, seed=10 + f, now=start),
                                          "bench"))
        limits = Thresholds.of()
        for domain in ("transport", "water", "medical", "city"):
            map_share.publish(r, domain, limits)
        accounts.add_user(r, SOAK_USER, "operator", password)
        token = accounts.create_token(r, "bench-megacity", "wall")
        stats, stop = LoadStats(), threading.Event()
        threads = start_clients(up.port, token, password, walls, stats, stop)
        run, ends = 0, time.monotonic() + seconds
        try:
            while time.monotonic() < ends:
                run += 1
                began = time.monotonic()
                _move(r, adapters, per_feed, start, run)
                map_share.publish(r, "transport", limits)
                time.sleep(max(0.0, 1.0 - (time.monotonic() - began)))
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
        memory = worker_memory_mb(up.process.pid)
        r.close()
    summary = stats.summary()
    if summary["errors"]:
        print(f"megacity: failed requests by kind: {summary['errors_by_kind']}")
    return {"web_worker_rss_mb_100k": memory, "megacity_requests": float(summary["requests"]),
            "megacity_errors": float(summary["errors"])}
