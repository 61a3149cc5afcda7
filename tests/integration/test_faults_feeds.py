"""Feed faults on a real Redis: a feed that stalls, fails, crawls, sends garbage or goes silent.

A local HTTP server plays GTFS-Realtime VehiclePositions feeds (built with gtfs-realtime-bindings
and read by the real gtfs_rt adapter) and switches each into a fault while a real runner polls
it. For every fault: the runner backs off (attempt times measured from the health record), the
feed shows stale within its freshness budget, app.alerts.evaluation.evaluate raises its `feed stale` alert,
garbage lands in the dead-letter stream, and the feed recovers by itself (the alert clears) when
it answers again. A healthy feed keeps its pace while many others stall in the same runner.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Iterator

import pytest
import redis

from app import alerts, store
from app.alerts import evaluation
from app.config import load_settings
from app.model.alerts import alert_id_for
from app.model.feeds import STALE_STATES, feed_state
from app.ops.runner_process import build_runner
from app.pipeline.runner import LOOP_S
from data_adapters import registry
from data_adapters.base import Adapter
from tests.support.fault_feeds import FeedServer
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for

YIYANG = (28.55, 112.36)
INTERVAL_S = 0.5
BUDGET_S = 2.5
TIMEOUT_S = 1.0
TEST_OWNER = "fault-test"  # holds the rules lease, so only the test evaluates the alert rules


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    """The local feed server."""
    server = FeedServer()
    yield server
    server.close()


def gtfs_rt_feed(name: str, url: str, **extra: Any) -> Adapter:
    """The real gtfs_rt adapter for a VehiclePositions feed, with the test's pace and budget."""
    return registry.build({"name": name, "adapter": "gtfs_rt", "kind": "vehicle_positions",
                           "url": url, "interval_s": INTERVAL_S, "freshness_budget_s": BUDGET_S,
                           "timeout_s": TIMEOUT_S, **extra})


class RunningRunner:
    """A real Runner in a background thread, and a sampler of its feeds' health records."""

    def __init__(self, url: str, data_dir: Any, adapters: list[Adapter]) -> None:
        settings = load_settings(environ={"CITYOPS_DATA_DIR": str(data_dir),
                                          "CITYOPS_HEARTBEAT_SECONDS": "0.5"})
        self.runner = build_runner(settings, url, adapters, owner="runner-under-test")
        self.thread = threading.Thread(target=self.runner.run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Stop the loop and wait for it (in-flight polls end at their timeout)."""
        self.runner.stop()
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), "the runner did not stop"


def spacing(times: list[float]) -> list[float]:
    """The time between each pair of consecutive events."""
    return [b - a for a, b in pairwise(times)]


def health(r: redis.Redis, feed: str) -> dict[str, str]:
    """The stored health record of ``feed`` (empty before its first poll)."""
    return next((row for row in store.feeds.read_health(r) if row["feed"] == feed), {})


class AttemptLog:
    """Every distinct poll start of a feed, read from its health record every 20 ms."""

    def __init__(self, r: redis.Redis, feed: str) -> None:
        self.r, self.feed = r, feed
        self.attempts: list[float] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while not self.done.is_set():
            value = self.r.hget(store.keys.Keys.feed_health(self.feed), "last_attempt")
            if value and (not self.attempts or float(value) != self.attempts[-1]):
                self.attempts.append(float(value))
            self.done.wait(0.02)

    def since(self, t: float) -> list[float]:
        """Attempt start times at or after ``t`` (Unix time)."""
        return [a for a in self.attempts if a >= t - 1e-3]

    def stop(self) -> None:
        """Stop sampling."""
        self.done.set()
        self.thread.join(timeout=5)


@pytest.fixture
def rules_lease(r: redis.Redis) -> str:
    """The alert rules' lease, held by the test: the runner never evaluates them behind its back."""
    assert store.alerts.acquire_rules_lease(r, TEST_OWNER, 600_000)
    return TEST_OWNER


# -- faults ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fault:
    """One way a feed breaks, and what its health record says then."""

    name: str
    error: str  # a fragment of last_error while the fault lasts
    mode: str = ""  # the FeedState mode ("" for a refused connection)
    status: int = 500
    retry_after: float | None = None
    fails: bool = True  # False: the server answers, with nothing new


FAULTS = [
    Fault("timeout", "timed out after 1 s", mode="stall"),
    Fault("http-500", "HTTP 500", mode="status"),
    Fault("http-503-retry-after", "HTTP 503", mode="status", status=503, retry_after=3.0),
    Fault("garbage", "unusable payload: not a GTFS-realtime FeedMessage", mode="garbage"),
    Fault("silent", "Connection refused"),
    # The backend behind the feed died; its web server keeps sending the last snapshot.
    Fault("frozen", "no new data: the feed's own timestamp", mode="frozen", fails=False),
]
MAX_LAG_S = 2.0  # the frozen feed's max_lag_s (the live one lags < 1 s: whole-second stamps)


def expected_backoff(failures: int) -> float:
    """The backoff of the runner before jitter (runner.backoff_delay with INTERVAL_S < 1 s)."""
    return max(INTERVAL_S, 1.0) * 2 ** (failures - 1)


def start_fault(server: FeedServer, path: str, fault: Fault) -> None:
    """Switch the feed at ``path`` into ``fault``."""
    state = server.feeds[path]
    if not fault.mode:
        server.stop()
        return
    state.status, state.delay_s = fault.status, 3 * TIMEOUT_S
    state.frozen_at = int(time.time())
    state.retry_after = None if fault.retry_after is None else f"{fault.retry_after:g}"
    state.mode = fault.mode


def end_fault(server: FeedServer, path: str, fault: Fault) -> None:
    """The feed answers good data again (on the same port after a refusal)."""
    server.feeds[path].mode = "ok"
    if not fault.mode:
        server.start()


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_feed_fault_backs_off_goes_stale_alerts_and_recovers(
        fault: Fault, r: redis.Redis, redis_server: RedisServer, feeds: FeedServer,
        rules_lease: str, tmp_path: Any) -> None:
    """One fault from start to recovery, with the store, health, alert and dead letters checked."""
    name = f"bus-{fault.name}"
    adapter = gtfs_rt_feed(name, feeds.url(name),
                           **({"max_lag_s": MAX_LAG_S} if fault.mode == "frozen" else {}))
    running = RunningRunner(redis_server.url, tmp_path, [adapter])
    log = AttemptLog(r, name)
    alert_id = alert_id_for(f"stale:{name}")
    try:
        assert wait_for(lambda: health(r, name).get("accepted") == "2", timeout=10), health(r, name)
        assert feed_state(health(r, name), time.time()) == "ok"
        assert store.entities.count(r, "transport") == 2
        assert evaluation.evaluate(r, time.time()).raised.count(alert_id) == 0

        start_fault(feeds, name, fault)
        started = time.time()
        # Health: stale (or down) within the freshness budget, with the reason and a count.
        assert wait_for(lambda: feed_state(health(r, name), time.time()) in STALE_STATES,
                        timeout=BUDGET_S + 10), health(r, name)
        record = health(r, name)
        stale_after = time.time() - float(record["last_success"])
        print(f"\n{fault.name}: stale {stale_after:.2f} s after the last fresh data, "
              f"{time.time() - started:.2f} s after the fault began (budget {BUDGET_S} s): "
              f"{record.get('last_error')!r}")
        assert stale_after <= BUDGET_S + 0.5
        assert time.time() - started <= BUDGET_S + (MAX_LAG_S + 1.5 if not fault.fails else 0.5)
        assert fault.error in record.get("last_error", ""), record
        assert (int(record["consecutive_failures"]) >= 1) == fault.fails, record
        # Screens read the compact summary: it says the same.
        summary = store.status.live_status(r).feeds[name]
        assert feed_state(summary, time.time()) in STALE_STATES, summary
        # The last good data stays (marked stale), untouched by the broken answers.
        assert store.entities.count(r, "transport") == 2
        # The rules raise the `feed stale` alert.
        result = evaluation.evaluate(r, time.time())
        assert alert_id in result.raised, result
        alert = alerts.get_alert(r, alert_id)
        assert alert is not None
        assert (alert["state"], alert["rule"], alert["entity"]) == ("active_unack", "feed_stale",
                                                                      name)
        assert name in alert["title"]

        # Backoff: each failure waits longer (never sooner than 0.75 x base, or than Retry-After).
        assert wait_for(lambda: len(log.since(started)) >= 3, timeout=20), log.attempts
        attempts = log.since(started)
        if not fault.fails:  # it answers: polled at its interval, no backoff
            assert max(spacing(attempts)) <= INTERVAL_S + LOOP_S + 0.5, spacing(attempts)
            attempts = []
        gaps = spacing(attempts)
        if gaps:
            print(f"{fault.name}: attempts {len(attempts)}, gaps "
                  + ", ".join(f"{g:.2f}" for g in gaps))
        for failures, gap in enumerate(gaps, start=1):
            floor = 0.75 * expected_backoff(failures)
            if failures == 1 and fault.retry_after:
                floor = max(floor, fault.retry_after)
            ceiling = (max(1.25 * expected_backoff(failures), fault.retry_after or 0.0)
                       + TIMEOUT_S + LOOP_S + 1.0)
            assert floor - 0.05 <= gap <= ceiling, (failures, gaps)
        if fault.mode == "stall":
            assert len(feeds.feeds[name].hits) >= 3 + 1  # the runner really asked each time
        # Dead letters keep unusable payloads, not transport errors.
        letters = store.feeds.read_dead_letters(r, name)
        if fault.mode == "garbage":
            assert letters and letters[0]["reason"].startswith("unusable payload"), letters
            assert "502 Bad Gateway" in letters[0]["excerpt"]
        else:
            assert letters == []

        # Recovery by itself, within the next backoff step.
        end_fault(feeds, name, fault)
        back = time.time()
        assert wait_for(lambda: float(health(r, name).get("last_success", 0)) > back,
                        timeout=1.25 * expected_backoff(max(len(attempts), 1)) + TIMEOUT_S + 3), \
            health(r, name)
        print(f"{fault.name}: recovered {time.time() - back:.2f} s after the feed came back")
        record = health(r, name)
        assert feed_state(record, time.time()) == "ok"
        assert record["consecutive_failures"] == "0"
        result = evaluation.evaluate(r, time.time())
        assert alert_id in result.cleared, result
        assert alerts.get_alert(r, alert_id)["state"] == "cleared_unack"  # type: ignore[index]
    finally:
        log.stop()
        running.stop()


def test_slow_feed_under_its_timeout_stays_fresh(r: redis.Redis, redis_server: RedisServer,
                                                 feeds: FeedServer, rules_lease: str,
                                                 tmp_path: Any) -> None:
    """A feed that answers slowly but within its timeout is not a failure: no backoff, no alert."""
    feeds.url("slow")
    feeds.feeds["slow"].mode, feeds.feeds["slow"].delay_s = "slow", 0.6
    adapter = gtfs_rt_feed("slow", feeds.url("slow"), timeout_s=1.5)
    running = RunningRunner(redis_server.url, tmp_path, [adapter])
    try:
        assert wait_for(lambda: len(feeds.feeds["slow"].hits) >= 4, timeout=15)
        record = health(r, "slow")
        assert record["consecutive_failures"] == "0" and "last_error" not in record, record
        assert float(record["duration_ms"]) >= 600
        assert feed_state(record, time.time()) == "ok"
        hits = feeds.feeds["slow"].hits
        gaps = spacing(hits)
        # Each poll takes ~0.6 s, then the feed waits its interval: no backoff in between.
        assert max(gaps) <= 0.6 + INTERVAL_S + LOOP_S + 0.5, gaps
        assert alert_id_for("stale:slow") not in evaluation.evaluate(r, time.time()).raised
    finally:
        running.stop()


def test_bad_rows_are_dead_lettered_and_the_rest_stored(r: redis.Redis, redis_server: RedisServer,
                                                        feeds: FeedServer, tmp_path: Any) -> None:
    """A payload with one bad vehicle: the good one is stored, the bad one counted and kept."""
    feeds.url("mixed")
    feeds.feeds["mixed"].mode = "mixed"
    running = RunningRunner(redis_server.url, tmp_path, [gtfs_rt_feed("mixed", feeds.url("mixed"))])
    try:
        assert wait_for(lambda: health(r, "mixed").get("rejected") == "1", timeout=10)
        record = health(r, "mixed")
        assert (record["accepted"], record["consecutive_failures"]) == ("1", "0"), record
        assert feed_state(record, time.time()) == "ok"
        assert [e["id"] for e in store.entities.read_entities(r, "transport")] == ["mixed:vehicle:bus-1"]
        letter = store.feeds.read_dead_letters(r, "mixed")[0]
        assert letter["reason"].startswith("invalid position"), letter
        assert "95" in letter["excerpt"]
    finally:
        running.stop()


def test_stalled_feeds_never_slow_a_healthy_one(r: redis.Redis, redis_server: RedisServer,
                                                feeds: FeedServer, tmp_path: Any) -> None:
    """Nine feeds stall until their timeout in the same runner; the healthy one keeps its pace.

    Nine is more than a small fixed pool of workers would hold: the healthy feed would then wait
    for a stalled poll to time out before its own turn.
    """
    stalled = [f"stall-{i}" for i in range(9)]
    adapters = []
    for name in stalled:
        adapters.append(gtfs_rt_feed(name, feeds.url(name), timeout_s=4.0))
        feeds.feeds[name].mode, feeds.feeds[name].delay_s = "stall", 8.0
    healthy_interval = 0.3
    adapters.append(gtfs_rt_feed("healthy", feeds.url("healthy"), interval_s=healthy_interval))
    running = RunningRunner(redis_server.url, tmp_path, adapters)
    try:
        assert wait_for(lambda: feeds.feeds["healthy"].hits, timeout=5)
        window_start = time.monotonic()
        time.sleep(3.0)  # inside every stalled poll's 4 s timeout
        window_end = time.monotonic()
        hits = [t for t in feeds.feeds["healthy"].hits if window_start <= t <= window_end]
        gaps = spacing([window_start, *hits, window_end])  # the longest silence in the window
        print(f"\nhealthy feed while 9 stall: {len(hits)} polls in 3 s, "
              f"largest gap {max(gaps, default=0):.2f} s (interval {healthy_interval} s)")
        assert len(hits) >= 5, hits
        assert max(gaps) <= healthy_interval + LOOP_S + 0.5, gaps
        # Every stalled feed was asked once, and all of them are still waiting at once.
        assert [len(feeds.feeds[n].hits) for n in stalled] == [1] * len(stalled)
        record = health(r, "healthy")
        assert record["consecutive_failures"] == "0"
        assert feed_state(record, time.time()) == "ok"
    finally:
        feeds.released.set()
        running.stop()
