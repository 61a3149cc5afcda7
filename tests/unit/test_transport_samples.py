"""The transport parsers on the real captures in ../shared/samples, checked against independent reads.

Every count is compared with a decode by gtfs-realtime-bindings (or the csv module) that does not
go through the parser. Skipped when the shared samples are not next to the repository.
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
from google.transit import gtfs_realtime_pb2 as rt

from app.model.geo import valid_position
from app.model.records import Entity, Event, FeedHeader, Observation, ParseItem, Rejected, Removed
from data_adapters.base import ParseError
from data_adapters.transport import detect_kind, parse_feed_message, parse_gtfs_zip
from tests.support.paths import SAMPLES

if not (SAMPLES / "gtfs-rt").is_dir() or not (SAMPLES / "gtfs-static").is_dir():
    pytest.skip(f"no GTFS samples at {SAMPLES}", allow_module_level=True)

RT_FILES = sorted((SAMPLES / "gtfs-rt").rglob("*.pb"))
STATIC_FILES = sorted((SAMPLES / "gtfs-static").glob("*.zip"))
# What gtfs-rt/SOURCES.md says cannot be used: not protobuf, truncated, and 0 bytes.
UNUSABLE = {"transitland-invalid.pb", "jar-06-truncated.pb", "jar-07-empty.pb"}
VEHICLE_REJECTIONS = ("invalid position", "duplicate vehicle", "vehicle without")
FETCHED_AT = 1_800_000_000.0


def _decode(path: Path) -> rt.FeedMessage:
    """The capture decoded directly with the bindings."""
    message = rt.FeedMessage()
    message.ParseFromString(path.read_bytes())
    return message


def test_every_listed_capture_is_present() -> None:
    """The sample folders hold what SOURCES.md lists (so an empty glob cannot pass silently)."""
    names = {path.name for path in RT_FILES}
    assert len(RT_FILES) == 25 and UNUSABLE <= names
    assert len(STATIC_FILES) == 5


@pytest.mark.parametrize("path", RT_FILES, ids=lambda p: p.name)
def test_realtime_capture_counts(path: Path) -> None:
    """Vehicles, rejections, alerts and removals add up to the entities the bindings decode."""
    data = path.read_bytes()
    assert detect_kind(data) == "realtime"
    if path.name in UNUSABLE:
        with pytest.raises(ParseError):
            list(parse_feed_message(data, "s", FETCHED_AT))
        return
    message = _decode(path)
    items = list(parse_feed_message(data, "s", FETCHED_AT))
    assert isinstance(items[0], FeedHeader)
    live = [e for e in message.entity if not e.is_deleted]
    vehicle_entities = [e for e in live if e.HasField("vehicle")]
    placed = {e.vehicle.vehicle.id or e.id for e in vehicle_entities
              if valid_position(e.vehicle.position.latitude, e.vehicle.position.longitude)}
    # Position is optional in GTFS-rt: a vehicle without one is kept, unlocated.
    trip_only = {e.vehicle.vehicle.id or e.id for e in vehicle_entities
                 if not e.vehicle.HasField("position") and (e.vehicle.vehicle.id or e.id)}
    vehicles = [i for i in items if isinstance(i, Entity)]
    rejected = [i for i in items if isinstance(i, Rejected)]
    vehicle_rejected = [r for r in rejected if r.reason.startswith(VEHICLE_REJECTIONS)]
    assert {v.id for v in vehicles} == {f"s:vehicle:{vid}" for vid in placed | trip_only}
    assert {v.id for v in vehicles if v.lat is None} == {f"s:vehicle:{vid}" for vid in trip_only}
    assert len(vehicles) + len(vehicle_rejected) == len(vehicle_entities)
    assert rejected == vehicle_rejected  # nothing else in the captures is unusable
    alerts = [i for i in items if isinstance(i, Event)]
    assert len(alerts) == sum(e.HasField("alert") for e in live)
    assert len([i for i in items if isinstance(i, Removed)]) == len(message.entity) - len(live)
    trip_updates = [e for e in live if e.HasField("trip_update")]
    observations = [i for i in items if isinstance(i, Observation)]
    assert len(observations) <= 2 * len(trip_updates)
    assert all(o.metric == "delay_s" and o.unit == "s" for o in observations)
    assert len(items) == 1 + len(vehicles) + len(rejected) + len(alerts) + len(observations) + (
        len(message.entity) - len(live))


def _parse_sample(name: str) -> list[ParseItem]:
    """Every item of one capture under gtfs-rt/."""
    return list(parse_feed_message((SAMPLES / "gtfs-rt" / name).read_bytes(), "s", FETCHED_AT))


def test_bart_trip_updates_give_one_delay_per_trip() -> None:
    """BART: 91 trips with STU delays and no vehicle ids give 91 trip delays."""
    observations = [i for i in _parse_sample("transitland-bart-trip-updates.pb")
                    if isinstance(i, Observation)]
    assert len(observations) == 91
    assert all(o.entity_id.startswith("s:trip:") and o.observed_at == 1565199921.0 for o in observations)


def test_caltrain_trip_updates_without_delays_give_nothing() -> None:
    """Caltrain sends only times: no delay is invented, and nothing is rejected."""
    assert _parse_sample("transitland-ct-trip-updates.pb") == [FeedHeader(1699405534.0, True, ())]


def test_bart_alert_in_en_us_without_period() -> None:
    """The BART alert: an en-US title, its url, an agency selector, no active period."""
    (alert,) = [i for i in _parse_sample("transitland-bart-alerts.pb") if isinstance(i, Event)]
    assert alert.id == "s:alert:BSA_187874"
    assert alert.title.startswith("There is a major delay at Montgomery St.")
    assert (alert.severity, alert.starts_at, alert.ends_at) == ("info", None, None)
    assert alert.attrs == {"cause": "MEDICAL_EMERGENCY", "effect": "SIGNIFICANT_DELAYS",
                           "url": "http://www.bart.gov/schedules/advisories",
                           "informed_entities": [{"agency_id": "BART"}]}


def test_bullrunner_vehicles_without_trip_or_timestamp() -> None:
    """USF Bull Runner: route_id only, bearing and occupancy set, the header's time for all."""
    vehicles = [i for i in _parse_sample("usf-bullrunner-vehicle-positions.pb") if isinstance(i, Entity)]
    assert len(vehicles) == 10
    assert all(v.observed_at == 1505314375.0 and "trip_id" not in v.attrs for v in vehicles)
    assert vehicles[0].id == "s:vehicle:1536"
    assert vehicles[0].attrs == {"route_id": "F", "bearing": 180.0, "occupancy": "EMPTY"}


def test_edge_case_captures() -> None:
    """Milliseconds, an out-of-range bearing, a duplicate, a deletion and invalid UTF-8, as captured."""
    ms = [i for i in _parse_sample("edge-cases/conformance-bullrunner-11-out-of-range-times.pb")
          if isinstance(i, Observation)]
    assert [o.observed_at for o in ms if o.entity_id == "s:trip:1"] == [1_500_000_000.0]
    positions = {i.id: i for i in _parse_sample("edge-cases/conformance-bullrunner-18-invalid-positions.pb")
                 if isinstance(i, Entity)}
    assert sorted(positions) == ["s:vehicle:pos-2", "s:vehicle:pos-3"]
    assert "bearing" not in positions["s:vehicle:pos-2"].attrs
    duplicate = _parse_sample("edge-cases/conformance-bullrunner-21-duplicate-vehicle.pb")
    assert [i.attrs["trip_id"] for i in duplicate if isinstance(i, Entity)] == ["1"]
    deleted = _parse_sample("edge-cases/conformance-bullrunner-26-header-v2.pb")
    assert deleted == [FeedHeader(None, True, ()), Removed("transport", "s:entity:deleted")]
    assert _parse_sample("edge-cases/jar-03-invalid-utf8.pb") == [FeedHeader(1_500_000_000.0, True, ())]


def _csv_rows(archive: zipfile.ZipFile, name: str) -> list[dict[str, str]]:
    """A member's data rows read with the csv module (blank lines skipped)."""
    text = archive.read(name).decode("utf-8-sig")
    return [row for row in csv.DictReader(io.StringIO(text, newline="")) if any(row.values())]


@pytest.mark.parametrize("path", STATIC_FILES, ids=lambda p: p.name)
def test_static_capture_counts(path: Path) -> None:
    """Every row of stops.txt and routes.txt becomes an entity or a rejection, with the same ids."""
    data = path.read_bytes()
    assert detect_kind(data) == "static"
    items = list(parse_gtfs_zip(data, "s", FETCHED_AT))
    assert items[0] == FeedHeader(None, True, ("stop", "route"))
    with zipfile.ZipFile(path) as archive:
        stop_rows = _csv_rows(archive, "stops.txt")
        route_rows = _csv_rows(archive, "routes.txt")
    entities = [i for i in items if isinstance(i, Entity)]
    rejected = [i for i in items if isinstance(i, Rejected)]
    stops = [e for e in entities if e.kind == "stop"]
    routes = [e for e in entities if e.kind == "route"]
    stop_rejected = [r for r in rejected if r.reason.startswith("stops.txt:")]
    route_rejected = [r for r in rejected if r.reason.startswith("routes.txt:")]
    assert len(stops) + len(stop_rejected) == len(stop_rows)
    assert len(routes) + len(route_rejected) == len(route_rows)
    placed = [row["stop_id"] for row in stop_rows
              if valid_position(float(row["stop_lat"] or "nan"), float(row["stop_lon"] or "nan"))]
    assert [s.id for s in stops] == [f"s:stop:{stop_id}" for stop_id in placed]
    assert [r.id for r in routes] == [f"s:route:{row['route_id']}" for row in route_rows]
    for route in routes:
        shape = route.attrs.get("shape", [])
        assert len(shape) <= 500 and all(valid_position(lat, lon) for lon, lat in shape)
