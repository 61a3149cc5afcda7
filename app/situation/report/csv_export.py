"""The KPIs and the open alerts as CSV, with cells a spreadsheet would run as formulas defused."""

from __future__ import annotations

import csv
import io
from typing import Iterable, Sequence

from app.situation.report.formats import iso_time
from app.situation.report.situation import Situation

# The CSV header rows are these column ids in every language, by choice: the CSV is the
# machine-readable export (scripts and API tokens read it by column name, and a script must not
# break because its user switched to Chinese); the HTML report is the one written for people.
KPI_COLUMNS: tuple[str, ...] = ("domain", "name", "subject", "value", "unit", "target", "status",
                                "computed_at")
ALERT_COLUMNS: tuple[str, ...] = ("id", "state", "severity", "domain", "title", "count",
                                  "first_seen", "last_seen", "acked_by", "assignee", "escalated")
ALERT_TIME_COLUMNS = frozenset({"first_seen", "last_seen"})
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


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    # A BOM so that spreadsheet programs read the UTF-8 (Chinese names) as UTF-8.
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([csv_cell(v) for v in row] for row in rows)
    return out.getvalue()


def kpis_csv(situation: Situation) -> str:
    """The KPIs as CSV: domain, name, subject, value, unit, target, status, computed_at (ISO)."""
    tz = situation.timezone
    return _csv(KPI_COLUMNS, ([k.get("domain"), k.get("name"), k.get("subject"), k.get("value"),
                               k.get("unit"), k.get("target"), k.get("status"),
                               iso_time(k.get("computed_at"), tz)] for k in situation.kpis))


def alerts_csv(situation: Situation) -> str:
    """The open alerts as CSV (times as ISO 8601 in the city's time zone)."""
    tz = situation.timezone
    return _csv(ALERT_COLUMNS, ([iso_time(a.get(c), tz) if c in ALERT_TIME_COLUMNS else a.get(c)
                                 for c in ALERT_COLUMNS] for a in situation.alerts))
