"""How the report writes feed text, times, values and KPI names for people to read."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from app import i18n


def escape_feed(value: object) -> str:
    """Feed text for HTML and for folium's JavaScript template literals.

    ``html.escape`` covers the markup; a backtick, ``$`` and a backslash also become entities,
    because folium puts tooltip text inside JavaScript template literals, where ``${...}`` would
    run and a backtick or backslash would end or bend the string.
    """
    text = html.escape("" if value is None else str(value), quote=True)
    return text.replace("\\", "&#92;").replace("`", "&#96;").replace("$", "&#36;")


def clock(ts: float | None, tz: str, with_date: bool = False) -> str:
    """A Unix time as the city's wall-clock time, HH:MM (with the date, in the reader's locale, if
    asked); "—" if none."""
    return i18n.format_datetime(ts, with_date, tz=tz, seconds=False)


def iso_time(ts: float | None, tz: str) -> str:
    """A Unix time as ISO 8601 in the city's time zone, with its offset ("" if none)."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, ZoneInfo(tz)).isoformat(timespec="seconds")


def value_text(value: float | None, unit: str) -> str:
    """A KPI value with its unit as a person reads it ("—" when unknown)."""
    if value is None:
        return "—"
    if unit.startswith("{"):  # UCUM annotations such as {vehicle} are counts
        return i18n.format_number(value)
    if unit == "%":
        return f"{i18n.format_number(value, 1)} %"
    return f"{i18n.format_number(value, 1)} {unit}".strip()


def kpi_label(kpi: Mapping[str, Any]) -> str:
    """A KPI's title, with its subject (zone, hospital, category) when it has one."""
    title = str(kpi.get("title") or kpi.get("name") or "")
    if i18n.current_language() != i18n.DEFAULT and kpi.get("subject") is None:
        # English keeps the title as computed; other languages name the KPI by the catalogue.
        # A subject KPI keeps its stored title, whose subject part is a feed's name.
        title = i18n.kpi_title(kpi)
    if not kpi.get("subject"):
        return title
    # A subject KPI's title already names its subject ("<title>: <name>"); the stored subject may
    # be an entity id, never shown (issue 19).
    return title if ": " in title else f"{title} · {i18n.kpi_subject(dict(kpi))}"


def plural(count: int, key: str) -> str:
    """``key.one`` or ``key.other`` with ``count`` filled in (English needs both; Chinese reads the
    same either way)."""
    return i18n.t(f"{key}.{'one' if count == 1 else 'other'}", count=i18n.format_number(count))
