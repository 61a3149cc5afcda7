"""What the city already knows about an area: the cross-domain view of an incident's place.

For an area (a point with a radius, or a drawn or CAP shape) it gathers from the live store the
nearest available ambulances with their distance, the nearest hospitals with free beds and their
diversion, the bus stops in the area, the routes crossing it and the vehicles in it, the water
sensors and reservoirs in it with their newest readings, the open service requests in it, and the
public warnings covering it. No single department sees this; the operations room does.

Cost: places come from each domain's GEO index in one script per domain (app/store/lua/near.lua),
all four in one pipelined round trip with the events; moving things (vehicles, ambulances) and the
route shapes come from the map's snapshots this process already holds (app/situation/mapdata), cut
with numpy. `cityops bench` measures it at 20,000 vehicles (linkage_ms).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import redis

from app import store
from app.model.geo import EARTH_RADIUS_M, Area, area_center, point_in_area
from app.situation.mapdata import DomainSnapshot, Thresholds
from app.situation.mapdata import share as map_share
from app.situation.mapdata.layers import WARNING_KIND
from app.store.entities import Near, NearAsk

NEAREST_AMBULANCES = 5
NEAREST_HOSPITALS = 5
# Hospitals are looked for this far around the area's centre (nearest first): a city's own.
HOSPITAL_SEARCH_M = 50_000.0
HOSPITAL_CANDIDATES = 40
WATER_METRICS = ("pressure_bar", "flow_m3h", "level_m", "turbidity_ntu", "free_chlorine_mgl")
BED_METRICS = ("beds_available", "beds_total", "beds_occupied")
MAX_LISTED = 200  # a list longer than this is cut (its count says how many there were)


@dataclass(frozen=True)
class Linked:
    """One thing of the city near or in the area, as the linkage panel lists it."""

    kind: str  # ambulance, hospital, stop, route, vehicle, sensor, reservoir, request, warning
    id: str
    name: str
    distance_m: float | None
    lat: float | None = None
    lon: float | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Linkage:
    """Everything the city knows about one area, by section; ``counts`` holds each section's
    full size when a list was cut to MAX_LISTED."""

    area: Area
    ambulances: list[Linked]
    hospitals: list[Linked]
    stops: list[Linked]
    routes: list[Linked]
    vehicles: list[Linked]
    sensors: list[Linked]
    reservoirs: list[Linked]
    requests: list[Linked]
    warnings: list[Linked]
    counts: dict[str, int]
    computed_ms: float

    def as_json(self) -> dict[str, Any]:
        """The API form (and what the pages render)."""
        return asdict(self)


def _distances(lat: float, lon: float, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """Haversine distances in metres from one point to many."""
    p1, p2 = math.radians(lat), np.radians(lats)
    dp, dl = p2 - p1, np.radians(lons - lon)
    a = np.sin(dp / 2) ** 2 + math.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


def _inside(area: Area, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """Which of many positions lie in the area (the circle first, then the shape)."""
    near = _distances(area.lat, area.lon, lats, lons) <= area.radius_m
    if area.shape is None:
        return near
    return np.array([bool(n) and point_in_area(float(la), float(lo), area.shape)
                     for n, la, lo in zip(near, lats, lons, strict=True)], dtype=bool)


def _name(record: Mapping[str, Any] | None, fallback: str) -> str:
    attrs = (record or {}).get("attrs") or {}
    for key in ("name", "label", "service_name", "short_name", "long_name"):
        if attrs.get(key):
            return str(attrs[key])
    return fallback.rsplit(":", 1)[-1]


def _reading(near: Near, metric: str, index: int) -> float | None:
    entry = near.readings.get(metric, [None] * (index + 1))[index]
    if not entry:
        return None
    value = entry[0]
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _snapshots(r: redis.Redis, limits: Thresholds) -> dict[str, DomainSnapshot]:
    """The transport and medical snapshots of the map, at the versions the map shows."""
    versions = map_share.read_versions(r)
    return {domain: map_share.domain_snapshot(r, domain, versions[domain], limits)
            for domain in ("transport", "medical")}


def _moving(area: Area, snapshot: DomainSnapshot, layer: str) -> tuple[list[str], np.ndarray,
                                                                      np.ndarray, np.ndarray]:
    """(ids, distances, lat, lon, classes) of a snapshot layer's markers, nearest first."""
    points = snapshot.points.get(layer)
    if points is None or not len(points.ids):
        empty = np.zeros(0)
        return [], empty, empty, empty
    distances = _distances(area.lat, area.lon, points.lat, points.lon)
    order = np.argsort(distances, kind="stable")
    return [str(points.ids[i]) for i in order], distances[order], order, points.cls[order]


def _routes_crossing(area: Area, snapshot: DomainSnapshot) -> list[Linked]:
    """Routes whose shape has a vertex in the area (shapes are simplified but dense enough for
    an area of a few hundred metres; a longer straight segment can cross unseen)."""
    lines = snapshot.lines
    if lines is None or not lines.ids:
        return []
    lat = np.array([math.nan if v is None else v for v in lines.lat], dtype=np.float64)
    lon = np.array([math.nan if v is None else v for v in lines.lon], dtype=np.float64)
    gaps = np.isnan(lat)
    route_of = np.cumsum(gaps) - gaps  # the route index of each vertex (a gap ends a route)
    located = ~gaps
    inside = np.zeros(len(lat), dtype=bool)
    inside[located] = _inside(area, lat[located], lon[located])
    crossing = sorted(set(route_of[inside].tolist()))
    return [Linked("route", lines.ids[i], lines.names[i] if i < len(lines.names) else lines.ids[i],
                   None) for i in crossing if i < len(lines.ids)]


def _cut(items: list[Linked], name: str, counts: dict[str, int]) -> list[Linked]:
    counts[name] = len(items)
    return items[:MAX_LISTED]


def compute(r: redis.Redis, area: Area, limits: Thresholds | None = None,
            now: float | None = None) -> Linkage:
    """The linkage of ``area`` from the live store (see the module docstring for the cost)."""
    started = time.perf_counter()
    now = time.time() if now is None else now
    limits = limits or Thresholds.of()
    snapshots = _snapshots(r, limits)
    vehicle_ids, vehicle_d, vehicle_rows, _ = _moving(area, snapshots["transport"], "vehicles")
    vehicles_points = snapshots["transport"].points.get("vehicles")
    in_area: list[int] = []
    vehicles_inside = 0
    if vehicle_ids and vehicles_points is not None:
        lats, lons = vehicles_points.lat[vehicle_rows], vehicles_points.lon[vehicle_rows]
        close = vehicle_d <= area.radius_m
        mask = np.zeros(len(vehicle_ids), dtype=bool)
        mask[close] = _inside(area, lats[close], lons[close])
        inside = np.flatnonzero(mask)
        vehicles_inside = int(inside.size)
        in_area = [int(i) for i in inside[:MAX_LISTED]]
    ambulance_ids, ambulance_d, _, ambulance_cls = _moving(area, snapshots["medical"], "ambulances")
    free = [i for i in range(len(ambulance_ids)) if int(ambulance_cls[i]) == 0][:NEAREST_AMBULANCES]
    asks = [
        NearAsk("transport", area.lon, area.lat, area.radius_m, metrics=("delay_s",),
                extra_ids=tuple(vehicle_ids[i] for i in in_area)),
        NearAsk("medical", area.lon, area.lat, HOSPITAL_SEARCH_M, HOSPITAL_CANDIDATES,
                metrics=BED_METRICS, extra_ids=tuple(ambulance_ids[i] for i in free)),
        NearAsk("water", area.lon, area.lat, area.radius_m, metrics=WATER_METRICS),
        NearAsk("city", area.lon, area.lat, area.radius_m),
    ]
    (transport, medical, water, city), events = store.entities.read_near(
        r, asks, event_domains=("transport", "water", "medical", "city"))
    counts: dict[str, int] = {}

    # -- transport: stops in the area, routes crossing it, vehicles in it --------------------------
    stops, vehicles = [], []
    searched = _searched(transport)
    for i, (entity_id, distance, record) in enumerate(zip(transport.ids, transport.distances,
                                                          transport.records, strict=True)):
        if record is None:
            continue
        if i < searched:
            if record.get("kind") == "stop" and _contains(area, record):
                stops.append(Linked("stop", entity_id, _name(record, entity_id), distance,
                                    record.get("lat"), record.get("lon")))
            continue
        attrs = record.get("attrs") or {}
        vehicles.append(Linked(
            "vehicle", entity_id, _name(record, entity_id), float(vehicle_d[in_area[i - searched]]),
            record.get("lat"), record.get("lon"),
            {"route_id": attrs.get("route_id"), "delay_s": _reading(transport, "delay_s", i)}))
    routes = _routes_crossing(area, snapshots["transport"])

    # -- medical: the nearest hospitals with free beds, the nearest available ambulances -----------
    hospitals, ambulances = [], []
    searched = _searched(medical)
    for i, (entity_id, distance, record) in enumerate(zip(medical.ids, medical.distances,
                                                          medical.records, strict=True)):
        if record is None:
            continue
        if i >= searched:
            ambulances.append(Linked("ambulance", entity_id, _name(record, entity_id),
                                     float(ambulance_d[free[i - searched]]), record.get("lat"),
                                     record.get("lon"), {"status": record.get("status")}))
            continue
        if record.get("kind") != "hospital" or len(hospitals) >= NEAREST_HOSPITALS:
            continue
        total = _reading(medical, "beds_total", i)
        beds_free = _reading(medical, "beds_available", i)
        occupied = _reading(medical, "beds_occupied", i)
        if beds_free is None and total is not None and occupied is not None:
            beds_free = total - occupied
        if beds_free is None or beds_free <= 0:
            continue
        hospitals.append(Linked("hospital", entity_id, _name(record, entity_id), distance,
                                record.get("lat"), record.get("lon"),
                                {"beds_free": beds_free, "beds_total": total,
                                 "diversion": (record.get("attrs") or {}).get("diversion")}))

    # -- water: sensors and reservoirs in the area with their newest readings ----------------------
    sensors, reservoirs = [], []
    for i, (entity_id, distance, record) in enumerate(zip(water.ids, water.distances,
                                                          water.records, strict=True)):
        if record is None or not _contains(area, record):
            continue
        readings = {metric: value for metric in WATER_METRICS
                    if (value := _reading(water, metric, i)) is not None}
        linked = Linked(record.get("kind", "sensor"), entity_id, _name(record, entity_id), distance,
                        record.get("lat"), record.get("lon"),
                        {"zone": (record.get("attrs") or {}).get("zone"), "readings": readings})
        (reservoirs if record.get("kind") == "reservoir" else sensors).append(linked)

    # -- city: open service requests in the area ----------------------------------------------------
    requests = [Linked("request", entity_id, _name(record, entity_id), distance,
                       record.get("lat"), record.get("lon"),
                       {"service": (record.get("attrs") or {}).get("service_name"),
                        "requested_at": (record.get("attrs") or {}).get("requested_at")})
                for entity_id, distance, record in zip(city.ids, city.distances, city.records,
                                                       strict=True)
                if record is not None and record.get("kind") == "request"
                and record.get("status") != "closed" and _contains(area, record)]

    warnings = _warnings_covering(area, events, now)
    return Linkage(
        area, ambulances, hospitals, _cut(stops, "stops", counts), routes,
        vehicles, _cut(sensors, "sensors", counts), _cut(reservoirs, "reservoirs", counts),
        _cut(requests, "requests", counts), warnings, counts | {"vehicles": vehicles_inside},
        round((time.perf_counter() - started) * 1000, 2))


def _searched(near: Near) -> int:
    """How many of an answer's ids came from the GEO search (the extra ids follow them)."""
    return sum(1 for d in near.distances if d is not None)


def _contains(area: Area, record: Mapping[str, Any]) -> bool:
    lat, lon = record.get("lat"), record.get("lon")
    return isinstance(lat, (int, float)) and isinstance(lon, (int, float)) and area.contains(lat, lon)


def _warnings_covering(area: Area, events: Mapping[str, Sequence[Mapping[str, Any]]],
                       now: float) -> list[Linked]:
    """Active public warnings whose area holds the area's centre, or whose centre lies in it."""
    found = []
    for domain_events in events.values():
        for event in domain_events:
            shape = event.get("area")
            ends = event.get("ends_at")
            if (event.get("kind") != WARNING_KIND or not isinstance(shape, Mapping)
                    or (isinstance(ends, (int, float)) and ends < now)
                    or (event.get("attrs") or {}).get("msgType") == "Cancel"):
                continue
            try:
                center = area_center(shape)
                covers = point_in_area(area.lat, area.lon, shape) or (
                    center is not None and area.contains(center[0], center[1]))
            except (TypeError, ValueError, IndexError, KeyError):
                covers = False  # a malformed area covers nothing; it never breaks the panel
            if covers:
                found.append(Linked("warning", str(event.get("id")), str(event.get("title") or ""),
                                    None, center[0] if center else None,
                                    center[1] if center else None,
                                    {"severity": event.get("severity"),
                                     "area": (event.get("attrs") or {}).get("areaDesc")}))
    return found
