"""`cityops bench ingest`: parse + store of a generated GTFS-rt feed against plain writes, on a private Redis.

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

import orjson
import redis
from google.transit import gtfs_realtime_pb2

from app import store
from app.model.records import RawPayload
from app.pipeline.ingest import ingest
from app.situation.mapdata import Thresholds
from app.situation.mapdata import share as map_share
from app.store.embedded import free_port, redis_server_binary
from app.store.link import connect
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


def _field(value: float | None) -> str | float:
    """A record's value as a hash field (Redis has no null)."""
    return "" if value is None else value


def _median_seconds(action: Callable[[int], Any], runs: int) -> float:
    times = []
    for run in range(runs):
        started = time.perf_counter()
        action(run)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_ingest(entities: int, runs: int = 5, r: redis.Redis | None = None) -> dict[str, float]:
    """Parse + store of a generated VehiclePositions feed against a plain batched write.

    Both are measured in the steady state of a running city: the store already holds the
    previous poll of the same fleet, and each poll is a second newer than the one before.
    """
    start = time.time()
    payloads = [vehicle_positions_feed(entities, now=start + run) for run in range(runs + 1)]
    adapter = GtfsRealtimeAdapter({"name": "bench", "url": "http://127.0.0.1/bench",
                                   "kind": "vehicle_positions"})
    with contextlib.ExitStack() as stack:
        client = r if r is not None else stack.enter_context(private_redis())
        parsed = [item for item in adapter.parse(RawPayload(payloads[0], "bench"))
                  if getattr(item, "kind", None) == "vehicle"]

        def plain_write(_run: int) -> None:
            # The plain way: each record as its own hash of fields, sent in pipelined batches,
            # with no time checks, no retirement, no version bump.
            with client.pipeline(transaction=False) as pipe:
                for e in parsed:
                    pipe.hset(f"bench:plain:{e.id}", mapping={
                        "domain": e.domain, "kind": e.kind, "id": e.id, "lat": _field(e.lat),
                        "lon": _field(e.lon), "status": e.status, "observed_at": e.observed_at,
                        "source": e.source, "attrs": orjson.dumps(e.attrs)})
                pipe.execute()

        def packed_write(_run: int) -> None:
            # The leanest write there is: every record packed into one HSET of one key.
            client.hset("bench:packed", mapping={e.id: store.entities.pack_entity(e) for e in parsed})

        client.flushdb()
        ingest(client, adapter, RawPayload(payloads[0], "bench"))
        ours = _median_seconds(
            lambda run: ingest(client, adapter, RawPayload(payloads[run + 1], "bench")), runs)
        # The map's arrays the runner publishes after each batch are part of the store's memory.
        map_share.publish(client, "transport", Thresholds.of())
        # The keys' own memory: used_memory would also count the client's query buffer, which
        # held the whole batch a moment ago.
        memory = sum(client.memory_usage(key, samples=0) or 0 for key in client.scan_iter())
        plain_write(0)  # both measured as overwrites, like the steady-state ingest
        plain = _median_seconds(plain_write, runs)
        packed_write(0)
        packed = _median_seconds(packed_write, runs)
    return {
        "entities": float(len(parsed)),
        "ingest_entities_per_s": len(parsed) / ours,
        "raw_write_entities_per_s": len(parsed) / plain,
        "ingest_ratio_to_raw_write": plain / ours,
        "packed_write_entities_per_s": len(parsed) / packed,
        "ingest_ratio_to_packed_write": packed / ours,
        "ingest_ms": ours * 1000,
        "raw_write_ms": plain * 1000,
        "packed_write_ms": packed * 1000,
        "redis_bytes_per_entity": memory / max(len(parsed), 1),
    }
