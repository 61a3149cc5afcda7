"""The live map: transport routes, stops and vehicles on an offline basemap (no tiles, no labels).

Offline by default: style ``white-bg`` loads nothing from the internet, and text labels (which
would fetch glyphs) are never used; names go in the hover text, escaped. ``uirevision`` keeps the
user's zoom and pan across updates.
"""

from __future__ import annotations

from html import escape
from typing import Any, Sequence

import plotly.graph_objects as go

DEFAULT_CENTER = (28.55, 112.36)  # Yiyang
# Delay classes, colour-blind safe (Okabe-Ito), with size as a second cue.
DELAY_CLASSES: tuple[tuple[str, float, str, int], ...] = (
    # (label, upper bound in s, colour, marker size)
    ("early", -60.0, "#0072B2", 9),
    ("on time", 300.0, "#009E73", 9),
    ("late", 600.0, "#E69F00", 12),
    ("very late", float("inf"), "#D55E00", 15),
)
UNKNOWN_DELAY = ("delay unknown", "#8C8C8C", 8)


def _safe(value: Any) -> str:
    """Feed text for hover labels: HTML-escaped (plotly renders a subset of HTML)."""
    return escape(str(value), quote=True)


def _delay_class(delay: float | None) -> tuple[str, str, int]:
    if delay is None:
        return UNKNOWN_DELAY
    for label, upper, colour, size in DELAY_CLASSES:
        if delay < upper:
            return label, colour, size
    return UNKNOWN_DELAY  # pragma: no cover - the last bound is infinite


def _center(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    if not points:
        return DEFAULT_CENTER
    lats = sorted(p[0] for p in points)
    lons = sorted(p[1] for p in points)
    return lats[len(lats) // 2], lons[len(lons) // 2]


def transport_figure(entities: Sequence[dict[str, Any]], theme: str = "desk") -> go.Figure:
    """Routes as lines, stops as dots, vehicles coloured and sized by their delay class."""
    vehicles = [e for e in entities if e.get("kind") == "vehicle" and e.get("lat") is not None]
    stops = [e for e in entities if e.get("kind") == "stop" and e.get("lat") is not None]
    routes = [e for e in entities if e.get("kind") == "route" and e.get("shape")]
    traces: list[go.Scattermap] = []
    line_lat: list[float | None] = []
    line_lon: list[float | None] = []
    for route in routes:
        for lon, lat in route["shape"]:
            line_lon.append(lon)
            line_lat.append(lat)
        line_lon.append(None)  # a gap between routes
        line_lat.append(None)
    traces.append(go.Scattermap(lat=line_lat, lon=line_lon, mode="lines", name="Routes",
                                line={"width": 2, "color": "#9AA9B8"}, hoverinfo="skip"))
    traces.append(go.Scattermap(
        lat=[s["lat"] for s in stops], lon=[s["lon"] for s in stops], mode="markers",
        name="Stops", marker={"size": 5, "color": "#5F6B76"},
        hovertext=[f"Stop {_safe(s.get('name') or s['id'])}" for s in stops], hoverinfo="text"))
    groups: dict[str, list[dict[str, Any]]] = {}
    for v in vehicles:
        groups.setdefault(_delay_class(v.get("delay_s"))[0], []).append(v)
    for label, colour, size in [(c[0], c[2], c[3]) for c in DELAY_CLASSES] + [UNKNOWN_DELAY]:
        members = groups.get(label, [])
        traces.append(go.Scattermap(
            lat=[v["lat"] for v in members], lon=[v["lon"] for v in members], mode="markers",
            name=f"Vehicles: {label} ({len(members)})",
            marker={"size": size, "color": colour},
            hovertext=[_vehicle_hover(v) for v in members], hoverinfo="text"))
    lat, lon = _center([(v["lat"], v["lon"]) for v in vehicles + stops])
    figure = go.Figure(traces)
    figure.update_layout(
        map={"style": "white-bg", "center": {"lat": lat, "lon": lon}, "zoom": 11.5},
        uirevision="transport-map", margin={"l": 0, "r": 0, "t": 0, "b": 0},
        legend={"orientation": "h", "y": 0, "x": 0, "bgcolor": "rgba(255,255,255,0.8)"},
        paper_bgcolor="rgba(0,0,0,0)", height=560,
        font={"color": "#F4F7FA" if theme == "wall" else "#14202B"})
    return figure


def _vehicle_hover(v: dict[str, Any]) -> str:
    delay = v.get("delay_s")
    delay_text = "unknown" if delay is None else f"{delay:+.0f} s"
    parts = [f"Vehicle {_safe(v.get('label') or v['id'])}",
             f"Route {_safe(v.get('route_id') or '—')}", f"Delay {delay_text}"]
    if v.get("occupancy"):
        parts.append(f"Occupancy {_safe(v['occupancy']).replace('_', ' ').lower()}")
    return "<br>".join(parts)
