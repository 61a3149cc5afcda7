"""The KPIs and the open alerts as CSV, in two forms, with cells a spreadsheet would run as formulas defused.

Two forms of each table (issue 19, docs/api.md "CSV exports"):

- the people's form (the default of every download): headers and values in the reader's language,
  states, severities, domains and units in words, KPI titles instead of their ids, numbers rounded
  and times as the city's local date and time;
- the machine form (``?form=machine``): the column ids below in every language and the values as
  stored (codes, ISO 8601 times), so that a script does not break when its user switches language.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Iterable, Mapping, Sequence

from app import i18n
from app.alerts.queries import shown_title
from app.kpis.status import effective_status
from app.situation.report.formats import iso_time, kpi_label
from app.situation.report.situation import Situation

PEOPLE = "people"
MACHINE = "machine"
FORMS: tuple[str, ...] = (PEOPLE, MACHINE)
# The machine form's header rows: these column ids in every language.
KPI_COLUMNS: tuple[str, ...] = ("domain", "name", "subject", "value", "unit", "target", "status",
                                "computed_at")
ALERT_COLUMNS: tuple[str, ...] = ("id", "state", "severity", "domain", "title", "count",
                                  "first_seen", "last_seen", "acked_by", "assignee", "escalated")
ALERT_TIME_COLUMNS = frozenset({"first_seen", "last_seen"})
# The people's form's headers, as catalogue keys, in column order.
KPI_HEADINGS: tuple[str, ...] = ("report.col_domain", "report.col_indicator", "report.col_value",
                                 "export.col_unit", "report.col_target", "report.col_status",
                                 "report.col_computed")
ALERT_HEADINGS: tuple[str, ...] = ("report.col_severity", "report.col_state", "report.col_domain",
                                   "report.col_title", "report.col_count", "report.col_first_seen",
                                   "report.col_last_seen", "report.col_acked_by",
                                   "report.col_assignee", "report.col_escalated")
# Spreadsheets run a cell that starts with one of these as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A CSV cell: text that a spreadsheet would run as a formula gets a leading apostrophe.

    Numbers are our own figures, not feed text, and stay numbers (a negative delay is -35.0).
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def write_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A CSV document: a BOM, ``header``, then ``rows`` with every cell passed through :func:`csv_cell`."""
    out = io.StringIO()
    # A BOM so that spreadsheet programs read the UTF-8 (Chinese names) as UTF-8.
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([csv_cell(h) for h in header])
    writer.writerows([csv_cell(v) for v in row] for row in rows)
    return out.getvalue()


def unit_words(unit: str) -> str:
    """A KPI's unit as a person reads it ("{vehicle}" -> "vehicles" / "辆"; "" for none)."""
    if not unit:
        return ""
    if i18n.has(f"unit.{unit}"):
        return i18n.t(f"unit.{unit}")
    # An annotation the catalogue does not know yet: its word without the braces.
    return unit.strip("{}") if unit.startswith("{") else unit


def rounded(value: float | int | None, unit: str = "") -> float | int | None:
    """A figure rounded as a person reads it: counts whole, percentages to 1 decimal, else 2."""
    if value is None:
        return None
    number = float(value)
    if unit.startswith("{"):
        return int(round(number))
    result = round(number, 1 if unit == "%" else 2)
    return 0.0 if result == 0 else result  # no signed zero


def local_time(ts: float | None, tz: str) -> str:
    """A Unix time as the city's local date and time in the reader's locale ("" if none)."""
    return "" if ts is None else i18n.format_datetime(float(ts), with_date=True, tz=tz, seconds=False)


def yes_no(value: object) -> str:
    """A flag in words."""
    return i18n.t("report.yes") if value else i18n.t("export.no")


def _kpi_words(kpi: Mapping[str, Any], tz: str) -> list[object]:
    unit = str(kpi.get("unit") or "")
    return [i18n.label("domain", str(kpi.get("domain"))), kpi_label(kpi),
            rounded(kpi.get("value"), unit), unit_words(unit), i18n.kpi_target(kpi),
            i18n.label("kpi_status", effective_status(kpi)), local_time(kpi.get("computed_at"), tz)]


def _alert_words(alert: Mapping[str, Any], tz: str) -> list[object]:
    return [i18n.label("severity", str(alert.get("severity"))),
            i18n.label("alert_state", str(alert.get("state"))),
            i18n.label("domain", str(alert.get("domain"))), shown_title(alert), alert.get("count"),
            local_time(alert.get("first_seen"), tz), local_time(alert.get("last_seen"), tz),
            alert.get("acked_by") or "", alert.get("assignee") or "", yes_no(alert.get("escalated"))]


def kpis_csv(situation: Situation, form: str = MACHINE) -> str:
    """The KPIs as CSV; the machine form: domain, name, subject, value, unit, target, status,
    computed_at (ISO), the people's form: :data:`KPI_HEADINGS` in the reader's language."""
    tz = situation.timezone
    if form == PEOPLE:
        return write_csv([i18n.t(k) for k in KPI_HEADINGS],
                         (_kpi_words(k, tz) for k in situation.kpis))
    return write_csv(KPI_COLUMNS, ([k.get("domain"), k.get("name"), k.get("subject"), k.get("value"),
                                    k.get("unit"), k.get("target"), k.get("status"),
                                    iso_time(k.get("computed_at"), tz)] for k in situation.kpis))


def alerts_csv(situation: Situation, form: str = MACHINE) -> str:
    """The open alerts as CSV; the machine form with ISO 8601 times in the city's time zone, the
    people's form (:data:`ALERT_HEADINGS`, most severe first) in words."""
    tz = situation.timezone
    if form == PEOPLE:
        return write_csv([i18n.t(k) for k in ALERT_HEADINGS],
                         (_alert_words(a, tz) for a in situation.top_alerts(limit=len(situation.alerts))))
    return write_csv(ALERT_COLUMNS, ([iso_time(a.get(c), tz) if c in ALERT_TIME_COLUMNS else a.get(c)
                                      for c in ALERT_COLUMNS] for a in situation.alerts))
