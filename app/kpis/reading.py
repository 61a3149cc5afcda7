"""Reading the stored KPIs for screens and exports: the current ones and their history."""

from __future__ import annotations

from typing import Any

import redis

from app import store

# How often the history keeps a point (the store appends at most once a minute).
HISTORY_EVERY_S = store.kpis.HISTORY_EVERY_S


def current(r: redis.Redis, domain: str, city_only: bool = False) -> list[dict[str, Any]]:
    """A domain's current KPIs in the order their definitions rank them; ``city_only`` leaves
    out the per-subject ones (a zone's, a hospital's)."""
    kpis = store.kpis.read(r, domain)
    return [k for k in kpis if k.get("subject") is None] if city_only else kpis


def history(r: redis.Redis, domain: str, since: float) -> list[tuple[float, str, Any]]:
    """(time, KPI name, value) of a domain's city-wide KPIs since Unix time ``since``, oldest first."""
    return store.kpis.read_history(r, domain, since)
