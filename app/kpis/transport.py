"""Transport KPIs: vehicles in service, on-time performance, mean delay, service alerts, silent vehicles."""

from __future__ import annotations

import statistics
import time

import redis

from app import store
from app.config import Settings
from app.kpis.base import Kpi, judge, judge_at_least, judge_at_most
from app.kpis.status import DELAY_BAD_S, DELAY_TARGET_S, ON_TIME_BAD_PCT, ON_TIME_TARGET_PCT
from app.live.entities import transport_entities

ON_TIME_EARLY_S = -60.0
ON_TIME_LATE_S = 300.0
SILENT_AFTER_S = 120.0


def compute_transport(r: redis.Redis, now: float | None = None,
                      settings: Settings | None = None) -> list[Kpi]:
    """Vehicles in service, on-time performance, mean delay, active alerts, silent vehicles."""
    now = time.time() if now is None else now
    vehicles = transport_entities(r, kind="vehicle")
    heard = [v for v in vehicles if now - float(v.get("observed_at") or 0) <= SILENT_AFTER_S]
    silent = len(vehicles) - len(heard)
    delays = [float(v["delay_s"]) for v in heard if v.get("delay_s") is not None]
    on_time = (100.0 * sum(ON_TIME_EARLY_S <= d <= ON_TIME_LATE_S for d in delays) / len(delays)
               if delays else None)
    mean_delay = statistics.fmean(delays) if delays else None
    alerts = [ev for ev in store.entities.read_events(r, "transport")
              if ev.get("kind") == "service_alert"
              and (ev.get("starts_at") is None or ev["starts_at"] <= now)
              and (ev.get("ends_at") is None or now <= ev["ends_at"])]
    silent_share = 100.0 * silent / len(vehicles) if vehicles else None
    return [
        Kpi("vehicles_in_service", "transport", "Vehicles in service", float(len(heard)), "{vehicle}",
            "", "ok" if heard else "unknown", now),
        Kpi("on_time_performance", "transport", "On-time performance", on_time, "%",
            f">= {ON_TIME_TARGET_PCT:g} %",
            judge_at_least(on_time, ON_TIME_TARGET_PCT, ON_TIME_BAD_PCT), now),
        Kpi("mean_delay", "transport", "Mean delay", mean_delay, "s", f"<= {DELAY_TARGET_S:g} s",
            judge_at_most(mean_delay, DELAY_TARGET_S, DELAY_BAD_S), now),
        Kpi("active_service_alerts", "transport", "Active service alerts", float(len(alerts)),
            "{alert}", "0", "ok" if not alerts else "warn", now),
        Kpi("vehicles_silent", "transport", "Vehicles silent for 2 min", float(silent),
            "{vehicle}", "0",
            judge(silent_share, lambda v: v == 0, lambda v: v <= 5) if vehicles else "unknown",
            now),
    ]
