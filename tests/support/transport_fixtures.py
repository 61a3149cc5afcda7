"""Builders of the transport feed's test payloads: GTFS-rt messages and GTFS zips made in code.

Each builder makes one quirk of real feeds (see ../shared/samples/*/SOURCES.md) with
gtfs-realtime-bindings or zipfile, so the tests own their fixtures. Run
``python -m tests.fixtures_transport`` to time the parse of a 20,000-vehicle message.
"""

from __future__ import annotations

import io
import random
import statistics
import time
import zipfile
from typing import Sequence

from google.transit import gtfs_realtime_pb2 as rt

HEADER_TS = 1_700_000_000
FETCHED_AT = 1_700_000_100.0
YIYANG = (28.55, 112.36)
STOP_STATUSES = (rt.VehiclePosition.INCOMING_AT, rt.VehiclePosition.STOPPED_AT,
                 rt.VehiclePosition.IN_TRANSIT_TO)
OCCUPANCIES = (rt.VehiclePosition.EMPTY, rt.VehiclePosition.MANY_SEATS_AVAILABLE,
               rt.VehiclePosition.FEW_SEATS_AVAILABLE, rt.VehiclePosition.STANDING_ROOM_ONLY,
               rt.VehiclePosition.CRUSHED_STANDING_ROOM_ONLY, rt.VehiclePosition.FULL)


# -- helpers ----------------------------------------------------------------------------------------
def new_message(timestamp: int | None = HEADER_TS, *, differential: bool = False) -> rt.FeedMessage:
    """A FeedMessage with a 2.0 header (timestamp left unset when None)."""
    message = rt.FeedMessage()
    message.header.gtfs_realtime_version = "2.0"
    message.header.incrementality = (rt.FeedHeader.DIFFERENTIAL if differential
                                     else rt.FeedHeader.FULL_DATASET)
    if timestamp is not None:
        message.header.timestamp = timestamp
    return message


def add_vehicle(message: rt.FeedMessage, entity_id: str, vehicle_id: str | None = None, *,
                lat: float = YIYANG[0], lon: float = YIYANG[1], timestamp: int | None = None,
                trip_id: str | None = None, route_id: str | None = None) -> rt.VehiclePosition:
    """Append a vehicle entity with a position and the given ids; returns its VehiclePosition."""
    entity = message.entity.add()
    entity.id = entity_id
    vp = entity.vehicle
    vp.position.latitude = lat
    vp.position.longitude = lon
    if vehicle_id is not None:
        vp.vehicle.id = vehicle_id
    if timestamp is not None:
        vp.timestamp = timestamp
    if trip_id is not None:
        vp.trip.trip_id = trip_id
    if route_id is not None:
        vp.trip.route_id = route_id
    return vp


def add_alert(message: rt.FeedMessage, entity_id: str,
              headers: Sequence[tuple[str, str]] = ()) -> rt.Alert:
    """Append an alert entity whose header_text has the given (language, text) translations."""
    entity = message.entity.add()
    entity.id = entity_id
    for language, text in headers:
        translation = entity.alert.header_text.translation.add()
        translation.text = text
        if language:
            translation.language = language
    entity.alert.SetInParent()
    return entity.alert


def with_raw_bytes(payload: bytes, placeholder: str, raw: bytes) -> bytes:
    """Swap a placeholder string for raw (invalid UTF-8) bytes of the same length.

    The bindings refuse to set such a string, but real feeds send them; equal lengths keep every
    length prefix of the encoded message right.
    """
    marker = placeholder.encode()
    assert len(marker) == len(raw) and payload.count(marker) >= 1
    return payload.replace(marker, raw)


def make_zip(files: dict[str, str | bytes]) -> bytes:
    """A zip archive holding the given members (text is encoded as UTF-8)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content.encode() if isinstance(content, str) else content)
    return buffer.getvalue()


# -- GTFS-rt quirks ---------------------------------------------------------------------------------
def ms_timestamps() -> bytes:
    """Header, vehicle and trip update timestamps in milliseconds (bullrunner-11)."""
    message = new_message(HEADER_TS * 1000)
    add_vehicle(message, "v1", "bus-1", timestamp=(HEADER_TS - 20) * 1000 + 500)
    add_vehicle(message, "v2", "bus-2")  # no own timestamp: takes the header's
    entity = message.entity.add()
    entity.id = "t1"
    entity.trip_update.trip.trip_id = "trip-1"
    entity.trip_update.delay = 90
    entity.trip_update.timestamp = (HEADER_TS - 5) * 1000
    return message.SerializeToString()


def no_header_timestamp() -> bytes:
    """A header without timestamp (jar-01): records fall back to their own time, else fetched_at."""
    message = new_message(None)
    add_vehicle(message, "v1", "bus-1")
    add_vehicle(message, "v2", "bus-2", timestamp=HEADER_TS - 30)
    entity = message.entity.add()
    entity.id = "t1"
    entity.trip_update.trip.trip_id = "trip-1"
    entity.trip_update.delay = -30
    add_alert(message, "a1", [("en", "Detour")])
    return message.SerializeToString()


def invalid_utf8() -> bytes:
    """String fields holding bytes that are not UTF-8 (jar-03): upb returns them as bytes."""
    message = new_message()
    vp = add_vehicle(message, "v1", "@@ID@", trip_id="@@TRIP@", route_id="@@ROUTE@")
    vp.vehicle.label = "@@LABEL@"
    vp.stop_id = "@@STOP@"
    entity = message.entity.add()
    entity.id = "t1"
    entity.trip_update.trip.trip_id = "@@TU@"
    entity.trip_update.delay = 45
    add_alert(message, "a1", [("en", "@@TITLE@")])
    payload = message.SerializeToString()
    for name in ("ID", "TRIP", "ROUTE", "LABEL", "STOP", "TU", "TITLE"):
        placeholder = f"@@{name}@"
        payload = with_raw_bytes(payload, placeholder, b"\xff" + name.encode() + b"\xfe\xfe")
    return payload


def duplicate_vehicle() -> bytes:
    """Two entities claim bus-1 (older first) and two claim bus-2 with equal timestamps (bullrunner-21)."""
    message = new_message()
    add_vehicle(message, "old", "bus-1", lat=28.50, timestamp=HEADER_TS - 60, trip_id="old-trip")
    add_vehicle(message, "new", "bus-1", lat=28.51, timestamp=HEADER_TS - 10, trip_id="new-trip")
    add_vehicle(message, "first", "bus-2", lat=28.52, timestamp=HEADER_TS - 5, trip_id="first-trip")
    add_vehicle(message, "second", "bus-2", lat=28.53, timestamp=HEADER_TS - 5, trip_id="second-trip")
    add_vehicle(message, "lone", "bus-3", lat=28.54, timestamp=HEADER_TS - 5)
    return message.SerializeToString()


def invalid_position() -> bytes:
    """Impossible positions, a 0,0 fix, no position; bearings in and out of range (bullrunner-18)."""
    message = new_message()
    add_vehicle(message, "lat100", "bus-1", lat=100.0, lon=-82.4)
    add_vehicle(message, "lon200", "bus-2", lat=28.0, lon=200.0)
    add_vehicle(message, "zero", "bus-3", lat=0.0, lon=0.0)
    add_vehicle(message, "nan", "bus-4", lat=float("nan"), lon=112.0)
    entity = message.entity.add()
    entity.id = "no-position"
    entity.vehicle.vehicle.id = "bus-5"
    entity.vehicle.trip.trip_id = "trip-5"
    add_vehicle(message, "bearing400", "bus-6").position.bearing = 400.0
    north = add_vehicle(message, "north", "bus-7")
    north.position.bearing = 0.0
    north.position.speed = 0.0
    add_vehicle(message, "fast", "bus-8").position.speed = 90.0
    return message.SerializeToString()


def mixed_entities() -> bytes:
    """VehiclePositions, TripUpdates and Alerts in one message, plus an entity with none (bullrunner-22)."""
    message = new_message()
    for n in range(3):
        add_vehicle(message, f"v{n}", f"bus-{n}", trip_id=f"trip-{n}", timestamp=HEADER_TS - n)
    for n in range(2):
        entity = message.entity.add()
        entity.id = f"t{n}"
        entity.trip_update.trip.trip_id = f"trip-{n}"
        entity.trip_update.vehicle.id = f"bus-{n}"
        entity.trip_update.delay = 60 * (n + 1)
    add_alert(message, "a0", [("en", "Lift out of service")])
    message.entity.add().id = "empty"
    return message.SerializeToString()


def deleted_entities() -> bytes:
    """is_deleted entities of each kind and one bare (bullrunner-26), in a differential message."""
    message = new_message(differential=True)
    add_vehicle(message, "v1", "bus-1")
    message.entity[-1].is_deleted = True
    add_vehicle(message, "v2", None)  # no vehicle.id: the entity id names the vehicle
    message.entity[-1].is_deleted = True
    entity = message.entity.add()
    entity.id = "t1"
    entity.is_deleted = True
    entity.trip_update.trip.trip_id = "trip-1"
    entity.trip_update.delay = 60
    add_alert(message, "a1", [("en", "Gone")])
    message.entity[-1].is_deleted = True
    bare = message.entity.add()
    bare.id = "bare"
    bare.is_deleted = True
    add_vehicle(message, "v3", "bus-3")
    return message.SerializeToString()


def differential() -> bytes:
    """A DIFFERENTIAL message with a vehicle and an alert: it replaces nothing."""
    message = new_message(differential=True)
    add_vehicle(message, "v1", "bus-1")
    add_alert(message, "a1", [("en", "Delay")])
    return message.SerializeToString()


def alerts_languages() -> bytes:
    """Alerts with translations in several languages, severities, periods, causes and selectors."""
    message = new_message()
    first = add_alert(message, "multi", [("fr", "Retard"), ("en-US", "Delay"), ("zh-CN", "延误")])
    first.severity_level = rt.Alert.SEVERE
    first.cause = rt.Alert.WEATHER
    first.effect = rt.Alert.SIGNIFICANT_DELAYS
    for start, end in ((HEADER_TS + 600, HEADER_TS + 3600), (HEADER_TS, HEADER_TS + 1800)):
        period = first.active_period.add()
        period.start = start
        period.end = end
    for language, text in (("fr", "Pluie"), ("en", "Heavy rain")):
        translation = first.description_text.translation.add()
        translation.language, translation.text = language, text
    first.url.translation.add().text = "https://example.org/alerts/1"
    selector = first.informed_entity.add()
    selector.route_id = "R1"
    selector.route_type = 0  # tram: a set 0 must survive
    first.informed_entity.add().stop_id = "S9"
    trip_selector = first.informed_entity.add()
    trip_selector.trip.trip_id = "trip-7"
    trip_selector.agency_id = "CITY"
    first.informed_entity.add()  # an empty selector names nothing
    chinese = add_alert(message, "chinese", [("de", "Umleitung"), ("zh", "绕行")])
    chinese.severity_level = rt.Alert.WARNING
    chinese.active_period.add().start = HEADER_TS  # open-ended
    french = add_alert(message, "french", [("fr", "Travaux")])
    french.severity_level = rt.Alert.INFO
    add_alert(message, "untitled")
    return message.SerializeToString()


def vehicles_without_trip() -> bytes:
    """Vehicles with route_id only, no trip_id and no own timestamp (the USF Bull Runner capture)."""
    message = new_message()
    vp = add_vehicle(message, "1", "1536", route_id="F")
    vp.position.bearing = 180.0
    vp.occupancy_status = rt.VehiclePosition.EMPTY  # 0, yet set
    vp.trip.direction_id = 0
    vp.current_status = rt.VehiclePosition.IN_TRANSIT_TO  # the declared default, yet set
    bare = add_vehicle(message, "2", "1537", route_id="B")
    bare.vehicle.label = ""  # empty strings are unset, as in the Caltrain capture
    bare.vehicle.license_plate = ""
    add_vehicle(message, "3", None)  # neither trip nor vehicle descriptor
    return message.SerializeToString()


def trip_only_vehicles() -> bytes:
    """Subway-style VehiclePositions without any position (valid: position is optional): the
    trip, its stop and the stop status only, as whole subway systems publish them."""
    message = new_message()
    for entity_id, vehicle_id, route, trip, stop, status in (
            ("000001A", "A-1", "A", "A-0815", "A27N", rt.VehiclePosition.STOPPED_AT),
            ("000002A", "A-2", "A", "A-0822", "A28N", rt.VehiclePosition.INCOMING_AT),
            ("000003L", "L-1", "L", "L-0301", "L06S", rt.VehiclePosition.IN_TRANSIT_TO)):
        entity = message.entity.add()
        entity.id = entity_id
        vp = entity.vehicle
        vp.vehicle.id = vehicle_id
        vp.trip.trip_id, vp.trip.route_id, vp.trip.start_date = trip, route, "20260101"
        vp.stop_id = stop
        vp.current_status = status
    return message.SerializeToString()


def trip_updates() -> bytes:
    """Delays at trip level, from StopTimeUpdates (past and future, SKIPPED), and none at all."""
    message = new_message()

    def trip(entity_id: str, trip_id: str, vehicle_id: str = "") -> rt.TripUpdate:
        """Append a trip update entity."""
        entity = message.entity.add()
        entity.id = entity_id
        tu = entity.trip_update
        if trip_id:
            tu.trip.trip_id = trip_id
        else:
            tu.trip.route_id = "R1"  # the (required) trip descriptor, without a trip_id
        if vehicle_id:
            tu.vehicle.id = vehicle_id
        return tu

    def stop(tu: rt.TripUpdate, *, arrival: tuple[int, int] | None = None,
             departure: tuple[int, int] | None = None, skipped: bool = False) -> None:
        """Append a StopTimeUpdate with (delay, time) events."""
        stu = tu.stop_time_update.add()
        for event, values in ((stu.arrival, arrival), (stu.departure, departure)):
            if values is not None:
                event.delay, event.time = values
        if skipped:
            stu.schedule_relationship = rt.TripUpdate.StopTimeUpdate.SKIPPED

    trip("level", "trip-level", "bus-1").delay = 0  # a set 0 is "on time", not "unknown"
    served = trip("served", "trip-served")
    stop(served, arrival=(30, HEADER_TS - 300), departure=(45, HEADER_TS - 280))
    stop(served, arrival=(120, HEADER_TS - 60))
    stop(served, arrival=(200, HEADER_TS + 300))
    departed = trip("departed", "trip-departed")  # arrival and departure: the departure counts
    stop(departed, arrival=(30, HEADER_TS - 300), departure=(45, HEADER_TS - 280))
    ahead = trip("ahead", "trip-ahead")
    stop(ahead, arrival=(999, HEADER_TS + 60), skipped=True)
    stop(ahead, arrival=(75, HEADER_TS + 120))
    stop(ahead, arrival=(80, HEADER_TS + 240))
    times_only = trip("times-only", "trip-times")  # the Caltrain capture: times, no delays
    times_only.stop_time_update.add().arrival.time = HEADER_TS + 60
    trip("nothing", "trip-nothing")  # jar-01: only a trip_id
    trip("vehicle-only", "", "bus-9").delay = 15
    trip("anonymous", "").delay = 20
    return message.SerializeToString()


def header_only(timestamp: int = HEADER_TS) -> bytes:
    """A full dataset with no entities (the HART and Caltrain alert captures)."""
    return new_message(timestamp).SerializeToString()


def no_header_with_vehicle() -> bytes:
    """Entities without the required header: usable, yet never a full dataset."""
    message = rt.FeedMessage()
    add_vehicle(message, "v1", "bus-1", timestamp=HEADER_TS)
    return message.SerializePartialToString()


def large_vehicle_feed(count: int = 20_000, seed: int = 7) -> bytes:
    """A VehiclePositions message of ``count`` vehicles with every field the parser reads set."""
    rng = random.Random(seed)
    message = new_message()
    for n in range(count):
        vp = add_vehicle(message, str(n), f"bus-{n}", lat=28.4 + rng.random() * 0.3,
                         lon=112.2 + rng.random() * 0.3, timestamp=HEADER_TS - n % 30,
                         trip_id=f"trip-{n}", route_id=f"route-{n % 60}")
        vp.trip.direction_id = n % 2
        vp.trip.start_date = "20231114"
        vp.vehicle.label = f"{n % 60}-{n}"
        vp.position.bearing = rng.random() * 359.0
        vp.position.speed = rng.random() * 15.0
        vp.current_status = STOP_STATUSES[n % 3]
        vp.occupancy_status = OCCUPANCIES[n % 6]
        vp.stop_id = f"stop-{n % 900}"
    return message.SerializeToString()


# -- GTFS static quirks -----------------------------------------------------------------------------
STOPS_TXT = (
    "\ufeffstop_id,stop_code,stop_name,stop_desc,stop_lat,stop_lon,zone_id,location_type,"
    "parent_station,platform_code\r\n"
    'S1,101,"Station Square, North",,28.5501,112.3601,Z1,0,ST,1\r\n'
    "ST,,Station Square,,28.5500,112.3600,Z1,1,,\r\n"
    ',102,No Id,,28.56,112.37,Z1,0,,\r\n'
    "S2,NA,Bad Latitude,,128.5,112.37,Z1,0,,\r\n"
    "S3,,No Position,,,,Z1,0,,\r\n"
    "S1,103,Duplicate,,28.57,112.38,Z1,0,,\r\n"
    '"S4",104,"Quoted ""Name""",,28.58,112.39,Z2,,,\r\n'
    "S5,105,Too Many Fields,,28.59,112.40,Z2,0,,,extra,more\r\n"
)
ROUTES_TXT = (
    "route_long_name,route_type,route_id,agency_id,route_short_name,route_color,route_sort_order\n"
    "Riverside Loop,3,R1,CITY,1,00aa33,2\n"
    "Ferry,4,R2,CITY,F,not-a-color,1\n"
    "No Id,3,,CITY,X,,3\n"
    ",0,R3,CITY,T,FF0000,4\n"
)
TRIPS_TXT = (
    "route_id,service_id,trip_id,shape_id,direction_id\n"
    "R1,WK,T1,SH1,0\nR1,WK,T2,SH1,1\nR1,WK,T3,SH2,0\nR2,WK,T4,,0\nR3,WK,T5,SH3,0\n"
)
STOP_TIMES_TXT = (
    "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
    "T1,6:00:00,6:00:00,S1,1\nT1,6:10:00,6:10:00,S4,2\nT2,25:10:00,25:10:00,S4,1\n"
    "T3,07:00:00,07:00:00,S5,1\nT4,08:00:00,08:00:00,S1,1\nT4,08:30:00,08:30:00,S1,2\n"
)


def static_zip() -> bytes:
    """A GTFS zip with a BOM, CRLF, extra and reordered columns, quoted fields, bad rows, no shapes.txt."""
    return make_zip({"agency.txt": "agency_id,agency_name\nCITY,City Transit\n",
                     "stops.txt": STOPS_TXT, "routes.txt": ROUTES_TXT, "trips.txt": TRIPS_TXT,
                     "stop_times.txt": STOP_TIMES_TXT})


def static_zip_with_shapes(points: int = 1200) -> bytes:
    """A GTFS zip inside a folder, shape_pt_lon before shape_pt_lat, a long shape and shuffled rows."""
    rows = ["shape_id,shape_pt_lon,shape_pt_lat,shape_pt_sequence,shape_dist_traveled"]
    # SH1: a long zig-zag line, written in reverse order to prove sorting by sequence.
    for n in reversed(range(points)):
        lat = YIYANG[0] + 0.0005 * (n % 7)
        rows.append(f"SH1,{YIYANG[1] + n * 0.0001:.6f},{lat:.6f},{n + 1},")
    for n, (lon, lat) in enumerate([(112.30, 28.50), (112.31, 28.50), (112.31, 28.51)]):
        rows.append(f"SH2,{lon},{lat},{n + 1},")
    rows.append("SH3,112.40,28.60,1,")
    rows.append("SH3,112.41,bad,2,")
    rows.append("SH3,112.42,28.62,3,")
    return make_zip({"gtfs/stops.txt": STOPS_TXT, "gtfs/routes.txt": ROUTES_TXT,
                     "gtfs/trips.txt": TRIPS_TXT, "gtfs/shapes.txt": "\n".join(rows) + "\n"})


def routes_only_zip() -> bytes:
    """A zip with routes.txt and no stops.txt: still usable."""
    return make_zip({"routes.txt": ROUTES_TXT})


def zip_without_stops_or_routes() -> bytes:
    """A zip that is not GTFS at all."""
    return make_zip({"readme.txt": "nothing to see"})


def zip_with_broken_stops() -> bytes:
    """A zip whose stops.txt is empty (0 bytes) and whose routes.txt is fine."""
    return make_zip({"stops.txt": "", "routes.txt": ROUTES_TXT})


def main() -> None:
    """Print the parse time of a 20,000-vehicle VehiclePositions message (best and median of 15)."""
    from data_adapters.transport.gtfs_rt import parse_feed_message

    payload = large_vehicle_feed()
    runs = []
    for _ in range(15):
        started = time.perf_counter()
        items = list(parse_feed_message(payload, "bench", FETCHED_AT))
        runs.append(time.perf_counter() - started)
    print(f"{len(payload)} bytes, {len(items) - 1} records: best {min(runs) * 1000:.1f} ms, "
          f"median {statistics.median(runs) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
