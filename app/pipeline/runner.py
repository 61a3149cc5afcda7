"""The adapter runner: schedules every feed, backs off on errors, records health, holds leases.

Each feed is polled on its own interval in a thread pool with a worker per feed, so one slow or
broken feed never delays the others. A failed poll backs off exponentially with jitter (never sooner
than the server's Retry-After); a fatal error waits longer and marks the feed down. A lease in
Redis makes sure only one runner, on any host, polls a feed at a time; a runner that dies loses its
leases when they expire, within half a freshness budget, so another runner takes the feed over
before its data goes stale. The runner also beats a heartbeat.

A feed an admin paused (app/live/feeds.py, the list in Redis) is not polled while it stays paused:
the runner reads the list every loop, lets go of the feed's subscription, and polls it again in
the first loop after it is resumed.

Work derived from stored data (the map snapshot, KPIs, alert rules) is not the pipeline's: whoever
starts a runner plugs it in as :class:`DerivedWork` (app/ops/runner_process.py does for
`cityops up`), so the pipeline imports none of the services that read what it writes.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Sequence

import redis

from app import store
from app.config import Settings
from app.model.feeds import feed_source
from app.pipeline.ingest import ingest
from app.store.link import connect
from data_adapters.base import Adapter, FatalFeedError, ParseError, RetryableFeedError

log = logging.getLogger("cityops.runner")
MAX_BACKOFF_S = 300.0
FATAL_RETRY_S = 300.0
LOOP_S = 0.2
# How often a feed's retention limit (closed requests after 30 days) is applied: a limit in days
# needs no more, and each pass reads the domain's times map.
RETENTION_EVERY_S = 300.0
# A lease lasts half the feed's freshness budget: a runner that dies hands its feeds over while
# their data is still fresh. The floor leaves ten renewals (one per loop) of slack before a busy
# loop could lose a lease; the ceiling keeps a slow feed (an hourly GTFS zip) from waiting hours.
LEASE_MIN_S = 2.0
LEASE_MAX_S = 30.0


AfterBatch = Callable[[redis.Redis, str], object]
"""Work run after a feed's batch is stored: called with the Redis client and the batch's domain."""
Periodic = Callable[[redis.Redis, str], object]
"""Work run on a timer: called with the Redis client and the runner's owner id (for leases)."""


@dataclass(frozen=True)
class DerivedWork:
    """What a runner does besides storing feeds: after each batch (in the order given, the map
    first since a wall shows it within a second), and on timers of their own."""

    after_batch: Sequence[AfterBatch] = ()
    periodic: Sequence[tuple[float, Periodic]] = ()  # (every seconds, work)


def throttled(every_s: float, work: AfterBatch) -> AfterBatch:
    """``work`` run at most every ``every_s`` seconds per domain (KPIs need no more)."""
    due: dict[str, float] = {}
    lock = threading.Lock()

    def run(r: redis.Redis, domain: str) -> object:
        now = time.monotonic()
        with lock:
            if now < due.get(domain, 0.0):
                return None
            due[domain] = now + every_s
        return work(r, domain)

    return run


@dataclass
class FeedSchedule:
    """A feed's place in the schedule."""

    adapter: Adapter
    next_due: float = 0.0  # monotonic
    failures: int = 0
    first_attempt: float | None = None
    next_retention: float = 0.0  # monotonic
    paused: bool = False  # an admin paused it: not polled until resumed


def backoff_delay(interval_s: float, failures: int, retry_after: float | None,
                  rng: random.Random) -> float:
    """Seconds to wait after the ``failures``-th consecutive failure (jittered, capped)."""
    base = min(MAX_BACKOFF_S, max(interval_s, 1.0) * 2 ** min(failures - 1, 16))
    delay = base * rng.uniform(0.75, 1.25)
    return max(delay, retry_after or 0.0)


def lease_ms(freshness_budget_s: float) -> int:
    """How long a feed's lease lasts (ms): half its freshness budget, within the floor and ceiling."""
    return int(min(max(freshness_budget_s / 2, LEASE_MIN_S), LEASE_MAX_S) * 1000)


class Runner:
    """Runs until :meth:`stop` is called."""

    def __init__(self, settings: Settings, redis_url: str,
                 feeds: Sequence[Adapter] = (), owner: str | None = None,
                 derived: DerivedWork = DerivedWork()) -> None:
        self.settings = settings
        self.redis_url = redis_url
        self.derived = derived
        self.schedules = [FeedSchedule(adapter) for adapter in feeds]
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.stopping = threading.Event()
        self.started_at = time.time()
        self.rng = random.Random()

    def stop(self, *_: object) -> None:
        """Ask the loop to finish its current step and return."""
        self.stopping.set()

    def beat(self, r: redis.Redis) -> None:
        """Write one heartbeat; it expires after three missed beats."""
        interval = self.settings.runner.heartbeat_seconds
        store.status.write_runner_heartbeat(r, {
            "pid": os.getpid(), "host": socket.gethostname(), "owner": self.owner,
            "feeds": len(self.schedules),
            "started_at": f"{self.started_at:.3f}", "beat_at": f"{time.time():.3f}",
        }, ttl_s=max(int(interval * 3) + 1, 2))

    # -- one poll --------------------------------------------------------------------------------
    def poll(self, r: redis.Redis, sched: FeedSchedule) -> None:
        """Fetch, parse and store one feed once, and record how it went."""
        adapter = sched.adapter
        started = time.time()
        if sched.first_attempt is None:
            sched.first_attempt = started
        base = {"domain": adapter.domain, "adapter": adapter.name, "owner": self.owner,
                "interval_s": adapter.interval_s, "freshness_budget_s": adapter.freshness_budget_s,
                "last_attempt": f"{started:.3f}", "first_attempt": f"{sched.first_attempt:.3f}",
                # The host fed from: feeds of one host that go stale together are one alert.
                "source": feed_source(getattr(adapter.settings, "url", None))}
        retry_after: float | None = None
        fatal = False
        try:
            raw = adapter.fetch()
            result = ingest(r, adapter, raw, history=self.settings.history)
        except RetryableFeedError as exc:
            error, retry_after = str(exc), exc.retry_after
        except FatalFeedError as exc:
            error, fatal = str(exc), True
        except ParseError as exc:
            error = f"unusable payload: {exc}"
        except redis.RedisError:
            raise  # the loop waits for Redis; this is not the feed's fault
        except Exception as exc:  # an adapter bug must not stop the other feeds
            log.exception("feed %s: unexpected error", adapter.feed)
            error = f"internal error: {type(exc).__name__}: {exc}"
        else:
            sched.failures = 0
            sched.next_due = time.monotonic() + adapter.interval_s
            lag = None if result.feed_timestamp is None else max(raw.fetched_at
                                                                 - result.feed_timestamp, 0.0)
            fields = {**base, "accepted": result.accepted, "rejected": result.rejected,
                      "lag_s": "" if lag is None else f"{lag:.3f}", "fatal": "0",
                      "duration_ms": f"{(time.time() - started) * 1000:.1f}"}
            max_lag = adapter.settings.max_lag_s
            if max_lag is not None and lag is not None and lag > float(max_lag):
                # The server answers, but with the same old snapshot (its backend went silent):
                # not fresh data, so the feed goes stale as if it did not answer at all.
                fields.update(last_error=f"no new data: the feed's own timestamp is {lag:.0f} s "
                                         f"old (max_lag_s {float(max_lag):g})",
                              last_error_at=f"{time.time():.3f}")
            else:
                fields["last_success"] = f"{time.time():.3f}"
            store.feeds.write_health(r, adapter.feed, fields)
            self._apply_retention(r, sched)
            for work in self.derived.after_batch:
                work(r, adapter.domain)
            return
        sched.failures += 1
        delay = FATAL_RETRY_S if fatal else backoff_delay(adapter.interval_s, sched.failures,
                                                          retry_after, self.rng)
        sched.next_due = time.monotonic() + delay
        if sched.failures == 1 or fatal:
            log.warning("feed %s: %s (next try in %.0f s)", adapter.feed, error, delay)
        store.feeds.write_health(r, adapter.feed, {
            **base, "last_error": error[:500], "last_error_at": f"{time.time():.3f}",
            "fatal": "1" if fatal else "0", "accepted": 0, "rejected": 0,
        }, incr_failures=True)

    def _apply_retention(self, r: redis.Redis, sched: FeedSchedule) -> None:
        """Retire the feed's expired entities (its retention limit), at most every
        RETENTION_EVERY_S seconds."""
        keep = sched.adapter.retention()
        now = time.monotonic()
        if keep is None or now < sched.next_retention:
            return
        sched.next_retention = now + RETENTION_EVERY_S
        adapter = sched.adapter
        gone = store.entities.prune(r, adapter.domain, adapter.feed, keep.kind, keep.status,
                                    time.time() - keep.max_age_s)
        if gone:
            log.info("feed %s: %d %s %s(s) older than %.0f days retired", adapter.feed, gone,
                     keep.status, keep.kind, keep.max_age_s / 86_400)

    # -- the loop --------------------------------------------------------------------------------
    def _lease_ms(self, adapter: Adapter) -> int:
        return lease_ms(adapter.freshness_budget_s)

    def run(self) -> None:
        """The main loop: beat, renew leases, start due polls, until stopped."""
        r = connect(self.redis_url)
        # One worker per feed (a feed has at most one poll in flight): feeds that stall until
        # their timeout can never hold up a healthy feed waiting for a free worker.
        pool = ThreadPoolExecutor(max_workers=max(1, len(self.schedules)),
                                  thread_name_prefix="feed")
        in_flight: dict[str, Future[None]] = {}
        link_ok = True
        next_beat = 0.0
        next_periodic = [0.0] * len(self.derived.periodic)
        try:
            while not self.stopping.is_set():
                try:
                    now = time.monotonic()
                    if now >= next_beat:
                        self.beat(r)
                        next_beat = now + self.settings.runner.heartbeat_seconds
                    for i, (every_s, work) in enumerate(self.derived.periodic):
                        if now >= next_periodic[i]:  # alert rules, staleness and escalation
                            work(r, self.owner)
                            next_periodic[i] = now + every_s
                    paused = store.feeds.read_paused(r) if self.schedules else {}
                    for sched in self.schedules:
                        feed = sched.adapter.feed
                        busy = feed in in_flight and not in_flight[feed].done()
                        if self._held(sched, feed in paused, busy, now):
                            continue
                        # Renew every loop, so a long poll does not let the lease lapse.
                        if not store.feeds.acquire_lease(r, feed, self.owner,
                                                   self._lease_ms(sched.adapter)):
                            if not busy:
                                # Another runner polls it now: let go of any subscription.
                                sched.adapter.close()
                            continue
                        if not busy and now >= sched.next_due:
                            in_flight[feed] = pool.submit(self._poll_safely, r, sched)
                    if not link_ok:
                        log.warning("Redis is back")
                    link_ok = True
                except redis.RedisError as exc:
                    if link_ok:
                        log.warning("Redis unreachable, retrying: %s", exc)
                    link_ok = False
                self.stopping.wait(LOOP_S if self.schedules else self.settings.runner.heartbeat_seconds)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            for sched in self.schedules:
                sched.adapter.close()
                try:
                    store.feeds.release_lease(r, sched.adapter.feed, self.owner)
                except redis.RedisError:
                    pass
            r.close()

    def _held(self, sched: FeedSchedule, paused: bool, busy: bool, now: float) -> bool:
        """True while the feed is paused (its subscription closed once, when nothing is in
        flight); at the resume the feed is due at once, whatever back-off it was waiting out."""
        if paused:
            if not sched.paused and not busy:
                sched.paused = True
                sched.adapter.close()
                log.info("feed %s: paused", sched.adapter.feed)
            return True
        if sched.paused:
            sched.paused = False
            sched.next_due = now
            log.info("feed %s: resumed", sched.adapter.feed)
        return False

    def _poll_safely(self, r: redis.Redis, sched: FeedSchedule) -> None:
        try:
            self.poll(r, sched)
        except redis.RedisError as exc:
            # Try again soon; the loop reports the lost link.
            sched.next_due = time.monotonic() + min(sched.adapter.interval_s, 5.0)
            log.debug("feed %s: Redis error during poll: %s", sched.adapter.feed, exc)

