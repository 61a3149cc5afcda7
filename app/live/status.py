"""What every page's status strip and the wall read each second: data versions, runner, feeds."""

from __future__ import annotations

import redis

from app import store
from app.store.status import LiveStatus

__all__ = ["LiveStatus", "domain_versions", "live_status"]


def live_status(r: redis.Redis) -> LiveStatus:
    """Every domain's (version, updated_at), whether the runner beats, and the feeds' compact
    health: one round trip."""
    return store.status.live_status(r)


def domain_versions(r: redis.Redis) -> dict[str, tuple[int, float | None]]:
    """(version, updated_at) of every domain; version 0 and None when it never had data."""
    return store.status.domain_versions(r)
