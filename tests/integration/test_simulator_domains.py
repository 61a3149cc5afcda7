"""The demo city's water, medical, city-management and warning feeds, its ambulances and the rainstorm.

Every payload is read back with the project's own parser (or the format's library) and must give
no Rejected rows; daily patterns, paging, incremental polling, the scale knobs and the rainstorm
timeline are checked at chosen instants, since every model is a pure function of (seed, time).
"""

from __future__ import annotations

import dataclasses
import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest
import redis
from google.transit import gtfs_realtime_pb2 as rt

from app import store
from app.model.records import Entity, Event, Observation, Rejected, Removed
from app.pipeline.ingest import ingest
from app.store.embedded import free_port
from data_adapters import registry
from data_adapters.base import ParseError
from data_adapters.cap.parse import parse_cap
from data_adapters.city.open311 import parse_requests, parse_services
from data_adapters.demo import demo_feeds
from data_adapters.medical.fhir import parse_fhir
from data_adapters.simulator import (
    AmbulanceService,
    CityModel,
    FhirService,
    Fleet,
    HospitalNetwork,
    RequestBook,
    SensorThingsService,
    SimulatorServer,
    TransitNetwork,
    WarningFeed,
    WaterNetwork,
    make_scenario,
)
from data_adapters.simulator.city import District, points_in_polygon
from data_adapters.simulator.patterns import hospital_load, request_arrivals, water_demand
from data_adapters.simulator.scenario import BUS_DELAY_PEAK_S, Scenario
from data_adapters.simulator.sta import OBSERVATION_ID_BASE
from data_adapters.simulator.water import (
    CHLORINE,
    CHLORINE_MIN_MGL,
    FLOW,
    LOW_PRESSURE_BAR,
    PRESSURE,
    TURBIDITY,
    TURBIDITY_LIMIT_NTU,
)
from data_adapters.transport.gtfs_rt import parse_feed_message
from data_adapters.water.senml import parse_senml
from data_adapters.water.sensorthings import parse_observations
from tests.support.paths import REPO

DAY0 = 1_767_196_800.0           # 2026-01-01 00:00 in Yiyang (UTC+8)
STORM = DAY0 + 13 * 3600.0        # the rainstorm starts at 13:00
STA_ROOT = "http://127.0.0.1:9/sta/v1.1"
FHIR_BASE = "http://127.0.0.1:9/fhir"
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
SEED = 4


def at(hour: float, day: int = 0) -> float:
    """POSIX time of ``hour`` o'clock in Yiyang on day ``day`` after 2026-01-01."""
    return DAY0 + day * 86_400 + hour * 3600.0


@pytest.fixture(scope="module")
def city() -> CityModel:
    """One city shared by the read-only tests."""
    return CityModel.generate(SEED)


@pytest.fixture(scope="module")
def storm(city: CityModel) -> Scenario:
    """The rainstorm starting at 13:00 on 2026-01-01."""
    scenario = make_scenario("rainstorm", city, STORM)
    assert scenario is not None
    return scenario


def rejected(items: list[Any]) -> list[Rejected]:
    """The Rejected items of a parse."""
    return [i for i in items if isinstance(i, Rejected)]


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, bytes, str]:
    """(status, content type, body, ETag) of a GET, HTTP errors included."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with OPENER.open(request, timeout=20) as response:
            return (response.status, response.headers.get("Content-Type", ""), response.read(),
                    response.headers.get("ETag", ""))
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read(), error.headers.get("ETag", "")


# -- water ------------------------------------------------------------------------------------------
def streams(net: WaterNetwork, measurement: int, zone: int | None = None, inlet: bool = False) -> list[int]:
    """Datastream indexes of one measurement (in one zone, only zone inlet meters)."""
    return [d.index for d in net.datastreams if d.measurement == measurement
            and (zone is None or net.sensors[d.sensor].zone == zone)
            and (not inlet or net.sensors[d.sensor].name.endswith("inlet meter"))]


def test_water_network_is_seeded_and_sized_by_the_knob(city: CityModel) -> None:
    """Same seed, same sensors and readings; the knob sets the sensor count; every zone is covered."""
    a, b = WaterNetwork(city, SEED, 60), WaterNetwork(city, SEED, 60)
    assert [s.id for s in a.sensors] == [s.id for s in b.sensors] and len(a.sensors) == 60
    ds = np.arange(len(a.datastreams))
    times = np.full(len(ds), at(9.5))
    assert np.array_equal(a.values(ds, times), b.values(ds, times))
    assert not np.array_equal(a.values(ds, times), WaterNetwork(city, SEED + 1, 60).values(ds, times))
    assert len({s.id for s in a.sensors}) == 60
    kinds = Counter(s.kind for s in a.sensors)
    assert kinds["river"] == 3 and kinds["reservoir"] == 2 and kinds["pressure"] > kinds["flow"]
    for zone in a.zones:
        in_zone = [s for s in a.sensors if s.zone == zone.index]
        assert {"pressure", "flow", "quality"} <= {s.kind for s in in_zone}
        # A sensor of a zone stands in that zone's district.
        lons, lats = [s.lon for s in in_zone], [s.lat for s in in_zone]
        assert points_in_polygon(lons, lats, zone.district.polygon).all()
    assert len(WaterNetwork(city, SEED, 2000).sensors) == 2000
    with pytest.raises(ValueError, match="sensors must be"):
        WaterNetwork(city, SEED, 5)


def test_flow_is_lowest_at_night_and_the_leaking_zone_keeps_flowing(city: CityModel) -> None:
    """Inlet flow follows demand (02:00-04:00 low, morning peak); the leak raises one zone's night flow."""
    net = WaterNetwork(city, SEED, 40)
    days = range(5)
    ratios = {}
    for zone in net.zones:
        inlet = streams(net, FLOW, zone.index, inlet=True)
        assert len(inlet) == 1

        def flow(hour: float, inlet: list[int] = inlet) -> float:
            """Mean inlet flow at ``hour`` over the days."""
            times = np.array([at(hour, d) for d in days])
            return float(net.values(np.repeat(inlet, len(times)), times).mean())

        night = np.mean([flow(h) for h in (2.5, 3.0, 3.5)])
        day_mean = np.mean([flow(h + 0.5) for h in range(24)])
        assert night < 0.7 * day_mean < flow(7.5)
        ratios[zone.index] = night / day_mean
    leak = net.leak_zone
    assert ratios[leak] == max(ratios.values())
    assert ratios[leak] > 1.1 * max(r for z, r in ratios.items() if z != leak)
    # The curve itself: the minimum of the day falls between 02:00 and 04:30.
    hours = np.linspace(0, 24, 24 * 12, endpoint=False)
    assert 2.0 <= hours[np.argmin(water_demand(hours))] <= 4.5


def test_pressure_is_lowest_at_peak_demand_and_calm_stays_above_alert_level(city: CityModel) -> None:
    """Head loss: pressure falls when demand peaks; on a calm day no logger goes below 2 bar."""
    net = WaterNetwork(city, SEED, 60)
    loggers = streams(net, PRESSURE)
    times = np.array([at(h / 4) for h in range(96)])
    grid = net.values(np.repeat(loggers, len(times)), np.tile(times, len(loggers))).reshape(len(loggers), -1)
    assert grid.min() > 2.5 and grid.max() < 5.5
    night, peak = grid[:, 12].mean(), grid[:, 30].mean()  # 03:00 and 07:30
    assert night - peak > 0.4


def test_water_quality_stays_within_limits_but_for_short_excursions(city: CityModel) -> None:
    """Turbidity under 1 NTU and free chlorine well above 0.05 mg/L nearly always, bar a few excursions."""
    net = WaterNetwork(city, SEED, 80)
    times = np.arange(at(0), at(0, 7), 600.0)
    for measurement, bad in ((TURBIDITY, lambda v: v > TURBIDITY_LIMIT_NTU), (CHLORINE, lambda v: v < 0.2)):
        ds = streams(net, measurement)
        values = net.values(np.repeat(ds, len(times)), np.tile(times, len(ds)))
        share = float(np.mean(bad(values)))
        assert 0.0 < share < 0.05, (measurement, share)
        if measurement == CHLORINE:
            assert values.min() >= 0.02 and np.mean(values < CHLORINE_MIN_MGL) < 0.02


def test_senml_pack_parses_cleanly_and_matches_the_readings(city: CityModel) -> None:
    """The SenML pack: every sensor positioned, zone from its id, values equal to the model's."""
    net = WaterNetwork(city, SEED, 30)
    now = at(10.2)
    items = list(parse_senml(net.senml(now), "w", now, zones={"HE-": "Heshan"}))
    assert rejected(items) == []
    entities = {e.id: e for e in items if isinstance(e, Entity)}
    assert len(entities) == 30
    assert entities["w:sensor:RES-1"].kind == "reservoir"
    assert all(e.attrs.get("zone") == "Heshan" for k, e in entities.items() if k.startswith("w:sensor:HE-"))
    latest = net.latest_times(now)
    values = net.values(np.arange(len(net.datastreams)), latest)
    metric = {PRESSURE: "pressure_bar", FLOW: "flow_m3h", TURBIDITY: "turbidity_ntu",
              CHLORINE: "free_chlorine_mgl"}
    observations = {(o.entity_id, o.metric): o for o in items if isinstance(o, Observation)}
    for d in net.datastreams:
        sensor = net.sensors[d.sensor]
        obs = observations[(f"w:sensor:{sensor.id}", metric.get(d.measurement, "level_m"))]
        assert obs.observed_at == latest[d.index] <= now
        assert obs.value == pytest.approx(values[d.index], abs=1e-6)


# -- SensorThings -----------------------------------------------------------------------------------
def sta(service: SensorThingsService, url: str, now: float) -> tuple[int, dict[str, Any]]:
    """GET an absolute STA URL from the service (no HTTP) as (status, JSON)."""
    parts = urlsplit(url)
    status, body = service.handle(STA_ROOT, parts.path[len("/sta/v1.1"):], parts.query, now)
    return status, json.loads(body)


def all_readings(net: WaterNetwork, low: int, high: int) -> list[tuple[int, int]]:
    """(time, datastream index) of every reading in [low, high], by brute force."""
    found = []
    for d in net.datastreams:
        first = low + (d.offset_s - low) % d.period_s
        found += [(t, d.index) for t in range(first, high + 1, d.period_s)]
    return sorted(found)


def test_sta_observations_page_through_next_links_exactly(city: CityModel) -> None:
    """$filter/$orderby/$top pages, followed by @iot.nextLink, give every reading once, in order."""
    net = WaterNetwork(city, SEED, 16)
    service = SensorThingsService(net)
    now = at(11.3)
    since = int(now) - 1800
    cursor = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since))
    start = (f"{STA_ROOT}/Observations?$expand=Datastream&$filter=phenomenonTime%20gt%20{cursor}"
             "&$orderby=phenomenonTime%20asc&$top=37&$count=true")
    expected = all_readings(net, since + 1, int(now))
    seen: list[dict[str, Any]] = []
    url: str | None = start
    pages = 0
    while url:
        status, doc = sta(service, url, now)
        assert status == 200 and doc["@iot.count"] == len(expected)
        seen += doc["value"]
        url = doc.get("@iot.nextLink")
        pages += 1
    assert pages == -(-len(expected) // 37)
    got = [(int(o["@iot.id"]) // OBSERVATION_ID_BASE, o["Datastream"]["@iot.id"] - 1) for o in seen]
    assert got == expected
    values = net.values(np.array([d for _, d in got]), np.array([t for t, _ in got]))
    assert [o["result"] for o in seen] == values.tolist()
    first = seen[0]
    assert first["phenomenonTime"] == first["resultTime"] and first["phenomenonTime"].endswith("Z")
    # Newest first, skipping some: the mirror image.
    status, doc = sta(service, f"{STA_ROOT}/Observations?$orderby=phenomenonTime%20desc&$skip=5&$top=20", now)
    newest = all_readings(net, int(now) - 24 * 3600 + 1, int(now))[::-1][5:25]
    assert [(o["@iot.id"] // OBSERVATION_ID_BASE, o["@iot.id"] % OBSERVATION_ID_BASE - 1)
            for o in doc["value"]] == newest
    # One datastream's readings, through its navigation path and through a filter, agree.
    status, nav = sta(service, f"{STA_ROOT}/Datastreams(3)/Observations?$top=5&$orderby=@iot.id%20desc", now)
    status2, filtered = sta(service, f"{STA_ROOT}/Observations?$filter=Datastream/@iot.id%20eq%203"
                                     "&$top=5&$orderby=phenomenonTime%20desc", now)
    assert status == status2 == 200 and nav["value"] == filtered["value"] and len(nav["value"]) == 5


def test_sta_things_locations_and_datastreams_follow_the_v11_shapes(city: CityModel) -> None:
    """Things with Locations (GeoJSON points in the city) and Datastreams; selfLinks resolve."""
    net = WaterNetwork(city, SEED, 20)
    service = SensorThingsService(net)
    now = at(12)
    status, doc = sta(service, f"{STA_ROOT}/Things?$expand=Locations,Datastreams&$top=100&$count=true", now)
    assert status == 200 and doc["@iot.count"] == 20 and len(doc["value"]) == 20
    assert "@iot.nextLink" not in doc
    west, south, east, north = city.bbox
    for thing in doc["value"]:
        assert {"@iot.id", "@iot.selfLink", "name", "description", "properties",
                "Datastreams@iot.navigationLink", "Locations@iot.navigationLink"} <= set(thing)
        location = thing["Locations"][0]
        assert location["encodingType"] == "application/geo+json"
        lon, lat = location["location"]["coordinates"]
        assert location["location"]["type"] == "Point" and west <= lon <= east and south <= lat <= north
        for ds in thing["Datastreams"]:
            assert ds["observationType"].endswith("OM_Measurement")
            assert set(ds["unitOfMeasurement"]) == {"name", "symbol", "definition"}
            start, end = ds["phenomenonTime"].split("/")
            assert start < end
        status, again = sta(service, thing["@iot.selfLink"], now)
        assert status == 200 and again["name"] == thing["name"]
    # A small page of a finite set links to the next one.
    status, page = sta(service, f"{STA_ROOT}/Datastreams?$top=4&$skip=4&$select=id,name", now)
    assert [d["@iot.id"] for d in page["value"]] == [5, 6, 7, 8]
    assert set(page["value"][0]) == {"@iot.id", "name"} and "$skip=8" in page["@iot.nextLink"]
    status, root = sta(service, STA_ROOT, now)
    assert status == 200 and {v["name"] for v in root["value"]} >= {"Things", "Observations"}
    assert any("datamodel" in c for c in root["serverSettings"]["conformance"])


def test_sta_refuses_what_it_does_not_support_with_an_error_document(city: CityModel) -> None:
    """Unknown options and filters are 400, unknown entities 404, each with a JSON error."""
    service = SensorThingsService(WaterNetwork(city, SEED, 16))
    now = at(12)
    for url, status in ((f"{STA_ROOT}/Observations?$foo=1", 400),
                        (f"{STA_ROOT}/Observations?$filter=result%20gt%203", 400),
                        (f"{STA_ROOT}/Observations?$filter=phenomenonTime%20gt%202026-01-01T00:00:00", 400),
                        (f"{STA_ROOT}/Observations?$top=-1", 400),
                        (f"{STA_ROOT}/Things?$filter=name%20eq%20'x'", 400),
                        (f"{STA_ROOT}/Things?$expand=Nope", 400),
                        (f"{STA_ROOT}/Things(999)", 404), (f"{STA_ROOT}/Observations(12345)", 404),
                        (f"{STA_ROOT}/Nothings", 404), (f"{STA_ROOT}/Things(1)/Nope", 404)):
        got, doc = sta(service, url, now)
        assert got == status and doc["code"] == status and doc["message"], url
    got, doc = sta(service, f"{STA_ROOT}/Observations?$top=5000", now)
    assert got == 200 and len(doc["value"]) == 1000  # capped, as servers do


def test_sta_payload_parses_with_the_project_sensorthings_parser(city: CityModel) -> None:
    """The adapter's own parser reads the demo's Observations with no rejection, zones included."""
    net = WaterNetwork(city, SEED, 24)
    service = SensorThingsService(net)
    now = at(14)
    status, body = service.handle(STA_ROOT, "/Observations",
                                  "$expand=Datastream($expand=Thing/Locations,ObservedProperty)&$top=1000"
                                  "&$filter=phenomenonTime%20gt%202026-01-01T05:30:00Z", now)
    assert status == 200
    items = list(parse_observations(body, "water", zones={"HE-": "Heshan", "ZI-": "Ziyang"}))
    assert rejected(items) == []
    metrics = {o.metric for o in items if isinstance(o, Observation)}
    assert {"pressure_bar", "flow_m3h", "turbidity_ntu", "free_chlorine_mgl", "level_m"} <= metrics
    sensors = [e for e in items if isinstance(e, Entity)]
    assert len(sensors) == len(net.datastreams)
    assert {e.attrs.get("zone") for e in sensors} >= {"Heshan", "Ziyang"}


# -- medical ----------------------------------------------------------------------------------------
def test_fhir_hospitals_and_capacity_parse_cleanly(city: CityModel) -> None:
    """Location (+ included Organization) and SANER MeasureReport Bundles: no rejections, sane counts."""
    service = FhirService(HospitalNetwork(city, SEED, 8))
    now = at(18.2)
    status, body = service.handle(FHIR_BASE, "/Location",
                                  "type=HOSP&_include=Location:organization&_count=50", now)
    assert status == 200
    items = list(parse_fhir(body, "med", now))
    assert rejected(items) == []
    hospitals = [e for e in items if isinstance(e, Entity) and e.kind == "hospital"]
    assert len(hospitals) == 8 and len([e for e in items if isinstance(e, Entity)]) == 16
    west, south, east, north = city.bbox
    assert all(west < h.lon < east and south < h.lat < north for h in hospitals)
    assert all(h.attrs["organization_name"] for h in hospitals)
    status, body = service.handle(FHIR_BASE, "/MeasureReport",
                                  "measure=http://hl7.org/fhir/uv/saner/Measure/CDCPatientImpactAndHospitalCapacity",
                                  now)
    items = list(parse_fhir(body, "med", now))
    assert rejected(items) == []
    by_hospital: dict[str, dict[str, float]] = {}
    for o in items:
        if isinstance(o, Observation):
            by_hospital.setdefault(o.entity_id, {})[o.metric] = o.value
            assert o.observed_at == now - now % 300
    assert set(by_hospital) == {h.id for h in hospitals}
    for counts in by_hospital.values():
        assert 0 < counts["beds_occupied"] <= counts["beds_total"]
        assert counts["beds_available"] == counts["beds_total"] - counts["beds_occupied"]
        assert 0 <= counts["icu_beds_occupied"] <= counts["icu_beds_total"]
        assert 0 <= counts["ventilators_in_use"] <= counts["ventilators_total"]
    # Searches that match nothing, reads, and errors.
    empty = json.loads(service.handle(FHIR_BASE, "/MeasureReport", "measure=http://x/other", now)[1])
    assert empty["total"] == 0 and empty["entry"] == []
    status, body = service.handle(FHIR_BASE, "/Location/hosp-3", "", now)
    assert status == 200 and json.loads(body)["id"] == "hosp-3"
    status, body = service.handle(FHIR_BASE, "/Patient", "", now)
    assert status == 404 and json.loads(body)["resourceType"] == "OperationOutcome"
    with pytest.raises(ParseError, match="OperationOutcome"):
        list(parse_fhir(service.handle(FHIR_BASE, "/Location", "_count=many", now)[1], "med", now))


def test_hospital_load_peaks_in_the_evening(city: CityModel) -> None:
    """City-wide bed occupancy is higher at 20:00 than at 08:00, day after day."""
    net = HospitalNetwork(city, SEED, 12)
    everyone = list(range(12))
    for day in range(4):
        evening = net.capacity(everyone, at(20, day))["numBedsOcc"].sum()
        morning = net.capacity(everyone, at(8, day))["numBedsOcc"].sum()
        assert evening > morning * 1.05
    hours = np.linspace(0, 24, 96, endpoint=False)
    assert 17 <= hours[np.argmax(hospital_load(hours))] <= 23


def test_fhir_search_pages_with_next_links_through_the_real_adapter() -> None:
    """23 hospitals, 5 a page: the FHIR adapter follows the next links and reads all of them."""
    with SimulatorServer(vehicles=20, seed=SEED, hospitals=23, cache_s=0.0) as server:
        adapter = registry.build({"name": "med", "adapter": "fhir",
                                  "url": f"{server.url}fhir/Location?type=HOSP&_include=Location:organization"
                                         "&_count=5"})
        raw = adapter.fetch()
        assert raw.meta["pages"] == "5" and raw.meta["truncated"] == "false"
        items = list(adapter.parse(raw))
    assert rejected(items) == []
    kinds = Counter(e.kind for e in items if isinstance(e, Entity))
    assert kinds == {"hospital": 23, "organization": 23}


# -- ambulances -------------------------------------------------------------------------------------
def test_ambulances_mostly_wait_at_stations_and_some_run_calls(city: CityModel) -> None:
    """One VehiclePosition per ambulance; a trip_id call-<n> only while on a call; plausible motion."""
    hospitals = HospitalNetwork(city, SEED, 8).hospitals
    service = AmbulanceService(city, hospitals, SEED, 12)
    stations = np.array([city.nodes[node] for node in service.stations])
    on_call_counts = []
    west, south, east, north = city.bbox
    for now in np.arange(at(0), at(0, 2), 900.0):
        feed = rt.FeedMessage()
        feed.ParseFromString(service.vehicle_positions(now))
        assert feed.header.incrementality == rt.FeedHeader.FULL_DATASET
        assert [e.vehicle.vehicle.id for e in feed.entity] == [f"amb-{k:02d}" for k in range(1, 13)]
        calls = [e.vehicle.trip.trip_id for e in feed.entity if e.vehicle.HasField("trip")]
        assert all(c.startswith("call-") and c[5:].isdigit() for c in calls)
        on_call_counts.append(len(calls))
        waiting = [e for e in feed.entity if not e.vehicle.HasField("trip") and e.vehicle.position.speed == 0]
        assert len(waiting) >= 6  # most wait
        for e in waiting:
            # Positions are float32 in GTFS-rt: about a metre of rounding.
            gap = np.hypot(*(stations - (e.vehicle.position.longitude, e.vehicle.position.latitude)).T)
            assert gap.min() < 2e-5
        for e in feed.entity:
            p = e.vehicle.position
            assert west <= p.longitude <= east and south <= p.latitude <= north
            assert e.vehicle.timestamp == int(now)
        assert rejected(list(parse_feed_message(service.vehicle_positions(now), "amb", now))) == []
    assert max(on_call_counts) >= 2 and sum(on_call_counts) > 0
    assert np.mean(on_call_counts) < 4


def test_an_ambulance_call_reaches_the_incident_then_the_nearest_hospital(city: CityModel) -> None:
    """Drive, scene, hospital, handover (all on the call), then back to the station without a trip."""
    hospitals = HospitalNetwork(city, SEED, 8).hospitals
    service = AmbulanceService(city, hospitals, SEED, 12)
    call = next(c for w in range(int(at(0)) // 14_400, int(at(0)) // 14_400 + 50) for k in range(12)
                if (c := service.regular_call(k, w)) is not None)
    ambulance = call.number % 10_000
    to_scene, scene, to_hospital, handover, back = call.legs
    assert [leg.on_call for leg in call.legs] == [True, True, True, True, False]
    trip = f"call-{call.number}"
    for leg in call.legs[:4]:
        assert service.state(ambulance, (leg.t0 + leg.t1) / 2)[4] == trip
    assert service.state(ambulance, (back.t0 + back.t1) / 2)[4] is None
    hospital = hospitals[call.hospital]
    lon, lat, _, speed, _ = service.state(ambulance, (handover.t0 + handover.t1) / 2)
    assert (lon, lat) == pytest.approx((hospital.lon, hospital.lat), abs=1e-6) and speed == 0.0
    incident = np.array(city.to_xy(*city.nodes[call.incident_node]))
    nearest = min(hospitals, key=lambda h: float(np.hypot(*(np.array(city.to_xy(h.lon, h.lat)) - incident))))
    assert nearest.index == hospital.index
    # Moving at most ~40 km/h along the road: never a jump.
    lon0, lat0, *_ = service.state(ambulance, to_hospital.t0 + 10)
    lon1, lat1, *_ = service.state(ambulance, to_hospital.t0 + 20)
    x0, y0 = city.to_xy(lon0, lat0)
    x1, y1 = city.to_xy(lon1, lat1)
    assert float(np.hypot(x1 - x0, y1 - y0)) <= 11.0 * 10 + 1


# -- Open311 ----------------------------------------------------------------------------------------
def test_requests_arrive_by_day_and_about_the_target_stay_open(city: CityModel) -> None:
    """Daytime filing rate is several times the night's; open requests hover around the knob."""
    book = RequestBook(city, SEED, 200)
    columns = book.generate(at(0, 7))
    hours = ((columns["filed"] + 8 * 3600) % 86_400) // 3600
    day, night = np.isin(hours, range(9, 18)).sum() / 9, np.isin(hours, range(0, 6)).sum() / 6
    assert day > 3 * night > 0
    assert 9 <= np.argmax(request_arrivals(np.arange(24) + 0.5)) <= 17
    counts = [book.open_count(at(h, 7)) for h in (3, 11, 19)]
    assert all(120 <= c <= 320 for c in counts), counts


def test_request_list_parses_with_unlocated_multiline_and_overdue_requests(city: CityModel) -> None:
    """requests.json reads with no rejection; it has unlocated, multi-line and overdue requests."""
    book = RequestBook(city, SEED, 400)
    now = at(15, 3)
    status, body = book.handle("/requests.json", "", now)
    assert status == 200
    items = list(parse_requests(body, "city", now))
    assert rejected(items) == []
    requests = [e for e in items if isinstance(e, Entity)]
    assert Counter(e.status for e in requests).keys() == {"open", "closed"}
    unlocated = [e for e in requests if e.attrs["unlocated"]]
    assert 0 < len(unlocated) < 0.08 * len(requests) and all(e.lat is None for e in unlocated)
    assert any("\n" in (e.attrs["description"] or "") for e in requests)
    assert any("<" in (e.attrs["description"] or "") for e in requests)
    overdue = [e for e in requests if e.status == "open" and e.attrs["expected_at"] < now]
    assert 0 < len(overdue) < 0.5 * len(requests)
    assert all(e.attrs["notes"] == [] for e in requests if "notes" in e.attrs)
    codes = {e.attrs["service_code"] for e in requests}
    services = list(parse_services(book.handle("/services.json", "", now)[1], "city", now))
    assert rejected(services) == []
    assert codes <= {e.id.rsplit(":", 1)[1] for e in services if isinstance(e, Event)}
    # Closed requests are listed for a day after closing, then only open ones remain from before.
    for e in requests:
        if e.status == "closed":
            assert e.attrs["updated_at"] > now - 86_400


def test_updated_after_lists_exactly_what_changed(city: CityModel) -> None:
    """An incremental poll gives every request changed since the cursor and nothing else."""
    book = RequestBook(city, SEED, 300)
    then, now = at(10, 2), at(10.5, 2)
    cursor = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(then))
    status, body = book.handle("/requests.json", f"updated_after={cursor}", now)
    changed = {e.id: e for e in parse_requests(body, "c", now) if isinstance(e, Entity)}
    full_now = {e.id: e for e in parse_requests(book.handle("/requests.json", "", now)[1], "c", now)
                if isinstance(e, Entity)}
    assert changed and all(then < e.attrs["updated_at"] <= now for e in changed.values())
    assert set(changed) == {k for k, e in full_now.items() if e.attrs["updated_at"] > then}
    new = [e for e in changed.values() if e.attrs["requested_at"] > then]
    closed = [e for e in changed.values() if e.status == "closed"]
    assert new and closed
    # The Open311 adapter's own cursor walks forward over the same server.
    status, body = book.handle("/requests.json", "updated_after=yesterday", now)
    assert status == 400
    with pytest.raises(ParseError, match="Open311 error: 400"):
        list(parse_requests(body, "c", now))
    status, body = book.handle(f"/requests/{next(iter(changed)).rsplit(':', 1)[1]}.json", "", now)
    assert status == 200 and len(json.loads(body)) == 1
    assert book.handle("/requests/999.json", "", now)[0] == 404


def test_ten_thousand_open_requests_are_listed_in_reasonable_time(city: CityModel) -> None:
    """The knob scales: 10,000 open requests, listed and parsed without a rejection."""
    book = RequestBook(city, SEED, 10_000)
    now = at(16, 4)
    started = time.perf_counter()
    status, body = book.handle("/requests.json", "status=open", now)
    elapsed = time.perf_counter() - started
    assert status == 200 and elapsed < 10.0, elapsed
    items = list(parse_requests(body, "city", now))
    assert rejected(items) == []
    open_requests = [e for e in items if isinstance(e, Entity)]
    assert all(e.status == "open" for e in open_requests)
    assert 7_000 <= len(open_requests) <= 13_000


# -- CAP --------------------------------------------------------------------------------------------
def test_calm_warnings_are_empty_or_a_minor_advisory(city: CityModel) -> None:
    """Day after day: nothing, or one Minor advisory over the city from 09:00 to 18:00."""
    feed = WarningFeed(city, SEED)
    with_advisory = 0
    for day in range(30):
        assert list(parse_cap(feed.atom(at(3, day), "http://x/cap"), "cap", at(3, day))) == []
        items = list(parse_cap(feed.atom(at(13, day), "http://x/cap"), "cap", at(13, day)))
        assert rejected(items) == [] and len(items) <= 1
        for event in items:
            assert isinstance(event, Event) and event.severity == "warning"
            assert event.attrs["cap_severity"] == "Minor" and event.area is not None
            assert event.starts_at == at(9, day) and event.ends_at == at(18, day)
            with_advisory += 1
    assert 2 <= with_advisory <= 15


def test_cap_text_is_escaped_xml(city: CityModel, storm: Scenario) -> None:
    """Markup in names reaches the parser as text: the XML escapes it."""
    odd = District('He<shan> & "Co"', "赫山", storm.district.polygon)
    feed = WarningFeed(city, SEED, dataclasses.replace(storm, district=odd))
    body = feed.atom(STORM + 60, "http://x/cap?a=1&b=<2>")
    assert b"He&lt;shan&gt; &amp;" in body
    [event] = list(parse_cap(body, "cap", STORM + 60))
    assert isinstance(event, Event) and 'He<shan> & "Co"' in event.title


# -- the rainstorm ------------------------------------------------------------------------------------
def test_rainstorm_warning_is_issued_raised_and_cancelled(city: CityModel, storm: Scenario) -> None:
    """Alert (Severe/Expected/Likely) over the district, an Update to Extreme, then a Cancel."""
    feed = WarningFeed(city, SEED, storm)

    def items(minutes: float) -> list[Any]:
        """The parsed feed ``minutes`` after the start."""
        now = STORM + 60 * minutes
        return list(parse_cap(feed.atom(now, "http://x/cap"), "cap", now))

    assert items(-5) == []
    [first] = items(1)
    assert isinstance(first, Event) and first.severity == "major"
    assert (first.attrs["cap_severity"], first.attrs["urgency"], first.attrs["certainty"]) == \
        ("Severe", "Expected", "Likely")
    ring = np.array(first.area["coordinates"][0])  # type: ignore[index]
    nodes = np.array(city.nodes)
    in_district = points_in_polygon(nodes[:, 0], nodes[:, 1], storm.district.polygon)
    in_warning = points_in_polygon(nodes[:, 0], nodes[:, 1], [tuple(p) for p in ring])
    assert in_district.sum() > 5 and (in_district == in_warning).mean() > 0.95
    raised = items(25)
    [update] = [i for i in raised if isinstance(i, Event)]
    assert update.severity == "critical" and update.attrs["msgType"] == "Update"
    assert [i.id for i in raised if isinstance(i, Removed)] == [first.id]
    cancelled = items(65)
    assert not any(isinstance(i, Event) for i in cancelled)
    assert {i.id for i in cancelled if isinstance(i, Removed)} == {first.id, update.id}
    assert items(95) == []


def test_rainstorm_raises_rivers_and_reservoirs_and_drops_one_zones_pressure(city: CityModel,
                                                                            storm: Scenario) -> None:
    """Within ~30 min: rivers up by metres, reservoirs up, the flooded zone's pressure under 2 bar."""
    wet, calm = WaterNetwork(city, SEED, 60, storm), WaterNetwork(city, SEED, 60)
    ds = np.arange(len(wet.datastreams))

    def read(net: WaterNetwork, minutes: float) -> np.ndarray:
        """Every datastream's reading ``minutes`` after the start."""
        return net.values(ds, np.full(len(ds), STORM + 60 * minutes))

    before, during = read(wet, -10), read(wet, 40)
    later = during
    assert np.array_equal(before, read(calm, -10))  # nothing happens before the start
    rivers = [d.index for d in wet.datastreams if wet.sensors[d.sensor].kind == "river"]
    reservoirs = [d.index for d in wet.datastreams if wet.sensors[d.sensor].kind == "reservoir"]
    assert (during[rivers] - read(calm, 40)[rivers] > 1.5).all()
    assert (during[reservoirs] - read(calm, 40)[reservoirs] > 0.5).all()
    # Rising over about half an hour, not at once: halfway there at 20 minutes.
    mid = read(wet, 20)[rivers] - read(calm, 20)[rivers]
    assert (mid > 0.2).all() and (mid < (during[rivers] - read(calm, 40)[rivers])).all()
    flooded = streams(wet, PRESSURE, wet.flooded_zone)
    others = [d for d in streams(wet, PRESSURE) if d not in flooded]
    assert flooded and (later[flooded] < LOW_PRESSURE_BAR).all() and (later[others] > LOW_PRESSURE_BAR).all()
    assert (read(wet, 10)[flooded] > 2.5).all()  # the drop comes after the warning
    assert (read(wet, 200)[flooded] > 2.5).all()  # and is repaired
    turbidity = streams(wet, TURBIDITY, wet.flooded_zone)
    assert (read(wet, 60)[turbidity] > TURBIDITY_LIMIT_NTU).all()


def test_rainstorm_delays_the_buses_of_the_flooded_district(city: CityModel, storm: Scenario) -> None:
    """Buses on routes through the district fall behind; others do not; no bus ever drives backwards."""
    network = TransitNetwork.generate(city, seed=SEED, vehicles=150)
    calm = Fleet(network, seed=SEED)
    wet = Fleet(network, seed=SEED)
    area = wet.add_delay_area(storm.district.polygon, STORM + 600, BUS_DELAY_PEAK_S, hold_s=1800)
    assert np.array_equal(wet.delays(STORM - 60), calm.delays(STORM - 60))
    peak = area.start + area.rise_s + area.hold_s / 2
    extra = wet.delays(peak) - calm.delays(peak)
    share = wet.route_shares(storm.district.polygon)[wet.route]
    assert (extra[share == 0] == 0).all() and (extra[share > 0.3] > 0.4 * BUS_DELAY_PEAK_S).all()
    state = wet.step(peak)
    inside = points_in_polygon(state.lon, state.lat, storm.district.polygon)
    assert inside.sum() >= 5 and extra[inside].mean() > 120
    # Slopes stay within the fleet's bounds through the whole episode.
    samples = np.array([wet.delays(t) for t in np.arange(STORM, area.start + area.rise_s + area.hold_s
                                                         + area.fall_s + 600, 10.0)])
    per_second = np.diff(samples, axis=0) / 10.0
    assert per_second.max() < 1.0 and per_second.min() > -0.25
    assert (wet.delays(area.start + area.rise_s + area.hold_s + area.fall_s + 60)
            == calm.delays(area.start + area.rise_s + area.hold_s + area.fall_s + 60)).all()


def test_rainstorm_brings_requests_patients_and_ambulances_to_the_district(city: CityModel,
                                                                          storm: Scenario) -> None:
    """Flooding reports from the district, fuller hospitals there, ambulances sent into it."""
    wet_book, calm_book = RequestBook(city, SEED, 200, storm), RequestBook(city, SEED, 200)
    now = STORM + 3 * 3600

    def flood_reports(book: RequestBook) -> int:
        """Located flooding and blocked-drain reports from the district since the start."""
        c = book.select(now, {"service_code": "flooding,blocked_drain",
                              "start_date": "2026-01-01T13:00:00+08:00"})
        rows = book.rows(c)
        located = [r for r in rows if r["lat"] is not None]
        return int(points_in_polygon([r["long"] for r in located], [r["lat"] for r in located],
                                     storm.district.polygon).sum())

    assert flood_reports(wet_book) >= flood_reports(calm_book) + 15
    items = list(parse_requests(wet_book.handle("/requests.json", "", now)[1], "c", now))
    assert rejected(items) == []

    wet_h, calm_h = HospitalNetwork(city, SEED, 8, storm), HospitalNetwork(city, SEED, 8)
    everyone = list(range(8))
    at_peak = STORM + 180 * 60
    rise = wet_h.capacity(everyone, at_peak)["numBedsOcc"] - calm_h.capacity(everyone, at_peak)["numBedsOcc"]
    beds = np.array([h.beds for h in wet_h.hospitals])
    flooded = np.array([h.district == storm.district.name for h in wet_h.hospitals])
    assert flooded.any() and (rise >= 0).all()
    assert (rise[flooded] / beds[flooded]).min() > (rise[~flooded] / beds[~flooded]).max()
    assert (wet_h.capacity(everyone, STORM - 300)["numBedsOcc"] == calm_h.capacity(everyone, STORM - 300)[
        "numBedsOcc"]).all()

    wet_a = AmbulanceService(city, wet_h.hospitals, SEED, 12, storm)
    calm_a = AmbulanceService(city, calm_h.hospitals, SEED, 12)
    moments = STORM + np.arange(20, 120, 10) * 60.0
    busy_wet = sum(wet_a.state(k, t)[4] is not None for k in range(12) for t in moments)
    busy_calm = sum(calm_a.state(k, t)[4] is not None for k in range(12) for t in moments)
    assert busy_wet > busy_calm + 10
    calls = [wet_a.storm_call(k) for k in range(12)]
    incidents = [c.incident_node for c in calls if c is not None]
    assert len(incidents) >= 6
    nodes = np.array(city.nodes)[incidents]
    assert points_in_polygon(nodes[:, 0], nodes[:, 1], storm.district.polygon).all()


# -- the server and the demo feeds ----------------------------------------------------------------------
def test_server_serves_every_domain_with_types_etags_and_404s() -> None:
    """Each new endpoint answers with its type and an ETag (304 on a match); the rest is 404."""
    clock = [STORM + 1800]
    with SimulatorServer(vehicles=30, seed=SEED, clock=lambda: clock[0], cache_s=60.0, scenario="rainstorm",
                         scenario_start=STORM, sensors=20, hospitals=5, ambulances=6, requests=80) as server:
        base = server.url
        expected = {"gtfs-rt/ambulances.pb": "application/x-protobuf",
                    "water/senml.json": "application/senml+json",
                    "sta/v1.1/Things?$expand=Locations,Datastreams": "application/json",
                    "sta/v1.1/Observations?$top=3": "application/json",
                    "fhir/Location?type=HOSP": "application/fhir+json",
                    "fhir/MeasureReport": "application/fhir+json",
                    "open311/v2/services.json": "application/json",
                    "open311/v2/requests.json": "application/json",
                    "cap/alerts.xml": "application/atom+xml"}
        for path, kind in expected.items():
            status, content_type, body, etag = fetch(base + path)
            assert status == 200 and content_type == kind and body and etag, path
            assert fetch(base + path, {"If-None-Match": etag})[0] == 304, path
        health = json.loads(fetch(base + "healthz")[2])
        assert (health["sensors"], health["hospitals"], health["ambulances"]) == (20, 5, 6)
        assert health["scenario"] == "rainstorm" and health["warnings"] == 1 and health["open_requests"] > 0
        # Links carry the host the client used.
        things = json.loads(fetch(base + "sta/v1.1/Things?$top=1")[2])
        assert things["value"][0]["@iot.selfLink"].startswith(base + "sta/v1.1/Things(")
        assert fetch(base + "sta/v1.1/Things(99)")[0] == 404
        assert fetch(base + "sta/v1.1/Observations?$bad=1")[0] == 400
        assert fetch(base + "fhir/Patient")[0] == 404
        assert fetch(base + "open311/v2/requests.json?updated_after=soon")[0] == 400
        for missing in ("water", "cap/alerts.json", "open311/v2/nope.json", "sta", "fhir"):
            assert fetch(base + missing)[0] == 404, missing
        # A different query is a different payload; the same one within the cache window is shared.
        one = fetch(base + "sta/v1.1/Observations?$top=3")[2]
        clock[0] += 600
        assert fetch(base + "sta/v1.1/Observations?$top=3")[2] == one
        assert fetch(base + "sta/v1.1/Observations?$top=4")[2] != one


def test_same_seed_same_city_in_every_feed() -> None:
    """Two servers of one seed answer byte for byte alike at one instant; another seed differs."""
    def bodies(seed: int) -> list[bytes]:
        """One body per new feed from a fresh server of ``seed``."""
        server = SimulatorServer(vehicles=20, seed=seed, clock=lambda: STORM + 900, scenario="rainstorm",
                                 scenario_start=STORM, sensors=20, hospitals=4, ambulances=5, requests=60)
        paths = ("/gtfs-rt/ambulances.pb", "/water/senml.json", "/sta/v1.1/Observations",
                 "/fhir/MeasureReport", "/open311/v2/requests.json", "/cap/alerts.xml")
        return [server.payload(p, "", "127.0.0.1:1")[1] for p in paths]  # type: ignore[index]

    first = bodies(SEED)
    assert first == bodies(SEED)
    assert all(a != b for a, b in zip(first[:5], bodies(SEED + 1), strict=False))


def test_demo_feeds_reach_redis_through_the_real_adapters(r: redis.Redis) -> None:
    """Every demo feed polls the simulator with its real adapter and lands in Redis without a rejection."""
    start = time.time() - 25 * 60  # the rainstorm began 25 minutes ago: its warning is raised
    with SimulatorServer(vehicles=30, seed=SEED, scenario="rainstorm", scenario_start=start,
                         sensors=20, hospitals=5, ambulances=6, requests=80) as server:
        configs = demo_feeds(server.url)
        assert [c["name"] for c in configs[:4]] == ["demo-gtfs", "demo-vehicles", "demo-trips", "demo-alerts"]
        names = {c["name"]: c for c in configs}
        assert {"demo-water", "demo-hospitals", "demo-capacity", "demo-ambulances", "demo-requests",
                "demo-warnings"} <= set(names)
        assert names["demo-hospitals"]["adapter"] == names["demo-capacity"]["adapter"] == "fhir"
        assert names["demo-warnings"]["adapter"] == "cap" and names["demo-requests"]["adapter"] == "open311"
        accepted = {}
        for config in configs:
            adapter = registry.build(config)
            result = ingest(r, adapter, adapter.fetch())
            assert result.rejected == 0, (config["name"], result.errors)
            accepted[config["name"]] = result.accepted
    assert all(accepted[name] > 0 for name in names if name != "demo-alerts"), accepted
    assert store.entities.read_events(r, "city"), "the rainstorm warning did not reach the store"


def test_module_takes_the_scenario_and_the_knobs() -> None:
    """python -m data_adapters.simulator --scenario rainstorm and the scale knobs; bad knobs exit 2."""
    port = free_port()
    command = [sys.executable, "-m", "data_adapters.simulator", "--port", str(port), "--vehicles", "20",
               "--scenario", "rainstorm", "--scenario-start", str(time.time() - 300), "--sensors", "25",
               "--hospitals", "3", "--ambulances", "4", "--requests", "50"]
    process = subprocess.Popen(command, cwd=REPO, env=dict(os.environ), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    try:
        ready, _, _ = select.select([process.stdout], [], [], 30)
        assert ready, "no ready line within 30 s"
        assert process.stdout.readline().strip() == f"simulator serving http://127.0.0.1:{port}/"
        health = json.loads(fetch(f"http://127.0.0.1:{port}/healthz")[2])
        assert (health["sensors"], health["hospitals"], health["ambulances"]) == (25, 3, 4)
        assert health["scenario"] == "rainstorm" and health["warnings"] == 1
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    bad = subprocess.run([sys.executable, "-m", "data_adapters.simulator", "--sensors", "3"], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "sensors must be" in bad.stderr
    bad = subprocess.run([sys.executable, "-m", "data_adapters.simulator", "--scenario", "earthquake"],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "rainstorm" in bad.stderr
