"""The live map's read model: every domain's markers as numpy arrays, cut to a view, cached per version.

The map shows four domains, open alerts and CAP warning areas. Reading and classifying a domain
(20,000 vehicles are 5 MB of packed JSON) is the expensive part, so it happens once per domain
version per process (:func:`domain_snapshot`), under a lock so that concurrent callbacks wait for
one build instead of each doing it. Everything after that is numpy on the cached arrays: the
view's markers (:func:`cut_layers`), and beyond ``MAX_MARKERS`` markers server-side grid cells
with counts and the worst class, until the user zooms in.

Feed text is untrusted: every hover string built here is HTML-escaped (plotly renders a subset of
HTML in hover labels).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from html import escape
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import redis

from app import alerts as alert_model
from app import store
from app.config import Settings
from app.model.domains import DOMAINS

MAX_MARKERS = 5000  # individually drawn markers in a view; beyond it the largest layers are grouped
CELL_PX = 48  # edge of a grid cell on screen
TILE_PX = 512  # maplibre's world is 512 px wide at zoom 0
DEFAULT_CENTER = (28.55, 112.36)  # Yiyang (lat, lon)
DEFAULT_ZOOM = 11.5
# The screen a view is assumed to fill before the browser has told us its real corners.
ASSUMED_SCREEN_PX = (1920, 1080)
ALERTS = "alerts"  # the pseudo-domain whose version is the alerts' version
HOVER_LIMIT = 60  # characters of one feed string in a hover label

# Ranks order classes by how bad they are: a cell shows its worst member's rank.
OK, UNKNOWN, WARN, BAD = 0, 1, 2, 3
RANK_COLOURS = ("#009E73", "#8C8C8C", "#E69F00", "#D55E00")  # Okabe-Ito, colour-blind safe
RANK_LABELS = ("ok", "unknown", "warning", "bad")


@dataclass(frozen=True)
class MarkerClass:
    """One state of a layer's markers: its colour and size (size is the second, non-colour cue)."""

    key: str
    label: str
    colour: str
    size: int
    rank: int


@dataclass(frozen=True)
class Layer:
    """A layer of the map: which entities it draws, and the classes they fall into."""

    key: str
    title: str
    domain: str  # a domain, or ALERTS
    kinds: tuple[str, ...]
    noun: str  # plural, for grouped cells ("12 vehicles")
    geometry: str = "points"  # points, lines (routes) or areas (CAP warnings)
    classes: tuple[MarkerClass, ...] = ()
    opacity: float = 0.9

    @property
    def ranks(self) -> np.ndarray:
        """Each class's rank, indexable by class code."""
        return np.array([c.rank for c in self.classes], dtype=np.uint8)


def _classes(*rows: tuple[str, str, str, int, int]) -> tuple[MarkerClass, ...]:
    return tuple(MarkerClass(*row) for row in rows)


GREEN, BLUE, SKY, ORANGE, VERMILLION, PURPLE, YELLOW, GREY = (
    "#009E73", "#0072B2", "#56B4E9", "#E69F00", "#D55E00", "#CC79A7", "#F0E442", "#8C8C8C")
SEVERITY_CLASSES = _classes(
    ("critical", "critical", VERMILLION, 34, BAD), ("major", "major", ORANGE, 30, BAD),
    ("minor", "minor", YELLOW, 26, WARN), ("warning", "warning", PURPLE, 24, WARN),
    ("info", "info", SKY, 22, OK))
SEVERITY_RANK = {c.key: i for i, c in enumerate(SEVERITY_CLASSES)}

LAYERS: tuple[Layer, ...] = (
    Layer("routes", "Bus routes", "transport", ("route",), "routes", geometry="lines"),
    Layer("warnings", "Warning areas", "city", ("cap_warning",), "warnings", geometry="areas",
          classes=SEVERITY_CLASSES),
    Layer("stops", "Stops", "transport", ("stop",), "stops",
          classes=_classes(("stop", "stop", "#5F6B76", 5, OK))),
    Layer("requests", "City requests", "city", ("request",), "requests", classes=_classes(
        ("open", "open", BLUE, 7, OK), ("overdue", "past due", VERMILLION, 10, WARN))),
    Layer("sensors", "Water sensors", "water", ("sensor",), "sensors", classes=_classes(
        ("ok", "pressure ok", GREEN, 8, OK), ("low", "pressure low", ORANGE, 11, WARN),
        ("very_low", "pressure very low", VERMILLION, 14, BAD),
        ("unknown", "no pressure reading", GREY, 7, UNKNOWN))),
    Layer("reservoirs", "Reservoirs", "water", ("reservoir",), "reservoirs", classes=_classes(
        ("ok", "level ok", GREEN, 13, OK), ("low", "level low", ORANGE, 16, WARN),
        ("very_low", "level very low", VERMILLION, 19, BAD),
        ("unknown", "no level reading", GREY, 12, UNKNOWN))),
    Layer("hospitals", "Hospitals", "medical", ("hospital",), "hospitals", classes=_classes(
        ("free", "beds free", GREEN, 14, OK), ("filling", "filling up", ORANGE, 17, WARN),
        ("full", "full", VERMILLION, 20, BAD), ("unknown", "no capacity report", GREY, 12, UNKNOWN))),
    Layer("ambulances", "Ambulances", "medical", ("ambulance",), "ambulances", classes=_classes(
        ("available", "available", SKY, 10, OK), ("on_call", "on call", PURPLE, 13, WARN))),
    Layer("vehicles", "Vehicles", "transport", ("vehicle",), "vehicles", classes=_classes(
        ("early", "early", BLUE, 9, OK), ("on_time", "on time", GREEN, 9, OK),
        ("late", "late", ORANGE, 12, WARN), ("very_late", "very late", VERMILLION, 15, BAD),
        ("unknown", "delay unknown", GREY, 8, UNKNOWN))),
    Layer("alerts", "Alerts", ALERTS, ("alert",), "alerts", classes=SEVERITY_CLASSES, opacity=0.55),
)
LAYER_BY_KEY: dict[str, Layer] = {layer.key: layer for layer in LAYERS}
VERSION_KEYS: tuple[str, ...] = DOMAINS + (ALERTS,)
# Delay classes of vehicles: early below -60 s, on time below 300 s, late below 600 s, then very
# late; class 4 when no delay is known.
DELAY_EDGES = np.array([-60.0, 300.0, 600.0])
UNKNOWN_DELAY = 4
# The readings a domain's classes need, read once per version.
DOMAIN_METRICS: dict[str, tuple[str, ...]] = {
    "transport": ("delay_s",), "water": ("pressure_bar", "level_m"),
    "medical": ("beds_available", "beds_total", "beds_occupied"), "city": (),
}
WARNING_KIND = "cap_warning"


@dataclass(frozen=True)
class Thresholds:
    """The limits that colour sensors, reservoirs and hospitals (the KPI settings)."""

    pressure_low_bar: float = 2.0
    pressure_bad_bar: float = 1.5
    level_low_m: float = 2.0
    level_bad_m: float = 1.0
    occupancy_warn_pct: float = 85.0
    occupancy_bad_pct: float = 95.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        """The thresholds an installation configured for its KPIs."""
        return cls(settings.kpi_pressure_min_bar, settings.kpi_pressure_bad_bar,
                   settings.kpi_reservoir_min_m, settings.kpi_reservoir_bad_m,
                   settings.kpi_occupancy_target_pct, settings.kpi_occupancy_bad_pct)


def hover_text(value: Any, limit: int = HOVER_LIMIT) -> str:
    """Feed text for a hover label: shortened, then HTML-escaped."""
    text = " ".join(str(value).split())
    if len(text) > limit:
        text = text[:limit - 1] + "…"
    # Plotly decodes &lt; &gt; &amp; and numeric entities but not &quot;: with the brackets
    # escaped no tag can form, so quotes are harmless and must stay quotes.
    return escape(text, quote=False)


def short_id(entity_id: str) -> str:
    """The part of an id after its source prefix (``demo:vehicle:12`` -> ``12``)."""
    return entity_id.rsplit(":", 1)[-1]


_serials = itertools.count(1)


# -- snapshots ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PointSet:
    """One layer's markers: parallel arrays, one row per entity, in the store's order."""

    ids: np.ndarray  # object (str)
    lat: np.ndarray  # float64
    lon: np.ndarray  # float64
    cls: np.ndarray  # uint8: index into the layer's classes
    hover: np.ndarray  # object (escaped str)

    @classmethod
    def of(cls, rows: Sequence[tuple[str, float, float, int, str]]) -> PointSet:
        """Arrays from (id, lat, lon, class, hover) rows."""
        ids = np.empty(len(rows), dtype=object)
        hover = np.empty(len(rows), dtype=object)
        if rows:
            ids[:] = [row[0] for row in rows]
            hover[:] = [row[4] for row in rows]
        return cls(ids, np.fromiter((row[1] for row in rows), np.float64, len(rows)),
                   np.fromiter((row[2] for row in rows), np.float64, len(rows)),
                   np.fromiter((row[3] for row in rows), np.uint8, len(rows)), hover)

    @classmethod
    def of_columns(cls, ids: list[str], lat: list[float], lon: list[float], codes: np.ndarray,
                   hover: list[str]) -> PointSet:
        """Arrays from columns (the fast path for large layers)."""
        id_array = np.empty(len(ids), dtype=object)
        hover_array = np.empty(len(hover), dtype=object)
        id_array[:] = ids
        hover_array[:] = hover
        return cls(id_array, np.array(lat, dtype=np.float64), np.array(lon, dtype=np.float64),
                   codes.astype(np.uint8), hover_array)


@dataclass(frozen=True)
class Warning:
    """A CAP warning's area, ready to draw."""

    id: str
    domain: str
    severity: int  # index into SEVERITY_CLASSES
    geometry: Mapping[str, Any]
    hover: str


@dataclass(frozen=True)
class Lines:
    """Route shapes as one polyline list with gaps (None) between routes."""

    lat: list[float | None]
    lon: list[float | None]
    signature: str


@dataclass
class DomainSnapshot:
    """A domain at one version: its layers' arrays, warnings, routes, and what the side panel reads."""

    domain: str
    version: int
    points: dict[str, PointSet]
    warnings: tuple[Warning, ...] = ()
    lines: Lines | None = None
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    latest: dict[str, dict[str, Any]] = field(default_factory=dict)  # metric -> id -> reading
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    built_ms: float = 0.0
    # Unique per build in this process: versions restart when Redis loses its data, serials don't.
    serial: int = field(default_factory=lambda: next(_serials))


def _value(latest: Mapping[str, Any], entity_id: str) -> float | None:
    entry = latest.get(entity_id)
    if not entry:
        return None
    try:
        value = float(entry[0])
    except (TypeError, ValueError, IndexError):
        return None
    return value if math.isfinite(value) else None


def _located(record: Mapping[str, Any]) -> bool:
    lat, lon = record.get("lat"), record.get("lon")
    return (isinstance(lat, (int, float)) and isinstance(lon, (int, float))
            and not isinstance(lat, bool) and not isinstance(lon, bool)
            and math.isfinite(lat) and math.isfinite(lon))


@functools.lru_cache(maxsize=1 << 16)
def _vehicle_hover(label: str, route: str) -> str:
    # Labels and routes rarely change between polls: escaping 20,000 of them every version was
    # most of a snapshot's build time.
    hover = f"Vehicle {hover_text(label)}"
    return f"{hover}<br>Route {hover_text(route)}" if route else hover


def vehicle_points(records: Iterable[dict[str, Any]], delays: Mapping[str, Any]) -> PointSet:
    """Vehicles classed by their own delay, else their trip's (matched by full id, so one
    system's delays never land on another system's vehicle of the same bare id)."""
    ids: list[str] = []
    lats: list[float] = []
    lons: list[float] = []
    hovers: list[str] = []
    values: list[float] = []
    find = delays.get
    nan = math.nan
    number = (float, int)
    for rec in records:
        lat, lon = rec.get("lat"), rec.get("lon")
        if lat.__class__ not in number or lon.__class__ not in number:
            continue  # unlocated (or, from a foreign writer, not a number): never drawn
        attrs = rec.get("attrs") or {}
        entity_id = rec["id"]
        entry = find(entity_id)
        if entry is None and attrs.get("trip_id"):
            entry = find(f"{entity_id.partition(':vehicle:')[0]}:trip:{attrs['trip_id']}")
        value = entry[0] if entry else None
        ids.append(entity_id)
        lats.append(lat)
        lons.append(lon)
        values.append(value if value.__class__ in (float, int) else nan)
        hovers.append(_vehicle_hover(str(attrs.get("label") or short_id(entity_id)),
                                     str(attrs.get("route_id") or "")))
    delay = np.array(values, dtype=np.float64)
    codes = np.where(np.isnan(delay), UNKNOWN_DELAY, np.searchsorted(DELAY_EDGES, delay, side="right"))
    return PointSet.of_columns(ids, lats, lons, codes, hovers)


def _level_class(value: float | None, low: float, bad: float) -> int:
    """ok (0), low (1), very low (2) or unknown (3), the order of the water layers' classes."""
    if value is None:
        return 3
    return 2 if value < bad else 1 if value < low else 0


def _water_rows(records: Iterable[dict[str, Any]], readings: Mapping[str, Any], low: float,
                bad: float) -> list[tuple[str, float, float, int, str]]:
    rows = []
    for rec in records:
        attrs = rec.get("attrs") or {}
        name = attrs.get("name") or short_id(rec["id"])
        hover = f"{'Reservoir' if rec['kind'] == 'reservoir' else 'Sensor'} {hover_text(name)}"
        if attrs.get("zone"):
            hover += f"<br>Zone {hover_text(attrs['zone'])}"
        rows.append((rec["id"], rec["lat"], rec["lon"],
                     _level_class(_value(readings, rec["id"]), low, bad), hover))
    return rows


def _hospital_rows(records: Iterable[dict[str, Any]], latest: Mapping[str, Mapping[str, Any]],
                   limits: Thresholds) -> list[tuple[str, float, float, int, str]]:
    rows = []
    for rec in records:
        attrs = rec.get("attrs") or {}
        total = _value(latest.get("beds_total", {}), rec["id"])
        free = _value(latest.get("beds_available", {}), rec["id"])
        if free is None and total is not None:
            occupied = _value(latest.get("beds_occupied", {}), rec["id"])
            free = None if occupied is None else total - occupied
        hover = f"Hospital {hover_text(attrs.get('name') or short_id(rec['id']))}"
        code = 3
        if total and free is not None:
            occupancy = 100.0 * (total - free) / total
            code = (2 if occupancy >= limits.occupancy_bad_pct else
                    1 if occupancy >= limits.occupancy_warn_pct else 0)
            hover += f"<br>{free:.0f} of {total:.0f} beds free"
        rows.append((rec["id"], rec["lat"], rec["lon"], code, hover))
    return rows


def _ambulance_rows(records: Iterable[dict[str, Any]]) -> list[tuple[str, float, float, int, str]]:
    rows = []
    for rec in records:
        attrs = rec.get("attrs") or {}
        on_call = rec.get("status") == "on_call"
        hover = f"Ambulance {hover_text(attrs.get('label') or short_id(rec['id']))}"
        hover += "<br>On call" if on_call else "<br>Available"
        rows.append((rec["id"], rec["lat"], rec["lon"], 1 if on_call else 0, hover))
    return rows


def _request_rows(records: Iterable[dict[str, Any]], now: float
                  ) -> list[tuple[str, float, float, int, str]]:
    rows = []
    for rec in records:
        if rec.get("status") == "closed":
            continue
        attrs = rec.get("attrs") or {}
        expected = attrs.get("expected_at")
        overdue = isinstance(expected, (int, float)) and expected < now
        hover = hover_text(attrs.get("service_name") or "Request")
        if attrs.get("address"):
            hover += f"<br>{hover_text(attrs['address'])}"
        rows.append((rec["id"], rec["lat"], rec["lon"], 1 if overdue else 0, hover))
    return rows


def _simple_rows(records: Iterable[dict[str, Any]], noun: str
                 ) -> list[tuple[str, float, float, int, str]]:
    return [(rec["id"], rec["lat"], rec["lon"], 0,
             f"{noun} {hover_text((rec.get('attrs') or {}).get('name') or short_id(rec['id']))}")
            for rec in records]


def _route_lines(records: Iterable[dict[str, Any]]) -> Lines:
    lat: list[float | None] = []
    lon: list[float | None] = []
    digest = hashlib.blake2b(digest_size=8)
    for rec in sorted(records, key=lambda rec: rec["id"]):
        shape = (rec.get("attrs") or {}).get("shape") or rec.get("shape")
        if not shape:
            continue
        digest.update(rec["id"].encode() + b"\0" + str(len(shape)).encode() + b"\0")
        for point in shape:
            lon.append(float(point[0]))
            lat.append(float(point[1]))
        lat.append(None)  # a gap between routes
        lon.append(None)
    return Lines(lat, lon, digest.hexdigest())


def _warnings(domain: str, events: Iterable[dict[str, Any]], now: float) -> tuple[Warning, ...]:
    found = []
    for event in events:
        area = event.get("area")
        ends = event.get("ends_at")
        if (event.get("kind") != WARNING_KIND or not isinstance(area, Mapping)
                or area.get("type") not in ("Polygon", "MultiPolygon")
                or (isinstance(ends, (int, float)) and ends < now)):
            continue
        severity = SEVERITY_RANK.get(str(event.get("severity")), SEVERITY_RANK["info"])
        attrs = event.get("attrs") or {}
        hover = f"Warning: {hover_text(event.get('title') or 'CAP warning')}"
        if attrs.get("areaDesc"):
            hover += f"<br>{hover_text(attrs['areaDesc'])}"
        hover += f"<br>Severity {SEVERITY_CLASSES[severity].label}"
        found.append(Warning(str(event["id"]), domain, severity, area, hover))
    return tuple(sorted(found, key=lambda w: w.id))


def build_domain_snapshot(r: redis.Redis, domain: str, version: int, limits: Thresholds,
                          now: float | None = None) -> DomainSnapshot:
    """Read one domain from the store and classify its markers (the expensive step)."""
    started = time.perf_counter()
    now = time.time() if now is None else now
    records = store.entities.read_entities(r, domain)
    latest = {metric: store.entities.read_latest(r, domain, metric) for metric in DOMAIN_METRICS[domain]}
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        by_kind.setdefault(rec.get("kind", ""), []).append(rec)

    def located(kind: str) -> list[dict[str, Any]]:
        return [rec for rec in by_kind.get(kind, ()) if _located(rec)]

    points: dict[str, PointSet] = {}
    lines = None
    if domain == "transport":
        points["vehicles"] = vehicle_points(by_kind.get("vehicle", ()), latest["delay_s"])
        points["stops"] = PointSet.of(_simple_rows(located("stop"), "Stop"))
        lines = _route_lines(by_kind.get("route", ()))
    elif domain == "water":
        points["sensors"] = PointSet.of(_water_rows(
            located("sensor"), latest["pressure_bar"], limits.pressure_low_bar,
            limits.pressure_bad_bar))
        points["reservoirs"] = PointSet.of(_water_rows(
            located("reservoir"), latest["level_m"], limits.level_low_m, limits.level_bad_m))
    elif domain == "medical":
        points["hospitals"] = PointSet.of(_hospital_rows(located("hospital"), latest, limits))
        points["ambulances"] = PointSet.of(_ambulance_rows(located("ambulance")))
    elif domain == "city":
        points["requests"] = PointSet.of(_request_rows(located("request"), now))
    events = {str(e.get("id")): e for e in store.entities.read_events(r, domain)}
    return DomainSnapshot(
        domain, version, points, _warnings(domain, events.values(), now), lines,
        records={rec["id"]: rec for rec in records}, latest=latest, events=events,
        built_ms=(time.perf_counter() - started) * 1000)


def build_alerts_snapshot(r: redis.Redis, version: int) -> DomainSnapshot:
    """The open alerts that have a location, classed by severity."""
    started = time.perf_counter()
    rows = []
    found = {}
    for alert in alert_model.list_alerts(r, open_only=True, limit=MAX_MARKERS):
        found[alert["id"]] = alert
        lat, lon = alert.get("lat"), alert.get("lon")
        if lat is None or lon is None:
            continue
        severity = SEVERITY_RANK.get(alert.get("severity", "info"), SEVERITY_RANK["info"])
        acked = "acknowledged" if alert.get("state") == "active_ack" else "not acknowledged"
        hover = (f"{SEVERITY_CLASSES[severity].label.capitalize()} alert: "
                 f"{hover_text(alert.get('title') or alert['id'])}<br>{acked}")
        rows.append((alert["id"], float(lat), float(lon), severity, hover))
    return DomainSnapshot(ALERTS, version, {"alerts": PointSet.of(rows)}, records=found,
                          built_ms=(time.perf_counter() - started) * 1000)


# One snapshot per domain and process, shared by every session this worker serves.
_snapshots: dict[str, DomainSnapshot] = {}
_build_locks: dict[str, threading.Lock] = {key: threading.Lock() for key in VERSION_KEYS}


def domain_snapshot(r: redis.Redis, domain: str, version: int, limits: Thresholds,
                    now: float | None = None) -> DomainSnapshot:
    """The domain's snapshot at ``version``: from the cache, else built once.

    Any other cached version is rebuilt, older or newer: a Redis that lost its data (no
    persistence) counts versions from 1 again, and old markers must not pass for current ones.
    """
    cached = _snapshots.get(domain)
    if cached is not None and cached.version == version:
        return cached
    with _build_locks[domain]:
        cached = _snapshots.get(domain)  # another thread may have built it while we waited
        if cached is not None and cached.version == version:
            return cached
        snapshot = (build_alerts_snapshot(r, version) if domain == ALERTS
                    else build_domain_snapshot(r, domain, version, limits, now))
        _snapshots[domain] = snapshot
        return snapshot


def build_lock(domain: str) -> threading.Lock:
    """The lock under which this process builds or loads ``domain``'s snapshot."""
    return _build_locks[domain]


def keep_snapshot(snapshot: DomainSnapshot) -> None:
    """Cache a snapshot made elsewhere (a published one, see app/map_share.py)."""
    _snapshots[snapshot.domain] = snapshot


def cached_snapshot(domain: str) -> DomainSnapshot | None:
    """The newest snapshot this process holds for ``domain`` (None before the first build)."""
    return _snapshots.get(domain)


def forget_snapshots() -> None:
    """Drop every cached snapshot (tests; a worker serving another installation)."""
    _snapshots.clear()
    _cut_cache.clear()


def read_versions(r: redis.Redis) -> dict[str, int]:
    """Every domain's version and the alerts' version: the map redraws only what moved."""
    versions = {domain: version for domain, (version, _) in store.status.domain_versions(r).items()}
    versions[ALERTS] = store.alerts.version(r)
    return versions


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


def _class_cuts(layer: Layer, points: PointSet, rows: np.ndarray, wanted: np.ndarray
                ) -> tuple[ClassCut, ...]:
    totals = np.bincount(points.cls[wanted], minlength=len(layer.classes))
    cuts = []
    codes = points.cls[rows]
    for code in range(len(layer.classes)):
        picked = rows[codes == code]
        cuts.append(ClassCut.of(points.lat[picked].astype(np.float32),
                                points.lon[picked].astype(np.float32),
                                points.ids[picked].tolist(), points.hover[picked].tolist(),
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
               problems_only: bool = False, max_markers: int = MAX_MARKERS) -> dict[str, LayerCut]:
    """Each point layer's content inside ``cut``; the largest layers are grouped into cells
    until at most ``max_markers`` markers remain drawn one by one."""
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
            return LayerCut(layer.key, False, _class_cuts(layer, points, rows, wanted), None)

        out[key] = _cached_cut((key, serial, cut, problems_only, is_grouped, max_markers), make)
    return out


# -- the side panel -----------------------------------------------------------------------------------
# Readings worth showing beside an entity, by kind (water sensors list their own metrics).
PANEL_METRICS: dict[str, tuple[str, ...]] = {
    "vehicle": ("delay_s",),
    "hospital": ("beds_available", "beds_total", "beds_occupied", "icu_beds_available",
                 "icu_beds_total", "icu_beds_occupied", "ventilators_in_use", "ventilators_total"),
}


@dataclass(frozen=True)
class Details:
    """What the side panel shows for one thing on the map (raw values: the page escapes them)."""

    layer: str
    id: str
    record: dict[str, Any]
    readings: list[tuple[str, float, str, float | None]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    counts: list[tuple[str, int]] = field(default_factory=list)  # grouped cells: class -> count


def _snapshot_for(r: redis.Redis, domain: str, limits: Thresholds) -> DomainSnapshot:
    cached = cached_snapshot(domain)
    if cached is not None:
        return cached
    versions = read_versions(r)
    return domain_snapshot(r, domain, versions[domain], limits)


def _entity_alerts(r: redis.Redis, entity_id: str) -> list[dict[str, Any]]:
    return [a for a in alert_model.list_alerts(r, open_only=True) if a.get("entity") == entity_id]


def entity_details(r: redis.Redis, layer_key: str, item: str, limits: Thresholds) -> Details | None:
    """Details of the entity, alert or warning ``item`` of a layer; None when it is gone."""
    layer = LAYER_BY_KEY.get(layer_key)
    if layer is None:
        return None
    snapshot = _snapshot_for(r, layer.domain, limits)
    if layer.geometry == "areas":
        for domain in DOMAINS:
            # A published snapshot (app/map_share.py) carries no records: read the one asked for.
            event = (_snapshot_for(r, domain, limits).events.get(item)
                     or store.entities.read_event(r, domain, item))
            if event is not None:
                return Details(layer_key, item, event)
        return None
    record = snapshot.records.get(item)
    if record is None and layer.domain != ALERTS:
        record = store.entities.read_entity(r, layer.domain, item)
    if record is None:
        return None
    if layer.domain == ALERTS:
        return Details(layer_key, item, record)
    kind = record.get("kind", "")
    metrics = PANEL_METRICS.get(kind) or tuple((record.get("attrs") or {}).get("metrics") or ())
    readings = []
    for metric in metrics:
        source = snapshot.latest.get(metric)
        entry = (source.get(item) if source is not None
                 else store.entities.read_reading(r, layer.domain, metric, item))
        if entry:
            value, unit, at = (list(entry) + [None, None, None])[:3]
            if isinstance(value, (int, float)):
                readings.append((metric, float(value), str(unit or ""),
                                 float(at) if isinstance(at, (int, float)) else None))
    return Details(layer_key, item, record, readings, _entity_alerts(r, item))


def cell_details(r: redis.Redis, layer_key: str, lat: float, lon: float, cut: View,
                 limits: Thresholds) -> Details | None:
    """How many of a grouped layer's markers, by class, the clicked cell of ``cut`` holds."""
    layer = LAYER_BY_KEY.get(layer_key)
    if layer is None or layer.geometry != "points":
        return None
    points = _snapshot_for(r, layer.domain, limits).points.get(layer_key)
    if points is None:
        return None
    rows = cell_members(points, lat, lon, cut)
    counts = np.bincount(points.cls[rows], minlength=len(layer.classes))
    return Details(layer_key, f"{lat:.5f},{lon:.5f}", {"kind": "cell", "count": int(rows.size)},
                   counts=[(c.label, int(n)) for c, n in zip(layer.classes, counts, strict=True)])
