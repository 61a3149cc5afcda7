"""City-management KPIs from Open311 requests: open by category, new today, SLA breach, time to close.

"Today" is the calendar day in the city's time zone (``city.timezone``). Open311 has no closing
time: a closed request's ``updated_datetime`` is taken as the moment it was closed.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo

import redis

from app import store
from app.config import Settings
from app.kpis.base import Kpi, default_settings, headline_first, informational, judge_at_most, subject_kpi

DOMAIN = "city"
UNCATEGORIZED = "(no category)"


@dataclass
class Tally:
    """The figures of one set of requests (the whole city, or one category)."""

    total: int = 0
    open: int = 0
    new_today: int = 0
    with_deadline: int = 0
    overdue: int = 0
    close_hours: list[float] = field(default_factory=list)

    def count(self, new: bool, closed: bool, close_hours: float | None, expected: float | None,
              now: float) -> None:
        """Count one request, described by what tally_requests read from it."""
        self.total += 1
        self.new_today += new
        if closed:
            if close_hours is not None:
                self.close_hours.append(close_hours)
            return
        self.open += 1
        if expected is not None:
            self.with_deadline += 1
            self.overdue += expected < now


def _time(value: Any) -> float | None:
    # exact type test: bool is an int subclass, and this runs for every request on every refresh
    return float(value) if type(value) in (float, int) else None


def category(attrs: Mapping[str, Any]) -> str:
    """A request's category from its attributes: its service name, else its service code."""
    for key in ("service_name", "service_code"):
        value = attrs.get(key)
        if isinstance(value, str) and value.strip():
            return " ".join(value.split())
    return UNCATEGORIZED


def local_midnight(now: float, tz: ZoneInfo) -> float:
    """Unix time of the start of the local calendar day that contains ``now``."""
    local = datetime.fromtimestamp(now, tz)
    return datetime(local.year, local.month, local.day, tzinfo=tz).timestamp()


def _kpis(tally: Tally, subject: str | None, now: float, s: Settings, day: str) -> list[Kpi]:
    """The open, SLA and time-to-close KPIs of one tally (city-wide when ``subject`` is None)."""
    known = tally.total > 0
    breach = 100.0 * tally.overdue / tally.with_deadline if tally.with_deadline else None
    median = statistics.median(tally.close_hours) if tally.close_hours else None
    suffix = f": {subject}" if subject is not None else ""
    rows: list[dict[str, Any]] = [
        {"group": "open_requests", "title": "Open requests", "value": float(tally.open) if known else None,
         "unit": "{request}", "target": "", "status": informational(tally.open if known else None),
         "detail": {"closed": tally.total - tally.open}},
        {"group": "sla_breach", "title": "Open requests past their expected time", "value": breach,
         "unit": "%", "target": f"<= {s.kpis.sla_breach_target_pct:g} %",
         "status": judge_at_most(breach, s.kpis.sla_breach_target_pct, s.kpis.sla_breach_bad_pct),
         "sample": tally.with_deadline,
         "detail": {"overdue": tally.overdue, "with_expected_time": tally.with_deadline,
                    "without_expected_time": tally.open - tally.with_deadline}},
        {"group": "median_time_to_close", "title": "Median time to close", "value": median,
         "unit": "h", "target": f"<= {s.kpis.close_time_target_h:g} h",
         "status": judge_at_most(median, s.kpis.close_time_target_h, s.kpis.close_time_bad_h),
         "sample": len(tally.close_hours),
         "detail": {"closed_in_window": len(tally.close_hours), "window_days": s.kpis.close_window_days}},
    ]
    if subject is None:
        rows.insert(1, {"group": "new_today", "title": "New requests today",
                        "value": float(tally.new_today) if known else None, "unit": "{request}",
                        "target": "", "status": informational(tally.new_today if known else None),
                        "detail": {"day": day, "time_zone": s.city.timezone}})
    out = []
    for row in rows:
        group, title = row.pop("group"), row.pop("title") + suffix
        if subject is None:
            out.append(Kpi(group, DOMAIN, title, computed_at=now, **row))
        else:
            out.append(subject_kpi(group, subject, domain=DOMAIN, title=title, computed_at=now, **row))
    return out


def tally_requests(requests: Iterable[Mapping[str, Any]], now: float, midnight: float,
                   window_start: float) -> tuple[Tally, dict[str, Tally]]:
    """The city-wide tally and one per category (each request is read once)."""
    city = Tally()
    by_category: dict[str, Tally] = {}
    for request in requests:
        if request.get("kind") != "request":
            continue
        attrs = request.get("attrs") or {}
        name = category(attrs)
        tally = by_category.get(name)
        if tally is None:
            tally = by_category[name] = Tally()
        requested = _time(attrs.get("requested_at"))
        new = requested is not None and midnight <= requested <= now
        closed = request.get("status") == "closed"
        hours = expected = None
        if closed:
            updated = _time(attrs.get("updated_at"))
            if (requested is not None and updated is not None and requested <= updated
                    and window_start <= updated <= now):
                hours = (updated - requested) / 3600.0
        else:
            expected = _time(attrs.get("expected_at"))
        city.count(new, closed, hours, expected, now)
        tally.count(new, closed, hours, expected, now)
    return city, by_category


def compute_city(r: redis.Redis, now: float | None = None,
                 settings: Settings | None = None) -> list[Kpi]:
    """Every city-management KPI from the live store (see docs/kpis.md)."""
    now = time.time() if now is None else now
    s = settings or default_settings()
    tz = ZoneInfo(s.city.timezone)
    midnight = local_midnight(now, tz)
    day = datetime.fromtimestamp(now, tz).date().isoformat()
    city, by_category = tally_requests(store.entities.read_entities(r, DOMAIN), now, midnight,
                                       now - s.kpis.close_window_days * 86_400.0)
    out = _kpis(city, None, now, s, day)
    for name, tally in sorted(by_category.items()):
        out.extend(_kpis(tally, name, now, s, day))
    return headline_first(out)
