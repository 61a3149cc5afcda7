"""The linkage of an area, checked against a brute-force computation over a generated city.

The generated city holds every kind the linkage reads (vehicles on routes, stops, route shapes,
sensors and reservoirs with readings, hospitals with beds and diversion, ambulances available and
on call, open and closed requests, warnings); the expected answer walks every record with its own
distance and its own point-in-polygon (winding numbers, not the app's ray casting).
"""

from __future__ import annotations

import math
import random
import time
from typing import Any

import pytest
import redis

from app import store
from app.model.geo import Area
from app.model.records import Entity, Event, Observation
from app.situation import linkage, mapdata

CENTER = (28.55, 112.36)
SEED = 7
R_EARTH = 6_372_797.560856


def _metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Spherical law of cosines: another formula than the app's haversine."""
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    c = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    return R_EARTH * math.acos(max(-1.0, min(1.0, c)))


def _winding(lon: float, lat: float, ring: list[list[float]]) -> bool:
    """Winding-number point-in-polygon (the app counts ray crossings)."""
    wn = 0
    for (x1, y1), (x2, y2) in zip(ring, ring[1:], strict=False):
        side = (x2 - x1) * (lat - y1) - (lon - x1) * (y2 - y1)
        if y1 <= lat < y2 and side > 0:
            wn += 1
        elif y2 <= lat < y1 and side < 0:
            wn -= 1
    return wn != 0


def _jitter(rng: random.Random, spread: float = 0.03) -> tuple[float, float]:
    return CENTER[0] + rng.uniform(-spread, spread), CENTER[1] + rng.uniform(-spread, spread)


def build_city(r: redis.Redis, now: float) -> dict[str, list[Any]]:
    """A seeded city written through the store like the adapters' batches."""
    rng = random.Random(SEED)
    city: dict[str, list[Any]] = {k: [] for k in ("vehicles", "stops", "routes", "sensors",
                                                 "reservoirs", "hospitals", "ambulances",
                                                 "requests")}
    transport = []
    for n in range(12):
        shape = [[CENTER[1] + rng.uniform(-0.04, 0.04), CENTER[0] + rng.uniform(-0.04, 0.04)]
                 for _ in range(30)]
        route = Entity("transport", "route", f"t:route:{n}", None, None, "active", now, "t",
                       {"short_name": f"R{n}", "shape": shape})
        transport.append(route)
        city["routes"].append(route)
    for n in range(400):
        lat, lon = _jitter(rng)
        vehicle = Entity("transport", "vehicle", f"t:vehicle:{n}", lat, lon, "in_service", now, "t",
                         {"route_id": f"t:route:{n % 12}", "label": f"Bus {n}"})
        transport.append(vehicle)
        city["vehicles"].append(vehicle)
    for n in range(150):
        lat, lon = _jitter(rng)
        stop = Entity("transport", "stop", f"t:stop:{n}", lat, lon, "active", now, "t", {"name": f"Stop {n}"})
        transport.append(stop)
        city["stops"].append(stop)
    store.entities.write_batch(r, "transport", "t", entities=transport)
    water, readings = [], []
    for n in range(120):
        lat, lon = _jitter(rng)
        kind = "reservoir" if n % 10 == 0 else "sensor"
        e = Entity("water", kind, f"w:{kind}:{n}", lat, lon, "ok", now, "w", {"name": f"W{n}", "zone": "z"})
        water.append(e)
        city["reservoirs" if kind == "reservoir" else "sensors"].append(e)
        readings.append(Observation(e.id, "level_m" if kind == "reservoir" else "pressure_bar",
                                    round(rng.uniform(1, 4), 2), "m" if kind == "reservoir" else "bar", now))
    store.entities.write_batch(r, "water", "w", entities=water, observations=readings)
    medical, beds = [], []
    for n in range(30):
        lat, lon = _jitter(rng, 0.2)
        e = Entity("medical", "hospital", f"m:hospital:{n}", lat, lon, "open", now, "m",
                   {"name": f"H{n}", "diversion": n % 7 == 0})
        medical.append(e)
        city["hospitals"].append(e)
        total = 100.0
        beds += [Observation(e.id, "beds_total", total, "1", now),
                 Observation(e.id, "beds_occupied", total - (0 if n % 4 == 0 else rng.randint(1, 30)),
                             "1", now)]
    for n in range(25):
        lat, lon = _jitter(rng, 0.1)
        e = Entity("medical", "ambulance", f"m:ambulance:{n}", lat, lon,
                   "on_call" if n % 3 == 0 else "available", now, "m", {"label": f"A{n}"})
        medical.append(e)
        city["ambulances"].append(e)
    store.entities.write_batch(r, "medical", "m", entities=medical, observations=beds)
    requests = []
    for n in range(200):
        lat, lon = _jitter(rng)
        e = Entity("city", "request", f"c:request:{n}", lat, lon, "closed" if n % 5 == 0 else "open",
                   now, "c", {"service_name": "Pothole"})
        requests.append(e)
        city["requests"].append(e)
    ring = [[112.34, 28.53], [112.38, 28.53], [112.38, 28.57], [112.34, 28.57], [112.34, 28.53]]
    far = [[113.0, 29.0], [113.1, 29.0], [113.1, 29.1], [113.0, 29.1], [113.0, 29.0]]
    warnings = [Event("city", "cap_warning", "c:cap:storm", "Rainstorm", now, "c", "major",
                      area={"type": "Polygon", "coordinates": [ring]}),
                Event("city", "cap_warning", "c:cap:far", "Elsewhere", now, "c", "minor",
                      area={"type": "Polygon", "coordinates": [far]})]
    store.entities.write_batch(r, "city", "c", entities=requests, events=warnings)
    mapdata.forget_snapshots()
    return city


def expected(city: dict[str, list[Any]], area: Area, shape: list[list[float]] | None,
             r: redis.Redis) -> dict[str, Any]:
    """The answer by brute force over every record."""
    def inside(e: Any) -> bool:
        if shape is not None:
            return _winding(e.lon, e.lat, shape)
        return _metres(area.lat, area.lon, e.lat, e.lon) <= area.radius_m

    def dist(e: Any) -> float:
        return _metres(area.lat, area.lon, e.lat, e.lon)

    hospitals = sorted(city["hospitals"], key=dist)[:linkage.HOSPITAL_CANDIDATES]
    occupied = store.entities.read_latest(r, "medical", "beds_occupied")
    with_beds = [h.id for h in hospitals if 100 - occupied[h.id][0] > 0][:linkage.NEAREST_HOSPITALS]
    routes = {rt.id for rt in city["routes"]
              if any(inside(type("P", (), {"lat": p[1], "lon": p[0]})) for p in rt.attrs["shape"])}
    return {
        "stops": {e.id for e in city["stops"] if inside(e)},
        "vehicles": {e.id for e in city["vehicles"] if inside(e)},
        "sensors": {e.id for e in city["sensors"] if inside(e)},
        "reservoirs": {e.id for e in city["reservoirs"] if inside(e)},
        "requests": {e.id for e in city["requests"] if inside(e) and e.status != "closed"},
        "routes": routes,
        "ambulances": [e.id for e in sorted(city["ambulances"], key=dist)
                       if e.status == "available"][:linkage.NEAREST_AMBULANCES],
        "hospitals": with_beds,
    }


def _ids(items: list[linkage.Linked]) -> set[str]:
    return {item.id for item in items}


@pytest.mark.parametrize("radius", [300.0, 1500.0])
def test_linkage_of_a_circle_matches_brute_force(r: redis.Redis, radius: float) -> None:
    """Every section of a point-and-radius area's linkage equals the brute-force answer."""
    now = time.time()
    city = build_city(r, now)
    area = Area.circle(CENTER[0] + 0.004, CENTER[1] - 0.003, radius)
    got = linkage.compute(r, area, now=now)
    want = expected(city, area, None, r)
    assert _ids(got.stops) == want["stops"]
    assert _ids(got.vehicles) == want["vehicles"] and got.counts["vehicles"] == len(want["vehicles"])
    assert _ids(got.sensors) == want["sensors"]
    assert _ids(got.reservoirs) == want["reservoirs"]
    assert _ids(got.requests) == want["requests"]
    assert _ids(got.routes) == want["routes"]
    assert [a.id for a in got.ambulances] == want["ambulances"]
    assert [h.id for h in got.hospitals] == want["hospitals"]
    assert sum(len(want[k]) for k in ("stops", "vehicles", "sensors", "requests")) > 0
    distances = [a.distance_m for a in got.ambulances]
    assert distances == sorted(distances)
    by_id = {e.id: e for e in city["ambulances"]}
    for a in got.ambulances:
        e = by_id[a.id]
        assert a.distance_m == pytest.approx(_metres(area.lat, area.lon, e.lat, e.lon), abs=1.0)
    assert {w.id for w in got.warnings} == {"c:cap:storm"}
    reading = next(iter(got.sensors)).detail["readings"]["pressure_bar"] if got.sensors else None
    assert reading is None or 1 <= reading <= 4


def test_linkage_of_a_drawn_shape_matches_brute_force(r: redis.Redis) -> None:
    """A polygon area (drawn, or a CAP warning's) cuts by the shape, not by its enclosing circle."""
    now = time.time()
    city = build_city(r, now)
    shape = [[112.355, 28.545], [112.372, 28.548], [112.368, 28.562], [112.352, 28.558],
             [112.355, 28.545]]
    area = Area.of_shape({"type": "Polygon", "coordinates": [shape]})
    got = linkage.compute(r, area, now=now)
    want = expected(city, area, shape, r)
    for section in ("stops", "vehicles", "sensors", "reservoirs", "requests", "routes"):
        assert _ids(getattr(got, section)) == want[section], section
    circle = Area.circle(area.lat, area.lon, area.radius_m)
    assert _ids(linkage.compute(r, circle, now=now).stops) > want["stops"]  # the circle holds more


def test_an_empty_city_links_nothing(r: redis.Redis) -> None:
    """No data: every section is empty, nothing fails."""
    mapdata.forget_snapshots()
    got = linkage.compute(r, Area.circle(*CENTER, 500.0))
    assert not any(getattr(got, s) for s in ("ambulances", "hospitals", "stops", "routes",
                                              "vehicles", "sensors", "reservoirs", "requests",
                                              "warnings"))


def test_area_validation() -> None:
    """An area needs a valid position and a radius, or a polygon with points."""
    with pytest.raises(ValueError):
        Area.circle(91.0, 0.5, 10.0)
    with pytest.raises(ValueError):
        Area.circle(28.5, 112.3, -1.0)
    with pytest.raises(ValueError):
        Area.of_shape({"type": "Point", "coordinates": [112.3, 28.5]})
