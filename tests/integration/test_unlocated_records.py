"""Valid records without a position, and places that are not hospitals, through the whole read side.

Trip-only GTFS-rt vehicles (position is optional in the spec) and SenML sensors whose pack gives
no position are stored, listed by the API and counted by the KPIs, but never drawn on the map;
FHIR Locations that are wards or ambulances are stored as what they are, so the map's hospital
layer and the hospital KPIs hold hospitals only. Real redis-server, the app in-process.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis
from google.transit import gtfs_realtime_pb2 as rt

from app import store
from app.kpis.medical import compute_medical
from app.kpis.transport import compute_transport
from app.model.records import RawPayload
from app.pipeline.ingest import ingest
from app.situation.mapdata import Thresholds
from app.situation.mapdata.snapshots import build_domain_snapshot
from data_adapters.medical.adapter import FhirAdapter
from data_adapters.transport.adapter import GtfsRealtimeAdapter
from data_adapters.water.adapter import SenmlHttpAdapter
from tests.support import transport_fixtures as fx
from tests.support.payloads.fhir import YIYANG, bundle, dumps, location
from tests.support.web import login

URL = "http://127.0.0.1:9/x"


def subway_message(now: float) -> bytes:
    """The trip-only subway vehicles of the fixtures at ``now``, and one bus with a position."""
    message = rt.FeedMessage()
    message.ParseFromString(fx.trip_only_vehicles())
    message.header.timestamp = int(now)
    fx.add_vehicle(message, "bus", "bus-1", trip_id="B-1", route_id="B", timestamp=int(now))
    return message.SerializeToString()


def kpi(kpis: list[Any], kpi_id: str) -> Any:
    """The KPI of the given id."""
    return next(k for k in kpis if k.name == kpi_id)


def test_trip_only_vehicles_are_stored_listed_and_counted_but_not_drawn(
        r: redis.Redis, client: Any, users: dict[str, str]) -> None:
    """The store keeps them, the API lists them with trip, route, stop and status, the KPIs count
    them as vehicles in service, the map draws only the one vehicle with a position."""
    now = time.time()
    adapter = GtfsRealtimeAdapter({"name": "subway", "url": URL, "kind": "vehicle_positions"})
    result = ingest(r, adapter, RawPayload(subway_message(now), source="t", fetched_at=now))
    assert (result.accepted, result.rejected) == (4, 0)
    assert store.feeds.read_dead_letters(r, "subway") == []

    assert login(client, users["operator"]).status_code == 302
    rows = {row["id"]: row for row in
            client.get("/api/v1/entities/transport?kind=vehicle").get_json()["entities"]}
    assert set(rows) == {"subway:vehicle:A-1", "subway:vehicle:A-2", "subway:vehicle:L-1",
                         "subway:vehicle:bus-1"}
    a1 = rows["subway:vehicle:A-1"]
    assert (a1["lat"], a1["lon"]) == (None, None)
    assert (a1["trip_id"], a1["route_id"], a1["stop_id"], a1["current_status"]) == (
        "A-0815", "A", "A27N", "STOPPED_AT")

    assert kpi(compute_transport(r, now=now), "vehicles_in_service").value == 4.0

    snapshot = build_domain_snapshot(r, "transport", 1, Thresholds.of())
    assert list(snapshot.points["vehicles"].ids) == ["subway:vehicle:bus-1"]


def test_senml_sensors_without_a_position_are_listed_not_drawn(r: redis.Redis) -> None:
    """A pack without lat/lon (or with an impossible one) still lists its sensors; only the
    sensor with a valid fix is on the map."""
    now = time.time()
    pack = [{"bn": "yy/pz1-p1/", "bt": now, "n": "pressure", "u": "kPa", "v": 310},
            {"bn": "yy/pz1-p2/", "n": "pressure", "u": "kPa", "v": 305},
            {"n": "lat", "v": 28.55}, {"n": "lon", "v": 112.36},
            {"bn": "yy/meter-9/", "n": "3424/0/1", "u": "m3", "v": 1234.5},
            {"bn": "yy/pz1-p3/", "n": "pressure", "u": "kPa", "v": 300},
            {"n": "lat", "v": 91.0}, {"n": "lon", "v": 112.36}]
    adapter = SenmlHttpAdapter({"name": "w", "url": URL})
    result = ingest(r, adapter, RawPayload(json.dumps(pack).encode(), source="t", fetched_at=now))
    assert result.rejected == 1  # the impossible fix, not the sensor
    stored = {e["id"]: e for e in store.entities.read_entities(r, "water")}
    assert set(stored) == {"w:sensor:yy/pz1-p1", "w:sensor:yy/pz1-p2",
                           "w:sensor:yy/meter-9/3424/0/1", "w:sensor:yy/pz1-p3"}
    assert [i for i, e in stored.items() if e["lat"] is not None] == ["w:sensor:yy/pz1-p2"]
    assert store.entities.read_latest(r, "water", "reading") == {
        "w:sensor:yy/meter-9/3424/0/1": (1234.5, "m3", now)}
    snapshot = build_domain_snapshot(r, "water", 1, Thresholds.of())
    assert list(snapshot.points["sensors"].ids) == ["w:sensor:yy/pz1-p2"]


def test_wards_and_ambulances_are_no_hospitals_on_the_map_or_in_the_kpis(r: redis.Redis) -> None:
    """A FHIR ward (suspended) and an ambulance Location keep their kinds: the hospital layer
    and the diversion KPI see the one hospital only."""
    ward = dict(location("w1", lat=28.551, lon=112.361, status="suspended"),
                physicalType={"coding": [{"code": "wa"}]})
    ambulance = dict(location("amb-1", lat=28.56, lon=112.37),
                     physicalType={"coding": [{"code": "ve"}]})
    adapter = FhirAdapter({"name": "med", "url": URL, "bounds": list(YIYANG)})
    ingest(r, adapter, RawPayload(dumps(bundle(location("h1"), ward, ambulance)), source="t"))
    kinds = {e["id"]: e["kind"] for e in store.entities.read_entities(r, "medical")}
    assert kinds == {"med:hospital:h1": "hospital", "med:ward:w1": "ward",
                     "med:ambulance:amb-1": "ambulance"}
    snapshot = build_domain_snapshot(r, "medical", 1, Thresholds.of())
    assert list(snapshot.points["hospitals"].ids) == ["med:hospital:h1"]
    diversion = kpi(compute_medical(r), "hospitals_on_diversion")
    assert diversion.value == 0.0 and diversion.detail["hospitals"] == []
