"""Live-data versions of every domain, the status strip's one-round-trip read, the runner's heartbeat."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping

import orjson
import redis

from app.model.domains import DOMAINS
from app.store.keys import Keys


# -- live data versions ---------------------------------------------------------------------------
def bump_domain_version(r: redis.Redis, domain: str, updated_at: float | None = None) -> int:
    """Mark that ``domain``'s live data changed; returns its new version number."""
    key = Keys.domain_meta(domain)
    with r.pipeline(transaction=True) as pipe:
        pipe.hincrby(key, "version", 1)
        pipe.hset(key, "updated_at", f"{time.time() if updated_at is None else updated_at:.3f}")
        version, _ = pipe.execute()
    return int(version)


def bump_version_only(r: redis.Redis, domain: str) -> int:
    """Mark that what ``domain`` shows changed though no new data came (its "as of" time stays)."""
    return int(r.hincrby(Keys.domain_meta(domain), "version", 1))


def _meta_pipeline(pipe: redis.client.Pipeline) -> None:
    for domain in DOMAINS:
        pipe.hmget(Keys.domain_meta(domain), "version", "updated_at", "kpi_digest", "kpi_history_at")


def _meta_rows(rows: list[Any]) -> dict[str, tuple[int, float | None]]:
    return {domain: (int(row[0] or 0), float(row[1]) if row[1] else None)
            for domain, row in zip(DOMAINS, rows, strict=True)}


def _kpi_marks(rows: list[Any]) -> dict[str, str]:
    """domain -> what its KPIs say and when their history last grew (app/store/kpis.py)."""
    return {domain: f"{row[2] or ''}@{row[3] or ''}" for domain, row in zip(DOMAINS, rows, strict=True)}


def domain_versions(r: redis.Redis) -> dict[str, tuple[int, float | None]]:
    """(version, updated_at) of every domain; version 0 and None when it never had data."""
    with r.pipeline(transaction=False) as pipe:
        _meta_pipeline(pipe)
        return _meta_rows(pipe.execute())


@dataclass(frozen=True)
class LiveStatus:
    """What every page's status strip shows, read in one round trip."""

    versions: dict[str, tuple[int, float | None]]
    runner_alive: bool
    feeds: dict[str, dict[str, str]]  # feed -> compact health (see SUMMARY_FIELDS)
    kpis: dict[str, str] = field(default_factory=dict)  # domain -> its KPIs' mark (_kpi_marks)


def live_status(r: redis.Redis) -> LiveStatus:
    """Every domain's (version, updated_at), the runner's heartbeat and the feeds' health."""
    with r.pipeline(transaction=False) as pipe:
        _meta_pipeline(pipe)
        pipe.exists(Keys.runner_heartbeat)
        pipe.hgetall(Keys.feeds_summary)
        rows = pipe.execute()
    feeds = {feed: orjson.loads(raw) for feed, raw in (rows[-1] or {}).items()}
    return LiveStatus(_meta_rows(rows[:-2]), bool(rows[-2]), feeds, _kpi_marks(rows[:-2]))


# -- runner heartbeat -----------------------------------------------------------------------------
def write_runner_heartbeat(r: redis.Redis, fields: Mapping[str, Any], ttl_s: int) -> None:
    """Record that an adapter runner is alive; the record expires when it stops beating."""
    key = Keys.runner_heartbeat
    with r.pipeline(transaction=True) as pipe:
        pipe.hset(key, mapping={k: str(v) for k, v in fields.items()})
        pipe.expire(key, ttl_s)
        pipe.execute()


def read_runner_heartbeat(r: redis.Redis) -> dict[str, str] | None:
    """The newest runner heartbeat, or None when no runner beat recently."""
    return r.hgetall(Keys.runner_heartbeat) or None
