"""Key performance indicators: computed from the live store, kept with their history.

The runner refreshes a domain's KPIs after its feeds deliver (at most every few seconds), so
pages read a handful of stored values instead of scanning thousands of entities per tick.
This module holds the Kpi model, the shared judging helpers, the transport KPIs and the
registry; water, medical and city KPIs live in app/kpis_water.py, kpis_medical.py, kpis_city.py.
docs/kpis.md is the catalogue.
"""

from __future__ import annotations

import functools
import importlib
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping, Protocol

import redis

from app import store
from app.config import Settings, load_settings
from app.entities import transport_entities

ON_TIME_EARLY_S = -60.0
ON_TIME_LATE_S = 300.0
SILENT_AFTER_S = 120.0
# Subjects come from feeds (a request category is free text): long ones are cut so that a KPI
# name stays a short hash field. Screens escape them like any feed text.
MAX_SUBJECT_CHARS = 80


@dataclass(frozen=True)
class Kpi:
    """One indicator: its value against its target, and whether that is ok, warn or bad.

    Per-subject indicators (one per zone, hospital or request category) are named
    ``<group>:<subject>``; ``group`` is the base name (``min_pressure``) so that screens and alert
    rules can pick a group for every subject, and the city-wide figure of a group has no subject.
    ``detail`` carries the evidence behind the value (how many reported, which sensor is worst).
    """

    name: str
    domain: str
    title: str
    value: float | None
    unit: str
    target: str
    status: str  # "ok", "warn", "bad" or "unknown" (no data to judge)
    computed_at: float
    subject: str | None = None
    group: str = ""
    detail: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if not self.group:
            object.__setattr__(self, "group", self.name.partition(":")[0])

    def as_json(self) -> dict[str, Any]:
        """The stored and API form."""
        return asdict(self)


class Computer(Protocol):
    """What computes one domain's KPIs from the live store."""

    def __call__(self, r: redis.Redis, now: float | None = None,
                 settings: Settings | None = None) -> list[Kpi]: ...


def judge(value: float | None, ok: Callable[[float], bool], warn: Callable[[float], bool]) -> str:
    """"unknown" without a value, else "ok" when ``ok`` holds, "warn" when ``warn`` does, "bad"."""
    if value is None:
        return "unknown"
    if ok(value):
        return "ok"
    return "warn" if warn(value) else "bad"


def judge_at_least(value: float | None, target: float, bad_below: float) -> str:
    """ok at or above ``target``, warn down to ``bad_below``, bad under it."""
    return judge(value, lambda v: v >= target, lambda v: v >= bad_below)


def judge_at_most(value: float | None, target: float, bad_above: float) -> str:
    """ok at or below ``target``, warn up to ``bad_above``, bad over it."""
    return judge(value, lambda v: v <= target, lambda v: v <= bad_above)


def informational(value: float | None) -> str:
    """The status of a figure with no target: ok when known, unknown when there is no data."""
    return "unknown" if value is None else "ok"


def subject_kpi(group: str, subject: str, **fields: Any) -> Kpi:
    """A per-subject KPI named ``<group>:<subject>`` (the subject cut to MAX_SUBJECT_CHARS)."""
    subject = subject[:MAX_SUBJECT_CHARS]
    return Kpi(name=f"{group}:{subject}", subject=subject, group=group, **fields)


def headline_first(kpis: list[Kpi]) -> list[Kpi]:
    """The city-wide KPIs (no subject) first, then the per-subject ones group by group.

    Otherwise the given order stands: groups in the order they first appear, subjects as listed.
    """
    groups: dict[str, int] = {}
    for kpi in kpis:
        groups.setdefault(kpi.group, len(groups))
    return sorted(kpis, key=lambda k: (k.subject is not None, groups[k.group] if k.subject else 0))


def fresh(latest: Mapping[str, tuple[float, str, float]], now: float,
          max_age_s: float) -> dict[str, float]:
    """entity id -> value of the readings of ``latest`` no older than ``max_age_s``."""
    oldest = now - max_age_s
    return {entity_id: float(value) for entity_id, (value, _unit, at) in latest.items()
            if at >= oldest}


@functools.lru_cache(maxsize=1)
def default_settings() -> Settings:
    """The process's settings (environment and CITYOPS_CONFIG), read once."""
    return load_settings()


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
        Kpi("on_time_performance", "transport", "On-time performance", on_time, "%", ">= 85 %",
            judge(on_time, lambda v: v >= 85, lambda v: v >= 75), now),
        Kpi("mean_delay", "transport", "Mean delay", mean_delay, "s", "<= 120 s",
            judge(mean_delay, lambda v: v <= 120, lambda v: v <= 300), now),
        Kpi("active_service_alerts", "transport", "Active service alerts", float(len(alerts)),
            "{alert}", "0", "ok" if not alerts else "warn", now),
        Kpi("vehicles_silent", "transport", "Vehicles silent for 2 min", float(silent),
            "{vehicle}", "0",
            judge(silent_share, lambda v: v == 0, lambda v: v <= 5) if vehicles else "unknown",
            now),
    ]


def _imported(module: str, function: str) -> Computer:
    """A computer that lives in its own module, imported on first use.

    The domain modules import Kpi and the helpers from here, so importing them here at load
    time would be circular.
    """
    def compute(r: redis.Redis, now: float | None = None,
                settings: Settings | None = None) -> list[Kpi]:
        return getattr(importlib.import_module(module), function)(r, now, settings)  # type: ignore[no-any-return]

    compute.__name__ = compute.__qualname__ = function
    compute.__doc__ = f"{module}.{function}"
    return compute


COMPUTERS: dict[str, Computer] = {
    "transport": compute_transport,
    "water": _imported("app.kpis_water", "compute_water"),
    "medical": _imported("app.kpis_medical", "compute_medical"),
    "city": _imported("app.kpis_city", "compute_city"),
}


def refresh(r: redis.Redis, domain: str, now: float | None = None,
            settings: Settings | None = None) -> list[Kpi]:
    """Compute and store ``domain``'s KPIs (none for a domain that never had data).

    ``settings`` (targets, limits, the city's time zone) default to the process's own, read once.
    """
    compute = COMPUTERS.get(domain)
    if compute is None:
        return []
    if store.status.domain_versions(r)[domain][0] == 0:
        # Never any data: the domain's card says it is waiting for its first feed, which says
        # more than a row of "unknown" tiles would.
        return []
    kpis = compute(r, now, settings or default_settings())
    # rank keeps the order the definitions give (most telling first) on every screen.
    store.kpis.write(r, domain, [dict(k.as_json(), rank=i) for i, k in enumerate(kpis)])
    return kpis
