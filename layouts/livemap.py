"""The desk's live map: one component with every domain as layers on an offline basemap (the wall's
maps, drawn by the browser outside Dash, are layouts/wall_map.py; they share this basemap).

- Offline: style ``white-bg`` (a plain dark style on the wall) under the city's own GeoJSON layers
  from assets/basemap/; a raster tile layer only when ``map.tile_url`` is configured. No text
  labels (they fetch glyphs); names go in hover text (escaped in app/mapdata.py) and the panel.
- Live at scale: every second the callback reads the version counters; nothing moved -> no
  update; otherwise a ``dash.Patch`` of only the traces whose content changed, coordinates as
  float32 typed arrays (``{"dtype": "f4", "bdata": ...}``, which plotly.js decodes). Ids and hover
  texts travel only when a trace's members change; the browser's state store keeps fingerprints.
- ``uirevision`` keeps the user's zoom and pan; the relayoutData of a pan or zoom asks for the
  markers of the new view, grouped into cells beyond ``mapdata.MAX_MARKERS``.
- Click a marker: the side panel shows its details, latest readings and open alerts (as text
  nodes: React escapes them).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

import dash
import redis
from dash import Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from app import i18n
from app.model import roles
from app.model.domains import DOMAINS
from app.situation import mapdata
from app.situation.mapdata import LAYER_BY_KEY, LAYERS, View
from app.situation.mapdata import share as map_share
from app.web.context import redis_client, require_roles, settings
from layouts import ids, map_fields, pulse
from layouts.components import format_time, graph_config
from layouts.map_traces import (  # noqa: F401 (re-exported: the map's one public face)
    DESK,
    WALL,
    Content,
    TraceSpec,
    class_label,
    full_trace,
    layer_title,
    occupied,
    patch_traces,
    trace_plan,
    trace_updates,
    typed,
)

ALL_LAYERS: tuple[str, ...] = tuple(layer.key for layer in LAYERS)
PROBLEMS = "problems"
# On a dark wall the map is dark too: a style with one background layer and nothing to fetch.
# maplibre refuses a restyle (plotly restyles when the legend changes) of a style without
# "glyphs" once text layers exist (we never draw text, so the local URL is never fetched), or
# without "sources", which an empty {} does not survive on its way through the figure.
WALL_STYLE: dict[str, Any] = {"version": 8, "name": "cityops-wall",
                              "sources": {"none": {"type": "geojson", "data": {
                                  "type": "FeatureCollection", "features": []}}},
                              "glyphs": "/assets/glyphs/{fontstack}/{range}.pbf",
                              "layers": [{"id": "background", "type": "background",
                                          "paint": {"background-color": "#0b121a"}}]}
BASEMAP_COLOURS: dict[str, dict[str, str]] = {
    DESK: {"district": "#f3f5f8", "outline": "#c3ccd6", "road": "#d5dbe2", "river": "#56B4E9"},
    WALL: {"district": "#141f2b", "outline": "#2d3d4f", "road": "#2a3846", "river": "#2f6f99"},
}
# The desk's legend sits on the map's corner (its layer switches are beside it). The wall's goes
# under the map, in rows: nobody can move a legend on a wall, and one laid over the map hides the
# markers beneath it (plotly pushes the map's bottom margin up to make room).
DESK_LEGEND = {"x": 0.005, "y": 0.995, "xanchor": "left", "yanchor": "top",
               "bgcolor": "rgba(255,255,255,0.85)", "itemsizing": "constant", "groupclick": "toggleitem"}
WALL_LEGEND = {"orientation": "h", "x": 0, "y": 0, "xanchor": "left", "yanchor": "top",
               "bgcolor": "rgba(0,0,0,0)", "itemsizing": "constant", "groupclick": "toggleitem"}


# -- reading the store -------------------------------------------------------------------------------
def _limits() -> mapdata.Thresholds:
    return mapdata.Thresholds.of(settings().kpis)


def read_content(r: redis.Redis, versions: Mapping[str, int], layers: Sequence[str], cut: View,
                 problems_only: bool, limits: mapdata.Thresholds) -> tuple[Content, dict[str, int]]:
    """Snapshots of the domains ``layers`` need (cached per version) cut to ``cut``."""
    domains = {LAYER_BY_KEY[key].domain for key in layers}
    if "warnings" in layers:
        domains |= set(DOMAINS)  # a CAP warning may belong to any domain
    snapshots = {d: map_share.domain_snapshot(r, d, versions[d], limits) for d in sorted(domains)}
    cuts = mapdata.cut_layers(snapshots, layers, cut, problems_only, mapdata.MAX_MARKERS)
    lines = snapshots["transport"].lines if "routes" in layers else None
    warnings: tuple[mapdata.Warning, ...] = ()
    if "warnings" in layers:
        warnings = tuple(w for d in DOMAINS for w in snapshots[d].warnings)
    return Content(cuts, lines, warnings), {d: s.version for d, s in snapshots.items()}


def _view_list(view: View) -> list[float]:
    return [view.west, view.south, view.east, view.north, view.zoom]


def _view_of(values: Any) -> View | None:
    if isinstance(values, list) and len(values) == 5:
        try:
            return View(*(float(v) for v in values))
        except (TypeError, ValueError):
            return None
    return None


# -- the figure ------------------------------------------------------------------------------------
def basemap_layers(asset_url: Callable[[str], str], theme: str = DESK,
                   tile_url: str | None = None) -> list[dict[str, Any]]:
    """The offline basemap (districts, roads, river) under the traces; tiles first when configured."""
    colours = BASEMAP_COLOURS[theme]
    layers: list[dict[str, Any]] = []
    if tile_url:
        layers.append({"sourcetype": "raster", "source": [tile_url], "below": "traces",
                       "opacity": 0.85 if theme == WALL else 1.0})
    districts = asset_url("basemap/districts.geojson")
    layers += [
        {"sourcetype": "geojson", "source": districts, "type": "fill", "below": "traces",
         "color": colours["district"], "opacity": 0.0 if tile_url else 1.0},
        {"sourcetype": "geojson", "source": districts, "type": "line", "below": "traces",
         "color": colours["outline"], "line": {"width": 1.5, "dash": [3, 2]}},
        {"sourcetype": "geojson", "source": asset_url("basemap/roads.geojson"), "type": "line",
         "below": "traces", "color": colours["road"], "line": {"width": 2}},
        {"sourcetype": "geojson", "source": asset_url("basemap/river.geojson"), "type": "line",
         "below": "traces", "color": colours["river"], "line": {"width": 7}},
    ]
    return layers


def figure(plan: Sequence[TraceSpec], content: Content, enabled: Sequence[str], *,
           theme: str = DESK, asset_url: Callable[[str], str] = lambda path: f"/assets/{path}",
           tile_url: str | None = None, center: tuple[float, float] = mapdata.DEFAULT_CENTER,
           zoom: float = mapdata.DEFAULT_ZOOM, uirevision: str = "live-map"
           ) -> tuple[dict[str, Any], list[list[str]], list[bool]]:
    """The whole figure (as a plain dict: no go.Figure validation), its traces' fingerprints and
    which traces are visible."""
    data = []
    fingerprints = []
    shown = []
    for index, spec in enumerate(plan):
        trace, prints = full_trace(spec, index, content, enabled, theme)
        data.append(trace)
        fingerprints.append(prints)
        shown.append(trace["visible"])
    ink = "#F4F7FA" if theme == WALL else "#14202B"
    layout = {
        "map": {"style": WALL_STYLE if theme == WALL else "white-bg",
                "center": {"lat": center[0], "lon": center[1]}, "zoom": zoom,
                "layers": basemap_layers(asset_url, theme, tile_url)},
        "uirevision": uirevision, "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
        "paper_bgcolor": "rgba(0,0,0,0)", "font": {"color": ink, "size": 18 if theme == WALL else 12},
        "legend": WALL_LEGEND if theme == WALL else DESK_LEGEND,
        "clickmode": "event", "hovermode": "closest",
    }
    return {"data": data, "layout": layout}, fingerprints, shown


def _initial(map_id: str, layers: Sequence[str], zoom: float = mapdata.DEFAULT_ZOOM
             ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The figure a page opens with, and the state store that says what it holds."""
    view = mapdata.view_around(*mapdata.DEFAULT_CENTER, zoom)
    cut = mapdata.cut_for(view)
    plan = trace_plan(layers)
    try:
        r = redis_client()
        versions = map_share.read_versions(r)
        content, drawn = read_content(r, versions, layers, cut, False, _limits())
    except redis.RedisError:
        # The page still opens (the shell says the data link is lost); the first tick fills it.
        content, drawn = Content({}, None, ()), {}
    fig, prints, shown = figure(plan, content, layers, asset_url=dash.get_asset_url,
                                tile_url=settings().map.tile_url, zoom=zoom, uirevision=map_id)
    state = {"versions": drawn, "view": _view_list(view), "cut": _view_list(cut),
             "layers": list(layers), "problems": False, "prints": prints, "shown": shown}
    return fig, state


def live_map(map_id: str, layers: Sequence[str] = ALL_LAYERS,
             zoom: float = mapdata.DEFAULT_ZOOM) -> html.Div:
    """The desk's map component: the graph and its state, layer toggles, a problems-only filter
    and the side panel that a click fills (the wall's maps: layouts/wall_map.py)."""
    fig, state = _initial(map_id, layers, zoom)
    graph = dcc.Graph(id=map_id, figure=fig, className="live-map", responsive=True,
                      config=graph_config(scrollZoom=True, modeBarButtonsToRemove=["toImage"]))
    parts: list[Any] = [dcc.Store(id=ids.map_part(map_id, ids.MAP_STATE), data=state),
                        *pulse.stores(map_id, watch=map_id)]
    toolbar = html.Div(className="map-toolbar", children=[
        dcc.Checklist(id=ids.map_part(map_id, ids.MAP_LAYERS), value=list(layers), inline=True,
                      options=[{"label": layer_title(LAYER_BY_KEY[key]), "value": key} for key in layers],
                      className="map-layers", inputClassName="map-check"),
        dcc.Checklist(id=ids.map_part(map_id, ids.MAP_FILTER), value=[], inline=True,
                      options=[{"label": i18n.t("map.only_problems"), "value": PROBLEMS}],
                      className="map-filter", inputClassName="map-check"),
    ])
    panel = html.Aside(id=ids.map_part(map_id, ids.MAP_PANEL), className="map-panel",
                       children=_panel_hint(), **{"aria-live": "polite"})
    return html.Div(className=f"live-map-wrap map-{DESK}", children=[
        toolbar, html.Div([graph, panel], className="map-body"), *parts])


# -- callbacks -------------------------------------------------------------------------------------
def refresh(layers: Sequence[str], relayout: Any, enabled_values: Any, filter_values: Any,
            state: Any) -> tuple[Any, Any]:
    """One tick of a map: ``PreventUpdate`` when nothing it shows changed, else a Patch."""
    if not isinstance(state, dict):
        raise PreventUpdate
    enabled = [k for k in layers if enabled_values is None or k in enabled_values]
    problems = isinstance(filter_values, list) and PROBLEMS in filter_values
    view = mapdata.view_from_relayout(relayout) or _view_of(state.get("view"))
    if view is None:
        raise PreventUpdate
    old_cut = _view_of(state.get("cut"))
    r = redis_client()
    try:
        versions = map_share.read_versions(r)
    except redis.RedisError:
        raise PreventUpdate from None  # the shell says the data link is lost; the map waits
    drawn = state.get("versions") or {}
    domains = {LAYER_BY_KEY[k].domain for k in enabled}
    if "warnings" in enabled:
        domains |= set(DOMAINS)
    moved = any(versions.get(d) != drawn.get(d) for d in domains)
    new_cut = mapdata.needs_new_cut(view, old_cut)
    toggled = enabled != state.get("layers") or problems != state.get("problems")
    if not (moved or new_cut or toggled):
        raise PreventUpdate
    cut = mapdata.cut_for(view) if new_cut or old_cut is None else old_cut
    try:
        content, now_drawn = read_content(r, versions, enabled, cut, problems, _limits())
    except redis.RedisError:
        raise PreventUpdate from None
    plan = trace_plan(layers)
    prints = list(state.get("prints") or [])
    prints += [["", "", ""]] * (len(plan) - len(prints))
    # Which traces the browser shows (a state from before this was kept shows them all).
    shown = [bool(v) for v in state.get("shown") or []]
    shown += [True] * (len(plan) - len(shown))
    patch, changed = patch_traces(plan, content, enabled, set(state.get("layers") or []), prints,
                                  shown)
    new_state = {"versions": {**drawn, **now_drawn}, "view": _view_list(view),
                 "cut": _view_list(cut), "layers": enabled, "problems": problems, "prints": prints,
                 "shown": shown}
    return (patch if changed else dash.no_update), new_state


def _panel_hint() -> list[Any]:
    return [html.P(i18n.t("map.panel_hint"), className="muted")]


def panel(details: mapdata.Details | None) -> list[Any]:
    """The side panel's content for a clicked thing (every string a text node: React escapes it)."""
    if details is None:
        return [html.P(i18n.t("map.gone"), className="muted")]
    layer = LAYER_BY_KEY[details.layer]
    record = details.record
    if details.counts:
        # The counts come in the layer's class order: each is named in the reader's language.
        return [html.H3(i18n.t("map.cell_count", count=i18n.format_number(record.get("count", 0)),
                               noun=i18n.t(f"map.noun.{layer.key}")), className="panel-title"),
                html.Ul([html.Li(f"{class_label(layer, code)}: {i18n.format_number(count)}")
                         for code, (_, count) in enumerate(details.counts) if count],
                        className="map-counts"),
                html.P(i18n.t("map.zoom_in"), className="muted")]
    attrs = record.get("attrs") or {}
    title = (record.get("title") or attrs.get("name") or attrs.get("label")
             or attrs.get("service_name") or mapdata.short_id(details.id))
    out: list[Any] = [html.H3(str(title), className="panel-title"),
                      html.P(layer_title(layer), className="panel-layer muted"), *map_fields.fields(record)]
    if details.readings:
        out += [html.H4(i18n.t("map.latest_readings")), html.Table(className="table map-readings", children=[
            html.Tbody([html.Tr([html.Td(map_fields.metric_name(metric)),
                                 html.Td(f"{value:,.2f} {unit}".strip()),
                                 html.Td(format_time(at) if at else "—")])
                        for metric, value, unit, at in details.readings])])]
    if layer.domain != mapdata.ALERTS and layer.geometry == "points":
        out.append(html.H4(i18n.t("map.open_alerts")))
        out.append(html.Ul([html.Li(f"{i18n.label('severity', str(a.get('severity', '')))}: "
                                    f"{a.get('title', '')} "
                                    f"({i18n.label('alert_state', str(a.get('state', '')))})",
                                    className=f"alert-{a.get('severity', 'info')}")
                            for a in details.alerts], className="map-alerts")
                   if details.alerts else html.P(i18n.t("map.no_open_alerts"), className="muted"))
    return out


def show_details(layers: Sequence[str], click: Any, state: Any) -> list[Any]:
    """Fill the side panel for the clicked marker, grouped cell or warning area."""
    plan = trace_plan(layers)
    try:
        point = click["points"][0]
        curve = int(point["curveNumber"])
        if not 0 <= curve < len(plan):
            raise PreventUpdate
        spec = plan[curve]
        item = str(point.get("customdata") if point.get("customdata") is not None
                   else point.get("location"))
        lat, lon = float(point.get("lat", "nan")), float(point.get("lon", "nan"))
    except (KeyError, IndexError, TypeError, ValueError):
        raise PreventUpdate from None
    try:
        return _details_panel(spec, item, lat, lon, state)
    except redis.RedisError:
        return [html.P(i18n.t("map.details_link_lost"), className="muted")]


def _details_panel(spec: TraceSpec, item: str, lat: float, lon: float, state: Any) -> list[Any]:
    r = redis_client()
    if spec.role == "cells":
        # The cell is found again from its centre and the grid of the cut the browser shows.
        cut = _view_of(state.get("cut")) if isinstance(state, dict) else None
        if cut is None or not (math.isfinite(lat) and math.isfinite(lon)):
            raise PreventUpdate
        return panel(mapdata.cell_details(r, spec.layer, lat, lon, cut, _limits()))
    if spec.role == "lines":
        raise PreventUpdate
    return panel(mapdata.entity_details(r, spec.layer, item, _limits()))


def register_map(app: dash.Dash, map_id: str, path: str, layers: Sequence[str] = ALL_LAYERS) -> None:
    """Register a desk map's callbacks; they answer only roles that may open ``path``."""
    allowed = roles.PAGE_BY_PATH[path].roles
    layers = tuple(layers)
    state_id = ids.map_part(map_id, ids.MAP_STATE)
    trigger, running = pulse.gate(app, map_id)

    @require_roles(allowed)
    def tick(_n: Any, relayout: Any, enabled: Any, wanted: Any, state: Any) -> tuple[Any, Any]:
        return refresh(layers, relayout, enabled, wanted, state)

    tick.__name__ = f"refresh_{map_id.replace('-', '_')}"
    app.callback(Output(map_id, "figure"), Output(state_id, "data"), trigger,
                 Input(map_id, "relayoutData"), Input(ids.map_part(map_id, ids.MAP_LAYERS), "value"),
                 Input(ids.map_part(map_id, ids.MAP_FILTER), "value"), State(state_id, "data"),
                 running=running, prevent_initial_call=True)(tick)

    @require_roles(allowed)
    def details(click: Any, state: Any) -> list[Any]:
        return show_details(layers, click, state)

    details.__name__ = f"details_{map_id.replace('-', '_')}"
    app.callback(Output(ids.map_part(map_id, ids.MAP_PANEL), "children"),
                 Input(map_id, "clickData"), State(state_id, "data"),
                 prevent_initial_call=True)(details)
