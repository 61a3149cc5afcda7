"""KPI targets and limits ([kpis]; docs/kpis.md explains each): one section, and the pairs of
limits whose order the loader checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from app.config.parsers import (
    parse_baselines,
    parse_float,
    parse_int,
    parse_night_window,
    setting,
)

_PCT_100 = (parse_float(0.0, 100.0), "a percentage from 0 to 100")
_PCT_1000 = (parse_float(0.0, 1000.0), "a percentage from 0 to 1000")
_HOURS = (parse_float(0.1, 8760.0), "a number of hours from 0.1 to 8760")


def _kpi(default: Any, parse_expected: tuple[Callable[[Any], Any], str], name: str) -> Any:
    return setting(default, f"CITYOPS_KPI_{name.upper()}", *parse_expected)


@dataclass(frozen=True)
class KpiSettings:
    """KPI targets and limits ([kpis]; docs/kpis.md explains each). The map classes its sensors,
    reservoirs and hospitals by the same limits."""

    water_max_age_s: float = _kpi(900.0, (parse_float(10.0, 86_400.0),
                                          "a number of seconds from 10 to 86400"), "water_max_age_s")
    pressure_min_bar: float = _kpi(2.0, (parse_float(0.0, 100.0), "a pressure in bar from 0 to 100"),
                                   "pressure_min_bar")
    pressure_bad_bar: float = _kpi(1.5, (parse_float(0.0, 100.0), "a pressure in bar from 0 to 100"),
                                   "pressure_bad_bar")
    reservoir_min_m: float = _kpi(2.0, (parse_float(0.0, 1000.0), "a level in metres from 0 to 1000"),
                                  "reservoir_min_m")
    reservoir_bad_m: float = _kpi(1.0, (parse_float(0.0, 1000.0), "a level in metres from 0 to 1000"),
                                  "reservoir_bad_m")
    turbidity_max_ntu: float = _kpi(1.0, (parse_float(0.0, 4000.0), "a turbidity in NTU from 0 to 4000"),
                                    "turbidity_max_ntu")
    free_chlorine_min_mgl: float = _kpi(0.05, (parse_float(0.0, 100.0),
                                               "a concentration in mg/L from 0 to 100"),
                                        "free_chlorine_min_mgl")
    free_chlorine_max_mgl: float = _kpi(5.0, (parse_float(0.0, 100.0),
                                              "a concentration in mg/L from 0 to 100"),
                                        "free_chlorine_max_mgl")
    quality_target_pct: float = _kpi(100.0, _PCT_100, "quality_target_pct")
    quality_bad_pct: float = _kpi(95.0, _PCT_100, "quality_bad_pct")
    night_window: tuple[int, int] = _kpi(
        (120, 240), (parse_night_window, "local times \"HH:MM-HH:MM\", start before end, such as "
                                          "\"02:00-04:00\""), "night_window")  # 02:00-04:00
    leak_margin_pct: float = _kpi(20.0, _PCT_1000, "leak_margin_pct")
    leak_min_excess_m3h: float = _kpi(1.0, (parse_float(0.0, 1e6), "a flow in m3/h from 0 to 1000000"),
                                      "leak_min_excess_m3h")
    leak_learn_nights: int = _kpi(7, (parse_int(3, 60), "an integer from 3 to 60"), "leak_learn_nights")
    night_flow_baseline_m3h: Mapping[str, float] = _kpi(
        {}, (parse_baselines, "a table of zone = flow in m3/h (in a variable: \"zone=1.5,other=3\")"),
        "night_flow_baseline_m3h")
    occupancy_target_pct: float = _kpi(85.0, _PCT_1000, "occupancy_target_pct")
    occupancy_bad_pct: float = _kpi(95.0, _PCT_1000, "occupancy_bad_pct")
    ed_occupancy_target_pct: float = _kpi(100.0, _PCT_1000, "ed_occupancy_target_pct")
    ed_occupancy_bad_pct: float = _kpi(120.0, _PCT_1000, "ed_occupancy_bad_pct")
    bed_report_max_age_h: float = _kpi(48.0, _HOURS, "bed_report_max_age_h")
    ambulances_available_pct: float = _kpi(25.0, _PCT_100, "ambulances_available_pct")
    sla_breach_target_pct: float = _kpi(10.0, _PCT_100, "sla_breach_target_pct")
    sla_breach_bad_pct: float = _kpi(25.0, _PCT_100, "sla_breach_bad_pct")
    close_time_target_h: float = _kpi(72.0, _HOURS, "close_time_target_h")
    close_time_bad_h: float = _kpi(168.0, _HOURS, "close_time_bad_h")
    close_window_days: int = _kpi(7, (parse_int(1, 366), "an integer from 1 to 366"), "close_window_days")
    # issue 19 (one truth): fewer observations than this behind a KPI make it a small sample,
    # shown as such, which never makes its domain worse than warn nor raises an alert.
    min_sample: int = _kpi(10, (parse_int(1, 100_000), "an integer from 1 to 100000"), "min_sample")


# Pairs of KPI limits whose "bad" side must not be milder than the target (a status could never
# be ok): (the lower one, the higher one).
KPI_ORDER: tuple[tuple[str, str], ...] = (
    ("pressure_bad_bar", "pressure_min_bar"), ("reservoir_bad_m", "reservoir_min_m"),
    ("quality_bad_pct", "quality_target_pct"), ("free_chlorine_min_mgl", "free_chlorine_max_mgl"),
    ("occupancy_target_pct", "occupancy_bad_pct"), ("ed_occupancy_target_pct", "ed_occupancy_bad_pct"),
    ("sla_breach_target_pct", "sla_breach_bad_pct"), ("close_time_target_h", "close_time_bad_h"))
