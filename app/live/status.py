"""What every page's status strip and the wall read each second: data versions, runner, feeds."""

from __future__ import annotations

from typing import Any

import redis

from app import store
from app.model.feeds import feed_state
from app.store.status import LiveStatus

__all__ = ["LiveStatus", "data_times", "domain_versions", "feed_states", "kpis_mark", "live_status",
           "shown_signature", "signature"]


def live_status(r: redis.Redis) -> LiveStatus:
    """Every domain's (version, updated_at), whether the runner beats, and the feeds' compact
    health: one round trip."""
    return store.status.live_status(r)


def domain_versions(r: redis.Redis) -> dict[str, tuple[int, float | None]]:
    """(version, updated_at) of every domain; version 0 and None when it never had data."""
    return store.status.domain_versions(r)


def feed_states(status: LiveStatus, now: float) -> list[list[str]]:
    """[feed, domain, state] for every feed, sorted, with staleness judged at ``now``."""
    return [[feed, row.get("domain", ""), feed_state(row, now)]
            for feed, row in sorted(status.feeds.items())]


def signature(status: LiveStatus, now: float) -> list[Any]:
    """What the status strip shows, as a value that changes exactly when the strip would: every
    domain's version and time, whether the runner beats, and each feed's state at ``now``."""
    return ([[d, v, t] for d, (v, t) in status.versions.items()]
            + [status.runner_alive, feed_states(status, now)])


def shown_signature(status: LiveStatus, now: float) -> list[Any]:
    """What the status strip shows apart from its times: which domains have data, whether the
    runner beats, each feed's state. It moves far less often than :func:`signature`, which
    moves with every batch; the times are kept current by the page itself (:func:`data_times`)."""
    return ([[d, t is not None] for d, (_, t) in status.versions.items()]
            + [status.runner_alive, feed_states(status, now)])


def data_times(status: LiveStatus) -> dict[str, float | None]:
    """Each domain's data time (Unix seconds, None before its first data)."""
    return {d: t for d, (_, t) in status.versions.items()}


def kpis_mark(status: LiveStatus) -> str:
    """One value that moves when any domain's KPIs say something new or their history grows."""
    return "|".join(f"{d}={mark}" for d, mark in sorted(status.kpis.items()))
