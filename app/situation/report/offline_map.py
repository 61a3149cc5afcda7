"""The report's folium map: basemap shapes, CAP areas, places and alerts, with escaped popups.

Feed text reaches the map's JavaScript only through :func:`escape_feed`: tooltips go into
folium's template literals, popups into JSON strings (:class:`SafePopup`).
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

import folium
from folium.template import Template

from app import i18n
from app.alerts.queries import shown_title
from app.model.alerts import most_urgent_first
from app.situation.mapdata import DEFAULT_CENTER, short_id
from app.situation.report.formats import clock, escape_feed
from app.situation.report.map_layers import MapLayers, located
from app.situation.report.situation import Situation

MAX_POPUP_TEXT = 500
# Okabe-Ito colours (colour-blind safe); size is the second cue for severity.
SEVERITY_STYLE: dict[str, tuple[str, int]] = {
    "critical": ("#D55E00", 12), "major": ("#E69F00", 10), "minor": ("#CC79A7", 8),
    "warning": ("#56B4E9", 8), "info": ("#0072B2", 7),
}
DOMAIN_COLOURS: dict[str, str] = {
    "transport": "#0072B2", "water": "#56B4E9", "medical": "#009E73", "city": "#6B6B6B",
}
BASEMAP_STYLES: dict[str, dict[str, Any]] = {
    "district": {"color": "#8C8C8C", "weight": 1, "fillColor": "#F2F2F2", "fillOpacity": 0.4},
    "river": {"color": "#56B4E9", "weight": 3, "fillColor": "#56B4E9", "fillOpacity": 0.5},
    "road": {"color": "#BDBDBD", "weight": 2, "fill": False},
}
DEFAULT_BASEMAP_STYLE: dict[str, Any] = {"color": "#BDBDBD", "weight": 1, "fillOpacity": 0.1}


class OfflineMap(folium.Map):
    """A folium map that links nothing: Leaflet is inlined by :func:`render_report`."""

    default_js: list[tuple[str, str]] = []
    default_css: list[tuple[str, str]] = []


class SafePopup(folium.MacroElement):
    """A popup whose (already escaped) HTML goes into JavaScript as a JSON string.

    folium's own Popup needs jQuery and writes its HTML into a template literal; this binds
    Leaflet's popup directly, and ``tojson`` escapes ``<``, ``>``, ``&`` and ``'``, so no text
    can end the script.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
            {{ this._parent.get_name() }}.bindPopup({{ this.content|tojson }}, {"maxWidth": 360});
        {% endmacro %}
    """)

    def __init__(self, content: str) -> None:
        super().__init__()
        self._name = "SafePopup"
        self.content = content


def _popup_html(title: str, rows: Sequence[tuple[str, object]]) -> str:
    """A popup's HTML: every value escaped here, whatever its source."""
    body = "".join(f"<tr><th>{escape_feed(k)}</th><td>{escape_feed(v)}</td></tr>"
                   for k, v in rows if v not in (None, ""))
    return f"<b>{escape_feed(title)}</b><table class='popup'>{body}</table>"


def _short(text: object) -> str:
    value = "" if text is None else str(text)
    return value if len(value) <= MAX_POPUP_TEXT else value[:MAX_POPUP_TEXT] + "…"


def _entity_marker(entity: Mapping[str, Any], tz: str) -> folium.CircleMarker:
    attrs = entity.get("attrs") or {}
    # Issue 19: a thing is named by its name, else the feed's own reference, never the stored id.
    reference = short_id(str(entity.get("id") or ""))
    name = attrs.get("name") or attrs.get("label") or reference
    domain = str(entity.get("domain") or "")
    colour = DOMAIN_COLOURS.get(domain, "#6B6B6B")
    marker = folium.CircleMarker(
        [float(entity["lat"]), float(entity["lon"])], radius=5, color="#FFFFFF", weight=1,
        fill=True, fill_color=colour, fill_opacity=0.9,
        class_name=f"report-marker report-entity domain-{re.sub(r'[^a-z]', '', domain)}",
        tooltip=folium.Tooltip(escape_feed(f"{i18n.label('kind', str(entity.get('kind')))}: {name}")))
    t = i18n.t
    SafePopup(_popup_html(str(name), [
        (t("report.pop_kind"), i18n.label("kind", str(entity.get("kind")))),
        (t("report.pop_id"), reference),
        (t("report.pop_status"), i18n.t_or(f"entity_status.{entity.get('status')}",
                                           str(entity.get("status") or "").replace("_", " "))),
        (t("report.pop_as_of"), clock(entity.get("observed_at"), tz, with_date=True)),
        (t("report.pop_source"), entity.get("source"))])).add_to(marker)
    return marker


def _alert_marker(alert: Mapping[str, Any], tz: str) -> folium.CircleMarker:
    severity = str(alert.get("severity") or "info")
    if severity not in SEVERITY_STYLE:
        severity = "info"
    colour, radius = SEVERITY_STYLE[severity]
    marker = folium.CircleMarker(
        [float(alert["lat"]), float(alert["lon"])], radius=radius, color="#000000", weight=2,
        fill=True, fill_color=colour, fill_opacity=0.95,
        class_name=f"report-marker report-alert severity-{severity}",
        tooltip=folium.Tooltip(escape_feed(f"{i18n.label('severity', severity)}: {shown_title(alert)}")))
    t = i18n.t
    SafePopup(_popup_html(shown_title(alert) or str(alert.get("id")), [
        (t("report.pop_severity"), i18n.label("severity", severity)),
        (t("report.pop_state"), i18n.label("alert_state", str(alert.get("state")))),
        (t("report.pop_domain"), i18n.label("domain", str(alert.get("domain")))),
        (t("report.pop_count"), alert.get("count")),
        (t("report.pop_first_seen"), clock(alert.get("first_seen"), tz, True)),
        (t("report.pop_last_seen"), clock(alert.get("last_seen"), tz, True)),
        (t("report.pop_acked_by"), alert.get("acked_by")), (t("report.pop_assignee"), alert.get("assignee")),
        (t("report.pop_description"), _short(alert.get("description")))])).add_to(marker)
    return marker


def _area_layer(event: Mapping[str, Any], tz: str) -> folium.GeoJson:
    attrs = event.get("attrs") or {}
    area_names = attrs.get("areaDesc") or ""
    colour = SEVERITY_STYLE.get(str(event.get("severity")), SEVERITY_STYLE["warning"])[0]
    layer = folium.GeoJson(
        {"type": "Feature", "properties": {}, "geometry": event["area"]},
        style_function=lambda _f, c=colour: {"color": c, "weight": 2, "fillColor": c,
                                             "fillOpacity": 0.15, "className": "report-area"},
        tooltip=folium.Tooltip(escape_feed(f"{event.get('title')} — {area_names}")))
    t = i18n.t
    # The CAP fields' values (event, urgency, ...) are the warning's own text: shown as sent.
    SafePopup(_popup_html(str(event.get("title") or event.get("id")), [
        (t("report.pop_areas"), area_names), (t("report.pop_event"), attrs.get("event")),
        (t("report.pop_severity"), attrs.get("cap_severity")),
        (t("report.pop_urgency"), attrs.get("urgency")), (t("report.pop_certainty"), attrs.get("certainty")),
        (t("report.pop_sender"), attrs.get("sender")),
        (t("report.pop_expires"), clock(event.get("ends_at"), tz, True)),
        (t("report.pop_description"), _short(attrs.get("description"))),
        (t("report.pop_instruction"), _short(attrs.get("instruction")))])).add_to(layer)
    return layer


def _area_points(area: Mapping[str, Any]) -> list[tuple[float, float]]:
    """(lat, lon) of the outer rings' vertices of a GeoJSON Polygon or MultiPolygon."""
    kind, coords = area.get("type"), area.get("coordinates") or []
    polygons = [coords] if kind == "Polygon" else coords if kind == "MultiPolygon" else []
    return [(float(p[1]), float(p[0])) for polygon in polygons if polygon
            for p in polygon[0] if isinstance(p, (list, tuple)) and len(p) >= 2]


def _bounds(points: Sequence[tuple[float, float]]) -> list[list[float]] | None:
    if not points:
        return None
    lats = [p[0] for p in points]
    lons = [p[1] for p in points]
    return [[min(lats), min(lons)], [max(lats), max(lons)]]


def build_map(situation: Situation, layers: MapLayers) -> OfflineMap:
    """The report's folium map: basemap shapes, CAP areas, entities, then alerts on top. No tiles."""
    tz = situation.timezone
    located_alerts = [a for a in situation.alerts if located(a)]
    points = ([(float(a["lat"]), float(a["lon"])) for a in located_alerts]
              + [(float(e["lat"]), float(e["lon"])) for e in layers.entities]
              + [p for event in layers.areas for p in _area_points(event["area"])])
    center = points[0] if points else DEFAULT_CENTER
    fmap = OfflineMap(location=list(center), zoom_start=12, tiles=None, height="560px",
                      control_scale=True)
    for name, collection in layers.basemap:
        style = BASEMAP_STYLES.get(name, DEFAULT_BASEMAP_STYLE)
        folium.GeoJson(collection, name=name, style_function=lambda _f, s=style: s,
                       control=False).add_to(fmap)
    for event in layers.areas:
        _area_layer(event, tz).add_to(fmap)
    for entity in layers.entities:
        _entity_marker(entity, tz).add_to(fmap)
    for alert in sorted(located_alerts, key=most_urgent_first, reverse=True):
        _alert_marker(alert, tz).add_to(fmap)  # the most urgent drawn last, so on top
    bounds = _bounds(points)
    if bounds and bounds[0] != bounds[1]:
        fmap.fit_bounds(bounds, padding=(20, 20))
    return fmap
