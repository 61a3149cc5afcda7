"""GET /api/v1/entities/<domain>, /api/v1/events and /api/v1/feeds on data ingested from the demo city."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from google.transit import gtfs_realtime_pb2 as rt

from app import accounts, store
from app.model.records import RawPayload
from app.pipeline.ingest import ingest
from data_adapters.simulator import CityModel, Fleet, TransitNetwork
from data_adapters.transport.adapter import GtfsRealtimeAdapter, GtfsStaticAdapter
from tests.support import transport_fixtures as fx
from tests.support.web import login

NOW = 1_767_225_600.0 + 3600.0  # 2026-01-01 09:00 in Yiyang: morning rush, buses late
URL = "http://127.0.0.1/x"
VEHICLE_FIELDS = {"id", "kind", "lat", "lon", "route_id", "delay_s", "observed_at"}


@dataclass(frozen=True)
class CityTruth:
    """What the generated feeds say, read with gtfs-realtime-bindings alone."""

    vehicles: dict[str, rt.VehiclePosition]  # vehicle id -> its position record
    delays: dict[str, int]                    # vehicle id -> TripUpdate.delay
    routes: set[str]
    alert_titles: dict[str, str]              # alert entity id -> English header
    when: float


@pytest.fixture(scope="module")
def city() -> tuple[TransitNetwork, Fleet, float]:
    """A small simulated city and a moment at which it announces a detour."""
    network = TransitNetwork.generate(CityModel.generate(6), seed=6, vehicles=30)
    fleet = Fleet(network, seed=6)
    detour = next(NOW + 600.0 * k for k in range(7 * 24 * 6) if fleet.detours(NOW + 600.0 * k))
    return network, fleet, detour


def _decode(data: bytes) -> rt.FeedMessage:
    message = rt.FeedMessage()
    message.ParseFromString(data)
    return message


@pytest.fixture
def ingested(r: redis.Redis, city: tuple[TransitNetwork, Fleet, float]) -> CityTruth:
    """The demo city's static, VehiclePositions, TripUpdates and Alerts feeds ingested as system "t"."""
    network, fleet, detour = city
    feeds = [
        (GtfsStaticAdapter({"name": "t-static", "url": URL, "id_prefix": "t"}),
         network.to_gtfs_zip()),
        (GtfsRealtimeAdapter({"name": "t", "url": URL, "kind": "vehicle_positions",
                              "id_prefix": "t"}), fleet.vehicle_positions(NOW)),
        (GtfsRealtimeAdapter({"name": "t-trips", "url": URL, "kind": "trip_updates",
                              "id_prefix": "t"}), fleet.trip_updates(NOW)),
        (GtfsRealtimeAdapter({"name": "t-alerts", "url": URL, "kind": "alerts",
                              "id_prefix": "t"}), fleet.alerts(detour)),
    ]
    for adapter, data in feeds:
        result = ingest(r, adapter, RawPayload(data, URL, fetched_at=NOW))
        assert result.accepted > 0 and result.rejected == 0, (adapter.feed, result)
    positions = _decode(feeds[1][1])
    trips = _decode(feeds[2][1])
    alerts = _decode(feeds[3][1])
    titles = {e.id: next(t.text for t in e.alert.header_text.translation if t.language == "en")
              for e in alerts.entity}
    assert titles, "the alerts feed holds no detour"
    return CityTruth(
        vehicles={e.vehicle.vehicle.id: e.vehicle for e in positions.entity},
        delays={e.trip_update.vehicle.id: e.trip_update.delay for e in trips.entity},
        routes={route.route_id for route in network.active_routes},
        alert_titles=titles, when=NOW)


def _get(client: Any, path: str, **kwargs: Any) -> Any:
    """GET ``path`` and return the response after checking it is JSON."""
    response = client.get(path, **kwargs)
    assert response.is_json, (path, response.status_code, response.data[:200])
    return response


@pytest.fixture
def operator(client: Any, users: dict[str, str]) -> Any:
    """The test client signed in as an operator."""
    assert login(client, users["operator"]).status_code == 302
    return client


# -- entities --------------------------------------------------------------------------------------
def test_vehicles_carry_position_route_and_their_own_delay(operator: Any,
                                                           ingested: CityTruth) -> None:
    """Every vehicle row: id, kind, lat, lon, route_id, observed_at and its TripUpdate's delay."""
    response = _get(operator, "/api/v1/entities/transport")
    assert response.status_code == 200
    body = response.json
    assert set(body) == {"entities"}
    vehicles = [row for row in body["entities"] if row["kind"] == "vehicle"]
    assert {row["id"] for row in vehicles} == {f"t:vehicle:{v}" for v in ingested.vehicles}
    assert len(set(ingested.delays.values())) > 1, "the simulator should give varied delays"
    for row in vehicles:
        assert VEHICLE_FIELDS <= set(row), (row["id"], sorted(row))
        vid = row["id"].removeprefix("t:vehicle:")
        vp = ingested.vehicles[vid]
        assert (row["lat"], row["lon"]) == (vp.position.latitude, vp.position.longitude), vid
        assert row["route_id"] == vp.trip.route_id and row["route_id"] in ingested.routes, vid
        assert row["delay_s"] == ingested.delays[vid], (vid, row["delay_s"])
        assert row["observed_at"] == float(vp.timestamp) == int(ingested.when), vid


def test_kind_filter(operator: Any, ingested: CityTruth) -> None:
    """?kind=vehicle lists vehicles only; ?kind=stop only stops."""
    vehicles = _get(operator, "/api/v1/entities/transport?kind=vehicle").json["entities"]
    assert len(vehicles) == len(ingested.vehicles)
    assert {row["kind"] for row in vehicles} == {"vehicle"}
    stops = _get(operator, "/api/v1/entities/transport?kind=stop").json["entities"]
    assert stops and {row["kind"] for row in stops} == {"stop"}
    assert _get(operator, "/api/v1/entities/transport?kind=ferry").json == {"entities": []}


def test_route_shapes_only_on_request(operator: Any, ingested: CityTruth) -> None:
    """Routes omit their shape in lists; ?include=shape adds it as [lon, lat] points."""
    plain = _get(operator, "/api/v1/entities/transport?kind=route").json["entities"]
    assert {row["id"] for row in plain} == {f"t:route:{route}" for route in ingested.routes}
    assert all("shape" not in row and row.get("short_name") for row in plain), plain[0]
    full = _get(operator, "/api/v1/entities/transport?kind=route&include=shape").json["entities"]
    assert {row["id"] for row in full} == {row["id"] for row in plain}
    for row in full:
        shape = row.get("shape")
        assert isinstance(shape, list) and len(shape) >= 2, row["id"]
        assert all(112.0 < lon < 112.8 and 28.3 < lat < 28.8 for lon, lat in shape), row["id"]


def test_unknown_domain_is_404_json(operator: Any) -> None:
    """A domain CityOps does not know: 404 with a JSON error naming the known ones."""
    response = _get(operator, "/api/v1/entities/spaceports")
    assert response.status_code == 404
    assert "transport" in response.json["error"]


@pytest.mark.parametrize("path", ["/api/v1/entities/transport", "/api/v1/events",
                                  "/api/v1/feeds"])
def test_anonymous_is_401(client: Any, path: str) -> None:
    """No session and no token: 401 JSON, no data."""
    response = _get(client, path)
    assert response.status_code == 401
    assert set(response.json) == {"error"}


@pytest.mark.parametrize("path", ["/api/v1/entities/transport", "/api/v1/events",
                                  "/api/v1/feeds"])
def test_wall_token_is_403(client: Any, r: redis.Redis, ingested: CityTruth, path: str) -> None:
    """A wall display token may see the wall page only: the API answers 403."""
    token = accounts.create_token(r, "lobby-wall", "wall")
    response = _get(client, path, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert set(response.json) == {"error"}


def test_api_token_of_a_person_role_reads_entities(client: Any, r: redis.Redis,
                                                   ingested: CityTruth) -> None:
    """The same request with an official's token succeeds (so the 403 above is about the role)."""
    token = accounts.create_token(r, "reporting", "official")
    response = _get(client, "/api/v1/entities/transport?kind=vehicle",
                    headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert len(response.json["entities"]) == len(ingested.vehicles)


def test_vehicle_delay_comes_from_its_own_system(operator: Any, r: redis.Redis) -> None:
    """Two systems with a bus "bus-1" on "trip-1": only b reports a delay, so a's bus has none."""
    message = fx.new_message()
    fx.add_vehicle(message, "1", "bus-1", trip_id="trip-1", route_id="R1")
    for prefix in ("a", "b"):
        adapter = GtfsRealtimeAdapter({"name": prefix, "url": URL, "kind": "vehicle_positions"})
        ingest(r, adapter, RawPayload(message.SerializeToString(), URL))
    trips = fx.new_message()
    entity = trips.entity.add()
    entity.id = "tu-1"
    entity.trip_update.trip.trip_id = "trip-1"
    entity.trip_update.vehicle.id = "bus-1"
    entity.trip_update.delay = 300
    ingest(r, GtfsRealtimeAdapter({"name": "b-trips", "url": URL, "kind": "trip_updates",
                                   "id_prefix": "b"}), RawPayload(trips.SerializeToString(), URL))
    rows = {row["id"]: row for row in
            _get(operator, "/api/v1/entities/transport?kind=vehicle").json["entities"]}
    assert rows["b:vehicle:bus-1"]["delay_s"] == 300
    assert rows["a:vehicle:bus-1"]["delay_s"] is None, (
        "BUG app/entities.py transport_entities: delays are looked up by the bare vehicle/trip "
        "id after ':vehicle:'/':trip:', ignoring the id prefix, so system a's bus-1 shows system "
        "b's delay; look up the full id (and '<prefix>:trip:<trip_id>') instead")


# -- events and feeds ------------------------------------------------------------------------------
def test_events_list_the_service_alert(operator: Any, ingested: CityTruth) -> None:
    """?domain=transport lists the detour with its English title, severity and domain."""
    events = _get(operator, "/api/v1/events?domain=transport").json["events"]
    by_id = {event["id"]: event for event in events}
    assert set(by_id) == {f"t:alert:{alert}" for alert in ingested.alert_titles}
    for alert, title in ingested.alert_titles.items():
        event = by_id[f"t:alert:{alert}"]
        assert event["title"] == title and title.endswith("detour"), event
        assert (event["kind"], event["domain"], event["severity"]) == (
            "service_alert", "transport", "warning")
    every_domain = _get(operator, "/api/v1/events").json["events"]
    assert [event["id"] for event in every_domain] == sorted(by_id)


def test_events_of_an_unknown_domain_is_400(operator: Any) -> None:
    """?domain=bogus: 400 with a JSON error."""
    response = _get(operator, "/api/v1/events?domain=bogus")
    assert response.status_code == 400
    assert "transport" in response.json["error"]


def test_feeds_returns_health_with_state(operator: Any, r: redis.Redis) -> None:
    """Each health record comes back with its computed state."""
    now = time.time()
    store.feeds.write_health(r, "t", {"domain": "transport", "adapter": "gtfs_rt",
                                     "freshness_budget_s": 30, "last_success": f"{now:.3f}",
                                     "accepted": 30})
    store.feeds.write_health(r, "t-alerts", {"domain": "transport", "adapter": "gtfs_rt",
                                            "freshness_budget_s": 30,
                                            "first_attempt": f"{now - 120:.3f}",
                                            "last_error": "HTTP 503 from http://x"},
                            incr_failures=True)
    response = _get(operator, "/api/v1/feeds")
    assert response.status_code == 200
    feeds = {row["feed"]: row for row in response.json["feeds"]}
    assert set(feeds) == {"t", "t-alerts"}
    assert feeds["t"]["state"] == "ok" and feeds["t"]["accepted"] == 30
    assert feeds["t-alerts"]["state"] == "stale"
    assert feeds["t-alerts"]["last_error"] == "HTTP 503 from http://x"
    assert feeds["t-alerts"]["consecutive_failures"] == 1
