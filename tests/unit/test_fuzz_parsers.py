"""Property-based fuzzing of every parser with hypothesis (issue 8, "Bad input").

For any input, parse() either raises ParseError with a message, or yields only items the rest of
the system can hold: a position that is drawable or none, ids that name something, times that are
datetimes in every zone, finite numbers, UTF-8 text (tests/integration/test_bad_input.py:check_record says
exactly what). Inputs are arbitrary bytes, valid payloads with bytes flipped, cut or inserted, and
documents built in each format's own structure (JSON, XML, protobuf through gtfs-realtime-bindings,
zipped CSV) whose values are replaced by wrong types, huge and non-finite numbers, out-of-range
coordinates and times, very long strings, control characters and lone UTF-16 surrogates.
Hypothesis keeps no example database, so nothing is written into the repository.
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
import zipfile
from typing import Any, Callable

import pytest
from google.transit import gtfs_realtime_pb2 as rt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.model.records import RawPayload
from data_adapters import registry
from data_adapters.base import Adapter, ParseError
from data_adapters.water.mqtt import MqttMessage, encode_batch
from tests.support.bad_input import FEED, FETCHED_AT, check_record

# Derandomized or not, the database and the deadline follow the profile (tests/conftest.py).
FUZZ = settings(max_examples=150,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])
# Each adapter's own keys: an unknown key is a configuration error.
CONFIG: dict[str, Any] = {"name": FEED, "url": "http://127.0.0.1:9/fuzz"}
OWN_CONFIG: dict[str, dict[str, Any]] = {
    "gtfs_rt": {"kind": "mixed"},
    "open311": {"url": None, "base_url": "http://127.0.0.1:9"},
    "senml_mqtt": {"url": "mqtt://127.0.0.1:9", "topic": "city/water/+/senml"},
}
ADAPTER_NAMES = sorted(registry.ADAPTERS)
SANER = "http://hl7.org/fhir/uv/saner/CodeSystem/MeasuredValues"
CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"


def build(name: str) -> Adapter:
    """A fresh adapter registered as ``name``, configured for the fuzz feed."""
    config = {**CONFIG, **OWN_CONFIG.get(name, {}), "adapter": name}
    return registry.build({key: value for key, value in config.items() if value is not None})


def holds(adapter: Adapter, data: bytes) -> None:
    """The property: ParseError with a message, or only sound items."""
    try:
        items = list(adapter.parse(RawPayload(data=data, source="fuzz", fetched_at=FETCHED_AT)))
    except ParseError as exc:
        assert str(exc).strip(), "ParseError without a message"
        return
    for item in items:
        check_record(item, adapter.domain, adapter.name)


# -- values that break things ----------------------------------------------------------------------
TRICKY_TEXT = st.sampled_from([
    "", " ", "\x00", "\x1b[31m", "\r\n", "\ud800", "x\udfffy", "\ufeff", "\u202e", "0", "-0", "NaN",
    "Infinity", "1e999", "-1e999", "9" * 400, "<script>alert(1)</script>", "../../etc/passwd",
    "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "2026-13-45T25:61:61Z",
    "2026-01-01T08:00:00+08:00", "2026-01-01", "yesterday", "x" * 5000, "路", "😀"])
TEXT = st.one_of(TRICKY_TEXT, st.text(max_size=40),
                 st.text(st.characters(categories=["Cc", "Cs", "Cf", "Zl", "Lo", "So"]), max_size=20))
FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                   st.sampled_from([0.0, -0.0, 1e-7, 90.0, 90.0000001, -180.0000001, 1e308, -1e308,
                                    5e-324, 2.0**63]))
INTS = st.one_of(st.integers(min_value=-2**70, max_value=2**70),
                 st.sampled_from([0, -1, 2**31, 2**63, 2**64 - 1, 10**20, 10**400, -(10**400)]))
SCALARS = st.one_of(st.none(), st.booleans(), FLOATS, INTS, TEXT)
NASTY = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)), max_leaves=6)


def maybe(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any] = NASTY) -> st.SearchStrategy[Any]:
    """Mostly a plausible value, often a broken one."""
    return st.one_of(good, good, bad)


LATS = maybe(st.floats(min_value=28.0, max_value=29.0), st.one_of(FLOATS, INTS, TEXT))
LONS = maybe(st.floats(min_value=112.0, max_value=113.0), st.one_of(FLOATS, INTS, TEXT))
TIMES = maybe(st.sampled_from(["2026-01-01T08:00:00+08:00", "2026-01-01T00:00:00Z",
                               "2026-01-01T00:00:00.5Z/2026-01-01T00:05:00Z", "2026-01-01"]))
POSIX = maybe(st.floats(min_value=1.7e9, max_value=1.8e9), st.one_of(FLOATS, INTS))


def to_json(document: Any) -> bytes:
    """JSON text as servers write it: NaN/Infinity tokens and \\ud800 escapes come through."""
    return json.dumps(document, ensure_ascii=True, allow_nan=True).encode()


# -- arbitrary and mutated bytes -------------------------------------------------------------------
@pytest.mark.parametrize("name", ADAPTER_NAMES)
@FUZZ
@given(data=st.binary(max_size=2048))
def test_arbitrary_bytes(name: str, data: bytes) -> None:
    """Any bytes at all."""
    holds(build(name), data)


def _seed(name: str) -> bytes:
    """A small valid payload of the adapter's format, to mutate."""
    if name in ("gtfs_rt", "ambulance_avl"):
        message = rt.FeedMessage()
        message.header.gtfs_realtime_version = "2.0"
        message.header.timestamp = 1_767_225_600
        entity = message.entity.add()
        entity.id = "e1"
        entity.vehicle.vehicle.id = "bus-1"
        entity.vehicle.trip.trip_id = "t1"
        entity.vehicle.position.latitude, entity.vehicle.position.longitude = 28.55, 112.36
        entity.vehicle.timestamp = 1_767_225_590
        return message.SerializeToString()
    if name == "gtfs_static":
        return _zip({"stops.txt": b"stop_id,stop_name,stop_lat,stop_lon\ns1,A,28.55,112.36\n",
                     "routes.txt": b"route_id,route_type\nr1,3\n"})
    senml = to_json([{"bn": "yy/p1/", "bt": 1.7672256e9, "n": "pressure", "u": "kPa", "v": 310},
                     {"n": "lat", "v": 28.55}, {"n": "lon", "v": 112.36}])
    if name == "senml_http":
        return senml
    if name == "senml_mqtt":
        return encode_batch([MqttMessage("city/water/p1/senml", senml, FETCHED_AT - 1)])
    if name == "sensorthings":
        return to_json({"value": [{"phenomenonTime": "2026-01-01T00:00:00Z", "result": 3.1,
                                   "Datastream": {"@iot.id": 1, "name": "pressure",
                                                  "unitOfMeasurement": {"symbol": "bar"}}}]})
    if name == "fhir":
        return to_json({"resourceType": "Location", "id": "h1",
                        "position": {"latitude": 28.55, "longitude": 112.36}})
    if name == "open311":
        return to_json([{"service_request_id": "1", "lat": 28.55, "long": 112.36}])
    assert name == "cap", name
    return (f'<alert xmlns="{CAP_NS}"><identifier>A1</identifier><sender>s@x.org</sender>'
            "<sent>2026-01-01T08:00:00+08:00</sent><status>Actual</status><msgType>Alert</msgType>"
            "<info><event>Flood</event><area><circle>28.55,112.36 5</circle></area></info>"
            "</alert>").encode()


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """``seed`` with a few bytes flipped, inserted or removed, or cut short."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        action = draw(st.sampled_from(("flip", "insert", "delete", "cut")))
        at = draw(st.integers(min_value=0, max_value=max(len(data) - 1, 0)))
        if action == "flip" and data:
            data[at] ^= draw(st.integers(min_value=1, max_value=255))
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete" and data:
            del data[at:at + draw(st.integers(min_value=1, max_value=8))]
        elif action == "cut":
            del data[at:]
    return bytes(data)


@pytest.mark.parametrize("name", ADAPTER_NAMES)
@FUZZ
@given(data=st.data())
def test_mutated_valid_payloads(name: str, data: st.DataObject) -> None:
    """A valid payload of the format with a few bytes damaged."""
    holds(build(name), data.draw(mutated(_seed(name))))


# -- GTFS-Realtime, built with gtfs-realtime-bindings -----------------------------------------------
UINT64 = st.one_of(st.integers(min_value=0, max_value=2**64 - 1),
                   st.sampled_from([0, 1_767_225_600, 1_767_225_600_000, 2**63, 2**64 - 1]))
RT_TEXT = st.one_of(TRICKY_TEXT.filter(lambda s: not any(0xD800 <= ord(c) <= 0xDFFF for c in s)),
                    st.text(max_size=20))
F32 = st.one_of(st.floats(width=32, allow_nan=True, allow_infinity=True),
                st.floats(min_value=28.0, max_value=29.0, width=32))


@st.composite
def feed_messages(draw: st.DrawFn) -> bytes:
    """A FeedMessage with vehicles, trip updates and alerts holding any field values."""
    message = rt.FeedMessage()
    message.header.gtfs_realtime_version = draw(st.sampled_from(["2.0", "1.0", ""]))
    message.header.incrementality = draw(st.sampled_from([rt.FeedHeader.FULL_DATASET,
                                                          rt.FeedHeader.DIFFERENTIAL]))
    message.header.timestamp = draw(UINT64)
    for _ in range(draw(st.integers(min_value=0, max_value=5))):
        entity = message.entity.add()
        entity.id = draw(RT_TEXT)
        entity.is_deleted = draw(st.booleans())
        kind = draw(st.sampled_from(("vehicle", "trip", "alert", "none", "all")))
        if kind in ("vehicle", "all"):
            vp = entity.vehicle
            vp.vehicle.id, vp.vehicle.label = draw(RT_TEXT), draw(RT_TEXT)
            vp.trip.trip_id, vp.trip.route_id = draw(RT_TEXT), draw(RT_TEXT)
            if draw(st.booleans()):
                vp.position.latitude, vp.position.longitude = draw(F32), draw(F32)
                vp.position.bearing, vp.position.speed = draw(F32), draw(F32)
            vp.timestamp = draw(UINT64)
            vp.current_status = draw(st.sampled_from(list(rt.VehiclePosition.VehicleStopStatus.values())))
        if kind in ("trip", "all"):
            tu = entity.trip_update
            tu.trip.trip_id, tu.vehicle.id = draw(RT_TEXT), draw(RT_TEXT)
            tu.timestamp = draw(UINT64)
            if draw(st.booleans()):
                tu.delay = draw(st.integers(min_value=-2**31, max_value=2**31 - 1))
            for _ in range(draw(st.integers(min_value=0, max_value=3))):
                stu = tu.stop_time_update.add()
                stu.arrival.delay = draw(st.integers(min_value=-2**31, max_value=2**31 - 1))
                stu.arrival.time = draw(st.integers(min_value=-2**63, max_value=2**63 - 1))
        if kind in ("alert", "all"):
            alert = entity.alert
            for _ in range(draw(st.integers(min_value=0, max_value=2))):
                text = alert.header_text.translation.add()
                text.text, text.language = draw(RT_TEXT), draw(RT_TEXT)
                alert.active_period.add(start=draw(UINT64), end=draw(UINT64))
            alert.informed_entity.add(route_id=draw(RT_TEXT))
    return message.SerializeToString()


@pytest.mark.parametrize("name", ["gtfs_rt", "ambulance_avl"])
@FUZZ
@given(data=feed_messages())
def test_gtfs_realtime_values(name: str, data: bytes) -> None:
    """FeedMessages whose values are out of range, non-finite, huge or odd text."""
    holds(build(name), data)


# -- GTFS static, zipped CSV ------------------------------------------------------------------------
CELL = st.one_of(st.sampled_from(["", "28.55", "112.36", "91", "-181", "NaN", "inf", "0", "1e999",
                                  "9" * 40, "a,b", '"', "x\ny", "station"]),
                 st.text(max_size=12))


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, body in members.items():
            archive.writestr(member, body)
    return buffer.getvalue()


@st.composite
def csv_table(draw: st.DrawFn, columns: list[str]) -> bytes:
    """A CSV file with some of ``columns`` (and odd extra ones), cells of any text."""
    header = draw(st.lists(st.sampled_from(columns + ["extra", " stop_id ", ""]), min_size=1,
                           max_size=len(columns) + 1, unique=True))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for _ in range(draw(st.integers(min_value=0, max_value=6))):
        writer.writerow([draw(CELL) for _ in range(draw(st.integers(0, len(header) + 1)))])
    body = out.getvalue().encode("utf-8", "surrogatepass")
    if draw(st.booleans()):  # a byte that is not UTF-8 somewhere
        at = draw(st.integers(min_value=0, max_value=len(body)))
        body = body[:at] + b"\xff" + body[at:]
    return body


@st.composite
def gtfs_zips(draw: st.DrawFn) -> bytes:
    """A GTFS zip whose stops, routes, trips and shapes hold any cells."""
    members = {"stops.txt": draw(csv_table(["stop_id", "stop_name", "stop_lat", "stop_lon",
                                            "location_type", "parent_station"]))}
    if draw(st.booleans()):
        members["routes.txt"] = draw(csv_table(["route_id", "route_short_name", "route_type",
                                                "route_color"]))
        members["trips.txt"] = draw(csv_table(["route_id", "trip_id", "shape_id"]))
        members["shapes.txt"] = draw(csv_table(["shape_id", "shape_pt_lat", "shape_pt_lon",
                                                "shape_pt_sequence"]))
    return _zip(members)


@FUZZ
@given(data=gtfs_zips())
def test_gtfs_static_values(data: bytes) -> None:
    """GTFS zips with wrong columns, odd cells, bad coordinates and invalid UTF-8."""
    holds(build("gtfs_static"), data)


# -- SenML ------------------------------------------------------------------------------------------
SENML_RECORD = st.fixed_dictionaries({}, optional={
    "bn": maybe(st.sampled_from(["yy/p1/", "yy/res-1/", "urn:dev:ow:10e2073a01080063:"])),
    "bt": POSIX, "bu": maybe(st.sampled_from(["kPa", "m", "m3/s"])),
    "bv": maybe(FLOATS), "bs": maybe(FLOATS), "bver": maybe(st.integers(0, 12)),
    "n": maybe(st.sampled_from(["pressure", "level", "flow", "lat", "lon", "chlorine", "x"])),
    "u": maybe(st.sampled_from(["kPa", "Pa", "bar", "m", "m3/s", "l/s", "lat", "lon", "NTU"])),
    "v": maybe(st.one_of(FLOATS, INTS)), "vs": TEXT, "vb": maybe(st.booleans()),
    "s": maybe(st.one_of(FLOATS, INTS)), "t": maybe(st.one_of(FLOATS, INTS)),
})


@FUZZ
@given(pack=st.lists(SENML_RECORD, min_size=1, max_size=8))
def test_senml_values(pack: list[dict[str, Any]]) -> None:
    """SenML packs whose fields have wrong types and extreme values."""
    holds(build("senml_http"), to_json(pack))


@FUZZ
@given(packs=st.lists(st.tuples(st.sampled_from(["city/water/p1/senml", "city/water//senml",
                                                 "other", "city/water/\ud800/senml"]),
                                st.lists(SENML_RECORD, max_size=5)), min_size=1, max_size=3),
       dropped=maybe(st.integers(min_value=0, max_value=5), st.one_of(INTS, FLOATS)))
def test_senml_over_mqtt_values(packs: list[tuple[str, list[dict[str, Any]]]], dropped: Any) -> None:
    """MQTT batch frames of fuzzed SenML packs (any topic, any drop count)."""
    messages = [MqttMessage(topic, to_json(pack), FETCHED_AT - 1) for topic, pack in packs]
    frame = json.loads(encode_batch(messages))
    frame["dropped"] = dropped
    holds(build("senml_mqtt"), to_json(frame))


# -- SensorThings -----------------------------------------------------------------------------------
COORDINATES = st.recursive(st.one_of(FLOATS, INTS, LATS, LONS),
                           lambda inner: st.lists(inner, max_size=4), max_leaves=8)
GEOMETRY = maybe(st.fixed_dictionaries({
    "type": maybe(st.sampled_from(["Point", "Polygon", "LineString", "Feature"])),
    "coordinates": st.one_of(st.tuples(LONS, LATS).map(list), COORDINATES)}))
DATASTREAM = maybe(st.fixed_dictionaries({
    "@iot.id": maybe(st.integers(min_value=0, max_value=3)),
    "name": maybe(st.sampled_from(["Pressure", "Flow rate", "Water level", "Free chlorine", "压力"])),
    "unitOfMeasurement": maybe(st.fixed_dictionaries({}, optional={
        "symbol": maybe(st.sampled_from(["kPa", "bar", "MPa", "m", "m3/h", "NTU", "mg/L"])),
        "definition": maybe(st.sampled_from(["ucum:kPa", "http://unitsofmeasure.org/ucum.html#para-30"]))})),
}, optional={"Thing": st.fixed_dictionaries({}, optional={
    "name": TEXT, "Locations": st.lists(st.fixed_dictionaries({"location": GEOMETRY}), max_size=2)}),
    "observedArea": GEOMETRY, "properties": NASTY}))
OBSERVATION = maybe(st.fixed_dictionaries(
    {"phenomenonTime": TIMES, "result": maybe(st.one_of(FLOATS, INTS)), "Datastream": DATASTREAM},
    optional={"@iot.id": maybe(st.integers(min_value=0, max_value=5)),
              "FeatureOfInterest": st.fixed_dictionaries({"feature": GEOMETRY})}))


@FUZZ
@given(rows=st.lists(OBSERVATION, max_size=6), wrap=st.booleans())
def test_sensorthings_values(rows: list[Any], wrap: bool) -> None:
    """Observations collections whose results, times, units and locations are broken."""
    holds(build("sensorthings"), to_json({"value": rows} if wrap else rows))


# -- FHIR -------------------------------------------------------------------------------------------
REFERENCE = maybe(st.fixed_dictionaries({"reference": maybe(st.sampled_from([
    "Location/h1", "Organization/o1", "http://[::1/Location/h1", "http://x:99999/Location/h1",
    "Location/h1/_history/2", "urn:uuid:1"]))}))
LOCATION = st.fixed_dictionaries({"resourceType": st.just("Location"),
                                  "id": maybe(st.sampled_from(["h1", "h2", "bad id"]))}, optional={
    "position": maybe(st.fixed_dictionaries({"latitude": LATS, "longitude": LONS})),
    "status": maybe(st.sampled_from(["active", "suspended", "inactive"])), "name": TEXT,
    "meta": st.fixed_dictionaries({"lastUpdated": TIMES}), "managingOrganization": REFERENCE,
    "address": NASTY, "telecom": NASTY, "type": NASTY})
POPULATION = st.fixed_dictionaries({
    "code": maybe(st.fixed_dictionaries({"coding": st.lists(st.fixed_dictionaries({
        "system": maybe(st.just(SANER)),
        "code": maybe(st.sampled_from(["numbeds", "numBedsOcc", "numICUBeds", "numICUBedsOcc"]))}),
        max_size=2)})),
    "count": maybe(st.integers(min_value=0, max_value=500), st.one_of(INTS, FLOATS, TEXT))})
REPORT = st.fixed_dictionaries({"resourceType": st.just("MeasureReport")}, optional={
    "status": maybe(st.sampled_from(["complete", "error"])), "subject": REFERENCE,
    "reporter": REFERENCE, "date": TIMES, "period": st.fixed_dictionaries({"end": TIMES}),
    "group": maybe(st.lists(st.fixed_dictionaries({"population": maybe(st.lists(POPULATION,
                                                                                max_size=4))}),
                            max_size=2))})
OTHER = st.one_of(st.fixed_dictionaries({"resourceType": st.just("Organization"),
                                         "id": maybe(st.just("o1")), "name": TEXT}),
                  st.fixed_dictionaries({"resourceType": st.just("OperationOutcome"), "issue": NASTY}),
                  NASTY)
RESOURCE = st.one_of(LOCATION, REPORT, OTHER)


@FUZZ
@given(entries=st.lists(maybe(st.fixed_dictionaries({"resource": RESOURCE},
                                                     optional={"fullUrl": TEXT})), max_size=5),
       single=st.booleans())
def test_fhir_values(entries: list[Any], single: bool) -> None:
    """Bundles (or one resource) of Locations and MeasureReports with broken values."""
    resource = entries[0].get("resource") if single and entries and isinstance(entries[0], dict) \
        else None
    document = resource if isinstance(resource, dict) else {
        "resourceType": "Bundle", "type": "searchset", "timestamp": "2026-01-01T08:00:00+08:00",
        "entry": entries}
    holds(build("fhir"), to_json(document))


# -- Open311 ----------------------------------------------------------------------------------------
REQUEST = maybe(st.fixed_dictionaries({
    "service_request_id": maybe(st.sampled_from(["1", "2", "yy-3"]), st.one_of(INTS, FLOATS, TEXT))},
    optional={"lat": LATS, "long": LONS, "lon": LONS,
              "status": maybe(st.sampled_from(["open", "closed", "In Progress"])),
              "requested_datetime": TIMES, "updated_datetime": TIMES, "expected_datetime": TIMES,
              "description": NASTY, "service_code": NASTY, "address": NASTY,
              "status_notes": NASTY}))


@FUZZ
@given(rows=st.lists(REQUEST, max_size=6), wrapped=st.booleans())
def test_open311_json_values(rows: list[Any], wrapped: bool) -> None:
    """requests.json lists with broken ids, coordinates, dates and free text."""
    holds(build("open311"), to_json({"service_requests": rows} if wrapped else rows))


XML_TEXT = st.one_of(TEXT.filter(lambda s: "\x00" not in s), st.sampled_from(["28.55", "112.36"]))


def _xml(root: ET.Element) -> bytes:
    """An element tree as UTF-8 (ElementTree writes control characters and surrogates as they are:
    such documents are not well-formed XML, which is part of what is fuzzed)."""
    return ET.tostring(root, encoding="unicode").encode("utf-8", "surrogatepass")


@FUZZ
@given(rows=st.lists(st.dictionaries(st.sampled_from(["service_request_id", "lat", "long", "status",
                                                       "requested_datetime", "description"]),
                                     XML_TEXT, max_size=6), max_size=5))
def test_open311_xml_values(rows: list[dict[str, str]]) -> None:
    """requests.xml with any text in any field."""
    root = ET.Element("service_requests")
    for row in rows:
        request = ET.SubElement(root, "request")
        for key, value in row.items():
            ET.SubElement(request, key).text = value
    holds(build("open311"), _xml(root))


# -- CAP --------------------------------------------------------------------------------------------
NUMBER_TEXT = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                        st.integers(min_value=-10**30, max_value=10**30).map(str),
                        st.sampled_from(["28.55", "112.36", "91", "-181", "1e300", "north"]))
POLYGON = st.lists(st.tuples(NUMBER_TEXT, NUMBER_TEXT).map(",".join), max_size=6).map(" ".join)
CIRCLE = st.tuples(NUMBER_TEXT, NUMBER_TEXT, NUMBER_TEXT).map(lambda t: f"{t[0]},{t[1]} {t[2]}")
CAP_FIELDS: dict[str, st.SearchStrategy[str]] = {
    "identifier": XML_TEXT, "sender": XML_TEXT, "sent": maybe(TIMES, XML_TEXT),
    "status": maybe(st.just("Actual"), XML_TEXT),
    "msgType": maybe(st.sampled_from(["Alert", "Update", "Cancel", "Ack"]), XML_TEXT),
    "references": XML_TEXT}
INFO_FIELDS: dict[str, st.SearchStrategy[str]] = {
    "language": XML_TEXT, "event": XML_TEXT, "headline": XML_TEXT,
    "severity": maybe(st.sampled_from(["Extreme", "Severe", "Minor"]), XML_TEXT),
    "urgency": XML_TEXT, "onset": maybe(TIMES, XML_TEXT), "expires": maybe(TIMES, XML_TEXT)}


def _text_or_string(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@st.composite
def cap_documents(draw: st.DrawFn) -> bytes:
    """One alert or an <alerts> list, with any text in the fields and any area geometry."""
    alerts = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        alert = ET.Element(f"{{{CAP_NS}}}alert")
        for name, strategy in CAP_FIELDS.items():
            if draw(st.integers(0, 4)):  # present four times in five
                ET.SubElement(alert, f"{{{CAP_NS}}}{name}").text = _text_or_string(draw(strategy))
        for _ in range(draw(st.integers(min_value=0, max_value=2))):
            info = ET.SubElement(alert, f"{{{CAP_NS}}}info")
            for name, strategy in INFO_FIELDS.items():
                if draw(st.booleans()):
                    ET.SubElement(info, f"{{{CAP_NS}}}{name}").text = _text_or_string(draw(strategy))
            area = ET.SubElement(info, f"{{{CAP_NS}}}area")
            ET.SubElement(area, f"{{{CAP_NS}}}areaDesc").text = "area"
            for _ in range(draw(st.integers(min_value=0, max_value=2))):
                kind = draw(st.sampled_from(["polygon", "circle"]))
                shape = POLYGON if kind == "polygon" else CIRCLE
                ET.SubElement(area, f"{{{CAP_NS}}}{kind}").text = draw(shape)
        alerts.append(alert)
    if len(alerts) == 1:
        return _xml(alerts[0])
    root = ET.Element(f"{{{CAP_NS}}}alerts")
    root.extend(alerts)
    return _xml(root)


@FUZZ
@given(data=cap_documents())
def test_cap_values(data: bytes) -> None:
    """CAP alerts with broken times, statuses, texts, polygons and circles."""
    holds(build("cap"), data)


STRUCTURED: dict[str, Callable[..., None]] = {
    "gtfs_rt": test_gtfs_realtime_values, "ambulance_avl": test_gtfs_realtime_values,
    "gtfs_static": test_gtfs_static_values, "senml_http": test_senml_values,
    "senml_mqtt": test_senml_over_mqtt_values, "sensorthings": test_sensorthings_values,
    "fhir": test_fhir_values, "open311": test_open311_json_values, "cap": test_cap_values}


def test_every_registered_parser_has_a_structured_property() -> None:
    """A newly registered adapter fails here until its parser gets a property of its format."""
    assert set(STRUCTURED) == set(registry.ADAPTERS)
