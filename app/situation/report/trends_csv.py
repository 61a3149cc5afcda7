"""The KPIs' history over a chosen window (24 h, 7 d, 30 d) as CSV, in the people's or the machine form.

The points come from the KPI history service behind GET /api/v1/kpis/history
(:func:`app.live.history.kpi_history`): every city-wide KPI of a domain (or of every domain),
one row per point, oldest first. The last 24 hours are the once-a-minute points as kept; longer
windows are hourly means (a step without a point is left out). The forms are those of
:mod:`.csv_export`: headers and values in words for people, column ids and raw values for scripts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import redis

from app import i18n
from app.kpis import reading as kpi_reading
from app.live.history import kpi_history
from app.model.domains import DOMAINS
from app.situation.report.csv_export import (
    PEOPLE,
    local_time,
    rounded,
    unit_words,
    write_csv,
)
from app.situation.report.formats import iso_time, kpi_label


@dataclass(frozen=True)
class TrendWindow:
    """A window an export may ask for: its length and the step its points are averaged over."""

    key: str
    seconds: float
    step_s: float | None


WINDOWS: dict[str, TrendWindow] = {w.key: w for w in (
    TrendWindow("24h", 86_400.0, None),
    TrendWindow("7d", 7 * 86_400.0, 3600.0),
    TrendWindow("30d", 30 * 86_400.0, 3600.0),
)}
DEFAULT_WINDOW = "24h"
TREND_COLUMNS: tuple[str, ...] = ("domain", "name", "at", "value", "unit")
TREND_HEADINGS: tuple[str, ...] = ("report.col_domain", "report.col_indicator", "export.col_time",
                                   "report.col_value", "export.col_unit")


def trends_csv(r: redis.Redis, window: TrendWindow, until: float, tz: str,
               domains: Sequence[str] = DOMAINS, form: str = PEOPLE) -> str:
    """Every city-wide KPI of ``domains`` over the ``window`` that ends at ``until`` as CSV."""
    since = until - window.seconds
    rows: list[list[object]] = []
    for domain in domains:
        for kpi in kpi_reading.current(r, domain, city_only=True):
            name, unit = str(kpi["name"]), str(kpi.get("unit") or "")
            found = kpi_history(r, domain, name, since, until, window.step_s)
            for at, value in zip(found.times, found.values, strict=True):
                if form == PEOPLE:
                    rows.append([i18n.label("domain", domain), kpi_label(kpi), local_time(at, tz),
                                 rounded(value, unit), unit_words(unit)])
                else:
                    rows.append([domain, name, iso_time(at, tz), value, unit])
    header = [i18n.t(k) for k in TREND_HEADINGS] if form == PEOPLE else TREND_COLUMNS
    return write_csv(header, rows)
