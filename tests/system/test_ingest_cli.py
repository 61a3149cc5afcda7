"""`cityops ingest` and `cityops feeds` run as real processes against the test Redis."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import random
import re
import subprocess
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
import redis
from google.protobuf.message import DecodeError
from google.transit import gtfs_realtime_pb2 as rt

from app import store
from app.model.records import RawPayload
from app.pipeline.ingest import ingest
from app.store.link import connect
from data_adapters.simulator import CityModel, Fleet, TransitNetwork
from data_adapters.transport.adapter import GtfsRealtimeAdapter
from tests.support import transport_fixtures as fx
from tests.support.cli import base_env, one_line_error, run_cli
from tests.support.paths import SAMPLES
from tests.support.payloads.ambulances import fleet_message
from tests.support.payloads.sensorthings import contract_payloads
from tests.support.redis_server import RedisServer

NOW = 1_767_225_600.0 + 3600.0  # 2026-01-01 09:00 in Yiyang
RT_SAMPLES = sorted((SAMPLES / "gtfs-rt").rglob("*.pb")) if (SAMPLES / "gtfs-rt").is_dir() else []
UNUSABLE_SAMPLES = {"transitland-invalid.pb", "jar-06-truncated.pb", "jar-07-empty.pb"}
EXIT_OK, EXIT_FAILURE, EXIT_UNUSABLE = 0, 1, 2


# -- helpers ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def city() -> tuple[TransitNetwork, Fleet]:
    """A small simulated city shared by the tests of this module."""
    network = TransitNetwork.generate(CityModel.generate(4), seed=4, vehicles=30)
    return network, Fleet(network, seed=4)


@pytest.fixture
def env(tmp_path: Path, redis_server: RedisServer, r: redis.Redis) -> dict[str, str]:
    """The CLI's environment: the test Redis (emptied for each test) and a private data dir."""
    return base_env(tmp_path / "data", redis_server.url)


@pytest.fixture
def raw_r(redis_server: RedisServer, r: redis.Redis) -> Iterator[redis.Redis]:
    """A client without response decoding (DUMP returns binary)."""
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    """``data`` saved as tmp_path/name."""
    path = tmp_path / name
    path.write_bytes(data)
    return path


def ingest_cli(env: dict[str, str], path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`cityops ingest transport --file PATH EXTRA...`."""
    return run_cli(env, "ingest", "transport", "--file", str(path), *extra)


def summary(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The exit-0 result's stdout, which must be exactly one JSON object on one line."""
    assert result.returncode == EXIT_OK, (result.stdout, result.stderr)
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    data = json.loads(lines[0])
    assert isinstance(data, dict), data
    assert {"accepted", "rejected", "errors"} <= set(data), data
    assert isinstance(data["errors"], list), data
    return data


def dump_all(raw_r: redis.Redis) -> dict[bytes, tuple[bytes | None, int]]:
    """Every key with its DUMP and PTTL: byte-for-byte the whole database."""
    return {key: (raw_r.dump(key), raw_r.pttl(key)) for key in raw_r.scan_iter(count=1000)}


def decode(data: bytes) -> rt.FeedMessage:
    """A FeedMessage read with gtfs-realtime-bindings alone (no CityOps code)."""
    message = rt.FeedMessage()
    message.ParseFromString(data)
    return message


def text(value: str | bytes) -> str:
    """A string field as str (the bindings hand back bytes for invalid UTF-8)."""
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


def plausible(lat: float, lon: float) -> bool:
    """A usable WGS84 fix, judged here without data_adapters.base.valid_position."""
    return (math.isfinite(lat) and math.isfinite(lon) and abs(lat) <= 90 and abs(lon) <= 180
            and not (abs(lat) < 1e-6 and abs(lon) < 1e-6))


def vehicle_ids(r: redis.Redis, feed: str) -> set[str]:
    """Ids of the stored vehicles of ``feed``."""
    return {e["id"] for e in store.entities.read_entities(r, "transport")
            if e["kind"] == "vehicle" and e["id"].startswith(f"{feed}:")}


# -- ingest ----------------------------------------------------------------------------------------
def test_vehicle_positions_file_is_stored(env: dict[str, str], r: redis.Redis, tmp_path: Path,
                                          city: tuple[TransitNetwork, Fleet]) -> None:
    """A simulator VehiclePositions file: exit 0, one JSON line, every vehicle in Redis."""
    _network, fleet = city
    data = fleet.vehicle_positions(NOW)
    message = decode(data)
    result = summary(ingest_cli(env, write(tmp_path, "vp.pb", data), "--feed", "sim"))
    assert (result["accepted"], result["rejected"], result["errors"]) == (len(fleet), 0, [])
    expected = {f"sim:vehicle:{e.vehicle.vehicle.id}" for e in message.entity}
    assert len(expected) == len(fleet)
    assert vehicle_ids(r, "sim") == expected
    stored = {e["id"]: e for e in store.entities.read_entities(r, "transport")}
    first = message.entity[0].vehicle
    record = stored[f"sim:vehicle:{first.vehicle.id}"]
    assert (record["lat"], record["lon"]) == (first.position.latitude, first.position.longitude)
    assert record["attrs"]["route_id"] == first.trip.route_id


def test_static_zip_stores_stops_and_routes(env: dict[str, str], r: redis.Redis, tmp_path: Path,
                                            city: tuple[TransitNetwork, Fleet]) -> None:
    """The simulator's GTFS zip: every stop and route of its CSV files is stored."""
    network, _fleet = city
    data = network.to_gtfs_zip()
    archive = zipfile.ZipFile(io.BytesIO(data))
    stops = [row["stop_id"] for row in csv.DictReader(io.TextIOWrapper(archive.open("stops.txt")))]
    routes = [row["route_id"]
              for row in csv.DictReader(io.TextIOWrapper(archive.open("routes.txt")))]
    result = summary(ingest_cli(env, write(tmp_path, "static.zip", data), "--feed", "sim"))
    assert (result["accepted"], result["rejected"]) == (len(stops) + len(routes), 0)
    stored = store.entities.read_entities(r, "transport")
    assert {e["id"] for e in stored if e["kind"] == "stop"} == {f"sim:stop:{s}" for s in stops}
    assert {e["id"] for e in stored if e["kind"] == "route"} == {f"sim:route:{x}" for x in routes}


def test_invalid_position_is_rejected_and_dead_lettered(env: dict[str, str], r: redis.Redis,
                                                        tmp_path: Path) -> None:
    """One vehicle at latitude 100: exit 0, rejected 1 with the reason, the others stored."""
    message = fx.new_message()
    fx.add_vehicle(message, "e1", "good-1", lat=28.55, lon=112.36)
    fx.add_vehicle(message, "e2", "far-north", lat=100.0, lon=112.36)
    fx.add_vehicle(message, "e3", "good-2", lat=28.56, lon=112.37)
    path = write(tmp_path, "positions.pb", message.SerializeToString())
    result = summary(ingest_cli(env, path, "--feed", "pos"))
    assert (result["accepted"], result["rejected"]) == (2, 1), result
    assert len(result["errors"]) == 1 and "position" in result["errors"][0], result
    assert vehicle_ids(r, "pos") == {"pos:vehicle:good-1", "pos:vehicle:good-2"}
    letters = store.feeds.read_dead_letters(r, "pos")
    assert len(letters) == 1, letters
    assert "position" in letters[0]["reason"] and "far-north" in letters[0]["excerpt"], letters


def _truncated_vehicle_positions() -> bytes:
    """A real VehiclePositions message without its last byte."""
    return fx.large_vehicle_feed(5)[:-1]


def _garbage() -> bytes:
    """Seeded random bytes (starting with tag 0, which no protobuf message may hold)."""
    return b"\x00" + random.Random(7).randbytes(300)


UNUSABLE = {
    "garbage": _garbage,
    "empty": lambda: b"",
    "truncated-protobuf": _truncated_vehicle_positions,
    "truncated-zip": lambda: fx.static_zip()[:-40],
}


@pytest.mark.parametrize("label", sorted(UNUSABLE))
def test_unusable_payload_exits_2_and_changes_nothing(label: str, env: dict[str, str],
                                                      r: redis.Redis, raw_r: redis.Redis,
                                                      tmp_path: Path) -> None:
    """Garbage, empty, truncated: exit 2, one stderr line, the store byte-for-byte unchanged."""
    data = UNUSABLE[label]()
    if label != "truncated-zip" and data:
        with pytest.raises(DecodeError):  # the fixture really is unusable protobuf
            decode(data)
    # Something in every kind of key the ingest path writes, so a stray write would show.
    adapter = GtfsRealtimeAdapter({"name": "ingest", "url": "http://127.0.0.1/x",
                                   "kind": "vehicle_positions"})
    ingest(r, adapter, RawPayload(fx.invalid_position(), "seed"))
    ingest(r, adapter, RawPayload(fx.mixed_entities(), "seed"))
    store.feeds.write_health(r, "ingest", {"domain": "transport", "last_success": "1"})
    before = dump_all(raw_r)
    assert before, "the seed wrote nothing"
    result = ingest_cli(env, write(tmp_path, f"{label}.bin", data))
    assert result.returncode == EXIT_UNUSABLE, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cityops: "), result.stderr
    assert "unusable payload" in lines[0], lines[0]
    assert result.stdout == ""
    assert dump_all(raw_r) == before, "an unusable payload changed the store"


def test_missing_file_exits_1_with_a_clear_message(env: dict[str, str], r: redis.Redis,
                                                   tmp_path: Path) -> None:
    """A file that does not exist: exit 1, one line naming it."""
    missing = tmp_path / "no-such-feed.pb"
    line = one_line_error(ingest_cli(env, missing))
    assert str(missing) in line and "cannot read" in line, line
    assert store.entities.count(r, "transport") == 0


def test_empty_full_dataset_retires_the_feeds_vehicles(env: dict[str, str], r: redis.Redis,
                                                       tmp_path: Path,
                                                       city: tuple[TransitNetwork, Fleet]) -> None:
    """An entity-less FULL_DATASET with --kind vehicle_positions empties that feed's vehicles."""
    _network, fleet = city
    positions = write(tmp_path, "vp.pb", fleet.vehicle_positions(NOW))
    summary(ingest_cli(env, positions, "--feed", "a"))
    summary(ingest_cli(env, positions, "--feed", "b"))
    assert len(vehicle_ids(r, "a")) == len(vehicle_ids(r, "b")) == len(fleet)
    empty = write(tmp_path, "empty-full.pb", fx.header_only(int(NOW) + 30))
    assert not decode(empty.read_bytes()).entity
    # Undeclared, an empty message cannot say which kinds it lists in full: nothing retires.
    assert summary(ingest_cli(env, empty, "--feed", "a"))["retired"] == 0
    assert len(vehicle_ids(r, "a")) == len(fleet)
    result = summary(ingest_cli(env, empty, "--feed", "a", "--kind", "vehicle_positions"))
    assert (result["accepted"], result["rejected"], result["retired"]) == (0, 0, len(fleet))
    assert vehicle_ids(r, "a") == set()
    assert len(vehicle_ids(r, "b")) == len(fleet), "another feed's vehicles were retired"


# -- the shared captures ---------------------------------------------------------------------------
def _expected_counts(message: rt.FeedMessage) -> tuple[int, int, int, set[str]]:
    """(minimum and maximum of accepted + rejected, vehicle entities, vehicle ids to store)."""
    live = [e for e in message.entity if not e.is_deleted]
    deleted = len(message.entity) - len(live)
    vehicles = [e for e in live if e.HasField("vehicle")]
    alerts = sum(e.HasField("alert") for e in live)
    trips = sum(e.HasField("trip_update") for e in live)
    bare = sum(not (e.HasField("vehicle") or e.HasField("alert") or e.HasField("trip_update"))
               for e in live)
    # Each vehicle is kept or rejected, each alert and deletion is one record, an entity with no
    # payload is one rejection; a trip update gives 0, 1 (trip or vehicle) or 2 delays.
    low = len(vehicles) + alerts + deleted + bare
    ids = {text(e.vehicle.vehicle.id) or text(e.id) for e in vehicles
           if plausible(e.vehicle.position.latitude, e.vehicle.position.longitude)}
    return low, low + 2 * trips, len(vehicles), {i for i in ids if i}


@dataclass
class CaptureRun:
    """What `cityops ingest` did with one capture, and which vehicles it left in the store."""

    result: subprocess.CompletedProcess[str]
    vehicles: set[str]
    feed_keys: list[str]


def _capture_feed(path: Path) -> str:
    """A feed name of its own for each capture (they are ingested side by side)."""
    return "cap-" + re.sub(r"[^a-z0-9]+", "-", path.stem.lower())


@pytest.fixture(scope="module")
def capture_runs(redis_server: RedisServer,
                 tmp_path_factory: pytest.TempPathFactory) -> dict[str, CaptureRun]:
    """Every shared capture ingested by its own `cityops ingest` process (a few at a time)."""
    client = connect(redis_server.url)
    client.flushall()
    env = base_env(tmp_path_factory.mktemp("captures"), redis_server.url)
    with ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 2))) as pool:
        results = dict(zip(RT_SAMPLES, pool.map(
            lambda path: ingest_cli(env, path, "--feed", _capture_feed(path)), RT_SAMPLES),
            strict=True))
    runs = {path.name: CaptureRun(result, vehicle_ids(client, _capture_feed(path)),
                                  sorted(k for k in client.scan_iter()
                                         if _capture_feed(path) in k.split(":")))
            for path, result in results.items()}
    client.close()
    return runs


@pytest.mark.skipif(not RT_SAMPLES, reason=f"no GTFS-rt samples at {SAMPLES}")
@pytest.mark.parametrize("path", RT_SAMPLES, ids=lambda p: p.name)
def test_shared_capture_through_the_cli(path: Path, capture_runs: dict[str, CaptureRun]) -> None:
    """Exit 2 exactly for the unusable captures; otherwise counts match an independent decode."""
    run = capture_runs[path.name]
    feed = _capture_feed(path)
    if path.name in UNUSABLE_SAMPLES:
        assert run.result.returncode == EXIT_UNUSABLE, (run.result.stdout, run.result.stderr)
        assert len(run.result.stderr.strip().splitlines()) == 1, run.result.stderr
        assert run.feed_keys == [] and run.vehicles == set(), "an unusable capture was stored"
        return
    data = summary(run.result)
    message = decode(path.read_bytes())
    low, high, vehicle_entities, placed = _expected_counts(message)
    total = data["accepted"] + data["rejected"]
    assert low <= total <= high, (data, low, high)
    if vehicle_entities and all(e.HasField("vehicle") for e in message.entity if not e.is_deleted):
        # A VehiclePositions file: every vehicle entity is either stored or rejected.
        deleted = sum(e.is_deleted for e in message.entity)
        assert total == vehicle_entities + deleted, (data, vehicle_entities)
    invalid = sum(not plausible(e.vehicle.position.latitude, e.vehicle.position.longitude)
                  for e in message.entity if e.HasField("vehicle") and not e.is_deleted)
    assert data["rejected"] >= invalid, (data, invalid)
    assert len(data["errors"]) == min(data["rejected"], 20), data
    assert data["older"] == 0, data
    assert run.vehicles == {f"{feed}:vehicle:{v}" for v in placed}


# -- feeds -----------------------------------------------------------------------------------------
def _write_two_feeds(r: redis.Redis) -> float:
    """A healthy feed and one failing for ten minutes; returns the time used."""
    now = time.time()
    store.feeds.write_health(r, "buses", {
        "domain": "transport", "adapter": "gtfs_rt", "interval_s": 10, "freshness_budget_s": 60,
        "first_attempt": f"{now - 300:.3f}", "last_attempt": f"{now:.3f}",
        "last_success": f"{now:.3f}", "accepted": 42, "rejected": 1, "fatal": "0"})
    for _ in range(3):
        store.feeds.write_health(r, "trams", {
            "domain": "transport", "adapter": "gtfs_rt", "interval_s": 10,
            "freshness_budget_s": 60, "first_attempt": f"{now - 600:.3f}",
            "last_attempt": f"{now:.3f}", "last_error": "HTTP 500 from http://127.0.0.1:9/trams",
            "last_error_at": f"{now:.3f}", "fatal": "0", "accepted": 0, "rejected": 0},
            incr_failures=True)
    return now


def test_feeds_table_lists_each_feed_with_its_state(env: dict[str, str], r: redis.Redis) -> None:
    """`cityops feeds`: a header, then one row per feed with its state and last error."""
    _write_two_feeds(r)
    result = run_cli(env, "feeds")
    assert result.returncode == EXIT_OK, (result.stdout, result.stderr)
    lines = result.stdout.splitlines()
    assert len(lines) == 3, result.stdout
    assert lines[0].split()[:3] == ["FEED", "DOMAIN", "STATE"], lines[0]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["buses"][2] == "ok", rows
    assert rows["trams"][2] == "down", rows
    assert "HTTP 500" in lines[2 if lines[2].startswith("trams") else 1]


def test_feeds_json(env: dict[str, str], r: redis.Redis) -> None:
    """`cityops feeds --json`: every feed with state, last_error and consecutive_failures."""
    now = _write_two_feeds(r)
    result = run_cli(env, "feeds", "--json")
    assert result.returncode == EXIT_OK, (result.stdout, result.stderr)
    feeds = {row["feed"]: row for row in json.loads(result.stdout)}
    assert set(feeds) == {"buses", "trams"}
    buses, trams = feeds["buses"], feeds["trams"]
    assert (buses["state"], buses["last_error"], buses["consecutive_failures"]) == ("ok", "", 0)
    assert (buses["accepted"], buses["rejected"]) == (42, 1)
    assert buses["last_success"] == pytest.approx(now, abs=0.01)
    assert trams["state"] == "down"
    assert trams["last_error"] == "HTTP 500 from http://127.0.0.1:9/trams"
    assert trams["consecutive_failures"] == 3 and trams["last_success"] is None


def test_ingest_water_and_city_payloads(tmp_path: Path, redis_server: RedisServer,
                                        r: redis.Redis) -> None:
    """SenML and Open311 files ingest into their domains; an unusable one exits 2."""
    senml = tmp_path / "pack.json"
    senml.write_text(json.dumps([{"bn": "yy/res-1/", "n": "level", "u": "m", "v": 6.5,
                                  "bt": 1_800_000_000},
                                 {"n": "lat", "v": 28.55}, {"n": "lon", "v": 112.35}]))
    requests_json = tmp_path / "requests.json"
    requests_json.write_text(json.dumps([{"service_request_id": "7", "status": "open",
                                          "service_code": "pothole", "lat": 28.56,
                                          "long": 112.37,
                                          "requested_datetime": "2026-11-20T08:00:00+08:00"}]))
    env = base_env(tmp_path / "data", redis_server.url)
    for domain, path in (("water", senml), ("city", requests_json)):
        result = run_cli(env, "ingest", domain, "--file", str(path))
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["accepted"] >= 1
    assert store.entities.read_entities(r, "water") and store.entities.read_entities(r, "city")
    bad = tmp_path / "bad.json"
    bad.write_text('[{"n": "x", "v": 1, "crit_": 1}]')
    assert run_cli(env, "ingest", "water", "--file", str(bad)).returncode == 2
    assert run_cli(env, "ingest", "medical", "--file", str(bad)).returncode == 2


def test_ingest_medical_detects_ambulance_positions(tmp_path: Path, redis_server: RedisServer,
                                                    r: redis.Redis) -> None:
    """A protobuf medical payload is the ambulance AVL feed; JSON would be FHIR."""

    avl = tmp_path / "ambulances.pb"
    avl.write_bytes(fleet_message())
    env = base_env(tmp_path / "data", redis_server.url)
    result = run_cli(env, "ingest", "medical", "--file", str(avl))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["accepted"] == 3
    assert {e["kind"] for e in store.entities.read_entities(r, "medical")} == {"ambulance"}


def test_ingest_water_reads_a_sensorthings_collection(tmp_path: Path, redis_server: RedisServer,
                                                      r: redis.Redis) -> None:
    """A JSON object is a SensorThings Observations collection (SenML packs are arrays)."""

    payload = tmp_path / "observations.json"
    payload.write_bytes(contract_payloads(time.time())[0])
    env = base_env(tmp_path / "data", redis_server.url)
    result = run_cli(env, "ingest", "water", "--file", str(payload))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["accepted"] >= 1
    assert any(e["kind"] in ("sensor", "reservoir") for e in store.entities.read_entities(r, "water"))


def test_ingest_water_detects_the_format(tmp_path: Path, redis_server: RedisServer,
                                         r: redis.Redis) -> None:
    """A saved MQTT batch frame replays through the MQTT adapter (its topics name the sensors),
    a bare array of SensorThings Observations is SensorThings, and a legacy SenML pack is
    refused with SenML's own words."""
    from data_adapters.water.mqtt import MqttMessage, encode_batch

    now = time.time()
    frame = tmp_path / "frame.json"
    frame.write_bytes(encode_batch(
        [MqttMessage("city/water/pz2-p1/senml", json.dumps(
            [{"n": "pressure", "u": "kPa", "v": 310, "bt": now}]).encode(), now)],
        last_message_at=now, topics=["city/water/+/senml"]))
    env = base_env(tmp_path / "data", redis_server.url)
    result = run_cli(env, "ingest", "water", "--file", str(frame), "--feed", "w")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["accepted"] == 2  # the reading and its sensor
    assert set(store.entities.read_latest(r, "water", "pressure_bar")) == {"w:sensor:pz2-p1"}

    rows = json.loads(contract_payloads(now)[0])["value"]
    bare = tmp_path / "observations.json"
    bare.write_text(json.dumps(rows))
    result = run_cli(env, "ingest", "water", "--file", str(bare), "--feed", "sta")
    assert result.returncode == 0, result.stderr
    assert any(e["id"].startswith("sta:") for e in store.entities.read_entities(r, "water"))

    legacy = tmp_path / "legacy.json"
    legacy.write_text('{"bn": "urn:dev:ow:10e2073a01080063", "e": [{"n": "temp", "v": 23.5}]}')
    result = run_cli(env, "ingest", "water", "--file", str(legacy))
    assert result.returncode == EXIT_UNUSABLE
    assert "legacy SenML draft format" in result.stderr, result.stderr


def test_ingest_honours_the_city_bounds(tmp_path: Path, redis_server: RedisServer,
                                        r: redis.Redis) -> None:
    """CITYOPS_CITY_BOUNDS reaches the FHIR adapter of `cityops ingest` as it reaches the
    runner's: a Location outside the city is listed and flagged, not drawn."""
    far = tmp_path / "far.json"
    far.write_text(json.dumps({"resourceType": "Location", "id": "nj", "status": "active",
                               "position": {"latitude": 40.19, "longitude": 74.67}}))
    env = base_env(tmp_path / "data", redis_server.url)
    assert run_cli(env, "ingest", "medical", "--file", str(far), "--feed", "open").returncode == 0
    result = run_cli({**env, "CITYOPS_CITY_BOUNDS": "28.2,111.9,28.9,112.8"}, "ingest",
                     "medical", "--file", str(far), "--feed", "city")
    assert result.returncode == 0, result.stderr
    stored = {e["id"]: e for e in store.entities.read_entities(r, "medical")}
    assert (stored["open:hospital:nj"]["lat"], stored["open:hospital:nj"]["lon"]) == (40.19, 74.67)
    flagged = stored["city:hospital:nj"]
    assert flagged["lat"] is None and flagged["attrs"]["out_of_bounds"] is True
    assert flagged["attrs"]["reported_position"] == [40.19, 74.67]
