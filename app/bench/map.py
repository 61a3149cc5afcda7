"""Benchmark of the live map's update tick: server time and response bytes at a city's scale.

The store is filled with vehicles (with delays), water sensors, hospitals and open requests
through the same write path as the adapters; the wall map's frame is asked of the web app as a
wall asks it (layouts/wall_map.py).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from typing import Any, Callable

import numpy as np
import redis

from app import store
from app.bench.ingest import CENTER
from app.config import load_settings
from app.model.domains import DOMAINS
from app.model.records import Entity, Observation


def _positions(rng: np.random.Generator, n: int, spread: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    return (CENTER[0] + rng.uniform(-spread, spread, n),
            CENTER[1] + rng.uniform(-spread * 1.2, spread * 1.2, n))


def _vehicles(now: float, lat: np.ndarray, lon: np.ndarray) -> list[Entity]:
    return [Entity("transport", "vehicle", f"bench:vehicle:bus-{i}", float(lat[i]), float(lon[i]),
                   "in_service", now, "bench", {"route_id": str(1 + i % 60), "trip_id": f"trip-{i}",
                                                "label": f"Bus {i}"})
            for i in range(len(lat))]


def fill_city(r: redis.Redis, vehicles: int, sensors: int, hospitals: int, requests: int,
              seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Write a city of the given size to ``r``; returns the vehicles' positions (to move them)."""
    rng = np.random.default_rng(seed)
    now = time.time()
    vlat, vlon = _positions(rng, vehicles)
    store.entities.write_batch(r, "transport", "bench", entities=_vehicles(now, vlat, vlon),
                      observations=[Observation(f"bench:vehicle:bus-{i}", "delay_s",
                                                float(rng.normal(60, 200)), "s", now)
                                    for i in range(vehicles)], replaces=["vehicle"])
    slat, slon = _positions(rng, sensors)
    store.entities.write_batch(r, "water", "bench-water", entities=[
        Entity("water", "sensor", f"w:sensor:{i}", float(slat[i]), float(slon[i]), "active", now,
               "bench", {"metrics": ["pressure_bar"], "zone": f"Z{i % 9}"}) for i in range(sensors)],
        observations=[Observation(f"w:sensor:{i}", "pressure_bar", float(rng.uniform(1, 4)), "bar",
                                  now) for i in range(sensors)])
    hlat, hlon = _positions(rng, hospitals)
    store.entities.write_batch(r, "medical", "bench-medical", entities=[
        Entity("medical", "hospital", f"m:hospital:{i}", float(hlat[i]), float(hlon[i]), "active",
               now, "bench", {"name": f"Hospital {i}"}) for i in range(hospitals)],
        observations=[Observation(f"m:hospital:{i}", "beds_available",
                                  float(rng.integers(0, 60)), "1", now) for i in range(hospitals)])
    qlat, qlon = _positions(rng, requests)
    store.entities.write_batch(r, "city", "bench-city", entities=[
        Entity("city", "request", f"c:request:{i}", float(qlat[i]), float(qlon[i]), "open", now,
               "bench", {"service_name": "Pothole", "expected_at": now + rng.uniform(-86400, 86400)})
        for i in range(requests)])
    return vlat, vlon


def _median_ms(action: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _response_bytes(response: Any) -> int:
    """What travels back: status line, headers and body."""
    head = len(f"HTTP/1.1 {response.status}\r\n")
    head += sum(len(k) + len(v) + 4 for k, v in response.headers.items()) + 2
    return head + len(response.get_data())


def bench_tick(r: redis.Redis, vehicles: int = 20_000, sensors: int = 2_000, hospitals: int = 200,
               requests: int = 10_000, runs: int = 5) -> dict[str, float]:
    """The wall map's frame over the web app's own request path (gate, session, layouts/wall_map.py):
    server time and response bytes when nothing changed and after every vehicle moved."""
    r.flushdb()
    vlat, vlon = fill_city(r, vehicles, sensors, hospitals, requests)
    rng = np.random.default_rng(2)

    def move(run: int) -> None:
        vlat[:] += rng.normal(0, 0.0003, vehicles)
        vlon[:] += rng.normal(0, 0.0003, vehicles)
        store.entities.write_batch(r, "transport", "bench",
                                   entities=_vehicles(time.time() + run, vlat, vlon),
                                   replaces=["vehicle"])

    return bench_tick_on(r, runs, move)


def bench_tick_on(r: redis.Redis, runs: int, move: Callable[[int], None]) -> dict[str, float]:
    """The map tick on the city already in ``r``: 30 ticks with nothing changed, then ``runs``
    ticks each after ``move(run)`` changed the vehicles and the runner's publish (timed apart)."""
    from app import accounts
    from app.situation import mapdata
    from app.situation.mapdata import share as map_share
    from app.web.server import create_app
    from layouts import ids

    accounts.add_user(r, "bench-operator", "operator", "bench password 1234")
    port = r.connection_pool.connection_kwargs["port"]
    with tempfile.TemporaryDirectory(prefix="cityops-bench-map-") as data_dir:
        settings = load_settings(environ={"CITYOPS_DATA_DIR": data_dir,
                                          "CITYOPS_REDIS_URL": f"redis://127.0.0.1:{port}/0"})
        app = create_app(settings)
        # After each batch the runner publishes the domain's map arrays (app/map_share.py); the
        # bench does the same and reports that cost apart from the web tick.
        limits = mapdata.Thresholds.of(settings.kpis)
        for domain in DOMAINS:
            map_share.publish(r, domain, limits)
        mapdata.forget_snapshots()
        client = app.server.test_client()
        client.get("/login")
        client.post("/login", data={"username": "bench-operator", "password": "bench password 1234",
                                    "csrf_token": client.get_cookie("_csrf_token").value,
                                    "next": "/wall"})
        client.get("/wall")
        from layouts import wall_map
        from layouts.wall import WALL_ZOOM

        view = mapdata.view_around(*mapdata.DEFAULT_CENTER, WALL_ZOOM)
        first = client.get(wall_map.frame_url(ids.WALL_MAP, view))
        header, _ = wall_map.decode(first.get_data())
        # the wall then holds the routes and areas: later frames leave them out
        url = wall_map.frame_url(ids.WALL_MAP, view, header.get("lines", {}).get("sig", ""),
                                 header.get("areas", {}).get("sig", ""))

        def tick(held: str) -> tuple[float, int, str]:
            # what a wall's map asks each second: 304 while nothing it shows moved
            started = time.perf_counter()
            response = client.get(url, headers={"If-None-Match": held} if held else {})
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code == 200:
                held = response.headers["ETag"]
            elif response.status_code != 304:
                raise RuntimeError(f"the wall map answered {response.status_code}")
            return elapsed, _response_bytes(response), held

        state = first.headers["ETag"]
        quiet = [tick(state) for _ in range(30)]
        if any(held != state for _, _, held in quiet):
            raise RuntimeError("the map updated although nothing changed")
        changed, sizes, published = [], [], []
        for run in range(runs):
            move(run)
            started = time.perf_counter()
            map_share.publish(r, "transport", limits)
            published.append((time.perf_counter() - started) * 1000)
            elapsed, size, state = tick(state)
            changed.append(elapsed)
            sizes.append(size)
    return {"tick_unchanged_ms": statistics.median(ms for ms, _, _ in quiet),
            "tick_unchanged_bytes": float(statistics.median(b for _, b, _ in quiet)),
            "tick_changed_ms": statistics.median(changed),
            "tick_changed_bytes": float(statistics.median(sizes)),
            "map_publish_ms": statistics.median(published)}
