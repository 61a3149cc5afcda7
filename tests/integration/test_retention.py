"""Retention: closed service requests leave the store after their retention limit.

An Open311 feed is read incrementally, so it never lists its whole state and nothing it sent would
ever be retired: without a limit every request the city ever closed stays in Redis (and in every
KPI pass). The store retires expired entities in one script; the runner applies each feed's limit.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any, Iterator

import pytest
import redis

from app import store
from app.config import load_settings
from app.model.records import Entity, Retention
from app.ops.runner_process import build_runner
from app.pipeline.ingest import ingest
from data_adapters.base import FatalFeedError
from data_adapters.city.adapter import DEFAULT_CLOSED_RETENTION_DAYS, Open311Adapter
from tests.support.payloads.open311 import Open311Server, payload, request
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for

DAY = 86_400.0


def req(feed: str, number: int, status: str, age_days: float, now: float,
        lat: float | None = 28.55) -> Entity:
    """A request entity of ``feed`` last updated ``age_days`` ago."""
    return Entity("city", "request", f"{feed}:request:{number}", lat, 112.36 if lat else None,
                  status, now - age_days * DAY, feed,
                  {"raw_status": "closed" if status == "open" else status})


def stored_ids(r: redis.Redis) -> set[str]:
    return {e["id"] for e in store.entities.read_entities(r, "city")}


def version(r: redis.Redis) -> int:
    return store.status.domain_versions(r)["city"][0]


def test_prune_retires_only_old_closed_requests_of_the_feed(r: redis.Redis) -> None:
    """Closed and older than the cutoff: gone from the records, the GEO index, the times map and
    the feed's id list, in one version bump. Open ones (however old), recent closed ones and
    another feed's requests stay. An open request whose raw status text says "closed" stays."""
    now = time.time()
    mine = [req("sr", 1, "closed", 40, now), req("sr", 2, "closed", 31, now, lat=None),
            req("sr", 3, "closed", 5, now), req("sr", 4, "open", 400, now)]
    theirs = [req("other", 1, "closed", 40, now)]
    store.entities.write_batch(r, "city", "sr", entities=mine)
    store.entities.write_batch(r, "city", "other", entities=theirs)
    before = version(r)
    assert store.entities.prune(r, "city", "sr", "request", "closed", now - 30 * DAY) == 2
    assert stored_ids(r) == {"sr:request:3", "sr:request:4", "other:request:1"}
    assert version(r) == before + 1
    assert "sr:request:1" not in {m.decode() if isinstance(m, bytes) else m
                                  for m in r.zrange(store.keys.Keys.geo("city"), 0, -1)}
    # Nothing left to retire: no write, no version bump.
    assert store.entities.prune(r, "city", "sr", "request", "closed", now - 30 * DAY) == 0
    assert version(r) == before + 1
    # Gone from the times map: the same request sent again (even older) is accepted anew,
    # where a remembered newer time would have refused it as older data.
    again = store.entities.write_batch(r, "city", "sr", entities=[req("sr", 1, "closed", 45, now)])
    assert (again.accepted, again.older) == (1, 0)
    # Gone from the feed's id list: the next pass sees only what the feed still holds.
    assert store.entities.prune(r, "city", "sr", "request", "closed", now - 30 * DAY) == 1
    assert store.entities.prune(r, "city", "other", "request", "closed", now - 30 * DAY) == 1
    assert stored_ids(r) == {"sr:request:3", "sr:request:4"}


def test_prune_of_many_requests_takes_only_the_expired(r: redis.Redis) -> None:
    """30,000 requests of which 10,000 closed long ago: those go, in chunks, the rest stay."""
    now = time.time()
    batch = [req("sr", i, "closed" if i % 3 == 0 else "open", 60 if i % 3 == 0 else 1, now)
             for i in range(30_000)]
    store.entities.write_batch(r, "city", "sr", entities=batch)
    started = time.perf_counter()
    gone = store.entities.prune(r, "city", "sr", "request", "closed", now - 30 * DAY)
    elapsed = time.perf_counter() - started
    print(f"\nretention pass over 30,000 requests: {gone} retired in {elapsed * 1000:.0f} ms")
    assert gone == 10_000
    assert store.entities.count(r, "city") == 20_000


def test_the_open311_adapter_declares_its_limit() -> None:
    base = {"name": "sr", "base_url": "http://127.0.0.1:9"}
    assert Open311Adapter(base).retention() == Retention(
        "request", "closed", DEFAULT_CLOSED_RETENTION_DAYS * DAY)
    assert Open311Adapter({**base, "closed_retention_days": 7}).retention() == Retention(
        "request", "closed", 7 * DAY)
    assert Open311Adapter({**base, "closed_retention_days": 0}).retention() is None
    for bad in (-1, "30", True, float("nan"), 1e9):
        with pytest.raises(FatalFeedError, match="closed_retention_days"):
            Open311Adapter({**base, "closed_retention_days": bad})


def iso_days_ago(days: float) -> str:
    return datetime.fromtimestamp(time.time() - days * DAY, UTC).isoformat()


@pytest.fixture
def city_server() -> Iterator[Open311Server]:
    """An Open311 endpoint that (ignoring updated_after) answers a request closed yesterday, one
    open for 90 days and one closed 40 days ago."""
    server = Open311Server(payload(
        request(service_request_id="2", status="closed", updated_datetime=iso_days_ago(1),
                requested_datetime=iso_days_ago(3)),
        request(service_request_id="3", status="open", updated_datetime=iso_days_ago(90),
                requested_datetime=iso_days_ago(90)),
        request(service_request_id="4", status="closed", updated_datetime=iso_days_ago(40),
                requested_datetime=iso_days_ago(45))))
    yield server
    server.close()


def city_feed(server: Open311Server, days: int) -> Open311Adapter:
    return Open311Adapter({"name": "sr", "base_url": server.base_url, "interval_s": 0.5,
                           "closed_retention_days": days, "id_prefix": "sr"})


def test_ingest_does_not_store_what_is_already_past_the_limit(r: redis.Redis,
                                                              city_server: Open311Server) -> None:
    """A request closed 40 days ago is counted as expired, not stored; the others are."""
    adapter = city_feed(city_server, 30)
    result = ingest(r, adapter, adapter.fetch())
    assert (result.accepted, result.expired) == (2, 1)
    assert result.as_json()["expired"] == 1
    assert stored_ids(r) == {"sr:request:2", "sr:request:3"}


@pytest.mark.parametrize(("days", "kept"), [(30, {"2", "3"}), (0, {"1", "2", "3", "4"})])
def test_the_runner_applies_the_feed_limit(r: redis.Redis, redis_server: RedisServer,
                                           city_server: Open311Server, tmp_path: Any,
                                           days: int, kept: set[str]) -> None:
    """A request stored earlier and closed 40 days ago is retired by the runner polling the feed;
    one the feed sends already past the limit is not stored. With the limit at 0, closed requests
    are kept forever."""
    store.entities.write_batch(r, "city", "sr", entities=[req("sr", 1, "closed", 40, time.time())])
    settings = load_settings(environ={"CITYOPS_DATA_DIR": str(tmp_path)})
    runner = build_runner(settings, redis_server.url, [city_feed(city_server, days)])
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: len(city_server.seen) >= 2, timeout=20)
        expected = {f"sr:request:{number}" for number in kept}
        assert wait_for(lambda: stored_ids(r) == expected, timeout=10), stored_ids(r)
    finally:
        runner.stop()
        thread.join(timeout=10)
