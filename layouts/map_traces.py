"""The live map's traces: which traces a map holds (one per layer and class, cells, lines and
areas), what each holds for the content of a view, and the patch that brings a browser's figure
up to date (layouts/livemap.py draws the figure and runs the ticks)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Sequence

import dash
import numpy as np

from app import i18n
from app.situation import mapdata
from app.situation.mapdata import LAYER_BY_KEY, LAYERS, SEVERITY_CLASSES

DESK, WALL = "desk", "wall"
ROUTE_COLOUR = {DESK: "#9AA9B8", WALL: "#4d6478"}
SEVERITY_SCALE = [[i / len(SEVERITY_CLASSES), c.colour] for n, c in enumerate(SEVERITY_CLASSES)
                  for i in (n, n + 1)]


# -- traces ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TraceSpec:
    """One trace of a map: which layer it draws and in which role (a class, cells, lines, areas)."""

    layer: str
    role: str
    code: int = 0


def trace_plan(layers: Sequence[str]) -> tuple[TraceSpec, ...]:
    """The traces of a map showing ``layers``, in drawing order (later traces on top)."""
    plan: list[TraceSpec] = []
    for layer in LAYERS:
        if layer.key not in layers:
            continue
        if layer.geometry == "lines":
            plan.append(TraceSpec(layer.key, "lines"))
        elif layer.geometry == "areas":
            plan.append(TraceSpec(layer.key, "areas"))
        else:
            plan.extend(TraceSpec(layer.key, "class", code) for code in range(len(layer.classes)))
            plan.extend(TraceSpec(layer.key, "cells", rank)
                        for rank in range(len(mapdata.RANK_COLOURS)))
    return tuple(plan)


def typed(values: np.ndarray, dtype: str = "f4") -> dict[str, str] | list[Any]:
    """A numeric array as a plotly.js typed-array spec (base64 of little-endian values)."""
    if values.size == 0:
        return []
    numpy_type = {"f4": "<f4", "u1": "u1"}[dtype]
    raw = np.ascontiguousarray(values, dtype=numpy_type).tobytes()
    return {"dtype": dtype, "bdata": base64.b64encode(raw).decode("ascii")}


def _base_trace(spec: TraceSpec, theme: str) -> dict[str, Any]:
    """The parts of a trace that never change."""
    layer = LAYER_BY_KEY[spec.layer]
    common = {"legendgroup": layer.key, "showlegend": False, "name": layer_title(layer)}
    if spec.role == "lines":
        return {**common, "type": "scattermap", "mode": "lines", "lat": [], "lon": [],
                "line": {"width": 2, "color": ROUTE_COLOUR[theme]}, "hoverinfo": "skip"}
    if spec.role == "areas":
        return {**common, "type": "choroplethmap", "geojson": _collection(()), "locations": [],
                "z": [], "featureidkey": "id", "zmin": 0, "zmax": len(SEVERITY_CLASSES),
                "colorscale": SEVERITY_SCALE, "showscale": False,
                "marker": {"opacity": 0.28, "line": {"width": 2, "color": "#D55E00"}},
                "hovertemplate": "%{hovertext}<extra></extra>", "customdata": [], "hovertext": []}
    trace = {**common, "type": "scattermap", "mode": "markers", "lat": [], "lon": [],
             "customdata": [], "hovertext": [], "hovertemplate": "%{hovertext}<extra></extra>"}
    if spec.role == "cells":
        trace["name"] = grouped_name(layer, spec.code)
        trace["marker"] = {"size": [], "color": mapdata.RANK_COLOURS[spec.code], "opacity": 0.7}
        # The count travels as a typed array; the words are the same for every cell.
        trace["hovertemplate"] = i18n.t("map.hover.cell", count="%{customdata:,}",
                                        layer=layer_title(layer)) + "<extra>%{fullData.name}</extra>"
        return trace
    marker_class = layer.classes[spec.code]
    trace["marker"] = {"size": marker_class.size, "color": marker_class.colour,
                       "opacity": layer.opacity}
    # The class is in the trace's name: the hover box shows it beside the entity's own text.
    trace["hovertemplate"] = "%{hovertext}<extra>%{fullData.name}</extra>"
    return trace


def _collection(warnings: Sequence[mapdata.Warning]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": w.id, "properties": {}, "geometry": w.geometry}
        for w in warnings]}


@dataclass(frozen=True)
class Content:
    """What the server would draw now: each point layer's cut, the routes and the warning areas."""

    cuts: dict[str, mapdata.LayerCut]
    lines: mapdata.Lines | None
    warnings: tuple[mapdata.Warning, ...]


def class_name(layer: mapdata.Layer, code: int, total: int) -> str:
    """A class's line in the legend: the layer, what the class means, how many (issue 19)."""
    return f"{layer_title(layer)}: {class_label(layer, code)} ({total})"


def grouped_name(layer: mapdata.Layer, rank: int) -> str:
    """The legend's line for a layer's grouped cells whose worst member has ``rank``."""
    return i18n.t("map.hover.grouped", layer=layer_title(layer), worst=_worst_label(layer, rank))


def cell_sizes(count: np.ndarray) -> np.ndarray:
    """A grouped cell's marker size (px) from its count: larger for more, within 10-44 px."""
    return np.clip(10 + 5 * np.log2(np.maximum(count, 1)), 10, 44).astype(np.float32)


def layer_title(layer: mapdata.Layer) -> str:
    """A layer's name in the reader's language."""
    return i18n.t_or(f"map.layer.{layer.key}", layer.title)


def _worst_label(layer: mapdata.Layer, rank: int) -> str:
    """What a cell of ``rank`` says about its worst member, in the reader's language."""
    code = next((n for n in reversed(range(len(layer.classes))) if layer.classes[n].rank == rank),
                None)
    return class_label(layer, code) if code is not None else i18n.t(f"map.rank.{rank}")


def class_label(layer: mapdata.Layer, code: int) -> str:
    """What a marker class means, in the reader's language (issue 19: say what it means)."""
    marker = layer.classes[code]
    return i18n.t_or(f"map.class.{layer.key}.{marker.key}", marker.label)


def trace_updates(spec: TraceSpec, content: Content, seen: Sequence[str] | None
                  ) -> tuple[dict[tuple[str, ...], Any], list[str]]:
    """The property paths of one trace that differ from what the browser has (``seen``
    fingerprints), and the trace's new fingerprints: [members, positions, name]."""
    seen = list(seen or ("", "", ""))
    layer = LAYER_BY_KEY[spec.layer]
    updates: dict[tuple[str, ...], Any] = {}
    if spec.role == "lines":
        lines = content.lines
        members = lines.signature if lines else ""
        if members != seen[0]:
            updates[("lat",)] = lines.lat if lines else []
            updates[("lon",)] = lines.lon if lines else []
        return updates, [members, "", ""]
    if spec.role == "areas":
        warnings = content.warnings
        # A handful of areas: their labels are worded here (each once per language: cached).
        lang = i18n.current_language()
        hover = [mapdata.localize(w.hover, lang) for w in warnings]
        members = mapdata.digest([w.id for w in warnings], hover,
                                 [str(w.severity) for w in warnings])
        name = f"{layer_title(layer)} ({len(warnings)})"
        if members != seen[0]:
            updates[("geojson",)] = _collection(warnings)
            updates[("locations",)] = [w.id for w in warnings]
            updates[("customdata",)] = [w.id for w in warnings]
            # z in the middle of its colour band: the severity's own colour, whatever the rounding.
            updates[("z",)] = [w.severity + 0.5 for w in warnings]
            updates[("hovertext",)] = hover
        if name != seen[2]:
            updates[("name",)] = name
            updates[("showlegend",)] = bool(warnings)
        return updates, [members, "", name]
    cut = content.cuts.get(spec.layer)
    if cut is None:
        return updates, list(seen)
    if spec.role == "cells":
        group = cut.cells[spec.code] if cut.cells else None
        empty = np.zeros(0, dtype=np.float32)
        positions = group.positions if group else mapdata.digest()
        counts = group.counts if group else mapdata.digest()
        shown = "shown" if group is not None and group.count.size else ""
        if positions != seen[0]:
            updates[("lat",)] = typed(group.lat if group else empty)
            updates[("lon",)] = typed(group.lon if group else empty)
        if counts != seen[1]:
            count = group.count if group else empty
            updates[("marker", "size")] = typed(cell_sizes(count))
            updates[("customdata",)] = typed(count)
        if shown != seen[2]:
            updates[("showlegend",)] = bool(shown)
        return updates, [positions, counts, shown]
    part = cut.classes[spec.code]
    name = class_name(layer, spec.code, part.total)
    if part.members != seen[0]:
        updates[("customdata",)] = part.ids
        updates[("hovertext",)] = part.hover
    if part.positions != seen[1]:
        updates[("lat",)] = typed(part.lat)
        updates[("lon",)] = typed(part.lon)
    if name != seen[2]:
        updates[("name",)] = name
        updates[("showlegend",)] = part.total > 0
    return updates, [part.members, part.positions, name]


def occupied(spec: TraceSpec, content: Content) -> bool | None:
    """Whether a trace has anything to draw (None: its layer was not read this time). An empty
    trace is made invisible: plotly then keeps no map layers for it, and a map holds 67 traces
    of which a city uses a handful; every one kept cost the browser on every redraw."""
    if spec.role == "lines":
        return bool(content.lines and content.lines.lat)
    if spec.role == "areas":
        return bool(content.warnings)
    cut = content.cuts.get(spec.layer)
    if cut is None:
        return None
    if spec.role == "cells":
        group = cut.cells[spec.code] if cut.cells else None
        return group is not None and group.count.size > 0
    return cut.classes[spec.code].total > 0


def full_trace(spec: TraceSpec, index: int, content: Content, enabled: Sequence[str],
               theme: str) -> tuple[dict[str, Any], list[str]]:
    """One trace of the plan with all its content, and its fingerprints (its uid: its place in
    the plan)."""
    trace = _base_trace(spec, theme)
    updates, prints = trace_updates(spec, content, None)
    for path, value in updates.items():
        target = trace
        for key in path[:-1]:
            target = target.setdefault(key, {})
        target[path[-1]] = value
    trace["visible"] = spec.layer in enabled and bool(occupied(spec, content))
    trace["uid"] = str(index)
    return trace, prints


def patch_traces(plan: Sequence[TraceSpec], content: Content, enabled: Sequence[str],
                 was_enabled: set[str], prints: list[Any], shown: list[bool]) -> tuple[dash.Patch, bool]:
    """What changed, trace by trace (``prints`` and ``shown`` are brought up to date)."""
    patch = dash.Patch()
    changed = False
    for index, spec in enumerate(plan):
        on = spec.layer in enabled
        toggled_on = on and spec.layer not in was_enabled
        if not on and spec.layer in was_enabled:
            patch["data"][index]["visible"] = shown[index] = False
            changed = True
        if toggled_on:
            prints[index] = ["", "", ""]  # hidden layers were not kept current
        if not on:
            continue
        updates, prints[index] = trace_updates(spec, content, prints[index])
        has = occupied(spec, content)
        visible = shown[index] if has is None else has
        if visible != shown[index] or toggled_on:
            patch["data"][index]["visible"] = shown[index] = visible
            changed = True
        changed = _assign(patch["data"][index], updates) or changed
    return patch, changed


def _assign(trace: Any, updates: dict[tuple[str, ...], Any]) -> bool:
    """Put each update at its property path in one trace of a patch; whether there was any."""
    for path, value in updates.items():
        target = trace
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return bool(updates)
