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
                  "consecutive_failures", "fatal", "source")  # source: the feed URL's host


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
        pipe.hgetall(key)
        record = pipe.execute()[-1]
    r.hset(Keys.feeds_summary, feed, orjson.dumps({k: record.get(k, "") for k in SUMMARY_FIELDS}))


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




def acquire_lease(r: redis.Redis, feed: str, owner: str, ttl_ms: int) -> bool:
    """Hold the feed's lease (take it if free, renew it if ours); False when another runner has it."""
    if r.set(Keys.lease(feed), owner, nx=True, px=ttl_ms):
        return True
    return bool(r.eval(script("renew_lease"), 1, Keys.lease(feed), owner, ttl_ms))


def release_lease(r: redis.Redis, feed: str, owner: str) -> None:
    """Give the lease up at a clean stop so another runner need not wait for it to expire."""
    r.eval(script("release_lease"), 1, Keys.lease(feed), owner)
