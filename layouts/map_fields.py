"""What the map's side panel says of a record: its fields by their names, in the reader's language.

Issue 19: the panel listed every stored field as stored (the entity id, "datastream id", "thing id",
"located by thing_location", "metrics pressure_bar"). It now shows the fields a person acts on,
each named from the catalogue, with states, kinds and measurements by their names and times as
times; the feed's plumbing (ids, source, where the position came from, units apart from values)
stays out.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from dash import html

from app import i18n
from layouts.components import format_time

TIME_FIELDS = frozenset({"observed_at", "requested_at", "updated_at", "expected_at", "starts_at",
                         "ends_at", "first_seen", "last_seen", "opened_at", "acked_at",
                         "cleared_at"})
# Plumbing: how the record got here, not what it says. Positions are on the map itself.
HIDDEN_FIELDS = frozenset({"shape", "area", "geometry", "fingerprint", "version", "group", "id",
                           "domain", "kind", "lat", "lon", "source", "datastream_id", "thing_id",
                           "located_by", "unit", "entity", "rule", "call_id", "stream_id",
                           "sensor_id", "feed", "adapter", "identifier", "sender", "references",
                           "service_code"})  # a request's type is shown in words (service_name)
# field -> the catalogue prefix that names its values.
VALUE_LABELS: dict[str, str] = {"status": "entity_status", "metrics": "metric", "metric": "metric",
                                "state": "alert_state", "severity": "severity",
                                "kind": "kind"}


def value_text(value: Any) -> str:
    """A stored value as text (numbers rounded, long text cut)."""
    if isinstance(value, float):
        return i18n.format_number(value, 2) if math.isfinite(value) else "—"
    if isinstance(value, (list, tuple)):
        return ", ".join(value_text(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{field_name(k)}: {value_text(v)}" for k, v in value.items())
    text = "—" if value is None else str(value)
    return text if len(text) <= 300 else text[:299] + "…"


def field_name(key: str) -> str:
    """A field's name in the reader's language."""
    return i18n.t_or(f"field.{key}", key.replace("_", " "))


def named_value(key: str, value: Any) -> str:
    """A field's value, codes by their names ("in_transit" -> "in transit")."""
    prefix = VALUE_LABELS.get(key)
    if prefix is None:
        return value_text(value)
    values = value if isinstance(value, (list, tuple)) else [value]
    return ", ".join(i18n.t_or(f"{prefix}.{v}", str(v).replace("_", " ")) for v in values)


def fields(record: Mapping[str, Any]) -> list[Any]:
    """The record's fields worth reading, as a definition list."""
    rows: list[Any] = []
    flat = {**{k: v for k, v in record.items() if k != "attrs"}, **(record.get("attrs") or {})}
    for key, value in flat.items():
        if key in HIDDEN_FIELDS or value in (None, "", [], {}):
            continue
        text = (format_time(float(value), with_date=True)
                if key in TIME_FIELDS and isinstance(value, (int, float)) else named_value(key, value))
        rows += [html.Dt(field_name(key)), html.Dd(text)]
    return [html.Dl(rows, className="map-fields")]


def metric_name(metric: str) -> str:
    """A measurement's name in the reader's language ("pressure_bar" -> "pressure")."""
    return i18n.t_or(f"metric.{metric}", metric.replace("_", " "))
