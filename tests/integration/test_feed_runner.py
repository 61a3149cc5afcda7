"""The runner against a local HTTP feed that fails, stalls, sends garbage and recovers."""

from __future__ import annotations

import time
from typing import Any, Iterator

import pytest
import redis

from app import store
from app.live.feeds import read_health
from app.model.feeds import feed_state
from app.model.records import RawPayload
from app.pipeline.ingest import ingest
from app.pipeline.runner import backoff_delay
from data_adapters.base import ParseError, RetryableFeedError
from data_adapters.http import http_get
from tests.support.feeds import CsvPointsAdapter, FeedServer, health, start_runner
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A controllable feed on 127.0.0.1."""
    server = FeedServer()
    yield server
    server.close()


def test_ingest_keeps_valid_rows_and_dead_letters_bad_ones(r: redis.Redis) -> None:
    """A payload with one bad line stores the good ones and keeps the bad one's excerpt."""
    adapter = CsvPointsAdapter({"name": "pts", "url": "http://127.0.0.1:1/"})
    result = ingest(r, adapter, RawPayload(b"a,28.5,112.3\nbroken line\nb,28.6,112.4\n", "test"))
    assert (result.accepted, result.rejected) == (2, 1)
    assert store.entities.count(r, "city") == 2
    assert store.feeds.read_dead_letters(r, "pts")[0]["excerpt"] == "broken line"


def test_unusable_payload_leaves_the_store_unchanged(r: redis.Redis) -> None:
    """Garbage raises ParseError: entities untouched, the excerpt in the dead-letter stream."""
    adapter = CsvPointsAdapter({"name": "pts", "url": "http://127.0.0.1:1/"})
    ingest(r, adapter, RawPayload(b"a,28.5,112.3\n", "test"))
    before = store.entities.read_entities(r, "city")
    with pytest.raises(ParseError):
        ingest(r, adapter, RawPayload(b"\xff\xfe garbage", "test"))
    assert store.entities.read_entities(r, "city") == before
    assert store.feeds.read_dead_letters(r, "pts")[0]["reason"].startswith("unusable payload")


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    """Each failure doubles the wait (within jitter), capped, never below Retry-After."""
    import random

    rng = random.Random(3)
    delays = [backoff_delay(2.0, n, None, rng) for n in range(1, 6)]
    assert all(0.75 * 2 * 2 ** (n - 1) <= d <= 1.25 * 2 * 2 ** (n - 1)
               for n, d in zip(range(1, 6), delays, strict=True))
    assert backoff_delay(2.0, 30, None, rng) <= 300 * 1.25
    assert backoff_delay(2.0, 1, 120.0, rng) == 120.0


def test_runner_fails_stalls_garbage_and_recovers(r: redis.Redis, redis_server: RedisServer,
                                                  feed_server: FeedServer, tmp_path: Any) -> None:
    """Health follows the feed through 500, a stall, garbage and back to good data."""
    adapter = CsvPointsAdapter({"name": "pts", "url": feed_server.url, "interval_s": 0.2,
                                "freshness_budget_s": 1.5, "timeout_s": 0.5})
    runner, thread = start_runner(redis_server.url, tmp_path, [adapter])
    try:
        assert wait_for(lambda: health(r, "pts").get("accepted") == "1")
        assert read_health(r)[0].state == "ok"
        feed_server.status, feed_server.retry_after = 503, "0"
        assert wait_for(lambda: "HTTP 503" in health(r, "pts").get("last_error", ""))
        assert wait_for(lambda: int(health(r, "pts").get("consecutive_failures", 0)) >= 2)
        assert store.entities.count(r, "city") == 1  # the last good data stays, marked stale
        assert wait_for(lambda: read_health(r)[0].state in ("stale", "down"), timeout=15)
        feed_server.status, feed_server.retry_after, feed_server.stall_s = 200, None, 2.0
        assert wait_for(lambda: "timed out" in health(r, "pts").get("last_error", ""), timeout=20)
        feed_server.stall_s, feed_server.body = 0.0, b"\x00\x01 not points"
        assert wait_for(lambda: "unusable payload" in health(r, "pts").get("last_error", ""),
                        timeout=40)
        assert store.entities.count(r, "city") == 1
        feed_server.body = b"a,28.5,112.3\nb,28.6,112.4\n"
        assert wait_for(lambda: health(r, "pts").get("accepted") == "2", timeout=60)
        assert read_health(r)[0].state == "ok"
        assert health(r, "pts")["consecutive_failures"] == "0"
    finally:
        runner.stop()
        thread.join(timeout=10)


def test_one_broken_feed_does_not_slow_another(r: redis.Redis, redis_server: RedisServer,
                                               tmp_path: Any) -> None:
    """A stalling feed and a healthy one: the healthy one keeps its pace."""
    slow, fast = FeedServer(), FeedServer()
    slow.stall_s = 3.0
    try:
        adapters = [CsvPointsAdapter({"name": "slow", "url": slow.url, "interval_s": 0.2,
                                      "timeout_s": 5}),
                    CsvPointsAdapter({"name": "fast", "url": fast.url, "interval_s": 0.2})]
        runner, thread = start_runner(redis_server.url, tmp_path, adapters)
        try:
            assert wait_for(lambda: fast.hits >= 8, timeout=4)
            assert slow.hits <= 2
        finally:
            runner.stop()
            thread.join(timeout=10)
    finally:
        slow.close()
        fast.close()


def test_only_one_runner_polls_a_feed_and_another_takes_over(
        r: redis.Redis, redis_server: RedisServer, feed_server: FeedServer, tmp_path: Any) -> None:
    """Two runners share a feed through its lease; when the holder stops, the other polls."""
    config = {"name": "pts", "url": feed_server.url, "interval_s": 0.2,
              "freshness_budget_s": 1.0}
    first, t1 = start_runner(redis_server.url, tmp_path, [CsvPointsAdapter(config)], "one")
    assert wait_for(lambda: health(r, "pts").get("owner") == "one")
    second, t2 = start_runner(redis_server.url, tmp_path, [CsvPointsAdapter(config)], "two")
    try:
        time.sleep(1.0)
        assert health(r, "pts")["owner"] == "one"
        # Stop the first without releasing its lease, as a crash would.
        first.stopping.set()
        t1.join(timeout=10)
        r.set(store.keys.Keys.lease("pts"), "one", px=1000)
        assert wait_for(lambda: health(r, "pts").get("owner") == "two", timeout=5)
    finally:
        second.stop()
        t2.join(timeout=10)


def test_feed_state_rules() -> None:
    """ok within the budget, stale past it, down after repeated or fatal failures."""
    row = {"freshness_budget_s": "30", "last_success": "1000", "consecutive_failures": "0"}
    assert feed_state(row, 1010) == "ok"
    assert feed_state(row, 1031) == "stale"
    assert feed_state(dict(row, consecutive_failures="3"), 1031) == "down"
    assert feed_state(dict(row, fatal="1"), 1010) == "down"
    assert feed_state({"freshness_budget_s": "30", "first_attempt": "1000"}, 1010) == "waiting"


def test_http_errors_are_typed(feed_server: FeedServer) -> None:
    """429/5xx are retryable with Retry-After; 4xx are fatal; a dead port is retryable."""
    from data_adapters.base import FatalFeedError

    feed_server.status, feed_server.retry_after = 429, "7"
    with pytest.raises(RetryableFeedError) as err:
        http_get(feed_server.url)
    assert err.value.retry_after == 7.0
    feed_server.status, feed_server.retry_after = 403, None
    with pytest.raises(FatalFeedError):
        http_get(feed_server.url)
    with pytest.raises(RetryableFeedError):
        http_get("http://127.0.0.1:1/none", timeout_s=0.5)
    with pytest.raises(FatalFeedError):
        http_get("ftp://127.0.0.1/x")
