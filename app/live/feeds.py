"""Feed health as every screen, the API and the CLI show it: ok, stale or down, and since when."""

from __future__ import annotations

import time

import redis

from app import store
from app.model.feeds import FeedHealth, health_of


def read_health(r: redis.Redis, now: float | None = None) -> list[FeedHealth]:
    """Every feed's health, stale ones marked as such."""
    now = time.time() if now is None else now
    return [health_of(row, now) for row in store.feeds.read_health(r)]
