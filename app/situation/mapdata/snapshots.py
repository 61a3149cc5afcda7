"""A domain's markers at one version, read from the store and classed into numpy arrays (the costly step)."""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import redis

from app import alerts as alert_model
from app import store
from app.situation.mapdata.hover import either, localize, term, word
from app.situation.mapdata.layers import (
    ALERTS,
    DELAY_EDGES,
    DOMAIN_METRICS,
    LAYER_BY_KEY,
    MAX_MARKERS,
    SEVERITY_CLASSES,
    SEVERITY_RANK,
    UNKNOWN_DELAY,
    WARNING_KIND,
    Thresholds,
    hover_text,
    quiet_code,
    short_id,
)

_serials = itertools.count(1)


# -- snapshots ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PointSet:
    """One layer's markers: parallel arrays, one row per entity, in the store's order."""

    ids: np.ndarray  # object (str)
    lat: np.ndarray  # float64
    lon: np.ndarray  # float64
    cls: np.ndarray  # uint8: index into the layer's classes
    hover: np.ndarray  # object (escaped str, its words marked: mapdata.hover)
    # language -> ``hover`` worded, row by row (None: not worded yet): filled as rows are drawn,
    # and shared by the snapshots of every version that publishes the same labels (share.decode:
    # the same ``hover`` array, so rows line up). Only drawn markers are worded (a cut draws at
    # most MAX_MARKERS), each once per label set and language; numpy picks the rest.
    worded: dict[str, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    def hover_of(self, rows: np.ndarray, lang: str) -> list[str]:
        """The labels of ``rows`` in ``lang``."""
        table = self.worded.get(lang)
        if table is None:
            table = self.worded[lang] = np.full(len(self.hover), None, dtype=object)
        picked = table[rows]
        missing = rows[np.equal(picked, None)]
        if missing.size:
            table[missing] = [localize(text, lang) for text in self.hover[missing].tolist()]
            picked = table[rows]
        return picked.tolist()

    def hover_in(self, lang: str) -> list[str]:
        """Every label in ``lang`` (tests, the side panel's lists)."""
        return self.hover_of(np.arange(len(self.hover)), lang)

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
    """Route shapes as one polyline list with gaps (None) between routes; ``ids`` and ``names``
    name the routes in the order their runs appear."""

    lat: list[float | None]
    lon: list[float | None]
    signature: str
    ids: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


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
    # When the next of its things turns "no recent report" (None: none will): the runner publishes
    # the domain again then, so a feed gone silent shows on the map though no batch comes.
    quiet_due: float | None = None
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
    hover = word("vehicle", label=hover_text(label))
    return f"{hover}<br>{word('route', route=hover_text(route))}" if route else hover


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


# A sensor that says it measures something, but not pressure: a flow, level or quality meter. It
# is drawn as such (class 4), not as a pressure sensor without a reading (issue 19: 54 meters
# read as 54 broken sensors).
OTHER_METER = 4


def _measures_other(rec: Mapping[str, Any], metric: str) -> bool:
    metrics = (rec.get("attrs") or {}).get("metrics")
    return isinstance(metrics, (list, tuple)) and bool(metrics) and metric not in metrics


def _water_rows(records: Iterable[dict[str, Any]], readings: Mapping[str, Any], low: float,
                bad: float, metric: str = "") -> list[tuple[str, float, float, int, str]]:
    rows = []
    for rec in records:
        attrs = rec.get("attrs") or {}
        name = attrs.get("name") or short_id(rec["id"])
        hover = word("reservoir" if rec["kind"] == "reservoir" else "sensor", name=hover_text(name))
        if attrs.get("zone"):
            hover += f"<br>{word('zone', zone=hover_text(attrs['zone']))}"
        value = _value(readings, rec["id"])
        code = (OTHER_METER if value is None and metric and _measures_other(rec, metric)
                else _level_class(value, low, bad))
        rows.append((rec["id"], rec["lat"], rec["lon"], code, hover))
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
        hover = word("hospital", name=hover_text(attrs.get("name") or short_id(rec["id"])))
        code = 3
        if total and free is not None:
            occupancy = 100.0 * (total - free) / total
            code = (2 if occupancy >= limits.occupancy_bad_pct else
                    1 if occupancy >= limits.occupancy_warn_pct else 0)
            hover += f"<br>{word('beds_free', free=f'{free:.0f}', total=f'{total:.0f}')}"
        rows.append((rec["id"], rec["lat"], rec["lon"], code, hover))
    return rows


def _ambulance_rows(records: Iterable[dict[str, Any]]) -> list[tuple[str, float, float, int, str]]:
    rows = []
    for rec in records:
        attrs = rec.get("attrs") or {}
        on_call = rec.get("status") == "on_call"
        hover = word("ambulance", label=hover_text(attrs.get("label") or short_id(rec["id"])))
        hover += f"<br>{word('on_call' if on_call else 'available')}"
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
        hover = (hover_text(attrs["service_name"]) if attrs.get("service_name")
                 else word("request"))
        if attrs.get("address"):
            hover += f"<br>{hover_text(attrs['address'])}"
        rows.append((rec["id"], rec["lat"], rec["lon"], 1 if overdue else 0, hover))
    return rows


def _simple_rows(records: Iterable[dict[str, Any]], noun: str
                 ) -> list[tuple[str, float, float, int, str]]:
    """Markers of one class named "<noun> <name>" (``noun``: a word of mapdata.hover)."""
    return [(rec["id"], rec["lat"], rec["lon"], 0,
             word(noun, name=hover_text((rec.get("attrs") or {}).get("name") or short_id(rec["id"]))))
            for rec in records]


def _route_lines(records: Iterable[dict[str, Any]]) -> Lines:
    lat: list[float | None] = []
    lon: list[float | None] = []
    ids: list[str] = []
    names: list[str] = []
    digest = hashlib.blake2b(digest_size=8)
    for rec in sorted(records, key=lambda rec: rec["id"]):
        attrs = rec.get("attrs") or {}
        shape = attrs.get("shape") or rec.get("shape")
        if not shape:
            continue
        digest.update(rec["id"].encode() + b"\0" + str(len(shape)).encode() + b"\0")
        for point in shape:
            lon.append(float(point[0]))
            lat.append(float(point[1]))
        lat.append(None)  # a gap between routes
        lon.append(None)
        ids.append(rec["id"])
        names.append(str(attrs.get("short_name") or attrs.get("long_name") or short_id(rec["id"])))
    return Lines(lat, lon, digest.hexdigest(), ids, names)


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
        title = hover_text(event["title"]) if event.get("title") else term("map.hover.cap_warning")
        hover = word("warning", title=title)
        if attrs.get("areaDesc"):
            hover += f"<br>{hover_text(attrs['areaDesc'])}"
        hover += f"<br>{word('severity', severity=term(f'severity.{SEVERITY_CLASSES[severity].key}'))}"
        found.append(Warning(str(event["id"]), domain, severity, area, hover))
    return tuple(sorted(found, key=lambda w: w.id))


def freshness_budgets(health: Iterable[Mapping[str, Any]], domain: str) -> dict[str, float]:
    """Each of ``domain``'s feeds' freshness budget in seconds (its name -> budget); under "" the
    largest, for things whose feed is not named."""
    budgets: dict[str, float] = {}
    for row in health:
        try:
            budget = float(row.get("freshness_budget_s") or 0)
        except (TypeError, ValueError):
            continue
        if row.get("domain") == domain and budget > 0:
            budgets[str(row.get("feed"))] = budget
    if budgets:
        budgets[""] = max(budgets.values())
    return budgets


# What a thing's last report is: its own record's time for things that report where they are,
# the newest reading of what the layer judges them by for the others (a hospital's directory
# entry is old by nature; its bed counts are what it reports). A feed may leave out what did not
# change, so silence is judged after a few of its budgets, not one; and a meter whose value moves
# slowly reads again only when it has moved (a reservoir's level), so readings are given at
# least half an hour.
REPORTED_BY: dict[str, tuple[str, ...]] = {
    "vehicles": (), "ambulances": (), "sensors": ("pressure_bar",), "reservoirs": ("level_m",),
    "hospitals": ("beds_available", "beds_total", "beds_occupied")}
QUIET_AFTER_BUDGETS = 3
READING_QUIET_MIN_S = 1800.0


def mark_quiet(points: Mapping[str, PointSet], records: Mapping[str, Mapping[str, Any]],
               latest: Mapping[str, Mapping[str, Any]], budgets: Mapping[str, float],
               now: float) -> float | None:
    """Class as "no recent report" the things silent for longer than a few of their feed's
    freshness budgets (the budget that makes the feed stale), in the layers that judge it; when
    the next of the others will be (None: never)."""
    due: float | None = None
    if not budgets:
        return due
    for key, found in points.items():
        code = quiet_code(LAYER_BY_KEY[key])
        if code is None or key not in REPORTED_BY or not len(found.ids):
            continue
        ids = found.ids.tolist()
        metrics = REPORTED_BY[key]
        if metrics:  # readings do not name their feed: the domain's most lenient budget
            limits = np.full(len(ids), max(budgets[""], READING_QUIET_MIN_S / QUIET_AFTER_BUDGETS))
            seen = np.fromiter((max((_reading_time(latest.get(m, {}).get(i)) for m in metrics),
                                    default=math.nan) for i in ids), np.float64, len(ids))
        else:
            limits = np.fromiter((budgets.get(str(records.get(i, {}).get("source")), budgets[""])
                                  for i in ids), np.float64, len(ids))
            seen = np.fromiter((_time((records.get(i) or {}).get("observed_at")) for i in ids),
                               np.float64, len(ids))
        # A thing never timed (NaN) is not judged: it keeps its class ("no reading" and the like).
        turns = seen + limits * QUIET_AFTER_BUDGETS
        quiet = now > turns
        found.cls[quiet] = code
        later = turns[~quiet & ~np.isnan(turns)]
        if later.size:
            due = min(float(later.min()), due if due is not None else math.inf)
    return due


def _time(value: Any) -> float:
    return float(value) if value.__class__ in (float, int) else math.nan


def _reading_time(entry: Any) -> float:
    """The time of a latest reading (value, unit, observed_at); NaN without one."""
    return _time(entry[2]) if isinstance(entry, (list, tuple)) and len(entry) > 2 else math.nan


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
        points["stops"] = PointSet.of(_simple_rows(located("stop"), "stop"))
        lines = _route_lines(by_kind.get("route", ()))
    elif domain == "water":
        points["sensors"] = PointSet.of(_water_rows(
            located("sensor"), latest["pressure_bar"], limits.pressure_low_bar,
            limits.pressure_bad_bar, "pressure_bar"))
        points["reservoirs"] = PointSet.of(_water_rows(
            located("reservoir"), latest["level_m"], limits.level_low_m, limits.level_bad_m))
    elif domain == "medical":
        points["hospitals"] = PointSet.of(_hospital_rows(located("hospital"), latest, limits))
        points["ambulances"] = PointSet.of(_ambulance_rows(located("ambulance")))
    elif domain == "city":
        points["requests"] = PointSet.of(_request_rows(located("request"), now))
    by_id = {rec["id"]: rec for rec in records}
    quiet_due = mark_quiet(points, by_id, latest, freshness_budgets(store.feeds.read_health(r), domain),
                           now)
    events = {str(e.get("id")): e for e in store.entities.read_events(r, domain)}
    return DomainSnapshot(
        domain, version, points, _warnings(domain, events.values(), now), lines,
        records=by_id, latest=latest, events=events,
        built_ms=(time.perf_counter() - started) * 1000, quiet_due=quiet_due)


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
        acked = word("acked" if alert.get("state") == "active_ack" else "unacked")
        # Both titles travel: the reader's language picks (a rule's alert has a Chinese one).
        title = either(hover_text(alert_model.shown_title(alert, "en")),
                       hover_text(alert_model.shown_title(alert, "zh")))
        hover = (word("alert", severity=term(f"severity.{SEVERITY_CLASSES[severity].key}"),
                      title=title) + f"<br>{acked}")
        rows.append((alert["id"], float(lat), float(lon), severity, hover))
    return DomainSnapshot(ALERTS, version, {"alerts": PointSet.of(rows)}, records=found,
                          built_ms=(time.perf_counter() - started) * 1000)
