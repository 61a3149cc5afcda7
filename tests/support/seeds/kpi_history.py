"""Three hours of water KPI history with a missing hour, for the trend chart tests (issue 19)."""

from __future__ import annotations

from typing import Any

import redis

from app import store

STEP = 60
# name -> (unit, target, value at minute i): a share near 99.5 %, a pressure, a flow, a count.
KPIS: dict[str, tuple[str, str, Any]] = {
    "water_quality_compliance": ("%", ">= 95 % (turbidity <= 1 NTU)", lambda i: 99.45 + (i % 3) * 0.1),
    "min_pressure": ("bar", ">= 2 bar", lambda i: 3.0 + (i % 2) * 0.1),
    "total_flow": ("m3/h", "", lambda i: 12000.0 + i),
    "suspected_leaks": ("{zone}", "0", lambda i: float(i % 2)),
}
UNITS = {name: unit for name, (unit, _t, _v) in KPIS.items()}


def seed_history(r: redis.Redis, now: float) -> tuple[float, float, float]:
    """Three hours of minute history of the water KPIs with the middle hour missing.

    Returns (a known minute-aligned instant with a point, the last point before the hole, the
    first point after it).
    """
    start = (now // 3600) * 3600 - 3 * 3600
    hole = (start + 3600, start + 2 * 3600)
    for i in range(3 * 60):
        ts = start + i * STEP
        if hole[0] <= ts < hole[1]:
            continue
        store.kpis.write(r, "water", [
            {"name": name, "domain": "water", "title": name, "value": value(i), "unit": unit,
             "target": target, "status": "ok", "computed_at": ts, "rank": rank}
            for rank, (name, (unit, target, value)) in enumerate(KPIS.items())], now=ts)
    return start + 30 * STEP, hole[0] - STEP, hole[1]
