"""The linkage panel: what the city already knows about an incident's area, as lists and on a map.

The incident's area (its polygon, else its point and radius) becomes an ``app.model.geo.Area``
and ``app.situation.linkage.compute`` answers from the live store: the nearest available
ambulances, the nearest hospitals with free beds (and diversion), the bus routes crossing the
area with its stops and the vehicles in it, the water sensors and reservoirs in it with their
newest readings, the open service requests in it and the public warnings covering it. The
incident page and the wall's pinned incident both draw it; names come from the feeds as sent,
everything else (headings, units, distances, states) from the catalogue in the reader's language.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any, Mapping, Sequence

from dash import html

from app import i18n
from app.model.geo import Area
from app.situation import linkage
from app.situation.mapdata import DEFAULT_CENTER, Thresholds
from app.web.context import redis_client, settings
from layouts.incident_parts import when
from layouts.livemap import DESK, WALL, WALL_STYLE, basemap_layers

# Sections in the order a commander reads them: help first, then what is exposed.
SECTIONS: tuple[str, ...] = ("ambulances", "hospitals", "warnings", "routes", "stops", "vehicles",
                             "sensors", "reservoirs", "requests")
# Colours of the map's markers (Okabe-Ito, colour-blind safe), one per kind.
MARKER_COLOURS: dict[str, str] = {
    "ambulance": "#009E73", "hospital": "#D55E00", "stop": "#56B4E9", "vehicle": "#0072B2",
    "sensor": "#CC79A7", "reservoir": "#6A3D9A", "request": "#E69F00", "warning": "#F0E442",
    "route": "#8C8C8C",
}
READING_KEYS: dict[str, tuple[str, int]] = {  # metric -> (catalogue key, decimals)
    "pressure_bar": ("linkage.reading.pressure_bar", 2), "flow_m3h": ("linkage.reading.flow_m3h", 1),
    "level_m": ("linkage.reading.level_m", 2), "turbidity_ntu": ("linkage.reading.turbidity_ntu", 2),
    "free_chlorine_mgl": ("linkage.reading.free_chlorine_mgl", 2),
}
# The kind of thing each section lists (its markers' colour keys the section's title).
SECTION_KINDS: dict[str, str] = {
    "ambulances": "ambulance", "hospitals": "hospital", "warnings": "warning", "routes": "route",
    "stops": "stop", "vehicles": "vehicle", "sensors": "sensor", "reservoirs": "reservoir",
    "requests": "request"}
AREA_COLOUR = "#CC79A7"
CIRCLE_POINTS = 72


def area_of(incident: Mapping[str, Any]) -> Area | None:
    """The incident's area as the linkage reads it: its polygon, else its point with its radius;
    None when it has no place yet (declared from a phone call without one)."""
    shape = incident.get("area")
    if isinstance(shape, Mapping):
        try:
            return Area.of_shape(shape)
        except (ValueError, TypeError, IndexError):
            pass  # a shape that cannot be read: fall back to the point
    lat, lon = incident.get("lat"), incident.get("lon")
    if lat is None or lon is None:
        return None
    try:
        return Area.circle(float(lat), float(lon), float(incident.get("radius_m") or 0.0))
    except ValueError:
        return None


def compute(incident: Mapping[str, Any]) -> linkage.Linkage | None:
    """The incident's linkage from the live store (None when it has no area)."""
    area = area_of(incident)
    if area is None:
        return None
    return linkage.compute(redis_client(), area, Thresholds.of(settings().kpis))


# -- words -------------------------------------------------------------------------------------------
def distance(metres: float | None) -> str:
    """A distance as people say it: metres up to a kilometre, then kilometres."""
    if metres is None or not math.isfinite(metres):
        return ""
    if metres < 1000:
        return i18n.t("linkage.metres", value=i18n.format_number(round(metres / 10) * 10))
    return i18n.t("linkage.kilometres", value=i18n.format_number(metres / 1000, 1))


def _readings(readings: Mapping[str, float]) -> list[str]:
    return [i18n.t(READING_KEYS[m][0], value=i18n.format_number(v, READING_KEYS[m][1]))
            for m, v in readings.items() if m in READING_KEYS and v is not None]


def _route_names(found: linkage.Linkage) -> dict[str, str]:
    return {route.id: route.name for route in found.routes}


def item_words(item: linkage.Linked, routes: Mapping[str, str]) -> list[str]:
    """What one linked thing's line says beside its name: distance, beds, readings, delay..."""
    d = item.detail or {}
    words: list[str] = []
    near = distance(item.distance_m)
    if near and item.kind in ("ambulance", "hospital", "stop", "vehicle", "sensor", "reservoir",
                              "request"):
        words.append(near)
    if item.kind == "hospital":
        free, total = d.get("beds_free"), d.get("beds_total")
        words.append(i18n.t("linkage.beds_of", free=i18n.format_number(free),
                            total=i18n.format_number(total)) if total is not None
                     else i18n.t("linkage.beds", free=i18n.format_number(free)))
        if d.get("diversion"):
            words.append(i18n.t("linkage.diversion"))
    elif item.kind == "vehicle":
        route = routes.get(str(d.get("route_id") or ""))
        if route:
            words.append(i18n.t("linkage.on_route", route=route))
        delay = d.get("delay_s")
        if isinstance(delay, (int, float)) and delay >= 60:
            words.append(i18n.t("linkage.late", minutes=i18n.format_number(delay / 60)))
    elif item.kind in ("sensor", "reservoir"):
        words += _readings(d.get("readings") or {})
    elif item.kind == "request":
        since = d.get("requested_at")
        if isinstance(since, (int, float)):
            words.append(i18n.t("linkage.since", time=when(float(since))))
    elif item.kind == "warning":
        if d.get("severity"):
            words.append(i18n.label("severity", str(d["severity"])))
        if d.get("area"):
            words.append(str(d["area"]))
    return words


def _section(name: str, items: Sequence[linkage.Linked], total: int, routes: Mapping[str, str],
             rows: int) -> html.Section:
    shown = list(items)[:rows]
    more = total - len(shown)
    lines: list[Any] = [html.Li(className=f"link-item kind-{item.kind}", children=[
        html.Span(item.name, className="link-name"),
        *[html.Span(word, className="link-word") for word in item_words(item, routes)],
    ]) for item in shown]
    if more > 0:
        lines.append(html.Li(i18n.t("official.and_more", count=i18n.format_number(more)),
                             className="link-more muted"))
    body: Any = html.Ul(lines, className="link-list") if lines else html.P(
        i18n.t("linkage.none"), className="muted link-none")
    return html.Section(className=f"link-section link-{name}", **{"data-section": name}, children=[
        html.H4([html.Span(className="link-key", style={"background": MARKER_COLOURS[SECTION_KINDS[name]]}),
                 i18n.t(f"linkage.section.{name}"),
                 html.Span(i18n.format_number(total), className="link-count")]),
        body,
    ])


def panel(found: linkage.Linkage | None, rows: int = 8) -> list[Any]:
    """The panel's sections (each with its count and its first ``rows`` lines)."""
    if found is None:
        return [html.P(i18n.t("linkage.no_area"), className="muted")]
    routes = _route_names(found)
    return [_section(name, getattr(found, name), found.counts.get(name, len(getattr(found, name))),
                     routes, rows) for name in SECTIONS]


# -- the map -----------------------------------------------------------------------------------------
def _circle(lat: float, lon: float, radius_m: float) -> tuple[list[float], list[float]]:
    """A circle of ``radius_m`` around a point as a closed ring (lat, lon lists)."""
    lats, lons = [], []
    for i in range(CIRCLE_POINTS + 1):
        angle = 2 * math.pi * i / CIRCLE_POINTS
        dlat = radius_m * math.cos(angle) / 111_320.0
        dlon = radius_m * math.sin(angle) / (111_320.0 * max(math.cos(math.radians(lat)), 1e-6))
        lats.append(lat + dlat)
        lons.append(lon + dlon)
    return lats, lons


def _rings(shape: Mapping[str, Any]) -> list[list[list[float]]]:
    coords = shape.get("coordinates") or []
    if shape.get("type") == "Polygon":
        return [coords[0]] if coords else []
    return [polygon[0] for polygon in coords if polygon] if shape.get("type") == "MultiPolygon" else []


def _zoom(radius_m: float) -> float:
    """A zoom that shows the area with its surroundings."""
    return max(9.0, min(16.0, 15.5 - math.log2(max(radius_m, 50.0) / 250.0)))


def figure(incident: Mapping[str, Any] | None, found: linkage.Linkage | None,
           theme: str = DESK) -> dict[str, Any]:
    """The area (outline) and what the linkage found (one trace per kind, hover text escaped),
    on the city's offline basemap."""
    data: list[dict[str, Any]] = []
    area = area_of(incident) if incident else None
    if area is not None:
        rings = _rings(area.shape) if area.shape else []
        if not rings:
            lats, lons = _circle(area.lat, area.lon, area.radius_m)
            rings = [[[lo, la] for la, lo in zip(lats, lons, strict=True)]]
        for ring in rings:
            data.append({"type": "scattermap", "mode": "lines", "fill": "toself",
                         "lon": [p[0] for p in ring], "lat": [p[1] for p in ring],
                         "line": {"color": AREA_COLOUR, "width": 3},
                         "fillcolor": "rgba(204,121,167,0.15)", "hoverinfo": "skip",
                         "name": i18n.t("linkage.map.area"), "showlegend": False})
    if found is not None:
        for name in SECTIONS:
            items = [i for i in getattr(found, name) if i.lat is not None and i.lon is not None]
            if not items:
                continue
            kind = items[0].kind
            data.append({"type": "scattermap", "mode": "markers",
                         "lat": [i.lat for i in items], "lon": [i.lon for i in items],
                         "marker": {"size": 14 if theme == WALL else 10,
                                    "color": MARKER_COLOURS.get(kind, "#8C8C8C")},
                         "name": i18n.t(f"linkage.section.{name}"),
                         # Plotly reads <...> as markup: feed names are escaped for it.
                         "hovertext": [escape(i.name, quote=False) for i in items],
                         "hoverinfo": "text+name"})
    if not data:
        # An empty map trace makes plotly draw the city's map: a figure with no trace at all is an
        # empty chart with axes (an incident with no place yet, the declare form before one).
        data.append({"type": "scattermap", "lat": [], "lon": [], "hoverinfo": "skip",
                     "showlegend": False})
    centre = (area.lat, area.lon) if area is not None else DEFAULT_CENTER
    ink = "#F4F7FA" if theme == WALL else "#14202B"
    tile_url = settings().map.tile_url or None
    return {"data": data, "layout": {
        "map": {"style": WALL_STYLE if theme == WALL else "white-bg",
                "center": {"lat": centre[0], "lon": centre[1]},
                "zoom": _zoom(area.radius_m) if area is not None else 10,
                "layers": basemap_layers(lambda path: f"/assets/{path}", theme, tile_url)},
        "margin": {"l": 0, "r": 0, "t": 0, "b": 0}, "paper_bgcolor": "rgba(0,0,0,0)",
        "font": {"color": ink, "size": 16 if theme == WALL else 12},
        "legend": {"x": 0.005, "y": 0.995, "xanchor": "left", "yanchor": "top",
                   "bgcolor": "rgba(11,18,26,0.8)" if theme == WALL else "rgba(255,255,255,0.85)"},
        # The wall keys each linkage section by colour instead: a legend would cover the area.
        "showlegend": theme != WALL, "hovermode": "closest",
        "uirevision": (incident or {}).get("id", "none"),
    }}
