"""`cityops bench`: measured figures on data the benchmark builds itself, on a private Redis.

It never touches the installation's data: each run starts its own redis-server (the embedded
binary, in a temporary directory) unless a URL is given.
"""

from __future__ import annotations

import contextlib
import random
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import redis
from google.transit import gtfs_realtime_pb2

from app import store
from app.embedded_redis import free_port, redis_server_binary
from app.redis_link import connect
from data_adapters.base import RawPayload
from data_adapters.ingest import ingest
from data_adapters.transport.adapter import GtfsRealtimeAdapter

CENTER = (28.55, 112.36)  # Yiyang


def vehicle_positions_feed(vehicles: int, seed: int = 1, now: float | None = None) -> bytes:
    """A FULL_DATASET VehiclePositions message with ``vehicles`` buses around the demo city."""
    rng = random.Random(seed)
    now = time.time() if now is None else now
    message = gtfs_realtime_pb2.FeedMessage()
    message.header.gtfs_realtime_version = "2.0"
    message.header.incrementality = gtfs_realtime_pb2.FeedHeader.FULL_DATASET
    message.header.timestamp = int(now)
    for i in range(vehicles):
        entity = message.entity.add()
        entity.id = f"e{i}"
        vp = entity.vehicle
        vp.vehicle.id = f"bus-{i}"
        vp.trip.trip_id = f"trip-{i}"
        vp.trip.route_id = str(1 + i % 60)
        vp.position.latitude = CENTER[0] + rng.uniform(-0.05, 0.05)
        vp.position.longitude = CENTER[1] + rng.uniform(-0.06, 0.06)
        vp.position.bearing = rng.uniform(0, 359)
        vp.timestamp = int(now)
    return message.SerializeToString()


@contextlib.contextmanager
def private_redis() -> Iterator[redis.Redis]:
    """A throw-away redis-server on a free loopback port (no persistence)."""
    with tempfile.TemporaryDirectory(prefix="cityops-bench-") as directory:
        port = free_port()
        process = subprocess.Popen(
            [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(Path(directory))],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = connect(f"redis://127.0.0.1:{port}/0")
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    client.ping()
                    break
                except redis.RedisError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            yield client
        finally:
            client.close()
            process.terminate()
            process.wait(timeout=10)


def _median_seconds(action: Callable[[], Any], runs: int, before: Callable[[], Any]) -> float:
    times = []
    for _ in range(runs):
        before()
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_ingest(entities: int, runs: int = 5, r: redis.Redis | None = None) -> dict[str, float]:
    """Parse + store of a generated VehiclePositions feed against a plain batched write."""
    payload = vehicle_positions_feed(entities)
    adapter = GtfsRealtimeAdapter({"name": "bench", "url": "http://127.0.0.1/bench",
                                   "kind": "vehicle_positions"})
    with contextlib.ExitStack() as stack:
        client = r if r is not None else stack.enter_context(private_redis())
        parsed = [item for item in adapter.parse(RawPayload(payload, "bench"))
                  if getattr(item, "kind", None) == "vehicle"]

        def raw_write() -> None:
            # The plain alternative: the same records packed and written in one batched HSET,
            # with no time checks, no retirement, no version bump.
            client.hset("bench:raw", mapping={e.id: store.pack_entity(e) for e in parsed})

        ours = _median_seconds(lambda: ingest(client, adapter, RawPayload(payload, "bench")),
                               runs, client.flushdb)
        plain = _median_seconds(raw_write, runs, client.flushdb)
        client.flushdb()
        ingest(client, adapter, RawPayload(payload, "bench"))
        # The keys' own memory: used_memory would also count the client's query buffer, which
        # held the whole batch a moment ago.
        memory = sum(client.memory_usage(key, samples=0) or 0 for key in client.scan_iter())
    return {
        "entities": float(len(parsed)),
        "ingest_entities_per_s": len(parsed) / ours,
        "raw_write_entities_per_s": len(parsed) / plain,
        "ingest_ratio_to_raw_write": plain / ours,
        "ingest_ms": ours * 1000,
        "raw_write_ms": plain * 1000,
        "redis_bytes_per_entity": memory / max(len(parsed), 1),
    }
