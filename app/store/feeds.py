"""Feed health records, dead letters and the lease that keeps one runner per feed."""

from __future__ import annotations

import time
from typing import Any, Iterable, Mapping

import orjson
import redis

from app.store.keys import Keys
from app.store.scripts import script

# -- feeds: health, dead letters, leases --------------------------------------------------------------
DEAD_LETTER_MAXLEN = 1000
SUMMARY_FIELDS = ("domain", "last_success", "first_attempt", "freshness_budget_s",
                  "consecutive_failures", "fatal", "source",  # source: the feed URL's host
                  # issue 19: while an admin has paused it; since its resume, until a new attempt
                  "paused", "resumed_at", "last_attempt")


def _refresh_summary(r: redis.Redis, feed: str) -> None:
    """Copy the feed's health record into its compact summary, read at the moment of copying:
    the copy made after the last change to the record wins, whoever made which change."""
    r.eval(script("feed_summary", "feed_prelude"), 2, Keys.feed_health(feed), Keys.feeds_summary,
           feed, *SUMMARY_FIELDS)


def write_health(r: redis.Redis, feed: str, fields: Mapping[str, Any],
                      incr_failures: bool = False) -> None:
    """Update a feed's health record; ``incr_failures`` counts one more consecutive failure."""
    key = Keys.feed_health(feed)
    with r.pipeline(transaction=True) as pipe:
        pipe.sadd(Keys.feeds_index, feed)
        pipe.hset(key, mapping={k: "" if v is None else str(v) for k, v in fields.items()})
        if incr_failures:
            pipe.hincrby(key, "consecutive_failures", 1)
        else:
            pipe.hset(key, "consecutive_failures", 0)
        pipe.execute()
    _refresh_summary(r, feed)


# -- pausing a feed (issue 19) ------------------------------------------------------------------------
def set_paused(r: redis.Redis, feed: str, paused: bool, by: str = "", at: float = 0.0) -> bool:
    """Pause (``paused``) or resume a feed at ``at``: the runner's list, the health record's
    "paused" (or "resumed_at") field and the summary in one step. True when this changed it (a
    repeated pause changes nothing)."""
    return bool(r.eval(script("feed_pause", "feed_prelude"), 4, Keys.feeds_index, Keys.feeds_paused,
                       Keys.feed_health(feed), Keys.feeds_summary, feed, "1" if paused else "0",
                       by, f"{at:.3f}", *SUMMARY_FIELDS))


def read_paused(r: redis.Redis) -> dict[str, dict[str, Any]]:
    """Paused feed -> who paused it and when (``by``, ``at``); the runner reads it every loop."""
    out: dict[str, dict[str, Any]] = {}
    for feed, raw in r.hgetall(Keys.feeds_paused).items():
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = {}
        out[feed] = value if isinstance(value, dict) else {}
    return out


def is_known(r: redis.Redis, feed: str) -> bool:
    """True when a runner has recorded the feed's health (or it was paused) at least once."""
    return bool(r.sismember(Keys.feeds_index, feed))


def read_health(r: redis.Redis) -> list[dict[str, str]]:
    """Every feed's health record, sorted by feed name."""
    feeds = sorted(r.smembers(Keys.feeds_index))
    with r.pipeline(transaction=False) as pipe:
        for feed in feeds:
            pipe.hgetall(Keys.feed_health(feed))
        rows = pipe.execute()
    return [dict(row, feed=feed) for feed, row in zip(feeds, rows, strict=True) if row]


def dead_letter(r: redis.Redis, feed: str, letters: Iterable[tuple[str, str]]) -> int:
    """Keep rejected rows/payloads (reason, excerpt) in the feed's capped dead-letter stream."""
    count = 0
    with r.pipeline(transaction=False) as pipe:
        for reason, excerpt in letters:
            pipe.xadd(Keys.dead_letters(feed), {"at": f"{time.time():.3f}", "reason": reason[:500],
                                                "excerpt": excerpt[:2048]},
                      maxlen=DEAD_LETTER_MAXLEN, approximate=True)
            count += 1
        pipe.execute()
    return count


def read_dead_letters(r: redis.Redis, feed: str, count: int = 50) -> list[dict[str, str]]:
    """The newest dead letters of a feed, newest first."""
    return [dict(f, id=i) for i, f in r.xrevrange(Keys.dead_letters(feed), count=count)]


def dead_letter_counts(r: redis.Redis, feeds: Iterable[str]) -> dict[str, int]:
    """How many dead letters each feed keeps (the stream is capped at about DEAD_LETTER_MAXLEN)."""
    names = list(feeds)
    with r.pipeline(transaction=False) as pipe:
        for feed in names:
            pipe.xlen(Keys.dead_letters(feed))
        counts = pipe.execute()
    return {feed: int(n) for feed, n in zip(names, counts, strict=True)}


def acquire_lease(r: redis.Redis, feed: str, owner: str, ttl_ms: int) -> bool:
    """Hold the feed's lease (take it if free, renew it if ours); False when another runner has it."""
    if r.set(Keys.lease(feed), owner, nx=True, px=ttl_ms):
        return True
    return bool(r.eval(script("renew_lease"), 1, Keys.lease(feed), owner, ttl_ms))


def release_lease(r: redis.Redis, feed: str, owner: str) -> None:
    """Give the lease up at a clean stop so another runner need not wait for it to expire."""
    r.eval(script("release_lease"), 1, Keys.lease(feed), owner)
