"""The one rule set that turns KPIs into statuses: a value against its target, and a domain's level.

Every screen and the alert rules use these judges (docs/kpis.md, "From a KPI to a status"), so the
wall, the overview, /official and /alerts cannot tell different stories:

- a value against its target is ok, warn or bad, unknown without a value (:func:`judge`);
- a KPI computed from fewer observations than ``kpis.min_sample`` is a *small sample*: it is
  shown as such and counts at most as warn (:func:`effective_status`);
- only city-wide KPIs (no subject) decide a domain's level: one zone, hospital or request
  category is evidence, never the verdict (:func:`domain_level`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from app.config.kpis import KpiSettings

STATUSES = ("ok", "warn", "bad", "unknown")
# Worst first: the order a domain's level and lists of reasons take.
SEVERITY_ORDER: dict[str, int] = {"bad": 0, "warn": 1, "unknown": 2, "ok": 3}


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


# Transport's limits are fixed (no setting yet): on-time performance and mean delay.
ON_TIME_TARGET_PCT, ON_TIME_BAD_PCT = 85.0, 75.0
DELAY_TARGET_S, DELAY_BAD_S = 120.0, 300.0


@dataclass(frozen=True)
class Limits:
    """Where a KPI stops being ok (``target``) and turns bad (``bad``), on the side ``op`` says:
    ">=" (ok at or above the target, bad below ``bad``) or "<=" (ok at or below, bad above)."""

    op: str
    target: float
    bad: float


# KPI group -> how its value is judged: the side, and its target and critical limit from [kpis].
# Groups judged otherwise (counts, a share of a fleet, another unit's occupancy) are not listed.
_LIMITS: dict[str, tuple[str, Callable[[KpiSettings], tuple[float, float]]]] = {
    "on_time_performance": (">=", lambda _k: (ON_TIME_TARGET_PCT, ON_TIME_BAD_PCT)),
    "mean_delay": ("<=", lambda _k: (DELAY_TARGET_S, DELAY_BAD_S)),
    "min_pressure": (">=", lambda k: (k.pressure_min_bar, k.pressure_bad_bar)),
    "reservoir_level": (">=", lambda k: (k.reservoir_min_m, k.reservoir_bad_m)),
    "water_quality_compliance": (">=", lambda k: (k.quality_target_pct, k.quality_bad_pct)),
    "ward_occupancy": ("<=", lambda k: (k.occupancy_target_pct, k.occupancy_bad_pct)),
    "ed_occupancy": ("<=", lambda k: (k.ed_occupancy_target_pct, k.ed_occupancy_bad_pct)),
    "sla_breach": ("<=", lambda k: (k.sla_breach_target_pct, k.sla_breach_bad_pct)),
    "median_time_to_close": ("<=", lambda k: (k.close_time_target_h, k.close_time_bad_h)),
}


def limits(kpi: Mapping[str, Any], settings: KpiSettings) -> Limits | None:
    """The target and critical limit a KPI is judged by (None for one judged otherwise)."""
    group = str(kpi.get("group") or str(kpi.get("name") or "").partition(":")[0])
    found = _LIMITS.get(group)
    if found is None:
        return None
    target, bad = found[1](settings)
    return Limits(found[0], target, bad)


def judge_by(value: float | None, found: Limits) -> str:
    """A value against ``found`` limits: the same verdict as the KPI's own judge."""
    if found.op == ">=":
        return judge_at_least(value, found.target, found.bad)
    return judge_at_most(value, found.target, found.bad)


def informational(value: float | None) -> str:
    """The status of a figure with no target: ok when known, unknown when there is no data."""
    return "unknown" if value is None else "ok"


def is_small_sample(sample: int | None, min_sample: int) -> bool:
    """True when a KPI counted ``sample`` observations and that is fewer than ``min_sample``.

    KPIs that do not count observations (a lowest pressure) have ``sample`` None: never small.
    """
    return sample is not None and sample < min_sample


def effective_status(kpi: Mapping[str, Any]) -> str:
    """A stored KPI's status as it counts for its domain and its alerts: a small sample's bad is
    warn (a third of nine requests is a hint, not a crisis); anything unexpected is unknown."""
    status = str(kpi.get("status") or "unknown")
    if status not in SEVERITY_ORDER:
        return "unknown"
    if status == "bad" and kpi.get("small_sample"):
        return "warn"
    return status


def is_city_wide(kpi: Mapping[str, Any]) -> bool:
    """True for a domain's own figure; False for one zone's, hospital's or category's."""
    return not kpi.get("subject")


def deciding(kpis: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The KPIs that decide a domain's level: its city-wide ones."""
    return [k for k in kpis if is_city_wide(k)]


def domain_level(kpis: Iterable[Mapping[str, Any]]) -> str:
    """The worst effective status of the domain's city-wide KPIs ("unknown" when none is judged)."""
    judged = [effective_status(k) for k in deciding(kpis)]
    judged = [s for s in judged if s != "unknown"]
    if not judged:
        return "unknown"
    return min(judged, key=SEVERITY_ORDER.__getitem__)


def raises_alert(kpi: Mapping[str, Any]) -> bool:
    """True when a KPI is past its critical limit in a way that raises an alert (after the rule's
    duration): city-wide, bad, and not a small sample."""
    return is_city_wide(kpi) and effective_status(kpi) == "bad"
