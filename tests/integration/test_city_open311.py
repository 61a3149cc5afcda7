"""Open311 GeoReport v2: the parser on hand-made quirks and real captures, the incremental adapter."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest
import redis

from app import store
from app.model.geo import valid_position
from app.model.records import Entity, Event, FeedHeader, ParseItem, RawPayload, Rejected
from app.pipeline.ingest import ingest
from data_adapters.base import ParseError
from data_adapters.city.adapter import Open311Adapter
from data_adapters.city.open311 import parse_datetime, parse_requests, parse_services, safe_xml_root
from tests.support.paths import SAMPLES
from tests.support.payloads.open311 import UTC, XML_REQUESTS, Open311Server, payload, request, utc

OPEN311_SAMPLES = SAMPLES / "open311"

FETCHED_AT = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def parsed(data: bytes, **kwargs: Any) -> list[ParseItem]:
    """Every item parse_requests yields for ``data`` (feed "sr")."""
    return list(parse_requests(data, "sr", FETCHED_AT, **kwargs))


def entities(data: bytes, **kwargs: Any) -> list[Entity]:
    """The request entities of ``data``."""
    return [i for i in parsed(data, **kwargs) if isinstance(i, Entity)]


def only(data: bytes, **kwargs: Any) -> Entity:
    """The single request entity of ``data``."""
    found = entities(data, **kwargs)
    assert len(found) == 1, found
    return found[0]


# -- requests: one complete record ----------------------------------------------------------------
def test_complete_request_becomes_exact_entity() -> None:
    """Every field lands where documented, times in UTC seconds, the header comes first."""
    items = parsed(payload(request()))
    assert items[0] == FeedHeader(timestamp=None, full_dataset=False)
    assert items[1:] == [Entity(
        domain="city", kind="request", id="sr:request:638344", lat=28.55, lon=112.36,
        status="open", observed_at=utc(2024, 3, 1, 1, 30), source="sr",
        attrs={"service_code": "006", "service_name": "Pothole", "description": "Big hole",
               "address": "8 Taohualun Rd", "requested_at": utc(2024, 3, 1, 0, 0),
               "updated_at": utc(2024, 3, 1, 1, 30), "expected_at": utc(2024, 3, 5, 0, 0),
               "agency_responsible": "Roads", "status_notes": None, "raw_status": "open",
               "unlocated": False})]


def test_id_prefix_and_numeric_ids() -> None:
    """id_prefix replaces the feed name in ids; numeric ids are kept as their text."""
    entity = only(payload(request(service_request_id=101005420892)), id_prefix="yiyang")
    assert entity.id == "yiyang:request:101005420892"
    assert entity.source == "sr"


# -- positions --------------------------------------------------------------------------------------
@pytest.mark.parametrize("lat,lon", [(None, None), (0, 0), (0.0, 0.0), ("0.0", "0.0"), ("", ""),
                                     (28.55, None)])
def test_missing_or_zero_position_is_unlocated(lat: Any, lon: Any) -> None:
    """null, blank, one-sided and 0,0 positions: listed with no coordinates, never at 0,0."""
    entity = only(payload(request(lat=lat, long=lon)))
    assert (entity.lat, entity.lon) == (None, None)
    assert entity.attrs["unlocated"] is True
    assert "notes" not in entity.attrs


def test_absent_position_keys_are_unlocated() -> None:
    """A request without lat/long keys at all is unlocated."""
    row = request()
    del row["lat"], row["long"]
    entity = only(payload(row))
    assert (entity.lat, entity.lon, entity.attrs["unlocated"]) == (None, None, True)


def test_non_numeric_position_is_unlocated_with_note() -> None:
    """Text that is not a number: unlocated, and the note shows what was sent."""
    entity = only(payload(request(lat="north", long="112.36")))
    assert (entity.lat, entity.lon, entity.attrs["unlocated"]) == (None, None, True)
    assert entity.attrs["notes"] == ["non-numeric position 'north','112.36'"]


@pytest.mark.parametrize("lat,lon", [(100.0, 112.36), (28.55, 200.0), (-91, 0.5)])
def test_out_of_range_position_is_dropped_with_note(lat: float, lon: float) -> None:
    """Out-of-range positions are not drawn; the note keeps the values."""
    entity = only(payload(request(lat=lat, long=lon)))
    assert (entity.lat, entity.lon, entity.attrs["unlocated"]) == (None, None, True)
    assert entity.attrs["notes"] == [f"position out of range {float(lat)},{float(lon)}"]


def test_string_coordinates_are_numbers() -> None:
    """XML-style string coordinates become floats."""
    entity = only(payload(request(lat="43.691104288", long="-79.272306875")))
    assert (entity.lat, entity.lon) == (43.691104288, -79.272306875)


# -- ids --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["missing", None, "", "   "])
def test_request_without_id_is_rejected_with_excerpt(value: Any) -> None:
    """No service_request_id: a Rejected naming the row; the other requests are kept."""
    bad = request(service_code="zzz-marker")
    if value == "missing":
        del bad["service_request_id"]
    else:
        bad["service_request_id"] = value
    items = parsed(payload(bad, request(service_request_id="7")))
    rejected = [i for i in items if isinstance(i, Rejected)]
    assert len(rejected) == 1
    assert rejected[0].reason == "request without service_request_id"
    assert "zzz-marker" in rejected[0].excerpt
    assert [e.id for e in items if isinstance(e, Entity)] == ["sr:request:7"]


def test_duplicate_request_keeps_later_update() -> None:
    """One id listed twice: the later update is kept, the other is rejected."""
    older = request(updated_datetime="2024-03-01T09:00:00+08:00", status="open")
    newer = request(updated_datetime="2024-03-01T10:00:00+08:00", status="closed")
    items = parsed(payload(newer, older))
    assert [e.status for e in items if isinstance(e, Entity)] == ["closed"]
    rejected = [i for i in items if isinstance(i, Rejected)]
    assert len(rejected) == 1 and rejected[0].reason.startswith("duplicate request sr:request:638344")


# -- statuses ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw,status", [("open", "open"), ("Open", "open"), ("CLOSED", "closed"),
                                        (" closed ", "closed"), ("Closed", "closed"),
                                        ("resolved", "closed"), ("In Progress", "open")])
def test_status_is_normalized_and_raw_kept(raw: str, status: str) -> None:
    """Any case and spacing; the raw value stays in attrs."""
    entity = only(payload(request(status=raw)))
    assert entity.status == status
    assert entity.attrs["raw_status"] == raw
    assert "notes" not in entity.attrs


@pytest.mark.parametrize("raw", [None, "", "weird"])
def test_unknown_status_reads_as_open_with_note(raw: Any) -> None:
    """A missing or unknown status keeps the request listed (open) and says why."""
    entity = only(payload(request(status=raw)))
    assert entity.status == "open"
    assert entity.attrs["notes"] == [f"unknown status {raw!r} read as open"]


# -- dates ------------------------------------------------------------------------------------------
def test_zoneless_dates_are_read_in_configured_zone() -> None:
    """SF's "2012-05-22 23:57:23.97" has no zone: it is local time of the feed's tz."""
    row = request(requested_datetime="2012-05-22 23:57:23.97", updated_datetime=None,
                  expected_datetime="2012-05-31 08:30:00.0")
    shanghai = only(payload(row))
    assert shanghai.attrs["requested_at"] == utc(2012, 5, 22, 15, 57, 23, 970000)
    assert shanghai.observed_at == shanghai.attrs["requested_at"]
    pacific = only(payload(row), tz="America/Los_Angeles")  # PDT, UTC-7
    assert pacific.attrs["requested_at"] == utc(2012, 5, 23, 6, 57, 23, 970000)
    assert pacific.attrs["expected_at"] == utc(2012, 5, 31, 15, 30)


def test_dates_with_offset_ignore_configured_zone() -> None:
    """An explicit offset or Z wins over tz."""
    row = request(requested_datetime="2012-05-23T15:55:28-04:00",
                  updated_datetime="2012-05-23T19:55:30Z")
    entity = only(payload(row), tz="America/Los_Angeles")
    assert entity.attrs["requested_at"] == utc(2012, 5, 23, 19, 55, 28)
    assert entity.observed_at == utc(2012, 5, 23, 19, 55, 30)


def test_date_only_is_local_midnight() -> None:
    """A bare date is midnight of that day in tz."""
    entity = only(payload(request(requested_datetime="2024-03-01", updated_datetime="",
                                  expected_datetime="2024-03-05")))
    assert entity.attrs["requested_at"] == utc(2024, 2, 29, 16, 0)
    assert entity.attrs["expected_at"] == utc(2024, 3, 4, 16, 0)
    assert entity.attrs["updated_at"] is None


def test_observed_at_falls_back_to_requested_then_fetched() -> None:
    """updated_datetime, else requested_datetime, else the fetch time."""
    no_update = only(payload(request(updated_datetime=None)))
    assert no_update.observed_at == utc(2024, 3, 1, 0, 0)
    no_dates = only(payload(request(updated_datetime=None, requested_datetime=None)))
    assert no_dates.observed_at == FETCHED_AT


def test_unparseable_date_is_dropped_with_note() -> None:
    """A bad date costs only that date."""
    entity = only(payload(request(updated_datetime="yesterday-ish",
                                  expected_datetime=12345)))
    assert entity.attrs["updated_at"] is None and entity.attrs["expected_at"] is None
    assert entity.observed_at == utc(2024, 3, 1, 0, 0)
    assert entity.attrs["notes"] == [
        "updated_datetime dropped: unreadable date 'yesterday-ish'",
        "expected_datetime dropped: not a date string: 12345"]


def test_parse_datetime_rejects_garbage() -> None:
    """The date reader raises ValueError on text that is not ISO 8601, None on blank."""
    assert parse_datetime("  ") is None
    with pytest.raises(ValueError):
        parse_datetime("2024-13-01")


# -- descriptions and text --------------------------------------------------------------------------
def test_descriptions_are_kept_as_text() -> None:
    """Multi-line text kept byte for byte; null stays None, "" stays "", absent is None."""
    text = "Line one\r\n\r\nSaid \"help\" <b>now</b>\nend"
    absent = request(service_request_id="4")
    del absent["description"]
    found = {e.id: e.attrs["description"] for e in entities(payload(
        request(service_request_id="1", description=text),
        request(service_request_id="2", description=None),
        request(service_request_id="3", description=""), absent))}
    assert found == {"sr:request:1": text, "sr:request:2": None, "sr:request:3": "",
                     "sr:request:4": None}


def test_address_spacing_is_tidied() -> None:
    """Padded addresses are tidied; blank ones are None."""
    padded = only(payload(request(address="     SAN FRANCISCO , CA ")))
    blank = only(payload(request(address="   ")))
    assert (padded.attrs["address"], blank.attrs["address"]) == ("SAN FRANCISCO , CA", None)


def test_xml_requests_parse_exactly() -> None:
    """Namespaced root, xsi:nil, empty elements, long before lat, umlauts."""
    items = parsed(XML_REQUESTS, tz="America/Los_Angeles")
    assert items[0] == FeedHeader(timestamp=None, full_dataset=False)
    assert [type(i) for i in items[1:]] == [Rejected, Entity, Entity]
    assert "no-id" in items[1].excerpt  # type: ignore[union-attr]
    first, second = items[2], items[3]
    assert first == Entity(
        domain="city", kind="request", id="sr:request:1129806", lat=37.77944, lon=-122.404434,
        status="closed", observed_at=utc(2012, 5, 23, 6, 57, 23, 970000), source="sr",
        attrs={"service_code": "280", "service_name": "Straßenschäden", "description": "",
               "address": "Main St", "requested_at": utc(2012, 5, 23, 6, 57, 23, 970000),
               "updated_at": None, "expected_at": utc(2012, 5, 31, 7, 0),
               "agency_responsible": None, "status_notes": "Case resolved",
               "raw_status": "Closed", "unlocated": False})
    assert isinstance(second, Entity)
    assert (second.lat, second.lon, second.attrs["unlocated"]) == (None, None, True)
    assert second.attrs["description"] == "two\nlines"
    assert second.observed_at == utc(2012, 5, 22, 10, 0)


# -- error answers and unusable payloads -----------------------------------------------------------
@pytest.mark.parametrize("data,message", [
    (b'{"code": 403, "description": "Invalid api_key"}', "Invalid api_key"),
    (b'[{"code": 400, "description": "service_code not found"},'
     b' {"code": 400, "description": "lat missing"}]', "service_code not found; 400: lat missing"),
    (b"<?xml version='1.0'?><errors><error><code>403</code><description>Bad key</description>"
     b"</error></errors>", "403: Bad key"),
])
def test_open311_error_answer_is_parse_error(data: bytes, message: str) -> None:
    """Servers answer errors as {code, description} (or a list): the description is the reason."""
    with pytest.raises(ParseError) as info:
        parsed(data)
    assert message in str(info.value)
    assert info.value.excerpt == data.decode()


@pytest.mark.parametrize("data", [
    b"", b"   \n", b"\xff\xfe\x00garbage", b"hello", b"42", b'"text"', b"[1, 2",
    b'{"service_requests": 5}', b'{"foo": "bar"}', b"<html>500</html>", b"<service_requests>",
    b"<services><service><service_code>1</service_code></service></services>",
])
def test_unusable_payload_is_parse_error(data: bytes) -> None:
    """Empty, not UTF-8, not JSON/XML, truncated, or another document: ParseError."""
    with pytest.raises(ParseError):
        parsed(data)


def test_wrapped_and_empty_lists_are_usable() -> None:
    """{"service_requests": [...]} is read; an empty list (nothing changed) yields the header alone."""
    assert [e.id for e in entities(json.dumps({"service_requests": [request()]}).encode())] == [
        "sr:request:638344"]
    assert parsed(b"[]") == [FeedHeader(timestamp=None, full_dataset=False)]
    assert parsed(b"<service_requests/>") == [FeedHeader(timestamp=None, full_dataset=False)]


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<service_requests><request><service_request_id>&lol2;</service_request_id></request></service_requests>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!doctype r [<!entity xxe SYSTEM "file:///etc/passwd">]>
<service_requests><request><service_request_id>1</service_request_id>
<description>&xxe;</description></request></service_requests>"""
DOCTYPE_ONLY = b"""<?xml version="1.0"?><!DOCTYPE service_requests SYSTEM "http://127.0.0.1:9/x.dtd">
<service_requests/>"""


@pytest.mark.parametrize("data", [BILLION_LAUGHS, EXTERNAL_ENTITY, DOCTYPE_ONLY])
def test_doctype_and_entity_payloads_are_refused(data: bytes) -> None:
    """No DTD reaches the XML parser: entity expansion and external entities are impossible."""
    with pytest.raises(ParseError, match="DOCTYPE or ENTITY"):
        parsed(data)
    with pytest.raises(ParseError, match="DOCTYPE or ENTITY"):
        safe_xml_root(data)


def test_utf16_cannot_smuggle_a_doctype() -> None:
    """A UTF-16 payload (its declaration invisible to a byte pattern) is refused too."""
    data = EXTERNAL_ENTITY.decode().replace('version="1.0"', 'version="1.0" encoding="UTF-16"')
    with pytest.raises(ParseError, match="NUL"):
        safe_xml_root(data.encode("utf-16-le"))
    with pytest.raises(ParseError, match="UTF-8"):
        parsed(data.encode("utf-16"))


def test_xml_size_is_capped() -> None:
    """An XML payload past the cap is refused before parsing."""
    with pytest.raises(ParseError, match="larger than 10 bytes"):
        safe_xml_root(b"<service_requests/>", max_bytes=10)
    assert safe_xml_root(b"<service_requests/>", max_bytes=19).tag == "service_requests"


# -- services ---------------------------------------------------------------------------------------
def test_services_json_and_xml() -> None:
    """Each service is an Event; one without service_code is rejected."""
    json_items = list(parse_services(json.dumps([
        {"service_code": "001", "service_name": "Cans left out", "description": "24x7",
         "metadata": True, "type": "realtime", "keywords": "lorem, ipsum", "group": "sanitation"},
        {"service_name": "no code"}]).encode(), "svc", FETCHED_AT))
    assert json_items == [
        FeedHeader(timestamp=None, full_dataset=False),
        Event(domain="city", kind="service", id="svc:service:001", title="Cans left out",
              observed_at=FETCHED_AT, source="svc",
              attrs={"group": "sanitation", "description": "24x7", "type": "realtime",
                     "keywords": "lorem, ipsum", "metadata": True}),
        Rejected.of("service without service_code", '{"service_name": "no code"}')]
    xml_items = list(parse_services(
        "<services is_array='true'><service><service_code>012</service_code><service_name>"
        "Verkehrsschild beschädigt</service_name><metadata>false</metadata><type>realtime</type>"
        "<description></description><keywords/></service></services>".encode(),
        "svc", FETCHED_AT))
    assert xml_items[1] == Event(
        domain="city", kind="service", id="svc:service:012", title="Verkehrsschild beschädigt",
        observed_at=FETCHED_AT, source="svc",
        attrs={"group": None, "description": "", "type": "realtime", "keywords": None,
               "metadata": False})


# -- the real captures ------------------------------------------------------------------------------
def sample_files(kind: str) -> list[Path]:
    """The captured Open311 files of ``kind`` ("requests" or "services")."""
    if not OPEN311_SAMPLES.is_dir():
        return []
    return sorted(p for p in OPEN311_SAMPLES.iterdir()
                  if kind in p.name and p.suffix in (".json", ".xml"))


def independent_rows(path: Path, tag: str) -> list[dict[str, Any]]:
    """Rows counted without the parser: json for JSON, a regex over the raw bytes for XML."""
    data = path.read_bytes()
    if path.suffix == ".json":
        return json.loads(data)
    rows = []
    for body in re.findall(rb"<" + tag.encode() + rb">(.*?)</" + tag.encode() + rb">", data, re.S):
        lat = re.search(rb"<lat>([^<]*)</lat>", body)
        lon = re.search(rb"<long>([^<]*)</long>", body)
        rows.append({"lat": lat.group(1).decode() if lat else None,
                     "long": lon.group(1).decode() if lon else None})
    return rows


def _unknown_position(row: dict[str, Any]) -> bool:
    """Whether a captured row has no position: a null/blank coordinate, or both zero."""
    values = [row.get("lat"), row.get("long")]
    if any(v is None or v == "" for v in values):
        return True
    return all(float(v) == 0 for v in values if v is not None)


@pytest.mark.parametrize("path", sample_files("requests"), ids=lambda p: p.name)
def test_request_samples_conform(path: Path) -> None:
    """Every captured request is an Entity; unlocated exactly where the capture has no position."""
    rows = independent_rows(path, "request")
    items = list(parse_requests(path.read_bytes(), "cap", FETCHED_AT))
    found = [i for i in items if isinstance(i, Entity)]
    assert isinstance(items[0], FeedHeader) and not [i for i in items if isinstance(i, Rejected)]
    assert len(found) == len(rows) > 0
    unlocated = [e for e in found if e.attrs["unlocated"]]
    assert len(unlocated) == sum(_unknown_position(row) for row in rows)
    for entity in found:
        assert entity.status in ("open", "closed")
        if entity.attrs["unlocated"]:
            assert entity.lat is None and entity.lon is None, entity
        else:
            assert valid_position(entity.lat, entity.lon), entity


@pytest.mark.parametrize("path", sample_files("services"), ids=lambda p: p.name)
def test_service_samples_conform(path: Path) -> None:
    """Every captured service is an Event with its code in the id."""
    rows = independent_rows(path, "service")
    events = [i for i in parse_services(path.read_bytes(), "cap", FETCHED_AT)
              if isinstance(i, Event)]
    assert len(events) == len(rows) > 0
    assert all(e.id.startswith("cap:service:") and e.title for e in events)


def test_sample_counts_match_sources_md() -> None:
    """The counts SOURCES.md gives: Bloomington 21 (18 open, 3 closed, 8 unlocated), SF 56 (9 at 0,0)."""
    if not OPEN311_SAMPLES.is_dir():
        pytest.skip("../shared/samples/open311 is not present")
    bloomington = entities((OPEN311_SAMPLES / "bloomington-in-requests.json").read_bytes())
    assert [sum(e.status == s for e in bloomington) for s in ("open", "closed")] == [18, 3]
    assert sum(e.attrs["unlocated"] for e in bloomington) == 8
    sf = entities((OPEN311_SAMPLES / "san-francisco-ca-requests.xml").read_bytes(),
                  tz="America/Los_Angeles")
    assert len(sf) == 56 and sum(e.attrs["unlocated"] for e in sf) == 9


@pytest.fixture
def open311_server() -> Iterator[Open311Server]:
    """A local Open311 server."""
    server = Open311Server(payload(
        request(service_request_id="1", updated_datetime="2024-03-01T09:30:00+08:00"),
        request(service_request_id="2", updated_datetime="2024-03-01 10:15:00"),
        request(service_request_id="3", updated_datetime="2099-01-01T00:00:00Z")))
    yield server
    server.close()


def poll(adapter: Open311Adapter) -> list[ParseItem]:
    """One fetch, parse and the commit of a stored batch, as the runner does it."""
    raw = adapter.fetch()
    items = list(adapter.parse(raw))
    adapter.committed(raw)
    return items


def test_adapter_sends_updated_after_on_second_poll(open311_server: Open311Server) -> None:
    """First poll: everything; second: updated_after = newest update seen (future ones ignored)."""
    adapter = Open311Adapter({"name": "sr", "base_url": open311_server.base_url + "/",
                              "jurisdiction_id": "yiyang.gov.cn", "api_key": "k-1"})
    assert (adapter.name, adapter.domain) == ("open311", "city")
    first = poll(adapter)
    assert len([i for i in first if isinstance(i, Entity)]) == 3
    poll(adapter)
    (path1, query1), (path2, query2) = open311_server.seen
    assert path1 == path2 == "/open311/v2/requests.json"
    assert open311_server.accept.startswith("application/json")
    assert query1 == {"jurisdiction_id": ["yiyang.gov.cn"], "api_key": ["k-1"]}
    # "2024-03-01 10:15:00" has no zone: read in Asia/Shanghai, it is 02:15 UTC.
    assert query2 == {"jurisdiction_id": ["yiyang.gov.cn"], "api_key": ["k-1"],
                      "updated_after": ["2024-03-01T02:15:00Z"]}


def test_adapter_first_poll_uses_lookback(open311_server: Open311Server) -> None:
    """lookback_hours bounds the first poll."""
    adapter = Open311Adapter({"name": "sr", "base_url": open311_server.base_url,
                              "lookback_hours": 6})
    now = utc(2026, 1, 1, 12, 0)
    assert adapter.query(now) == {"updated_after": "2026-01-01T06:00:00Z"}
    before = datetime.now(UTC) - timedelta(hours=6)
    poll(adapter)
    sent = datetime.fromisoformat(open311_server.seen[0][1]["updated_after"][0])
    assert abs((sent - before).total_seconds()) < 60


def test_unusable_payload_does_not_move_cursor() -> None:
    """A failed parse leaves updated_after where it was."""
    adapter = Open311Adapter({"name": "sr", "base_url": "http://127.0.0.1:9"})
    raw = RawPayload(payload(request()), "t", FETCHED_AT)
    list(adapter.parse(raw))
    assert "updated_after" not in adapter.query()  # parsed, not yet stored: the cursor waits
    adapter.committed(raw)
    assert adapter.query() == {"updated_after": "2024-03-01T01:30:00Z"}
    with pytest.raises(ParseError):
        list(adapter.parse(RawPayload(b'{"code": 500, "description": "down"}', "t", FETCHED_AT)))
    assert adapter.query() == {"updated_after": "2024-03-01T01:30:00Z"}


def test_adapter_config_errors() -> None:
    """No base_url or an unknown tz is a configuration error."""
    from data_adapters.base import FatalFeedError
    with pytest.raises(FatalFeedError, match="base_url"):
        Open311Adapter({"name": "sr"})
    with pytest.raises(FatalFeedError, match="time zone"):
        Open311Adapter({"name": "sr", "base_url": "http://127.0.0.1:9", "tz": "Mars/Olympus"})


# -- through ingest, on a real Redis ----------------------------------------------------------------
def test_unusable_payload_stores_nothing(r: redis.Redis) -> None:
    """An error answer raises ParseError and leaves Redis untouched; a good one is stored."""
    adapter = Open311Adapter({"name": "sr", "base_url": "http://127.0.0.1:9"})
    bad = RawPayload(b'{"code": 403, "description": "Invalid api_key"}', "t", FETCHED_AT)
    with pytest.raises(ParseError, match="Invalid api_key"):
        ingest(r, adapter, bad, dead_letter_unusable=False)
    assert r.dbsize() == 0
    with pytest.raises(ParseError):
        ingest(r, adapter, bad)
    assert store.entities.count(r, "city") == 0
    assert "Invalid api_key" in store.feeds.read_dead_letters(r, "sr")[0]["reason"]
    result = ingest(r, adapter, RawPayload(payload(request(), request(service_request_id="9",
                                                                      lat=0, long=0)),
                                           "t", FETCHED_AT))
    assert result.accepted == 2
    stored = {e["id"] for e in store.entities.read_entities(r, "city")}
    assert stored == {"sr:request:638344", "sr:request:9"}
