"""Cutting snapshots to what a view shows: the view's box, its markers, and beyond MAX_MARKERS
server-side grid cells with counts and the worst class, until the user zooms in."""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from app import i18n
from app.situation.mapdata.layers import LAYER_BY_KEY, MAX_MARKERS, RANK_LABELS, WARN, Layer
from app.situation.mapdata.snapshots import DomainSnapshot, PointSet

CELL_PX = 48  # edge of a grid cell on screen
TILE_PX = 512  # maplibre's world is 512 px wide at zoom 0
DEFAULT_CENTER = (28.55, 112.36)  # Yiyang (lat, lon)
DEFAULT_ZOOM = 11.5
# The screen a view is assumed to fill before the browser has told us its real corners.
ASSUMED_SCREEN_PX = (1920, 1080)


# -- views ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class View:
    """What the map shows: a WGS84 box and a zoom level."""

    west: float
    south: float
    east: float
    north: float
    zoom: float

    def inside(self, other: View) -> bool:
        """True when this view lies within ``other``'s box."""
        return (self.west >= other.west and self.east <= other.east
                and self.south >= other.south and self.north <= other.north)


def degrees_per_px(zoom: float) -> float:
    """Longitude degrees one screen pixel spans at ``zoom``."""
    return 360.0 / (TILE_PX * 2.0 ** zoom)


def view_around(lat: float, lon: float, zoom: float,
                screen_px: tuple[int, int] = ASSUMED_SCREEN_PX) -> View:
    """The box a screen of ``screen_px`` shows around a centre (Mercator, near enough)."""
    half_lon = degrees_per_px(zoom) * screen_px[0] / 2
    half_lat = degrees_per_px(zoom) * math.cos(math.radians(lat)) * screen_px[1] / 2
    return View(max(lon - half_lon, -180.0), max(lat - half_lat, -85.0),
                min(lon + half_lon, 180.0), min(lat + half_lat, 85.0), zoom)


def view_from_relayout(data: Any) -> View | None:
    """The view a map's relayoutData reports (its corners when given), or None if it says none."""
    if not isinstance(data, Mapping):
        return None
    zoom = data.get("map.zoom")
    center = data.get("map.center")
    derived = data.get("map._derived")
    corners = derived.get("coordinates") if isinstance(derived, Mapping) else None
    try:
        if isinstance(zoom, (int, float)) and isinstance(corners, list) and len(corners) >= 4:
            lons = [float(c[0]) for c in corners]
            lats = [float(c[1]) for c in corners]
            return View(min(lons), min(lats), max(lons), max(lats), float(zoom))
        if isinstance(zoom, (int, float)) and isinstance(center, Mapping):
            return view_around(float(center["lat"]), float(center["lon"]), float(zoom))
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    return None


def cut_for(view: View) -> View:
    """The box markers are sent for: the view with a margin, snapped to a grid so that small
    pans stay inside it and sessions looking at the same area share one cached cut."""
    step = degrees_per_px(math.floor(view.zoom)) * TILE_PX / 2
    width, height = view.east - view.west, view.north - view.south
    return View(math.floor((view.west - width / 2) / step) * step,
                math.floor((view.south - height / 2) / step) * step,
                math.ceil((view.east + width / 2) / step) * step,
                math.ceil((view.north + height / 2) / step) * step, float(math.floor(view.zoom)))


def needs_new_cut(view: View, cut: View | None) -> bool:
    """True when the user moved out of the cut's box or to another whole zoom level."""
    return cut is None or math.floor(view.zoom) != cut.zoom or not view.inside(cut)


# -- cutting and grouping ---------------------------------------------------------------------------
def digest(*parts: bytes | str | Sequence[str]) -> str:
    """A short, process-independent fingerprint (Python's own hash differs between workers)."""
    h = hashlib.blake2b(digest_size=8)
    for part in parts:
        if isinstance(part, str):
            part = part.encode()
        elif not isinstance(part, bytes):
            part = "\0".join(part).encode()
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()


@dataclass(frozen=True)
class ClassCut:
    """The markers of one class inside a cut, with fingerprints of what a browser already has."""

    lat: np.ndarray  # float32
    lon: np.ndarray  # float32
    ids: list[str]
    hover: list[str]
    total: int  # markers of this class in the whole layer (the legend's count)
    members: str = ""  # fingerprint of ids and hover texts: they travel only when it changes
    positions: str = ""  # fingerprint of the coordinates

    @classmethod
    def of(cls, lat: np.ndarray, lon: np.ndarray, ids: list[str], hover: list[str],
           total: int) -> ClassCut:
        """A class cut with its fingerprints."""
        return cls(lat, lon, ids, hover, total, digest(ids, hover),
                   digest(lat.tobytes(), lon.tobytes()))


@dataclass(frozen=True)
class CellGroup:
    """The grid cells of a grouped layer whose worst member has one rank (one trace, one colour).

    Cells sit at their grid square's centre, so their positions change only when cells appear or
    empty, not every time a vehicle moves inside one: most ticks only the counts travel.
    """

    lat: np.ndarray  # float32
    lon: np.ndarray  # float32
    count: np.ndarray  # float32 (whole numbers): a typed array plotly.js reads as is
    positions: str  # fingerprint of lat and lon
    counts: str  # fingerprint of count

    @classmethod
    def of(cls, lat: np.ndarray, lon: np.ndarray, count: np.ndarray) -> CellGroup:
        """A group with its fingerprints."""
        lat, lon = lat.astype(np.float32), lon.astype(np.float32)
        count = count.astype(np.float32)
        return cls(lat, lon, count, digest(lat.tobytes(), lon.tobytes()), digest(count.tobytes()))


@dataclass(frozen=True)
class LayerCut:
    """A layer's content for one cut: one ClassCut per class, or grid cells."""

    layer: str
    grouped: bool
    classes: tuple[ClassCut, ...]
    cells: tuple[CellGroup, ...] | None  # one group per rank when grouped


def _in_box(points: PointSet, box: View) -> np.ndarray:
    return ((points.lat >= box.south) & (points.lat <= box.north)
            & (points.lon >= box.west) & (points.lon <= box.east))


def _wanted(layer: Layer, points: PointSet, problems_only: bool) -> np.ndarray:
    """Which rows pass the filters (problems only: classes ranked warning or worse)."""
    if not problems_only:
        return np.ones(len(points.ids), dtype=bool)
    return layer.ranks[points.cls] >= WARN


def cell_size(cut: View) -> tuple[float, float]:
    """(longitude, latitude) degrees of a grid cell in ``cut``: square on screen near its middle
    (Mercator stretches latitude by 1/cos(lat)), the same for every session with that cut."""
    size_lon = degrees_per_px(cut.zoom) * CELL_PX
    return size_lon, size_lon * math.cos(math.radians((cut.south + cut.north) / 2))


def group_cells(layer: Layer, points: PointSet, rows: np.ndarray, cut: View) -> tuple[CellGroup, ...]:
    """Group a layer's ``rows`` into grid cells: per worst rank (ok, unknown, warning, bad), the
    cells' centres and how many markers each holds."""
    size_lon, size_lat = cell_size(cut)
    ix = np.floor(points.lon[rows] / size_lon).astype(np.int64)
    iy = np.floor(points.lat[rows] / size_lat).astype(np.int64)
    keys = (ix << 32) + (iy & 0xFFFFFFFF)
    unique, inverse = np.unique(keys, return_inverse=True)
    count = np.bincount(inverse, minlength=unique.size)
    worst = np.zeros(unique.size, dtype=np.uint8)
    np.maximum.at(worst, inverse, layer.ranks[points.cls[rows]])
    cell_ix = unique >> 32
    cell_iy = ((unique & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000  # back to a signed row number
    centre_lon = (cell_ix + 0.5) * size_lon
    centre_lat = (cell_iy + 0.5) * size_lat
    return tuple(CellGroup.of(centre_lat[worst == rank], centre_lon[worst == rank],
                              count[worst == rank]) for rank in range(len(RANK_LABELS)))


def cell_members(points: PointSet, lat: float, lon: float, cut: View) -> np.ndarray:
    """Rows of ``points`` in the grid cell of ``cut`` that holds (lat, lon)."""
    size_lon, size_lat = cell_size(cut)
    ix, iy = math.floor(lon / size_lon), math.floor(lat / size_lat)
    # The same floor division as group_cells, so a point on an edge belongs to one cell only.
    inside = ((np.floor(points.lon / size_lon) == ix) & (np.floor(points.lat / size_lat) == iy))
    return np.flatnonzero(inside)


def worst_label(layer: Layer, rank: int) -> str:
    """What a cell of ``rank`` says about its worst member, in the layer's own words."""
    return next((c.label for c in reversed(layer.classes) if c.rank == rank), RANK_LABELS[rank])


def _class_cuts(layer: Layer, points: PointSet, rows: np.ndarray, wanted: np.ndarray, lang: str
                ) -> tuple[ClassCut, ...]:
    totals = np.bincount(points.cls[wanted], minlength=len(layer.classes))
    cuts = []
    codes = points.cls[rows]
    for code in range(len(layer.classes)):
        picked = rows[codes == code]
        cuts.append(ClassCut.of(points.lat[picked].astype(np.float32),
                                points.lon[picked].astype(np.float32),
                                points.ids[picked].tolist(), points.hover_of(picked, lang),
                                int(totals[code])))
    return tuple(cuts)


_CUT_CACHE_SIZE = 64
_cut_cache: OrderedDict[tuple[Any, ...], LayerCut] = OrderedDict()
_cut_lock = threading.Lock()


def _cached_cut(key: tuple[Any, ...], make: Callable[[], LayerCut]) -> LayerCut:
    with _cut_lock:
        found = _cut_cache.get(key)
        if found is not None:
            _cut_cache.move_to_end(key)
            return found
    made = make()
    with _cut_lock:
        _cut_cache[key] = made
        while len(_cut_cache) > _CUT_CACHE_SIZE:
            _cut_cache.popitem(last=False)
    return made


def cut_layers(snapshots: Mapping[str, DomainSnapshot], layers: Sequence[str], cut: View,
               problems_only: bool = False, max_markers: int = MAX_MARKERS,
               lang: str | None = None) -> dict[str, LayerCut]:
    """Each point layer's content inside ``cut``, its hover labels in ``lang`` (the reader's
    language when None); the largest layers are grouped into cells until at most
    ``max_markers`` markers remain drawn one by one."""
    lang = lang or i18n.current_language()
    sources: dict[str, tuple[Layer, PointSet, np.ndarray, np.ndarray, int]] = {}  # (..., serial)
    for key in layers:
        layer = LAYER_BY_KEY[key]
        snapshot = snapshots.get(layer.domain)
        if layer.geometry != "points" or snapshot is None or key not in snapshot.points:
            continue
        points = snapshot.points[key]
        wanted = _wanted(layer, points, problems_only)
        rows = np.flatnonzero(wanted & _in_box(points, cut))
        sources[key] = (layer, points, wanted, rows, snapshot.serial)
    grouped: set[str] = set()
    drawn = sum(source[3].size for source in sources.values())
    for key in sorted(sources, key=lambda k: -sources[k][3].size):
        if drawn <= max_markers:
            break
        grouped.add(key)
        drawn -= sources[key][3].size
    out: dict[str, LayerCut] = {}
    for key, (layer, points, wanted, rows, serial) in sources.items():
        is_grouped = key in grouped

        def make(layer: Layer = layer, points: PointSet = points, wanted: np.ndarray = wanted,
                 rows: np.ndarray = rows, is_grouped: bool = is_grouped) -> LayerCut:
            if is_grouped:
                totals = np.bincount(points.cls[wanted], minlength=len(layer.classes))
                empty = np.zeros(0, dtype=np.float32)
                classes = tuple(ClassCut.of(empty, empty, [], [], int(n)) for n in totals)
                return LayerCut(layer.key, True, classes, group_cells(layer, points, rows, cut))
            return LayerCut(layer.key, False, _class_cuts(layer, points, rows, wanted, lang), None)

        # Grouped cells carry no labels: one cut serves every language.
        worded = "" if is_grouped else lang
        out[key] = _cached_cut((key, serial, cut, problems_only, is_grouped, max_markers, worded),
                               make)
    return out


