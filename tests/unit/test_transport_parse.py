"""The transport parsers on the project's own fixtures: one quirk of real feeds per test."""

from __future__ import annotations

import dataclasses
import io
import time
import zipfile
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from google.transit import gtfs_realtime_pb2 as rt

from app.config import load_settings
from app.model.records import Entity, Event, FeedHeader, Observation, ParseItem, Rejected, Removed
from data_adapters import registry
from data_adapters.base import ParseError
from data_adapters.transport import detect_kind, parse_feed_message, parse_gtfs_zip
from data_adapters.transport.gtfs_static import MAX_SHAPE_POINTS, simplify_line
from tests.support import transport_fixtures as fx
from tests.support.paths import REPO

T = TypeVar("T")
HEADER = float(fx.HEADER_TS)


def parse(payload: bytes, **options: Any) -> list[ParseItem]:
    """Every item parse_feed_message yields for a payload of feed "f"."""
    return list(parse_feed_message(payload, "f", fx.FETCHED_AT, **options))


def of(items: list[ParseItem], cls: type[T]) -> list[T]:
    """The items of one type, in order."""
    return [item for item in items if isinstance(item, cls)]


def by_id(items: list[ParseItem]) -> dict[str, Any]:
    """Entities and events by id."""
    return {item.id: item for item in items if isinstance(item, (Entity, Event))}


# -- realtime ---------------------------------------------------------------------------------------
def test_detect_kind() -> None:
    """A zip is the static schedule, anything else a realtime message."""
    assert detect_kind(fx.static_zip()) == "static"
    assert detect_kind(fx.make_zip({})) == "static"
    assert detect_kind(fx.mixed_entities()) == "realtime"
    assert detect_kind(b"") == "realtime"


def test_header_comes_first_and_describes_the_message() -> None:
    """The first item is the FeedHeader: timestamp, full dataset, and the kinds it replaces."""
    items = parse(fx.mixed_entities())
    assert items[0] == FeedHeader(HEADER, True, ("vehicle", "service_alert"))
    assert of(items[1:], FeedHeader) == []


def test_millisecond_timestamps() -> None:
    """Timestamps past 1e11 are milliseconds, wherever they appear."""
    items = parse(fx.ms_timestamps())
    assert items[0] == FeedHeader(HEADER, True, ("vehicle",))
    vehicles = by_id(items)
    assert vehicles["f:vehicle:bus-1"].observed_at == HEADER - 19.5
    assert vehicles["f:vehicle:bus-2"].observed_at == HEADER
    assert of(items, Observation) == [Observation("f:trip:trip-1", "delay_s", 90.0, "s", HEADER - 5)]
    assert len(items) == 4


def test_no_header_timestamp_falls_back_to_fetched_at() -> None:
    """Without a header timestamp, records without their own time take the fetch time."""
    items = parse(fx.no_header_timestamp())
    assert items[0] == FeedHeader(None, True, ("vehicle", "service_alert"))
    records = by_id(items)
    assert records["f:vehicle:bus-1"].observed_at == fx.FETCHED_AT
    assert records["f:vehicle:bus-2"].observed_at == HEADER - 30
    assert records["f:alert:a1"].observed_at == fx.FETCHED_AT
    assert of(items, Observation) == [Observation("f:trip:trip-1", "delay_s", -30.0, "s", fx.FETCHED_AT)]
    assert len(items) == 5


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    """upb returns bytes for a string that is not UTF-8; every such field comes out as text."""
    items = parse(fx.invalid_utf8())
    assert of(items, Rejected) == []
    vehicle = of(items, Entity)[0]
    assert vehicle.id == "f:vehicle:\ufffdID\ufffd\ufffd"
    assert vehicle.attrs == {"route_id": "\ufffdROUTE\ufffd\ufffd", "trip_id": "\ufffdTRIP\ufffd\ufffd",
                             "label": "\ufffdLABEL\ufffd\ufffd", "stop_id": "\ufffdSTOP\ufffd\ufffd"}
    assert of(items, Observation)[0].entity_id == "f:trip:\ufffdTU\ufffd\ufffd"
    assert of(items, Event)[0].title == "\ufffdTITLE\ufffd\ufffd"
    assert all(isinstance(value, str) for value in vehicle.attrs.values())


def test_duplicate_vehicle_keeps_the_newest() -> None:
    """Two claims on one vehicle id: the newer timestamp wins, on a tie the first claim stays."""
    items = parse(fx.duplicate_vehicle())
    vehicles = by_id(items)
    assert sorted(vehicles) == ["f:vehicle:bus-1", "f:vehicle:bus-2", "f:vehicle:bus-3"]
    assert vehicles["f:vehicle:bus-1"].attrs["trip_id"] == "new-trip"
    assert vehicles["f:vehicle:bus-2"].attrs["trip_id"] == "first-trip"
    rejected = of(items, Rejected)
    assert [r.reason.split(":")[0] for r in rejected] == ["duplicate vehicle f", "duplicate vehicle f"]
    assert 'id: "old"' in rejected[0].excerpt and "old-trip" in rejected[0].excerpt
    assert 'id: "second"' in rejected[1].excerpt


def test_invalid_positions_are_rejected_and_bad_bearings_dropped() -> None:
    """Impossible positions are Rejected; a bearing of 400 is dropped, 0 (north) and speeds kept;
    a vehicle that sends no position at all is kept, unlocated."""
    items = parse(fx.invalid_position())
    rejected = of(items, Rejected)
    assert [r.reason for r in rejected] == [
        "invalid position: 100.0,-82.4000015258789", "invalid position: 28.0,200.0",
        "invalid position: 0.0,0.0", "invalid position: nan,112.0"]
    assert all(r.excerpt.startswith('id: "') for r in rejected)
    vehicles = by_id(items)
    assert sorted(vehicles) == ["f:vehicle:bus-5", "f:vehicle:bus-6", "f:vehicle:bus-7",
                                "f:vehicle:bus-8"]
    assert (vehicles["f:vehicle:bus-5"].lat, vehicles["f:vehicle:bus-5"].lon) == (None, None)
    assert vehicles["f:vehicle:bus-6"].attrs == {}
    assert vehicles["f:vehicle:bus-7"].attrs == {"bearing": 0.0, "speed_mps": 0.0}
    assert vehicles["f:vehicle:bus-8"].attrs == {"speed_mps": 90.0}
    assert len(items) == 1 + 4 + 4


def test_trip_only_vehicles_are_kept_unlocated() -> None:
    """GTFS-rt makes position optional (subway systems send trip-only vehicles): each is kept with
    its trip, route, stop and status, lat/lon None, and nothing is rejected."""
    items = parse(fx.trip_only_vehicles())
    assert not of(items, Rejected)
    vehicles = by_id(items)
    assert sorted(vehicles) == ["f:vehicle:A-1", "f:vehicle:A-2", "f:vehicle:L-1"]
    for vehicle in vehicles.values():
        assert (vehicle.lat, vehicle.lon, vehicle.status) == (None, None, "in_service")
    assert vehicles["f:vehicle:A-1"].attrs == {
        "route_id": "A", "trip_id": "A-0815", "start_date": "20260101", "stop_id": "A27N",
        "current_status": "STOPPED_AT"}
    assert vehicles["f:vehicle:A-1"].observed_at == HEADER
    # A stop without a position is as valid in a later message; a located vehicle stays located.
    assert (vehicles["f:vehicle:L-1"].lat, vehicles["f:vehicle:L-1"].lon) == (None, None)
    assert vehicles["f:vehicle:A-2"].attrs["current_status"] == "INCOMING_AT"


def test_mixed_entity_types_in_one_message() -> None:
    """Vehicles, trip updates and alerts share a message; an entity with none of them is Rejected."""
    items = parse(fx.mixed_entities())
    assert len(of(items, Entity)) == 3
    assert of(items, Observation) == [
        Observation("f:trip:trip-0", "delay_s", 60.0, "s", HEADER),
        Observation("f:vehicle:bus-0", "delay_s", 60.0, "s", HEADER),
        Observation("f:trip:trip-1", "delay_s", 120.0, "s", HEADER),
        Observation("f:vehicle:bus-1", "delay_s", 120.0, "s", HEADER)]
    assert [e.id for e in of(items, Event)] == ["f:alert:a0"]
    assert [r.reason for r in of(items, Rejected)] == ["entity has no vehicle, trip_update or alert"]
    assert len(items) == 1 + 3 + 4 + 1 + 1


def test_vehicle_record_fields() -> None:
    """A vehicle Entity carries its ids, position, status, time and the set attributes only."""
    vehicle = by_id(parse(fx.mixed_entities()))["f:vehicle:bus-2"]
    assert (vehicle.domain, vehicle.kind, vehicle.status, vehicle.source) == (
        "transport", "vehicle", "in_service", "f")
    assert vehicle.lat == pytest.approx(fx.YIYANG[0], abs=1e-5)
    assert vehicle.lon == pytest.approx(fx.YIYANG[1], abs=1e-5)
    assert vehicle.observed_at == HEADER - 2
    assert vehicle.attrs == {"trip_id": "trip-2"}


def test_deleted_entities_become_removed() -> None:
    """is_deleted yields Removed in the id form of the record the entity had made."""
    items = parse(fx.deleted_entities())
    assert items[0] == FeedHeader(HEADER, False, ())
    assert of(items, Removed) == [Removed("transport", "f:vehicle:bus-1"),
                                  Removed("transport", "f:vehicle:v2"),
                                  Removed("transport", "f:entity:t1"),
                                  Removed("transport", "f:alert:a1"),
                                  Removed("transport", "f:entity:bare")]
    assert [e.id for e in of(items, Entity)] == ["f:vehicle:bus-3"]
    assert of(items, Observation) == [] and of(items, Event) == []
    assert len(items) == 1 + 5 + 1


def test_differential_message_replaces_nothing() -> None:
    """A DIFFERENTIAL message is not a full dataset, whatever kinds it holds."""
    items = parse(fx.differential(), expect=("vehicle",))
    assert items[0] == FeedHeader(HEADER, False, ())
    assert len(of(items, Entity)) == 1 and len(of(items, Event)) == 1


def test_alert_languages_severity_periods_and_selectors() -> None:
    """Titles follow the language preference; severities, periods and selectors are mapped."""
    items = parse(fx.alerts_languages())
    assert items[0] == FeedHeader(HEADER, True, ("service_alert",))
    alerts = by_id(items)
    assert len(alerts) == 4 and len(items) == 5
    multi = alerts["f:alert:multi"]
    assert (multi.title, multi.severity, multi.kind, multi.domain) == (
        "Delay", "major", "service_alert", "transport")
    assert (multi.starts_at, multi.ends_at) == (HEADER, HEADER + 3600)
    assert multi.attrs == {
        "cause": "WEATHER", "effect": "SIGNIFICANT_DELAYS", "description": "Heavy rain",
        "url": "https://example.org/alerts/1",
        "informed_entities": [{"route_id": "R1", "route_type": 0}, {"stop_id": "S9"},
                              {"agency_id": "CITY", "trip_id": "trip-7"}]}
    chinese = alerts["f:alert:chinese"]
    assert (chinese.title, chinese.severity, chinese.starts_at, chinese.ends_at) == (
        "绕行", "warning", HEADER, None)
    french = alerts["f:alert:french"]
    assert (french.title, french.severity, french.starts_at, french.ends_at) == (
        "Travaux", "info", None, None)
    untitled = alerts["f:alert:untitled"]
    assert (untitled.title, untitled.severity) == ("(no title)", "info")
    assert untitled.attrs == {"cause": "UNKNOWN_CAUSE", "effect": "UNKNOWN_EFFECT",
                              "informed_entities": []}


@pytest.mark.parametrize("languages, title", [
    (("zh",), "延误"), (("zh-CN", "en"), "延误"), (("fr-CA",), "Retard"), (("de",), "Retard"),
    ((), "Retard"), (("EN_us",), "Delay"),
])
def test_alert_language_preference(languages: tuple[str, ...], title: str) -> None:
    """The first preferred language present wins, by primary subtag; else the first translation."""
    alerts = by_id(parse(fx.alerts_languages(), languages=languages))
    assert alerts["f:alert:multi"].title == title


def test_vehicles_without_trip_id() -> None:
    """route_id-only vehicles, with set zeros (EMPTY, direction 0) and the declared default status."""
    items = parse(fx.vehicles_without_trip())
    vehicles = by_id(items)
    assert vehicles["f:vehicle:1536"].attrs == {
        "route_id": "F", "direction_id": 0, "bearing": 180.0, "occupancy": "EMPTY",
        "current_status": "IN_TRANSIT_TO"}
    assert vehicles["f:vehicle:1537"].attrs == {"route_id": "B"}
    assert vehicles["f:vehicle:3"].attrs == {}  # no vehicle.id: the entity id names it
    assert all(v.observed_at == HEADER for v in vehicles.values())
    assert len(items) == 4


def test_trip_update_delays() -> None:
    """TripUpdate.delay first, then the latest served stop, then the next stop; none is not an error."""
    items = parse(fx.trip_updates())
    assert items[0] == FeedHeader(HEADER, True, ())
    assert [(o.entity_id, o.value) for o in of(items, Observation)] == [
        ("f:trip:trip-level", 0.0), ("f:vehicle:bus-1", 0.0),
        ("f:trip:trip-served", 120.0), ("f:trip:trip-departed", 45.0), ("f:trip:trip-ahead", 75.0),
        ("f:vehicle:bus-9", 15.0)]
    assert all((o.metric, o.unit, o.observed_at) == ("delay_s", "s", HEADER)
               for o in of(items, Observation))
    assert [r.reason for r in of(items, Rejected)] == [
        "trip update with a delay but no trip_id or vehicle id"]
    assert len(items) == 1 + 6 + 1


def test_id_prefix_joins_feeds_polled_separately() -> None:
    """With id_prefix, a TripUpdates feed names the vehicles of another feed; source stays its own."""
    items = parse(fx.mixed_entities(), id_prefix="city")
    assert {o.entity_id for o in of(items, Observation)} == {
        "city:trip:trip-0", "city:vehicle:bus-0", "city:trip:trip-1", "city:vehicle:bus-1"}
    assert [e.id for e in of(items, Entity)] == ["city:vehicle:bus-0", "city:vehicle:bus-1",
                                                 "city:vehicle:bus-2"]
    assert {e.source for e in of(items, Entity)} == {"f"} and of(items, Event)[0].source == "f"
    assert of(items, Event)[0].id == "city:alert:a0"
    removed = of(parse(fx.deleted_entities(), id_prefix="city"), Removed)
    assert removed[0] == Removed("transport", "city:vehicle:bus-1")
    static = of(list(parse_gtfs_zip(fx.static_zip(), "g", fx.FETCHED_AT, id_prefix="city")), Entity)
    assert static[0].id == "city:stop:S1" and static[-1].id == "city:route:R3"
    assert {e.source for e in static} == {"g"}


def test_header_only_message() -> None:
    """A full dataset without entities retires what the URL is known to serve, and only that."""
    assert parse(fx.header_only()) == [FeedHeader(HEADER, True, ())]
    assert parse(fx.header_only(), expect=("vehicle",)) == [FeedHeader(HEADER, True, ("vehicle",))]


def test_message_without_header_is_usable_but_never_full() -> None:
    """Entities without the required header are parsed; the message retires nothing."""
    items = parse(fx.no_header_with_vehicle(), expect=("vehicle",))
    assert items[0] == FeedHeader(None, False, ())
    assert [e.id for e in of(items, Entity)] == ["f:vehicle:bus-1"]


@pytest.mark.parametrize("payload, message", [
    (b"", "empty payload"),
    (fx.header_only()[:5], "not a GTFS-realtime FeedMessage"),
    (b"<html><body>502 Bad Gateway</body></html>", "not a GTFS-realtime FeedMessage"),
    (rt.Position(latitude=1.0, longitude=2.0).SerializeToString(),
     "FeedMessage without header and without entities"),
])
def test_unusable_payloads_raise_parse_error(payload: bytes, message: str) -> None:
    """Nothing usable: ParseError with the reason and an excerpt of the payload."""
    with pytest.raises(ParseError) as caught:
        parse(payload)
    assert str(caught.value).startswith(message)
    assert caught.value.excerpt == payload.decode("utf-8", errors="replace")


def test_fast_entities_equal_constructed_ones() -> None:
    """The vehicle path's shortcut past the frozen __init__ builds exactly what Entity() builds."""
    for vehicle in of(parse(fx.vehicles_without_trip()), Entity):
        rebuilt = Entity(**{f.name: getattr(vehicle, f.name) for f in dataclasses.fields(Entity)})
        assert type(vehicle) is Entity and vehicle == rebuilt and vars(vehicle) == vars(rebuilt)
        with pytest.raises(dataclasses.FrozenInstanceError):
            vehicle.lat = 0.0  # type: ignore[misc]


def test_twenty_thousand_vehicles() -> None:
    """A 20,000-vehicle message parses completely (its time is printed: `cityops bench` holds
    the speed targets, a loaded test machine must not fail this)."""
    payload = fx.large_vehicle_feed()
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        items = parse(payload)
        best = min(best, time.perf_counter() - started)
    vehicles = of(items, Entity)
    assert len(vehicles) == 20_000 and len(items) == 20_001
    assert vehicles[1].attrs == {
        "route_id": "route-1", "trip_id": "trip-1", "direction_id": 1, "start_date": "20231114",
        "label": "1-1", "bearing": pytest.approx(vehicles[1].attrs["bearing"]),
        "speed_mps": pytest.approx(vehicles[1].attrs["speed_mps"]), "occupancy": "MANY_SEATS_AVAILABLE",
        "current_status": "STOPPED_AT", "stop_id": "stop-1"}
    print(f"20,000-vehicle message parsed in {best * 1000:.0f} ms (best of 3)")


# -- static -----------------------------------------------------------------------------------------
def parse_zip(payload: bytes) -> list[ParseItem]:
    """Every item parse_gtfs_zip yields for a payload of feed "f"."""
    return list(parse_gtfs_zip(payload, "f", fx.FETCHED_AT))


def test_static_zip_stops() -> None:
    """BOM, CRLF, quotes and extra columns are read; each bad stop row is one Rejected."""
    items = parse_zip(fx.static_zip())
    assert items[0] == FeedHeader(None, True, ("stop", "route"))
    stops = [e for e in of(items, Entity) if e.kind == "stop"]
    assert [s.id for s in stops] == ["f:stop:S1", "f:stop:ST", "f:stop:S4"]
    first = stops[0]
    assert (first.lat, first.lon, first.status, first.domain, first.observed_at, first.source) == (
        28.5501, 112.3601, "active", "transport", fx.FETCHED_AT, "f")
    assert first.attrs == {"name": "Station Square, North", "code": "101", "parent_station": "ST",
                           "location_type": 0}
    assert stops[1].attrs == {"name": "Station Square", "location_type": 1}
    assert stops[2].attrs == {"name": 'Quoted "Name"', "code": "104"}
    reasons = [r.reason for r in of(items, Rejected) if r.reason.startswith("stops.txt:")]
    assert reasons == ["stops.txt: malformed row (more fields than the header)",
                       "stops.txt: row without stop_id",
                       "stops.txt: stop S2: invalid position '128.5','112.37'",
                       "stops.txt: stop S3: invalid position '',''",
                       "stops.txt: duplicate stop_id S1"]
    # Every data row of stops.txt is accounted for: 8 rows, 3 stops, 5 rejections.
    assert len(stops) + len(reasons) == fx.STOPS_TXT.count("\r\n") - 1


def test_static_nodes_and_boarding_areas_need_no_position() -> None:
    """GTFS makes stop_lat/stop_lon optional for generic nodes (3) and boarding areas (4): they
    are kept unlocated; a stop, station or entrance (0, 1, 2) without one is still rejected."""
    stops = ("stop_id,stop_name,stop_lat,stop_lon,location_type,parent_station\n"
             "ST,Station,28.55,112.36,1,\nN1,Stair node,,,3,ST\nB1,Boarding area,,,4,P1\n"
             "P1,Platform,28.5501,112.3601,0,ST\nE1,Entrance,,,2,ST\nN2,Node placed,28.5502,"
             "112.3602,3,ST\n")
    items = parse_zip(fx.make_zip({"stops.txt": stops}))
    placed = {e.id: (e.lat, e.lon) for e in of(items, Entity)}
    assert placed == {"f:stop:ST": (28.55, 112.36), "f:stop:N1": (None, None),
                      "f:stop:B1": (None, None), "f:stop:P1": (28.5501, 112.3601),
                      "f:stop:N2": (28.5502, 112.3602)}
    assert [r.reason for r in of(items, Rejected)] == ["stops.txt: stop E1: invalid position '',''"]


def test_trip_only_ambulances_are_kept_unlocated() -> None:
    """The ambulance AVL export goes through the same parser: a unit without a fix is listed."""
    from data_adapters.medical.ambulances import parse_ambulances
    ambulances = [i for i in parse_ambulances(fx.trip_only_vehicles(), "ems", fx.FETCHED_AT)
                  if isinstance(i, Entity)]
    assert sorted((a.id, a.lat, a.status) for a in ambulances) == [
        ("ems:ambulance:A-1", None, "on_call"), ("ems:ambulance:A-2", None, "on_call"),
        ("ems:ambulance:L-1", None, "on_call")]


def test_static_zip_routes() -> None:
    """Routes by header name, with type, colour, stop count, and no shape when shapes.txt is absent."""
    items = parse_zip(fx.static_zip())
    routes = {e.id: e for e in of(items, Entity) if e.kind == "route"}
    assert list(routes) == ["f:route:R1", "f:route:R2", "f:route:R3"]
    assert all((r.lat, r.lon, r.status) == (None, None, "active") for r in routes.values())
    assert routes["f:route:R1"].attrs == {"short_name": "1", "long_name": "Riverside Loop", "type": 3,
                                          "color": "#00AA33", "stop_count": 3}
    assert routes["f:route:R2"].attrs == {"short_name": "F", "long_name": "Ferry", "type": 4,
                                          "stop_count": 1}
    assert routes["f:route:R3"].attrs == {"short_name": "T", "type": 0, "color": "#FF0000"}
    assert [r.reason for r in of(items, Rejected) if r.reason.startswith("routes.txt:")] == [
        "routes.txt: row without route_id"]
    assert len(items) == 1 + 3 + 5 + 3 + 1


def test_static_zip_shapes() -> None:
    """A route's shape is its most used shape_id, in sequence order, [lon, lat], at most 500 points."""
    items = parse_zip(fx.static_zip_with_shapes())
    routes = {e.id: e for e in of(items, Entity) if e.kind == "route"}
    shape = routes["f:route:R1"].attrs["shape"]
    assert 2 < len(shape) <= MAX_SHAPE_POINTS
    assert shape[0] == [112.36, 28.55] and shape[-1] == [112.4799, 28.551]
    assert [p[0] for p in shape] == sorted(p[0] for p in shape)
    assert routes["f:route:R3"].attrs["shape"] == [[112.4, 28.6], [112.42, 28.62]]
    assert "shape" not in routes["f:route:R2"].attrs  # its trips name no shape
    assert "stop_count" not in routes["f:route:R1"].attrs  # no stop_times.txt in this zip


def test_routes_only_and_broken_stops() -> None:
    """One of stops.txt and routes.txt is enough; an unreadable one is a Rejected, not a failure."""
    routes_only = parse_zip(fx.routes_only_zip())
    assert routes_only[0] == FeedHeader(None, True, ("route",))
    assert len(of(routes_only, Entity)) == 3
    broken = parse_zip(fx.zip_with_broken_stops())
    assert broken[0] == FeedHeader(None, True, ("route",))
    assert [r.reason for r in of(broken, Rejected)] == [
        "stops.txt: unreadable (No columns to parse from file)", "routes.txt: row without route_id"]
    assert len(of(broken, Entity)) == 3


@pytest.mark.parametrize("payload, message", [
    (b"", "not a zip archive"),
    (fx.mixed_entities(), "not a zip archive"),
    (fx.zip_without_stops_or_routes(), "GTFS zip has neither stops.txt nor routes.txt"),
    (fx.make_zip({"stops.txt": "", "routes.txt": b""}), "GTFS zip has no readable stops.txt or routes.txt"),
])
def test_unusable_zips_raise_parse_error(payload: bytes, message: str) -> None:
    """Not a zip, or no usable stops.txt or routes.txt: ParseError."""
    with pytest.raises(ParseError, match=message):
        parse_zip(payload)


def test_a_member_without_a_name_is_skipped() -> None:
    """A central directory entry naming no file (found by fuzzing) is not a GTFS file: the zip's
    stops are still read (zipfile's is_dir() would raise IndexError on it)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("stops.txt", "stop_id,stop_name,stop_lat,stop_lon\ns1,Stop,28.55,112.36\n")
        nameless = zipfile.ZipInfo("x")
        nameless.filename = ""
        archive.writestr(nameless, b"junk")
    assert [e.id for e in of(parse_zip(buffer.getvalue()), Entity)] == ["f:stop:s1"]


def test_simplify_line_keeps_ends_and_corners() -> None:
    """Long shapes shrink to the point budget; ends and the sharpest corner survive; short ones stay."""
    lon = np.linspace(112.0, 112.5, 2000)
    lat = np.full(2000, 28.5)
    lat[1234] = 28.6  # a spike
    line = np.column_stack([lon, lat])
    simplified = simplify_line(line, limit=50)
    assert len(simplified) == 50
    assert simplified[0].tolist() == line[0].tolist() and simplified[-1].tolist() == line[-1].tolist()
    assert line[1234].tolist() in simplified.tolist()
    assert simplify_line(line[:10]).tolist() == line[:10].tolist()
    loop = np.array([[112.0, 28.0], [112.1, 28.0], [112.1, 28.1], [112.0, 28.0]] * 200)
    assert len(simplify_line(loop, limit=20)) <= 20


def test_sample_config_builds_the_transport_adapters(tmp_path: Path) -> None:
    """sample.toml is a valid configuration whose feeds build the GTFS adapters."""
    sample = REPO / "data_adapters" / "transport" / "sample.toml"
    settings = load_settings({"CITYOPS_CONFIG": str(sample), "CITYOPS_DATA_DIR": str(tmp_path)})
    adapters = [registry.build(feed) for feed in settings.feeds]
    assert [(a.feed, a.name, a.config.get("kind")) for a in adapters] == [
        ("city-gtfs", "gtfs_static", None), ("city-vehicles", "gtfs_rt", "vehicle_positions"),
        ("city-trips", "gtfs_rt", "trip_updates"), ("city-alerts", "gtfs_rt", "alerts")]
    assert all(a.domain == "transport" and a.interval_s > 0 for a in adapters)
