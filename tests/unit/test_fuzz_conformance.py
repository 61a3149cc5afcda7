"""Property-based fuzzing of the conformance paths of issue 17 (hypothesis): what valid but unusual
feeds send, with every value broken.

The same property as tests/unit/test_fuzz_parsers.py (ParseError with a message, or only items the
rest of the system can hold: tests/support/bad_input.py:check_record) over the new classes of
input: FHIR Locations of every kind with references by identifier and outcomes of any severity;
SenML names and units outside the water vocabulary; CAP indexes in Atom and RSS and the index
frames the adapter builds; and the water format detection of `cityops ingest`, which must pick an
adapter for any bytes at all.
"""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.model.records import RawPayload
from data_adapters import registry
from data_adapters.base import Adapter, ParseError
from data_adapters.cap.frame import FRAME_FORMAT
from data_adapters.cap.index import index_entries, message_key
from data_adapters.cap.xml import read_xml
from data_adapters.water.detect import (
    MQTT_BATCH,
    SENML,
    SENSORTHINGS,
    detect_format,
    frame_topics,
    recorded_feed,
)
from data_adapters.water.mqtt import valid_filter
from tests.support.bad_input import FEED, FETCHED_AT, check_record

FUZZ = settings(max_examples=150,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])
URL = "http://127.0.0.1:9/fuzz"
TEXT = st.one_of(st.sampled_from(["", " ", "\x00", "\ud800", "路", "x" * 3000, "<b>", "NaN",
                                  "javascript:alert(1)", "../etc/passwd"]), st.text(max_size=30))
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                   st.floats(allow_nan=True, allow_infinity=True), TEXT)
NASTY = st.recursive(SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                     st.dictionaries(TEXT, inner, max_size=3)),
                     max_leaves=6)


def maybe(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a plausible value, often a broken one."""
    return st.one_of(good, good, NASTY)


def build(name: str, **config: Any) -> Adapter:
    """A fresh adapter registered as ``name`` for the fuzz feed."""
    return registry.build({"name": FEED, "adapter": name, "url": URL, **config})


def holds(adapter: Adapter, data: bytes) -> None:
    """ParseError with a message, or only sound items."""
    try:
        items = list(adapter.parse(RawPayload(data=data, source="fuzz", fetched_at=FETCHED_AT)))
    except ParseError as exc:
        assert str(exc).strip(), "ParseError without a message"
        return
    for item in items:
        check_record(item, adapter.domain, adapter.name)


def to_json(document: Any) -> bytes:
    """JSON as servers write it (NaN tokens, escaped surrogates)."""
    return json.dumps(document, ensure_ascii=True, allow_nan=True).encode()


# -- FHIR: kinds of places, identifiers, outcomes ---------------------------------------------------
CODE = maybe(st.sampled_from(["HOSP", "GACH", "ICU", "ER", "AMB", "PHARM", "1027-2", "ve", "wa",
                              "si", "bu", "jdn", ""]))
CONCEPT = maybe(st.fixed_dictionaries({"coding": maybe(st.lists(st.fixed_dictionaries(
    {"code": CODE}, optional={"system": maybe(st.sampled_from([
        "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
        "https://www.cdc.gov/nhsn/cdaportal/terminology/codesystem/hsloc.html"]))}), max_size=3))}))
IDENTIFIER = maybe(st.fixed_dictionaries({"value": maybe(st.sampled_from(["ID-1", "ID-2", ""]))},
                                         optional={"system": maybe(st.just("http://x/ids"))}))
REFERENCE = maybe(st.fixed_dictionaries({}, optional={
    "reference": maybe(st.sampled_from(["Location/h1", "Organization/o1", "urn:uuid:1"])),
    "identifier": IDENTIFIER, "type": maybe(st.sampled_from(["Location", "Organization"])),
    "display": TEXT}))
PLACE = st.fixed_dictionaries({"resourceType": st.just("Location"),
                               "id": maybe(st.sampled_from(["h1", "h2", "w1"]))}, optional={
    "mode": maybe(st.sampled_from(["instance", "kind"])), "type": maybe(st.lists(CONCEPT, max_size=2)),
    "physicalType": CONCEPT, "identifier": maybe(st.lists(IDENTIFIER, max_size=2)),
    "managingOrganization": REFERENCE, "partOf": REFERENCE, "status": TEXT,
    "position": maybe(st.fixed_dictionaries({"latitude": maybe(st.floats(28, 29)),
                                             "longitude": maybe(st.floats(112, 113))}))})
ORGANIZATION = st.fixed_dictionaries({"resourceType": st.just("Organization"),
                                      "id": maybe(st.sampled_from(["o1", "o2"]))}, optional={
    "identifier": maybe(st.lists(IDENTIFIER, max_size=2)), "name": TEXT})
REPORT = st.fixed_dictionaries({"resourceType": st.just("MeasureReport"), "date": st.just(
    "2026-01-01"), "subject": REFERENCE, "reporter": REFERENCE, "group": st.just([{"population": [
        {"code": {"coding": [{"system": "http://hl7.org/fhir/uv/saner/CodeSystem/MeasuredValues",
                              "code": "numbeds"}]}, "count": 5}]}])})
OUTCOME = st.fixed_dictionaries({"resourceType": st.just("OperationOutcome"), "issue": maybe(
    st.lists(st.fixed_dictionaries({"severity": maybe(st.sampled_from(
        ["information", "warning", "error", "fatal"]))}, optional={"diagnostics": TEXT}),
        max_size=3))})


@FUZZ
@given(resources=st.lists(st.one_of(PLACE, ORGANIZATION, REPORT, OUTCOME), max_size=6),
       total=maybe(st.just(0)), single=st.booleans())
def test_fhir_places_identifiers_and_outcomes(resources: list[Any], total: Any,
                                              single: bool) -> None:
    """Locations of every kind, references by identifier, outcomes of any severity, empty
    searches: a sound answer or a ParseError."""
    document = resources[0] if single and resources else {
        "resourceType": "Bundle", "type": "searchset", "total": total,
        "entry": [{"resource": resource} for resource in resources]}
    holds(build("fhir", bounds=[28.3, 112.1, 28.8, 112.6]), to_json(document))


# -- SenML outside the vocabulary -------------------------------------------------------------------
NAME = maybe(st.one_of(st.sampled_from(["3424/0/1", "/3303/0/5700", "distance", "pressure",
                                        "a" * 100, "5700", "urn:dev:ow:1:"]),
                       st.from_regex(r"[A-Za-z0-9][A-Za-z0-9\-:./_]{0,40}", fullmatch=True)))
UNIT = maybe(st.one_of(st.sampled_from(["m3", "m3/h", "psi", "Cel", "%RH", "m³", "", "kPa"]),
                       st.text(max_size=12)))


@FUZZ
@given(records=st.lists(st.fixed_dictionaries({}, optional={
    "bn": maybe(st.sampled_from(["urn:imei:3590/", "yy/t3/", ""])), "n": NAME, "u": UNIT,
    "v": maybe(st.floats(allow_nan=False, allow_infinity=False)), "vs": TEXT,
    "s": maybe(st.floats(-1e6, 1e6)), "bt": maybe(st.just(1_767_225_600))}), max_size=8))
def test_senml_names_and_units_outside_the_vocabulary(records: list[Any]) -> None:
    """Any name and unit (LwM2M paths, vendor names, odd units) and empty packs."""
    holds(build("senml_http"), to_json(records))


# -- CAP indexes and frames -------------------------------------------------------------------------
def _index(kind: str, items: list[tuple[str, str, str]]) -> bytes:
    """An Atom feed or RSS channel whose entries carry a link, a CAP identifier and a time."""
    if kind == "atom":
        root = ET.Element("{http://www.w3.org/2005/Atom}feed")
        for href, identifier, stamp in items:
            entry = ET.SubElement(root, "{http://www.w3.org/2005/Atom}entry")
            ET.SubElement(entry, "{http://www.w3.org/2005/Atom}link", href=href,
                          type="application/cap+xml")
            ET.SubElement(entry, "{urn:oasis:names:tc:emergency:cap:1.2}identifier").text = identifier
            ET.SubElement(entry, "{http://www.w3.org/2005/Atom}updated").text = stamp
    else:
        root = ET.Element("rss", version="2.0")
        channel = ET.SubElement(root, "channel")
        for href, identifier, stamp in items:
            item = ET.SubElement(channel, "item")
            ET.SubElement(item, "link").text = href
            ET.SubElement(item, "guid").text = identifier
            ET.SubElement(item, "pubDate").text = stamp
    return ET.tostring(root, encoding="unicode").encode("utf-8", "surrogatepass")


XML_TEXT = TEXT.filter(lambda s: "\x00" not in s)
ENTRIES = st.lists(st.tuples(XML_TEXT, XML_TEXT, XML_TEXT), max_size=5)


@FUZZ
@given(kind=st.sampled_from(["atom", "rss"]), items=ENTRIES)
def test_cap_indexes(kind: str, items: list[tuple[str, str, str]]) -> None:
    """Atom and RSS indexes with any links, identifiers and times: the parser, and the helpers
    the link follower reads them with, never raise anything but ParseError."""
    data = _index(kind, items)
    holds(build("cap"), data)
    try:
        root = read_xml(data)
    except ParseError:
        return
    for entry in index_entries(root) or []:
        assert entry.link is None or (entry.link.strip() and len(entry.link) <= 2048)
    assert message_key(data) is None  # an index is no single alert


@FUZZ
@given(index=st.one_of(st.sampled_from([b"<alerts/>", b"not xml", b""]), st.binary(max_size=64)),
       linked=maybe(st.lists(maybe(st.fixed_dictionaries({"url": maybe(TEXT), "payload": maybe(
           st.binary(max_size=200).map(lambda b: base64.b64encode(b).decode()))})), max_size=3)),
       skipped=maybe(st.lists(maybe(st.fixed_dictionaries({"reason": TEXT, "excerpt": TEXT})),
                               max_size=2)))
def test_cap_index_frames(index: bytes, linked: Any, skipped: Any) -> None:
    """Frames (what fetch() builds, or a file given to `cityops ingest cap`) with anything in
    them."""
    frame = {"format": FRAME_FORMAT, "index": base64.b64encode(index).decode(), "linked": linked,
             "skipped": skipped}
    holds(build("cap"), to_json(frame))


# -- water format detection -------------------------------------------------------------------------
WATER_DOCS = st.one_of(
    NASTY,
    st.fixed_dictionaries({"format": st.just("cityops-mqtt-batch/1"), "messages": NASTY},
                          optional={"topics": maybe(st.lists(TEXT, max_size=3))}),
    st.fixed_dictionaries({"e": NASTY}, optional={"bn": TEXT}),
    st.lists(st.fixed_dictionaries({}, optional={"phenomenonTime": TEXT, "result": SCALAR,
                                                  "n": TEXT, "v": SCALAR}), max_size=3))


@FUZZ
@given(doc=WATER_DOCS, garbage=st.binary(max_size=64), use_garbage=st.booleans())
def test_water_detection_picks_an_adapter_for_anything(doc: Any, garbage: bytes,
                                                      use_garbage: bool) -> None:
    """Any bytes get a format and a feed table the registry accepts, whose parser then holds."""
    data = garbage if use_garbage else to_json(doc)
    assert detect_format(data) in (SENML, MQTT_BATCH, SENSORTHINGS)
    assert all(valid_filter(topic) for topic in frame_topics(data))
    holds(registry.build({"name": FEED, **recorded_feed(data)}), data)


@pytest.mark.parametrize("data, kind", [
    (b'[{"n": "a", "v": 1}]', SENML), (b"[]", SENML), (b'{"e": []}', SENML),
    (b'{"n": "yy/p1/pressure", "v": 3}', SENML), (b'{"value": []}', SENSORTHINGS),
    (b'[{"phenomenonTime": "2026-01-01T00:00:00Z", "result": 1}]', SENSORTHINGS),
    (b'{"format": "cityops-mqtt-batch/1", "messages": []}', MQTT_BATCH),
    (b"{oops", SENSORTHINGS), (b"<html>", SENML), (b"", SENML)])
def test_water_detection_examples(data: bytes, kind: str) -> None:
    """The structures each format has, and what a payload that is no JSON falls back to."""
    assert detect_format(data) == kind
