"""Key performance indicators: computed from the live store, kept with their history.

The runner refreshes a domain's KPIs after its feeds deliver (at most every few seconds), so
pages read a handful of stored values instead of scanning thousands of entities per tick.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import redis

from app import store
from app.entities import transport_entities

ON_TIME_EARLY_S = -60.0
ON_TIME_LATE_S = 300.0
SILENT_AFTER_S = 120.0


@dataclass(frozen=True)
class Kpi:
    """One indicator: its value against its target, and whether that is ok, warn or bad."""

    name: str
    domain: str
    title: str
    value: float | None
    unit: str
    target: str
    status: str  # "ok", "warn", "bad" or "unknown" (no data to judge)
    computed_at: float

    def as_json(self) -> dict[str, Any]:
        """The stored and API form."""
        return asdict(self)


def _judge(value: float | None, ok: Callable[[float], bool], warn: Callable[[float], bool]) -> str:
    if value is None:
        return "unknown"
    if ok(value):
        return "ok"
    return "warn" if warn(value) else "bad"


def compute_transport(r: redis.Redis, now: float | None = None) -> list[Kpi]:
    """Vehicles in service, on-time performance, mean delay, active alerts, silent vehicles."""
    now = time.time() if now is None else now
    vehicles = transport_entities(r, kind="vehicle")
    heard = [v for v in vehicles if now - float(v.get("observed_at") or 0) <= SILENT_AFTER_S]
    silent = len(vehicles) - len(heard)
    delays = [float(v["delay_s"]) for v in heard if v.get("delay_s") is not None]
    on_time = (100.0 * sum(ON_TIME_EARLY_S <= d <= ON_TIME_LATE_S for d in delays) / len(delays)
               if delays else None)
    mean_delay = statistics.fmean(delays) if delays else None
    alerts = [ev for ev in store.read_events(r, "transport")
              if ev.get("kind") == "service_alert"
              and (ev.get("starts_at") is None or ev["starts_at"] <= now)
              and (ev.get("ends_at") is None or now <= ev["ends_at"])]
    silent_share = 100.0 * silent / len(vehicles) if vehicles else None
    return [
        Kpi("vehicles_in_service", "transport", "Vehicles in service", float(len(heard)), "{vehicle}",
            "", "ok" if heard else "unknown", now),
        Kpi("on_time_performance", "transport", "On-time performance", on_time, "%", ">= 85 %",
            _judge(on_time, lambda v: v >= 85, lambda v: v >= 75), now),
        Kpi("mean_delay", "transport", "Mean delay", mean_delay, "s", "<= 120 s",
            _judge(mean_delay, lambda v: v <= 120, lambda v: v <= 300), now),
        Kpi("active_service_alerts", "transport", "Active service alerts", float(len(alerts)),
            "{alert}", "0", "ok" if not alerts else "warn", now),
        Kpi("vehicles_silent", "transport", "Vehicles silent for 2 min", float(silent),
            "{vehicle}", "0",
            _judge(silent_share, lambda v: v == 0, lambda v: v <= 5) if vehicles else "unknown",
            now),
    ]


COMPUTERS: dict[str, Callable[[redis.Redis, float | None], list[Kpi]]] = {
    "transport": compute_transport,
}


def refresh(r: redis.Redis, domain: str, now: float | None = None) -> list[Kpi]:
    """Compute and store ``domain``'s KPIs (nothing for a domain without indicators yet)."""
    compute = COMPUTERS.get(domain)
    if compute is None:
        return []
    kpis = compute(r, now)
    # rank keeps the order the definitions give (most telling first) on every screen.
    store.write_kpis(r, domain, [dict(k.as_json(), rank=i) for i, k in enumerate(kpis)])
    return kpis
