"""The map's read model on a real Redis: classes per layer, escaping, caching per version, grouping."""

from __future__ import annotations

import time
from typing import Iterator

import numpy as np
import pytest
import redis

from app import alerts, store
from app.model.records import Entity, Event, Observation
from app.situation import mapdata
from data_adapters.cap.parse import parse_cap
from tests.support.paths import SAMPLES

CAP_SAMPLES = SAMPLES / "cap"

HOSTILE = "<img src=x onerror=alert(1)>"
LIMITS = mapdata.Thresholds.of()
CENTER = (28.55, 112.36)


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    """Each test starts and ends without cached snapshots (they are per process)."""
    mapdata.forget_snapshots()
    yield
    mapdata.forget_snapshots()


def vehicle(n: int, lat: float, lon: float, at: float, **attrs: object) -> Entity:
    """A bus of the test feed at a position."""
    return Entity("transport", "vehicle", f"t:vehicle:{n}", lat, lon, "in_service", at, "t",
                  {"trip_id": f"trip{n}", **attrs})


def snapshot(r: redis.Redis, domain: str) -> mapdata.DomainSnapshot:
    """The domain's snapshot at its current version."""
    return mapdata.domain_snapshot(r, domain, mapdata.read_versions(r)[domain], LIMITS)


def classes_by_id(layer: str, snap: mapdata.DomainSnapshot) -> dict[str, str]:
    """entity id -> class key of one layer."""
    points = snap.points[layer]
    keys = [c.key for c in mapdata.LAYER_BY_KEY[layer].classes]
    return {i: keys[c] for i, c in zip(points.ids.tolist(), points.cls.tolist(), strict=True)}


def test_vehicles_are_classed_by_their_own_delay_else_their_trips(r: redis.Redis) -> None:
    """Own delay first, the trip's otherwise, unknown without either; hover text is escaped."""
    now = time.time()
    store.entities.write_batch(r, "transport", "t", entities=[
        vehicle(1, 28.5, 112.3, now, label=HOSTILE, route_id=HOSTILE),
        vehicle(2, 28.51, 112.31, now), vehicle(3, 28.52, 112.32, now),
        vehicle(4, 28.53, 112.33, now)],
        observations=[Observation("t:vehicle:1", "delay_s", -120.0, "s", now),
                      Observation("t:trip:trip2", "delay_s", 400.0, "s", now),
                      Observation("t:vehicle:3", "delay_s", 900.0, "s", now),
                      Observation("t:trip:trip3", "delay_s", 0.0, "s", now)])
    snap = snapshot(r, "transport")
    assert classes_by_id("vehicles", snap) == {"t:vehicle:1": "early", "t:vehicle:2": "late",
                                               "t:vehicle:3": "very_late", "t:vehicle:4": "unknown"}
    for lang in ("en", "zh"):  # worded for the reader, still escaped
        hover = " ".join(snap.points["vehicles"].hover_in(lang))
        assert "<img" not in hover and "&lt;img src=x onerror=alert(1)&gt;" in hover


def test_things_silent_past_their_feeds_budget_are_drawn_as_not_reporting(r: redis.Redis) -> None:
    """Issue 18: a bus whose last report is older than its feed's freshness budget is drawn as
    "no recent report" whatever its delay said; a fresh one keeps its class; without any feed
    health for the domain nothing is judged; stops (which report nothing) never are."""
    now = time.time()
    store.entities.write_batch(r, "transport", "t", entities=[
        vehicle(1, 28.5, 112.3, now - 10), vehicle(2, 28.51, 112.31, now - 600),
        Entity("transport", "stop", "t:stop:1", 28.52, 112.32, "active", now - 86400, "t", {})],
        observations=[Observation("t:vehicle:1", "delay_s", 0.0, "s", now),
                      Observation("t:vehicle:2", "delay_s", 900.0, "s", now - 600)])
    assert classes_by_id("vehicles", snapshot(r, "transport")) == {
        "t:vehicle:1": "on_time", "t:vehicle:2": "very_late"}  # no health: not judged
    store.feeds.write_health(r, "t", {"domain": "transport", "adapter": "gtfs_rt",
                                      "last_success": now, "freshness_budget_s": 120})
    snap = mapdata.build_domain_snapshot(r, "transport", mapdata.read_versions(r)["transport"],
                                         LIMITS, now=now)
    assert classes_by_id("vehicles", snap) == {"t:vehicle:1": "on_time", "t:vehicle:2": "quiet"}
    assert classes_by_id("stops", snap) == {"t:stop:1": "stop"}
    layer = mapdata.LAYER_BY_KEY["vehicles"]
    assert layer.classes[-1].key == "quiet" and mapdata.quiet_code(layer) == len(layer.classes) - 1
    # A sensor by its newest pressure reading; a hospital by its bed counts, not its directory entry.
    store.entities.write_batch(r, "water", "w", entities=[
        Entity("water", "sensor", f"w:sensor:{n}", 28.5, 112.3, "active", now - 86400, "w",
               {"metrics": ["pressure_bar"]}) for n in (1, 2)],
        observations=[Observation("w:sensor:1", "pressure_bar", 3.0, "bar", now - 30),
                      Observation("w:sensor:2", "pressure_bar", 3.0, "bar", now - 3600)])
    store.entities.write_batch(r, "medical", "m", entities=[
        Entity("medical", "hospital", "m:hospital:1", 28.5, 112.3, "active", now - 86400, "m", {})],
        observations=[Observation("m:hospital:1", "beds_total", 80.0, "{bed}", now - 30),
                      Observation("m:hospital:1", "beds_available", 20.0, "{bed}", now - 30)])
    for domain in ("water", "medical"):
        store.feeds.write_health(r, domain[0], {"domain": domain, "adapter": "x", "last_success": now,
                                                "freshness_budget_s": 90})
    versions = mapdata.read_versions(r)
    water = mapdata.build_domain_snapshot(r, "water", versions["water"], LIMITS, now=now)
    assert classes_by_id("sensors", water) == {"w:sensor:1": "ok", "w:sensor:2": "quiet"}
    medical = mapdata.build_domain_snapshot(r, "medical", versions["medical"], LIMITS, now=now)
    assert classes_by_id("hospitals", medical) == {"m:hospital:1": "free"}


def test_water_hospitals_ambulances_and_requests_are_classed(r: redis.Redis) -> None:
    """Pressure and level against the KPI limits, bed occupancy, call status, open and past due."""
    now = time.time()
    store.entities.write_batch(r, "water", "w", entities=[
        Entity("water", "sensor", f"w:sensor:{n}", 28.5 + n / 100, 112.3, "active", now, "w",
               {"metrics": ["pressure_bar"]}) for n in range(4)] + [
        Entity("water", "reservoir", "w:sensor:res", 28.6, 112.4, "active", now, "w",
               {"metrics": ["level_m"], "zone": HOSTILE})],
        observations=[Observation("w:sensor:0", "pressure_bar", 3.1, "bar", now),
                      Observation("w:sensor:1", "pressure_bar", 1.8, "bar", now),
                      Observation("w:sensor:2", "pressure_bar", 1.2, "bar", now),
                      Observation("w:sensor:res", "level_m", 0.5, "m", now)])
    water = snapshot(r, "water")
    assert classes_by_id("sensors", water) == {"w:sensor:0": "ok", "w:sensor:1": "low",
                                               "w:sensor:2": "very_low", "w:sensor:3": "unknown"}
    assert classes_by_id("reservoirs", water) == {"w:sensor:res": "very_low"}
    assert "&lt;img" in water.points["reservoirs"].hover[0]

    store.entities.write_batch(r, "medical", "m", entities=[
        Entity("medical", "hospital", f"m:hospital:{n}", 28.5, 112.3 + n / 100, "active", now, "m",
               {"name": f"H{n}"}) for n in range(4)] + [
        Entity("medical", "hospital", "m:hospital:nowhere", None, None, "active", now, "m", {}),
        Entity("medical", "ambulance", "m:ambulance:a", 28.5, 112.3, "on_call", now, "m", {}),
        Entity("medical", "ambulance", "m:ambulance:b", 28.5, 112.3, "available", now, "m", {})],
        observations=[Observation("m:hospital:0", "beds_total", 100, "1", now),
                      Observation("m:hospital:0", "beds_available", 50, "1", now),
                      Observation("m:hospital:1", "beds_total", 100, "1", now),
                      Observation("m:hospital:1", "beds_available", 10, "1", now),
                      Observation("m:hospital:2", "beds_total", 100, "1", now),
                      Observation("m:hospital:2", "beds_occupied", 99, "1", now)])
    medical = snapshot(r, "medical")
    assert classes_by_id("hospitals", medical) == {"m:hospital:0": "free", "m:hospital:1": "filling",
                                                   "m:hospital:2": "full", "m:hospital:3": "unknown"}
    assert classes_by_id("ambulances", medical) == {"m:ambulance:a": "on_call",
                                                    "m:ambulance:b": "available"}
    assert "1 of 100 beds free" in " ".join(medical.points["hospitals"].hover_in("en"))
    assert "空床 1 张（共 100 张）" in " ".join(medical.points["hospitals"].hover_in("zh"))

    store.entities.write_batch(r, "city", "c", entities=[
        Entity("city", "request", "c:request:open", 28.5, 112.3, "open", now, "c",
               {"service_name": HOSTILE, "expected_at": now + 3600}),
        Entity("city", "request", "c:request:late", 28.5, 112.3, "open", now, "c",
               {"expected_at": now - 60}),
        Entity("city", "request", "c:request:done", 28.5, 112.3, "closed", now, "c", {}),
        Entity("city", "request", "c:request:unlocated", None, None, "open", now, "c",
               {"unlocated": True})])
    city = snapshot(r, "city")
    # Closed requests leave the map; unlocated ones are never drawn (never at 0,0).
    assert classes_by_id("requests", city) == {"c:request:open": "open", "c:request:late": "overdue"}
    assert "&lt;img" in city.points["requests"].hover[0] or "&lt;img" in city.points["requests"].hover[1]


def test_cap_warnings_and_located_alerts(r: redis.Redis) -> None:
    """Current CAP areas become warning areas (expired ones do not); located open alerts a layer."""
    now = time.time()
    area = {"type": "Polygon", "coordinates": [[[112.3, 28.5], [112.4, 28.5], [112.4, 28.6],
                                                [112.3, 28.5]]]}
    store.entities.write_batch(r, "city", "cap", events=[
        Event("city", "cap_warning", "cap:w1", HOSTILE, now, "cap", "major", now, now + 3600, area,
              {"areaDesc": "Riverside"}),
        Event("city", "cap_warning", "cap:old", "expired", now, "cap", "minor", now - 7200,
              now - 3600, area),
        Event("city", "cap_warning", "cap:noarea", "no area", now, "cap", "minor")])
    warnings = snapshot(r, "city").warnings
    assert [w.id for w in warnings] == ["cap:w1"]
    assert mapdata.SEVERITY_CLASSES[warnings[0].severity].key == "major"
    assert "&lt;img" in warnings[0].hover and "<img" not in warnings[0].hover

    raised = alerts.raise_alert(r, fingerprint="f1", title=HOSTILE, severity="critical",
                                domain="water", source="rule", entity="w:sensor:1", lat=28.55,
                                lon=112.36)
    alerts.raise_alert(r, fingerprint="f2", title="nowhere", severity="minor", domain="water",
                       source="rule")
    alert_layer = snapshot(r, mapdata.ALERTS).points["alerts"]
    assert alert_layer.ids.tolist() == [raised.alert_id]
    assert mapdata.SEVERITY_CLASSES[int(alert_layer.cls[0])].key == "critical"
    assert all("<img" not in alert_layer.hover_in(lang)[0] for lang in ("en", "zh"))


def test_snapshot_is_built_once_per_version_and_rebuilt_after_a_reset(r: redis.Redis) -> None:
    """Concurrent sessions share one build; a new version (or a Redis that restarted its
    counters) gives a new snapshot, never the old markers."""
    now = time.time()
    store.entities.write_batch(r, "transport", "t", entities=[vehicle(1, 28.5, 112.3, now)])
    first = snapshot(r, "transport")
    assert snapshot(r, "transport") is first
    store.entities.write_batch(r, "transport", "t", entities=[vehicle(1, 28.6, 112.4, now + 1)])
    second = snapshot(r, "transport")
    assert second is not first and second.version > first.version
    assert float(second.points["vehicles"].lat[0]) == pytest.approx(28.6)
    r.flushall()  # counters start again at 1: the same version number, other data
    store.entities.write_batch(r, "transport", "t", entities=[vehicle(2, 28.7, 112.5, now)])
    third = snapshot(r, "transport")
    assert third.points["vehicles"].ids.tolist() == ["t:vehicle:2"]


def test_views_from_relayout_data() -> None:
    """The map's corners when it reports them, its centre and zoom otherwise; junk is no view."""
    corners = {"map.zoom": 13.0, "map.center": {"lat": 28.55, "lon": 112.36},
               "map._derived": {"coordinates": [[112.3, 28.6], [112.4, 28.6], [112.4, 28.5],
                                                [112.3, 28.5]]}}
    assert mapdata.view_from_relayout(corners) == mapdata.View(112.3, 28.5, 112.4, 28.6, 13.0)
    around = mapdata.view_from_relayout({"map.zoom": 12, "map.center": {"lat": 28.55, "lon": 112.36}})
    assert around is not None and around.west < 112.36 < around.east and around.zoom == 12
    for junk in (None, {}, {"autosize": True}, {"map.zoom": "x"}, {"map.zoom": 3, "map.center": 5}):
        assert mapdata.view_from_relayout(junk) is None


def test_cut_holds_the_view_and_is_kept_while_panning_inside_it() -> None:
    """A cut covers its view with a margin; a small pan stays in it, a zoom level change does not."""
    view = mapdata.view_around(*CENTER, 13.4)
    cut = mapdata.cut_for(view)
    assert view.inside(cut) and cut.zoom == 13
    assert not mapdata.needs_new_cut(view, cut)
    nudged = mapdata.View(view.west + 0.002, view.south, view.east + 0.002, view.north, 13.6)
    assert not mapdata.needs_new_cut(nudged, cut)
    assert mapdata.needs_new_cut(mapdata.view_around(*CENTER, 14.1), cut)
    far = mapdata.view_around(CENTER[0], CENTER[1] + 1.0, 13.4)
    assert mapdata.needs_new_cut(far, cut)
    assert mapdata.needs_new_cut(view, None)


def _fleet(r: redis.Redis, count: int, spread: float = 0.05, seed: int = 3) -> None:
    rng = np.random.default_rng(seed)
    now = time.time()
    lats = CENTER[0] + rng.uniform(-spread, spread, count)
    lons = CENTER[1] + rng.uniform(-spread, spread, count)
    store.entities.write_batch(r, "transport", "t", entities=[
        vehicle(n, float(lat), float(lon), now) for n, (lat, lon) in enumerate(zip(lats, lons, strict=True))],
        observations=[Observation(f"t:vehicle:{n}", "delay_s", 700.0 if n % 10 == 0 else 0.0, "s", now)
                      for n in range(count)])


def test_beyond_the_limit_the_largest_layer_is_grouped_into_cells(r: redis.Redis) -> None:
    """300 vehicles and 30 stops with room for 100 markers: vehicles become cells whose counts add
    up and whose worst class is right; stops stay markers."""
    _fleet(r, 300)
    now = time.time()
    store.entities.write_batch(r, "transport", "s", entities=[
        Entity("transport", "stop", f"s:stop:{n}", CENTER[0] + n / 1000, CENTER[1], "active", now, "s",
               {"name": f"S{n}"}) for n in range(30)])
    snap = snapshot(r, "transport")
    cut = mapdata.cut_for(mapdata.view_around(*CENTER, 11.0))
    cuts = mapdata.cut_layers({"transport": snap}, ["vehicles", "stops"], cut, max_markers=100)
    vehicles, stops = cuts["vehicles"], cuts["stops"]
    assert vehicles.grouped and not stops.grouped
    assert sum(len(c.ids) for c in stops.classes) == 30
    groups = vehicles.cells
    assert groups is not None and len(groups) == 4
    assert sum(int(g.count.sum()) for g in groups) == 300
    assert all(len(c.ids) == 0 for c in vehicles.classes)
    assert [c.total for c in vehicles.classes] == [0, 270, 0, 30, 0, 0]  # the legend still counts
    points = snap.points["vehicles"]
    seen = 0
    for rank, group in enumerate(groups):
        for lat, lon, count in zip(group.lat.tolist(), group.lon.tolist(), group.count.tolist(),
                                   strict=True):
            members = mapdata.cell_members(points, lat, lon, cut)
            assert members.size == count
            has_very_late = bool((points.cls[members] == 3).any())
            assert rank == (mapdata.BAD if has_very_late else mapdata.OK)
            seen += members.size
    assert seen == 300
    # Within the limit nothing is grouped.
    roomy = mapdata.cut_layers({"transport": snap}, ["vehicles", "stops"], cut, max_markers=5000)
    assert not roomy["vehicles"].grouped
    assert sum(len(c.ids) for c in roomy["vehicles"].classes) == 300


def test_zooming_in_draws_only_the_view_one_by_one(r: redis.Redis) -> None:
    """At street level the cut holds only nearby vehicles, below the limit: no cells."""
    _fleet(r, 2000, spread=0.2)
    snap = snapshot(r, "transport")
    city = mapdata.cut_for(mapdata.view_around(*CENTER, 10.0))
    street = mapdata.cut_for(mapdata.view_around(*CENTER, 15.0))
    assert mapdata.cut_layers({"transport": snap}, ["vehicles"], city, max_markers=500)["vehicles"].grouped
    near = mapdata.cut_layers({"transport": snap}, ["vehicles"], street, max_markers=500)["vehicles"]
    assert not near.grouped
    drawn = [i for c in near.classes for i in c.ids]
    assert 0 < len(drawn) < 500
    points = snap.points["vehicles"]
    inside = (points.lat >= street.south) & (points.lat <= street.north) & (
        points.lon >= street.west) & (points.lon <= street.east)
    assert sorted(drawn) == sorted(points.ids[inside].tolist())


def test_problems_only_keeps_the_bad_classes(r: redis.Redis) -> None:
    """The filter leaves only classes ranked warning or worse."""
    _fleet(r, 50)
    snap = snapshot(r, "transport")
    cut = mapdata.cut_for(mapdata.view_around(*CENTER, 11.0))
    only = mapdata.cut_layers({"transport": snap}, ["vehicles"], cut, problems_only=True)["vehicles"]
    assert [len(c.ids) for c in only.classes] == [0, 0, 0, 5, 0, 0]


def test_float32_positions_stay_within_a_metre(r: redis.Redis) -> None:
    """float32 halves the bytes; at the city's coordinates the error is well under a metre."""
    _fleet(r, 200)
    snap = snapshot(r, "transport")
    cut = mapdata.cut_for(mapdata.view_around(*CENTER, 11.0))
    part = mapdata.cut_layers({"transport": snap}, ["vehicles"], cut)["vehicles"].classes[1]
    points = snap.points["vehicles"]
    exact = {i: (la, lo) for i, la, lo in zip(points.ids, points.lat, points.lon, strict=True)}
    worst = max(max(abs(float(la) - exact[i][0]), abs(float(lo) - exact[i][1]))
                for i, la, lo in zip(part.ids, part.lat, part.lon, strict=True))
    assert part.lat.dtype == np.float32 and worst * 111_000 < 1.0


def test_details_of_an_entity_and_of_a_cell(r: redis.Redis) -> None:
    """A click finds the record, its latest readings and its open alerts; a cell its counts."""
    now = time.time()
    store.entities.write_batch(r, "water", "w", entities=[
        Entity("water", "sensor", "w:sensor:p1", 28.55, 112.36, "active", now, "w",
               {"metrics": ["pressure_bar", "turbidity_ntu"], "zone": HOSTILE})],
        observations=[Observation("w:sensor:p1", "pressure_bar", 1.4, "bar", now),
                      Observation("w:sensor:p1", "turbidity_ntu", 0.3, "NTU", now)])
    alerts.raise_alert(r, fingerprint="low:p1", title="Low pressure", severity="major",
                       domain="water", source="rule", entity="w:sensor:p1", lat=28.55, lon=112.36)
    alerts.raise_alert(r, fingerprint="low:other", title="Other", severity="minor",
                       domain="water", source="rule", entity="w:sensor:other")
    details = mapdata.entity_details(r, "sensors", "w:sensor:p1", LIMITS)
    assert details is not None and details.record["attrs"]["zone"] == HOSTILE  # raw: the page escapes
    assert {(m, v) for m, v, _u, _t in details.readings} == {("pressure_bar", 1.4),
                                                             ("turbidity_ntu", 0.3)}
    assert [a["title"] for a in details.alerts] == ["Low pressure"]
    assert mapdata.entity_details(r, "sensors", "w:sensor:gone", LIMITS) is None
    assert mapdata.entity_details(r, "no-such-layer", "w:sensor:p1", LIMITS) is None

    _fleet(r, 40, spread=0.0001)
    cut = mapdata.cut_for(mapdata.view_around(*CENTER, 11.0))
    snap = snapshot(r, "transport")
    groups = mapdata.cut_layers({"transport": snap}, ["vehicles"], cut, max_markers=10)["vehicles"].cells
    assert groups is not None
    centres = [(la, lo) for g in groups for la, lo in zip(g.lat.tolist(), g.lon.tolist(), strict=True)]
    by_class: dict[str, int] = {}
    for lat, lon in centres:
        cell = mapdata.cell_details(r, "vehicles", lat, lon, cut, LIMITS)
        assert cell is not None and sum(n for _, n in cell.counts) == cell.record["count"]
        for label, n in cell.counts:
            by_class[label] = by_class.get(label, 0) + n
    assert by_class == {"early": 0, "on time": 36, "late": 0, "very late": 4, "delay unknown": 0,
                        "no recent report": 0}




@pytest.mark.skipif(not CAP_SAMPLES.is_dir(), reason="shared CAP samples absent")
@pytest.mark.parametrize("name", ["NOAA_MultiplePolygons.xml", "iceland_met_office.cap", "canada.cap"])
def test_real_cap_warnings_become_areas(r: redis.Redis, name: str) -> None:
    """Real CAP files through our parser and the store: while current, every warning with an area
    is drawn with that area and its severity; once expired, none is."""
    items = list(parse_cap((CAP_SAMPLES / name).read_bytes(), "cap", time.time()))
    events = [i for i in items if isinstance(i, Event)]
    store.entities.write_batch(r, "city", "cap", events=events)
    while_current = min(e.starts_at or e.observed_at for e in events) + 1
    version = mapdata.read_versions(r)["city"]
    warnings = mapdata.build_domain_snapshot(r, "city", version, LIMITS, now=while_current).warnings
    located = {e.id: e for e in events if e.area}
    assert located and {w.id for w in warnings} == set(located)
    for w in warnings:
        assert w.geometry == located[w.id].area
        assert mapdata.SEVERITY_CLASSES[w.severity].key == located[w.id].severity
        for lang in ("en", "zh"):
            assert "<" not in mapdata.localize(w.hover, lang).replace("<br>", "")
    ends = [e.ends_at for e in located.values() if e.ends_at]
    if ends:
        later = max(ends) + 1
        assert mapdata.build_domain_snapshot(r, "city", version, LIMITS, now=later).warnings == ()
