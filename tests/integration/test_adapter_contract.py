"""The adapter contract, checked on every adapter in data_adapters.registry.ADAPTERS.

Each registered adapter needs an entry in CASES: a factory of (config, good payloads). The good
payloads come from the project's own generators (the demo-city simulator and
tests/support/transport_fixtures.py), so the suite needs no network and no captured files. A newly
registered adapter without an entry fails this suite until someone writes its fixtures.
"""

from __future__ import annotations

import functools
import json
import math
import random
import time
from typing import Any, Callable, Iterator

import pytest
import redis

from app import store
from app.live.feeds import read_health
from app.model.domains import DOMAINS
from app.model.feeds import FeedHealth
from app.model.geo import valid_position
from app.model.records import (
    Entity,
    Event,
    FeedHeader,
    Observation,
    ParseItem,
    RawPayload,
    Rejected,
    Removed,
)
from data_adapters import registry
from data_adapters.base import Adapter, ParseError
from data_adapters.simulator import CityModel, Fleet, TransitNetwork
from tests.support import transport_fixtures as fx
from tests.support.feeds import FeedServer, start_runner
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for

NOW = 1_767_225_600.0 + 3600.0  # 2026-01-01 09:00 in Yiyang: buses running, delays building
FETCHED_AT = 1_767_225_700.0
UNUSED_URL = "http://127.0.0.1:9/contract"
GARBAGE_SEED = 20240601
RECORD_TYPES = (Entity, Observation, Event)
ITEM_TYPES = (Entity, Observation, Event, Removed, Rejected, FeedHeader)

Case = tuple[dict[str, Any], list[bytes]]


# -- good payloads from the project's own generators -----------------------------------------------
@functools.cache
def demo_city() -> tuple[TransitNetwork, Fleet]:
    """A small simulated city (built once: the street grid takes a few hundred ms)."""
    network = TransitNetwork.generate(CityModel.generate(3), seed=3, vehicles=24)
    return network, Fleet(network, seed=3)


def detour_time(fleet: Fleet, start: float = NOW) -> float:
    """The first moment from ``start`` (10-minute steps, up to a week) with an announced detour."""
    for step in range(7 * 24 * 6):
        moment = start + 600.0 * step
        if fleet.detours(moment):
            return moment
    raise AssertionError("the simulator announced no detour in a week")  # pragma: no cover


def gtfs_static_case() -> Case:
    """The simulator's GTFS zip and the hand-made quirky zips."""
    network, _fleet = demo_city()
    return ({"name": "contract-static", "url": UNUSED_URL},
            [network.to_gtfs_zip(), fx.static_zip(), fx.static_zip_with_shapes(),
             fx.routes_only_zip(), fx.zip_with_broken_stops()])


def gtfs_rt_case() -> Case:
    """Simulator VehiclePositions, TripUpdates and Alerts, and the hand-made GTFS-rt quirks."""
    _network, fleet = demo_city()
    return ({"name": "contract-rt", "url": UNUSED_URL, "kind": "mixed"},
            [fleet.vehicle_positions(NOW), fleet.trip_updates(NOW),
             fleet.alerts(detour_time(fleet)), fx.mixed_entities(), fx.alerts_languages(),
             fx.trip_updates(), fx.duplicate_vehicle(), fx.invalid_position(), fx.invalid_utf8(),
             fx.ms_timestamps(), fx.no_header_timestamp(), fx.vehicles_without_trip(),
             fx.differential(), fx.deleted_entities(), fx.no_header_with_vehicle(),
             fx.large_vehicle_feed(300)])


# adapter name (as registered) -> its fixtures. Keep in step with registry.ADAPTERS.
def senml_http_case() -> Case:
    """SenML packs: a positioned reservoir and pressure logger, flow with sum, quality with a bad unit."""
    t0 = NOW - 300.0

    def pack(*records: dict[str, Any]) -> bytes:
        return json.dumps(list(records)).encode()

    return ({"name": "contract-senml", "url": UNUSED_URL, "zones": {"yy/": "north"}},
            [pack({"bn": "yy/res-1/", "bt": t0, "n": "level", "u": "m", "v": 6.5},
                  {"u": "lat", "v": 28.55}, {"u": "lon", "v": 112.35},
                  {"bn": "yy/pz2-p1/", "n": "pressure", "u": "kPa", "v": 310, "t": 60},
                  {"n": "lat", "v": 28.5}, {"n": "lon", "v": 112.3}),
             pack({"bn": "yy/m1/", "n": "flow", "u": "m3/s", "v": 0.05, "s": 1234.5},
                  {"n": "flow", "t": -60, "v": 0.04}, {"n": "valve", "vb": True},
                  {"n": "label", "vs": "North main"}),
             pack({"bn": "yy/q1:", "bt": t0, "n": "turbidity", "u": "NTU", "v": 0.4},
                  {"n": "chlorine", "u": "mg/L", "v": 0.35},
                  {"n": "pressure", "u": "psi", "v": 50})])


def open311_case() -> Case:
    """Hand-made Open311 GeoReport v2 requests (tests/support/payloads/open311.py): JSON and XML quirks."""
    from tests.support.payloads import open311 as o311
    return ({"name": "contract-open311", "base_url": "http://127.0.0.1:9"},
            [o311.payload(o311.request(),
                          o311.request(service_request_id="2", lat=0, long=0, status="Closed"),
                          o311.request(service_request_id="3", lat=None, long=None,
                                       description="two\r\nlines", updated_datetime=None,
                                       requested_datetime="2024-03-01 08:00:00")),
             o311.XML_REQUESTS])


def cap_case() -> Case:
    """Hand-made CAP 1.2 alerts (tests/unit/test_cap.py): polygon + circle, an Update with references,
    an <alerts> list, an Atom index with its linked message as fetch() frames them."""
    from data_adapters.cap.frame import Linked, encode_frame
    from tests.support.payloads import cap as cap
    shapes = cap.area("<polygon>28.5,112.3 28.6,112.3 28.6,112.4</polygon>",
                      "<circle>28.55,112.35 5</circle>")
    index = ('<feed xmlns="http://www.w3.org/2005/Atom"><id>i</id><entry><id>1</id>'
             '<link href="http://127.0.0.1:9/cap/4.xml"/></entry></feed>').encode()
    return ({"name": "contract-cap", "url": UNUSED_URL, "languages": ["zh", "en"]},
            [cap.alert(cap.info(areas=shapes)).encode(),
             cap.alert(cap.info("zh-CN", headline="洪水"), identifier="A-2", msg_type="Update",
                       references="s@x.org,A-1,2024-05-01T10:00:00+08:00").encode(),
             (f'<alerts xmlns="{cap.NS12}">' + cap.alert(cap.info(), decl=False)
              + cap.alert(cap.info(severity="Extreme"), identifier="A-3", decl=False)
              + "</alerts>").encode(),
             encode_frame(UNUSED_URL, index, [Linked("http://127.0.0.1:9/cap/4.xml", cap.alert(
                 cap.info(areas=shapes), identifier="A-4").encode())], [])])


def fhir_case() -> Case:
    """FHIR R4 (tests/support/payloads/fhir.py): a Bundle with hospital, SANER report and Organization,
    a dateTime report with a data-absent population, an out-of-bounds Location."""
    from tests.support.payloads import fhir as fm
    return ({"name": "contract-fhir", "url": UNUSED_URL, "bounds": list(fm.YIYANG)},
            [fm.dumps(fm.bundle(fm.location(), fm.report(),
                                {"resourceType": "Organization", "id": "o1",
                                 "name": "Yiyang Health"})),
             fm.dumps(fm.report(date="2024-03-01T08:30:00+08:00",
                                populations=[fm.population("numbeds", 5),
                                             fm.population("numBedsOcc", None)])),
             fm.dumps(fm.location("far", lat=40.19, lon=74.67))])


def ambulance_avl_case() -> Case:
    """Ambulance AVL as GTFS-rt VehiclePositions (tests/integration/test_medical_ambulances.py), and the
    transit quirks that apply to any VehiclePositions feed."""
    from tests.support.payloads import ambulances as am
    return ({"name": "contract-ambulances", "url": UNUSED_URL},
            [am.fleet_message(), fx.vehicles_without_trip(), fx.duplicate_vehicle(),
             fx.ms_timestamps(), fx.invalid_utf8(), fx.large_vehicle_feed(50)])


def senml_mqtt_case() -> Case:
    """SenML over MQTT: batch frames as fetch() drains them (named, topic-named, broken packs)."""
    from data_adapters.water.mqtt import MqttMessage, encode_batch
    t0 = NOW - 300.0

    def pack(*records: dict[str, Any]) -> bytes:
        return json.dumps(list(records)).encode()

    def batch(*messages: tuple[str, bytes], dropped: int = 0) -> bytes:
        return encode_batch([MqttMessage(topic, payload, FETCHED_AT - 5.0 + n, qos=1)
                             for n, (topic, payload) in enumerate(messages)],
                            dropped=dropped, last_message_at=FETCHED_AT - 1.0, buffer_size=100)

    return ({"name": "contract-senml-mqtt", "url": "mqtt://127.0.0.1:9",
             "topic": "city/water/+/senml", "zones": {"pz2": "north"}},
            [batch(("city/water/res-1/senml",
                    pack({"bn": "yy/res-1/", "bt": t0, "n": "level", "u": "m", "v": 6.5},
                         {"u": "lat", "v": 28.55}, {"u": "lon", "v": 112.35}))),
             batch(("city/water/pz2-p1/senml",
                    pack({"n": "pressure", "u": "kPa", "v": 310, "t": -60},
                         {"n": "lat", "v": 28.5}, {"n": "lon", "v": 112.3})),
                   ("city/water/bad/senml", b"<html>500</html>"),
                   ("city/water/m1/senml",
                    pack({"n": "flow", "u": "m3/s", "v": 0.05, "s": 1234.5})), dropped=2)])


def sensorthings_case() -> Case:
    """SensorThings Observations (tests/support/payloads/sensorthings.py): located pressure, a reservoir,
    an unlocated flow meter, a text result; quality positioned by FeatureOfInterest, an interval
    phenomenonTime, psi."""
    from tests.support.payloads import sensorthings as sta
    return ({"name": "contract-sta", "url": UNUSED_URL, "zones": {"PZ2": "pz2"}},
            sta.contract_payloads(NOW))


CASES: dict[str, Callable[[], Case]] = {
    "gtfs_static": gtfs_static_case,
    "gtfs_rt": gtfs_rt_case,
    "senml_http": senml_http_case,
    "senml_mqtt": senml_mqtt_case,
    "sensorthings": sensorthings_case,
    "open311": open311_case,
    "cap": cap_case,
    "fhir": fhir_case,
    "ambulance_avl": ambulance_avl_case,
}


def _empty_answers() -> dict[str, bytes | None]:
    """Per adapter, a valid answer that holds nothing (a search that matched nothing, a gateway
    with nothing new); None where an empty payload cannot be an answer."""
    from data_adapters.water.mqtt import encode_batch
    header_only = fx.new_message().SerializeToString()
    return {
        "gtfs_rt": header_only, "ambulance_avl": header_only,
        # A schedule without a stop or route is no timetable, and as a full dataset it would
        # retire every stop: refused (data_adapters/transport/README.md).
        "gtfs_static": None,
        "senml_http": b"[]", "senml_mqtt": encode_batch([], last_message_at=FETCHED_AT - 60),
        "sensorthings": b'{"value": []}', "open311": b"[]",
        "cap": b'<feed xmlns="http://www.w3.org/2005/Atom"><id>quiet</id></feed>',
        "fhir": b'{"resourceType": "Bundle", "type": "searchset", "total": 0}',
    }


def case_for(name: str) -> Case:
    """The fixtures of adapter ``name``; fails (not skips) when it has none."""
    if name not in CASES:
        pytest.fail(f"adapter '{name}' is registered but has no contract fixtures: add a factory "
                    "of (config, good payloads) to CASES in tests/integration/test_adapter_contract.py")
    config, payloads = CASES[name]()
    assert payloads, f"adapter '{name}': its contract case lists no good payloads"
    return {**config, "adapter": name}, payloads


def parse_all(adapter: Adapter, data: bytes) -> list[ParseItem]:
    """Every item parse() yields for ``data`` (fixed fetch time, so runs are comparable)."""
    return list(adapter.parse(RawPayload(data=data, source="contract", fetched_at=FETCHED_AT)))


def garbage_payloads(good: list[bytes]) -> Iterator[tuple[str, bytes]]:
    """(label, bytes) of payloads no adapter can use: random bytes, an HTML error, truncations."""
    rng = random.Random(GARBAGE_SEED)
    for n in range(24):
        yield f"random-{n}", rng.randbytes(rng.choice((1, 2, 7, 64, 513, 4096)))
    yield "html", b"<html>500</html>"
    for n, payload in enumerate(good):
        # Dropping the last byte cuts the final length-delimited field of a protobuf message and
        # the end-of-central-directory record of a zip: neither is a complete payload any more.
        yield f"truncated-{n}-last-byte", payload[:-1]
        yield f"truncated-{n}-head", payload[:7]


ADAPTER_NAMES = sorted(registry.ADAPTERS)


# -- the contract ----------------------------------------------------------------------------------
def test_every_registered_adapter_has_contract_fixtures() -> None:
    """CASES names exactly the registered adapters (none missing, none stale)."""
    assert set(CASES) == set(registry.ADAPTERS), (
        f"registered without fixtures: {sorted(set(registry.ADAPTERS) - set(CASES))}; "
        f"fixtures for unregistered adapters: {sorted(set(CASES) - set(registry.ADAPTERS))}")


@pytest.mark.parametrize("name", ADAPTER_NAMES)
def test_registry_builds_the_adapter(name: str) -> None:
    """registry.build() gives an Adapter of a known domain that names its feed from the config."""
    config, _payloads = case_for(name)
    adapter = registry.build(config)
    assert isinstance(adapter, Adapter) and adapter.name == name
    assert adapter.domain in DOMAINS
    assert adapter.feed == config["name"]


@pytest.mark.parametrize("name", ADAPTER_NAMES)
def test_good_payloads_parse_into_valid_records(name: str) -> None:
    """Each good payload yields records of the adapter's domain, prefixed ids, sane positions."""
    config, payloads = case_for(name)
    adapter = registry.build(config)
    prefix = f"{adapter.feed}:"
    for n, data in enumerate(payloads):
        items = parse_all(adapter, data)
        where = f"{name} payload #{n}"
        assert all(isinstance(item, ITEM_TYPES) for item in items), where
        assert any(isinstance(item, RECORD_TYPES) for item in items), (
            f"{where}: no Entity, Observation or Event")
        for item in items:
            if isinstance(item, Entity):
                assert item.domain == adapter.domain, (where, item)
                assert item.id.startswith(prefix) and len(item.id) > len(prefix), (where, item.id)
                assert item.kind and isinstance(item.kind, str), (where, item)
                assert math.isfinite(item.observed_at), (where, item)
                assert ((item.lat is None and item.lon is None)
                        or valid_position(item.lat, item.lon)), (where, item.id, item.lat, item.lon)
            elif isinstance(item, Event):
                assert item.domain == adapter.domain and item.id.startswith(prefix), (where, item)
            elif isinstance(item, Observation):
                assert item.entity_id.startswith(prefix), (where, item)
                assert math.isfinite(item.value), (where, item)
            elif isinstance(item, Removed):
                assert item.domain == adapter.domain and item.id.startswith(prefix), (where, item)


@pytest.mark.parametrize("name", ADAPTER_NAMES)
def test_parse_is_pure(name: str) -> None:
    """Parsing the same payload twice (also with a fresh adapter) gives equal results."""
    config, payloads = case_for(name)
    adapter = registry.build(config)
    for n, data in enumerate(payloads):
        first = parse_all(adapter, data)
        assert parse_all(adapter, data) == first, f"{name} payload #{n}: second parse differs"
        assert parse_all(registry.build(config), data) == first, (
            f"{name} payload #{n}: a fresh adapter parses it differently")


@pytest.mark.parametrize("name", ADAPTER_NAMES)
def test_empty_payload_is_a_parse_error(name: str) -> None:
    """b"" is never a usable payload."""
    config, _payloads = case_for(name)
    with pytest.raises(ParseError):
        parse_all(registry.build(config), b"")


@pytest.mark.parametrize("name", ADAPTER_NAMES)
def test_garbage_raises_parse_error_or_yields_only_rejections(name: str) -> None:
    """Random bytes, an HTML error page and truncated payloads never raise anything else."""
    config, payloads = case_for(name)
    adapter = registry.build(config)
    for label, data in garbage_payloads(payloads):
        try:
            items = parse_all(adapter, data)
        except ParseError:
            continue
        except Exception as exc:  # the point of the test
            pytest.fail(f"{name} on {label} ({len(data)} bytes) raised {type(exc).__name__}: {exc}")
        kept = [item for item in items if not isinstance(item, Rejected)]
        assert not kept, f"{name} on {label}: garbage yielded {kept[:3]}"


@pytest.mark.parametrize("name", ADAPTER_NAMES)
def test_an_empty_answer_is_an_answer(name: str) -> None:
    """A valid answer with nothing in it parses to no record and no rejection, never to a
    ParseError (which would put a live feed down)."""
    answers = _empty_answers()
    assert set(answers) == set(registry.ADAPTERS), "every adapter says what its empty answer is"
    config, _payloads = case_for(name)
    answer = answers[name]
    if answer is None:
        with pytest.raises(ParseError):
            parse_all(registry.build(config), b"PK\x05\x06" + b"\0" * 18)  # an empty zip
        return
    items = parse_all(registry.build(config), answer)
    assert not [item for item in items if not isinstance(item, FeedHeader)], items


def _health_of(r: redis.Redis, feed: str) -> FeedHealth | None:
    """The computed health of ``feed`` (None before its first poll)."""
    return next((h for h in read_health(r) if h.feed == feed), None)


# Push transports: the runner test below drives a local HTTP feed; each of these has its own
# runner test against its real transport.
NOT_HTTP = {"senml_mqtt":
            "tests/integration/test_water_mqtt.py::test_runner_stores_the_feed_and_follows_the_broker"}
HTTP_ADAPTER_NAMES = [name for name in ADAPTER_NAMES if name not in NOT_HTTP]


@pytest.mark.parametrize("name", HTTP_ADAPTER_NAMES)
def test_runner_health_after_failure_and_recovery(name: str, r: redis.Redis,
                                                  redis_server: RedisServer,
                                                  tmp_path: Any) -> None:
    """Through the runner: a 500 shows in health, then a good payload makes it ok and stored."""
    config, payloads = case_for(name)
    probe = registry.build(config)
    # Entities where the adapter makes them, else events (warnings feeds make only events).
    record_type = (Entity if any(isinstance(i, Entity) for data in payloads
                                 for i in parse_all(probe, data)) else Event)
    good = next(data for data in payloads
                if any(isinstance(i, record_type) for i in parse_all(probe, data)))
    # Records already past the feed's retention limit (closed requests of a fixture from 2024)
    # are not stored, by design (tests/integration/test_retention.py).
    keep = probe.retention()
    cutoff = time.time() - keep.max_age_s if keep is not None else -math.inf
    expected = {i.id for i in parse_all(probe, good) if isinstance(i, record_type)
                and not (keep is not None and isinstance(i, Entity) and i.kind == keep.kind
                         and i.status == keep.status and i.observed_at < cutoff)}
    assert expected
    server = FeedServer()
    server.status, server.body = 500, b"<html>500</html>"
    adapter = registry.build({**config, "url": server.url, "interval_s": 0.2,
                              "freshness_budget_s": 30, "timeout_s": 2})
    runner, thread = start_runner(redis_server.url, tmp_path, [adapter])
    try:
        assert wait_for(lambda: (h := _health_of(r, adapter.feed)) is not None
                        and h.consecutive_failures >= 1, timeout=10), _health_of(r, adapter.feed)
        failed = _health_of(r, adapter.feed)
        assert failed is not None and "500" in failed.last_error, failed
        assert failed.state != "ok" and failed.accepted == 0, failed
        assert store.entities.count(r, adapter.domain) == 0
        assert store.entities.read_events(r, adapter.domain) == []
        server.body = good
        server.status = 200
        assert wait_for(lambda: (h := _health_of(r, adapter.feed)) is not None
                        and h.state == "ok", timeout=15), _health_of(r, adapter.feed)
        healthy = _health_of(r, adapter.feed)
        assert healthy is not None
        assert healthy.accepted > 0 and healthy.consecutive_failures == 0, healthy
        assert healthy.last_success is not None and healthy.domain == adapter.domain, healthy
        read = store.entities.read_entities if record_type is Entity else store.entities.read_events
        stored = {e["id"] for e in read(r, adapter.domain)}
        assert expected <= stored, f"not stored: {sorted(expected - stored)[:5]}"
    finally:
        runner.stop()
        thread.join(timeout=10)
        server.close()


@pytest.mark.parametrize("name", [name for name in HTTP_ADAPTER_NAMES
                                  if _empty_answers()[name] is not None])
def test_runner_keeps_a_feed_ok_on_an_empty_answer(name: str, r: redis.Redis,
                                                   redis_server: RedisServer,
                                                   tmp_path: Any) -> None:
    """Through the runner: a feed whose server keeps answering "nothing" stays ok (no failure,
    no stale feed, nothing rejected)."""
    config, _payloads = case_for(name)
    server = FeedServer()
    server.status, server.body = 200, _empty_answers()[name] or b""
    adapter = registry.build({**config, "url": server.url, "interval_s": 0.2,
                              "freshness_budget_s": 30, "timeout_s": 2})
    runner, thread = start_runner(redis_server.url, tmp_path, [adapter])
    try:
        assert wait_for(lambda: (h := _health_of(r, adapter.feed)) is not None
                        and h.last_success is not None, timeout=15), _health_of(r, adapter.feed)
        healthy = _health_of(r, adapter.feed)
        assert healthy is not None and healthy.state == "ok", healthy
        assert (healthy.consecutive_failures, healthy.rejected, healthy.last_error) == (0, 0, ""), \
            healthy
        assert store.feeds.read_dead_letters(r, adapter.feed) == []
    finally:
        runner.stop()
        thread.join(timeout=10)
        server.close()
