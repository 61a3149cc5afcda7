"""The wall's live maps: plotly draws the base map; the city on it (markers, grouped cells, routes,
warning areas) is drawn by the browser from one binary frame per change (issue 20).

A wall runs for days at 20,000 moving vehicles. Sent through Dash and redrawn by plotly, every
second's move cost the wall's main thread ~130 ms (each Dash callback makes the renderer visit
every component of the page; plotly rebuilds its maplibre layers on each update). Here the
browser (assets/wall_map.js) asks ``GET /_wall-map/<map id>?view=...`` outside Dash, at most once
a second and only for a map on screen; the answer is ``304`` while nothing it shows moved (the
``ETag`` is a digest of the domains' map versions, the cut and the language), else a frame:

    uint32 little-endian header length | header JSON (space-padded to 4 bytes) | float32 arrays

The header lists the point groups in drawing order (colour, opacity, size, count), the legend
(names in the reader's language), and the routes and warning areas as GeoJSON, sent only when
they differ from the signatures the browser says it holds. The arrays are each group's latitudes
and longitudes, then for grouped cells their sizes. The markers are drawn by a WebGL layer inside
plotly's own maplibre map, which uploads the arrays as they are.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import dash
import numpy as np
import redis
from dash import dcc, html
from flask import Flask, Response, g, jsonify, request

from app import i18n
from app.situation import mapdata
from app.situation.mapdata import LAYER_BY_KEY, RANK_COLOURS, SEVERITY_CLASSES, View
from app.situation.mapdata import share as map_share
from app.web.api.schema import Field, inputs
from app.web.context import redis_client, require_roles, settings
from layouts.components import graph_config
from layouts.livemap import WALL, figure, read_content
from layouts.map_traces import (
    ROUTE_COLOUR,
    Content,
    TraceSpec,
    cell_sizes,
    class_name,
    grouped_name,
    layer_title,
    trace_plan,
)

PREFIX = "/_wall-map/"
RULE = PREFIX + "<map_id>"
ENDPOINT = "wall_map.frame"
FORMAT = "1"  # in the ETag: a browser holding an older format's frame gets a new one
AREA_OUTLINE = "#D55E00"
AREA_OPACITY = 0.28
CELL_OPACITY = 0.7
MAX_SIGNATURE = 64
MAX_ZOOM = 24.0
QUERY = (Field("view", "text", required=True, max_length=200,
               description="The map's box and zoom: west,south,east,north,zoom (degrees).",
               example="112.30,28.50,112.42,28.60,12"),
         Field("lines", "text", max_length=MAX_SIGNATURE,
               description="The signature of the routes the browser holds (left out if current)."),
         Field("areas", "text", max_length=MAX_SIGNATURE,
               description="The signature of the warning areas the browser holds."))


@dataclass(frozen=True)
class Frame:
    """One answer: its header (JSON-able) and its float32 arrays, in order."""

    header: dict[str, Any]
    arrays: tuple[np.ndarray, ...]

    def encode(self) -> bytes:
        """The frame as bytes: the header's length, the header, the arrays (4-byte aligned)."""
        head = json.dumps(self.header, ensure_ascii=False, separators=(",", ":")).encode()
        head += b" " * (-len(head) % 4)
        body = b"".join(np.ascontiguousarray(a, dtype="<f4").tobytes() for a in self.arrays)
        return struct.pack("<I", len(head)) + head + body


def decode(data: bytes) -> tuple[dict[str, Any], np.ndarray]:
    """A frame's header and its floats (what the browser reads; the tests read it the same way)."""
    (length,) = struct.unpack_from("<I", data)
    header = json.loads(data[4:4 + length])
    return header, np.frombuffer(data, dtype="<f4", offset=4 + length)


# -- the component ---------------------------------------------------------------------------------
def wall_map(map_id: str, layers: Sequence[str], zoom: float) -> html.Div:
    """A wall map: plotly's base map (no traces of the city), the legend under it, and the data
    attributes assets/wall_map.js reads to fetch and draw its frames."""
    fig, _, _ = figure((), Content({}, None, ()), layers, theme=WALL, zoom=zoom, uirevision=map_id,
                       asset_url=dash.get_asset_url, tile_url=settings().map.tile_url)
    # plotly draws a map subplot only for a trace that uses it: one empty trace holds it.
    fig["data"] = [{"type": "scattermap", "lat": [], "lon": [], "mode": "markers",
                    "showlegend": False, "hoverinfo": "skip"}]
    fig["layout"]["showlegend"] = False
    graph = dcc.Graph(id=map_id, figure=fig, className="live-map", responsive=True,
                      config=graph_config(displayModeBar=False, scrollZoom=False))
    return html.Div(className=f"live-map-wrap map-{WALL} wall-live-map", children=[
        graph, html.Ul(className="wall-legend", **{"aria-label": i18n.t("map.legend")}),
    ], **{"data-wall-map": map_id, "data-route-colour": ROUTE_COLOUR[WALL],
          "data-area-outline": AREA_OUTLINE, "data-area-opacity": str(AREA_OPACITY)})


# -- the frame -------------------------------------------------------------------------------------
def build(content: Content, layers: Sequence[str], lines_held: str = "",
          areas_held: str = "") -> Frame:
    """What the map shows for ``content``, in drawing order; the routes and areas only when they
    differ from what the browser holds (``lines_held``, ``areas_held``: their signatures)."""
    groups: list[dict[str, Any]] = []
    legend: list[dict[str, str]] = []
    arrays: list[np.ndarray] = []
    header: dict[str, Any] = {"groups": groups, "legend": legend}
    for spec in trace_plan(layers):
        layer = LAYER_BY_KEY[spec.layer]
        if spec.role == "lines":
            header["lines"] = _lines(content.lines, lines_held)
        elif spec.role == "areas":
            header["areas"] = _areas(content.warnings, areas_held)
            if content.warnings:
                legend.append({"colour": AREA_OUTLINE,
                               "name": f"{layer_title(layer)} ({len(content.warnings)})"})
        else:
            _points(spec, content, groups, legend, arrays)
    return Frame(header, tuple(arrays))


def _points(spec: TraceSpec, content: Content, groups: list[dict[str, Any]],
            legend: list[dict[str, str]], arrays: list[np.ndarray]) -> None:
    """One class's markers or one rank's cells, with its legend line."""
    layer = LAYER_BY_KEY[spec.layer]
    cut = content.cuts.get(spec.layer)
    if cut is None:
        return
    if spec.role == "cells":
        group = cut.cells[spec.code] if cut.cells else None
        if group is None or not group.count.size:
            return
        colour = RANK_COLOURS[spec.code]
        legend.append({"colour": colour, "name": grouped_name(layer, spec.code)})
        groups.append({"colour": colour, "opacity": CELL_OPACITY, "size": None,
                       "n": int(group.count.size)})
        arrays += [group.lat, group.lon, cell_sizes(group.count)]
        return
    part = cut.classes[spec.code]
    marker = layer.classes[spec.code]
    if part.total:
        legend.append({"colour": marker.colour, "name": class_name(layer, spec.code, part.total)})
    if part.lat.size:
        groups.append({"colour": marker.colour, "opacity": layer.opacity, "size": marker.size,
                       "n": int(part.lat.size)})
        arrays += [part.lat, part.lon]


def _lines(lines: mapdata.Lines | None, held: str) -> dict[str, Any]:
    """The routes as one GeoJSON MultiLineString (runs split at the gaps), unless held."""
    signature = lines.signature if lines else ""
    if signature == held:
        return {"sig": signature}
    runs: list[list[list[float]]] = []
    run: list[list[float]] = []
    for lat, lon in zip(lines.lat if lines else (), lines.lon if lines else (), strict=True):
        if lat is None or lon is None:
            if len(run) > 1:
                runs.append(run)
            run = []
        else:
            run.append([round(float(lon), 6), round(float(lat), 6)])
    if len(run) > 1:
        runs.append(run)
    return {"sig": signature, "geojson": {"type": "Feature", "properties": {},
                                          "geometry": {"type": "MultiLineString", "coordinates": runs}}}


def _areas(warnings: Sequence[mapdata.Warning], held: str) -> dict[str, Any]:
    """The warning areas as a FeatureCollection, each in its severity's colour, unless held."""
    signature = mapdata.digest([w.id for w in warnings], [str(w.severity) for w in warnings],
                               [json.dumps(w.geometry, sort_keys=True) for w in warnings])
    if signature == held:
        return {"sig": signature}
    return {"sig": signature, "geojson": {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"colour": SEVERITY_CLASSES[w.severity].colour},
         "geometry": w.geometry} for w in warnings]}}


# -- the endpoint ----------------------------------------------------------------------------------
def parse_view(value: str | None) -> View | None:
    """``west,south,east,north,zoom`` as a View, or None when it is not one."""
    try:
        west, south, east, north, zoom = (float(v) for v in str(value or "").split(","))
    except ValueError:
        return None
    if not all(math.isfinite(v) for v in (west, south, east, north, zoom)):
        return None
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90 and 0 <= zoom <= MAX_ZOOM):
        return None
    return View(west, south, east, north, zoom)


def frame_url(map_id: str, view: View, lines: str = "", areas: str = "") -> str:
    """The URL a wall asks for one map's frame (assets/wall_map.js builds the same); the soak and
    the benchmark ask it as a wall would."""
    box = ",".join(f"{v:.6f}" for v in (view.west, view.south, view.east, view.north, view.zoom))
    return f"{PREFIX}{map_id}?view={box}&lines={lines}&areas={areas}"


def _held(name: str) -> str:
    value = g.query.get(name) or ""
    return value if value.isalnum() else ""  # not one of ours: as if nothing were held


def etag(versions: Mapping[str, int], layers: Sequence[str], cut: View, lang: str) -> str:
    """What a frame depends on: the map versions of the domains it reads, its cut, its language."""
    domains = sorted({LAYER_BY_KEY[k].domain for k in layers}
                     | (set(versions) if "warnings" in layers else set()))
    return mapdata.digest(FORMAT, lang, ",".join(layers),
                          ",".join(f"{v:.6f}" for v in (cut.west, cut.south, cut.east, cut.north, cut.zoom)),
                          ",".join(f"{d}={versions.get(d)}" for d in domains))


def register(server: Flask, maps: Mapping[str, Sequence[str]], allowed: Iterable[str]) -> None:
    """Serve the frames of ``maps`` (map id -> its layers) to the roles ``allowed``."""
    maps = {map_id: tuple(layers) for map_id, layers in maps.items()}

    @require_roles(allowed)
    @inputs(query=QUERY)
    def frame(map_id: str) -> Response | tuple[Response, int]:
        layers = maps.get(map_id)
        if layers is None:
            return jsonify({"error": "no such map"}), 404
        view = parse_view(g.query["view"])
        if view is None:
            return jsonify({"error": "view must be west,south,east,north,zoom in degrees"}), 400
        cut = mapdata.cut_for(view)
        r = redis_client()
        try:
            versions = map_share.read_versions(r)
            tag = etag(versions, layers, cut, i18n.current_language())
            if request.headers.get("If-None-Match", "").strip('"') == tag:
                return _answer(Response(status=304), tag)
            content, _ = read_content(r, versions, layers, cut, False,
                                      mapdata.Thresholds.of(settings().kpis))
        except redis.RedisError:
            return jsonify({"error": "the data store is not answering"}), 503
        data = build(content, layers, _held("lines"), _held("areas")).encode()
        return _answer(Response(data, mimetype="application/octet-stream"), tag)

    server.add_url_rule(RULE, endpoint=ENDPOINT, view_func=frame, methods=["GET"])


def _answer(response: Response, tag: str) -> Response:
    response.headers["ETag"] = f'"{tag}"'
    response.headers["Cache-Control"] = "no-store"
    return response
