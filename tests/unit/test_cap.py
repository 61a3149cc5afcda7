"""Tests of the CAP parser and adapter: hand-made fixtures and conformance over real samples."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest

from app.model.cap import CAP_SEVERITY_OF, cap_id, map_severity
from app.model.records import Event, RawPayload, Rejected, Removed
from data_adapters.base import FatalFeedError, ParseError
from data_adapters.cap.adapter import CapAdapter
from data_adapters.cap.parse import (
    MAX_BYTES,
    circle_ring,
    parse_cap,
    parse_circle,
    parse_polygon,
    parse_references,
)
from tests.support.paths import SAMPLES
from tests.support.payloads.cap import NS11, NS12, alert, area, info

CAP_SAMPLES = SAMPLES / "cap"

FETCHED = 1_700_000_000.0


def parse(data: str | bytes, **kw: Any) -> list[Any]:
    """Every item parse_cap yields for ``data``."""
    raw = data.encode() if isinstance(data, str) else data
    return list(parse_cap(raw, "capf", FETCHED, **kw))


def events(items: list[Any]) -> list[Event]:
    return [i for i in items if isinstance(i, Event)]


# -- one alert, exactly ------------------------------------------------------------------------------
def test_cap12_alert_exact_event() -> None:
    """A 1.2 alert maps onto every Event field and attr."""
    doc = alert(info(extra="<onset>2024-05-01T11:00:00+08:00</onset>"
                           "<expires>2024-05-01T18:00:00Z</expires>",
                     areas=area("<polygon>28.5,112.3 28.6,112.3 28.6,112.4 28.5,112.3</polygon>")))
    (ev,) = parse(doc)
    assert ev.id == "capf:cap:A-1:s@x.org" and ev.kind == "cap_warning" and ev.domain == "city"
    assert ev.title == "Flood" and ev.severity == "major" and ev.source == "capf"
    assert ev.observed_at == 1714528800.0
    assert ev.starts_at == 1714532400.0 and ev.ends_at == 1714586400.0
    assert ev.area == {"type": "Polygon", "coordinates": [[[112.3, 28.5], [112.3, 28.6],
                                                           [112.4, 28.6], [112.3, 28.5]]]}
    assert ev.attrs == {
        "identifier": "A-1", "sender": "s@x.org", "sent": "2024-05-01T10:00:00+08:00",
        "status": "Actual", "msgType": "Alert", "scope": "Public", "references": [],
        "urgency": "Expected", "certainty": "Likely", "cap_severity": "Severe", "event": "Flood",
        "category": ["Met", "Safety"], "description": "Rising water", "instruction": "Move up",
        "areaDesc": "Zone", "language": "en-US", "web": "http://w.example/1", "circles": []}


def test_cap11_no_namespace_and_wrong_namespace_and_times() -> None:
    """1.1, no xmlns and a misspelt xmlns are all read; starts_at falls back to effective, then sent."""
    with_effective = info(headline=None, event="Wind",
                          extra="<effective>2024-05-01T09:00:00-00:00</effective>")
    for ns in (NS11, None, "urn:oasis:names:tc:emergency:alerts:1.2"):
        (ev,) = parse(alert(with_effective, ns=ns))
        assert ev.title == "Wind" and ev.starts_at == 1714554000.0 and ev.ends_at is None, ns
    (ev,) = parse(alert(info()))
    assert ev.starts_at == ev.observed_at == 1714528800.0


def test_bom_and_declared_iso_8859_1_and_big5() -> None:
    """Raw bytes: a UTF-8 BOM, ISO-8859-1 and a multi-byte (Big5) declaration decode correctly."""
    (ev,) = parse(b"\xef\xbb\xbf" + alert(info(headline="Überflutung")).encode())
    assert ev.title == "Überflutung"
    latin = alert(info(headline="Usulután")).replace('encoding="UTF-8"', 'encoding="ISO-8859-1"')
    (ev,) = parse(latin.encode("iso-8859-1"))
    assert ev.title == "Usulután"
    big5 = alert(info("zh-TW", headline="水庫洩洪")).replace('"UTF-8"', '"Big5"')
    (ev,) = parse(big5.encode("big5"))
    assert ev.title == "水庫洩洪" and ev.attrs["language"] == "zh-TW"


def test_language_choice() -> None:
    """Prefix match in preference order; no <language> is en-US; else the first block."""
    doc = alert(info("fr-CA", headline="fr"), info("zh-CN", headline="zh"),
                info("en-CA", headline="en"))
    assert events(parse(doc))[0].title == "en"
    assert events(parse(doc, languages=("zh", "en")))[0].title == "zh"
    assert events(parse(doc, languages=("de",)))[0].title == "fr"
    assert events(parse(alert(info("is-IS", headline="is"), info(None, headline="default"))))[0]\
        .title == "default"
    assert events(parse(alert(info("en-x", headline="e"))))[0].attrs["language"] == "en-x"
    # "en" must not match "eng-..." style tags: only en or en-*.
    assert events(parse(alert(info("eng", headline="a"), info("fr", headline="b")),
                        languages=("en",)))[0].title == "a"  # first block, by fallback


def test_polygons_circles_and_rejections() -> None:
    """Several areas and shapes give a MultiPolygon; bad shapes are Rejected, the alert is kept."""
    shapes = area("<polygon>1,1 1,2 2,2</polygon>", "<circle>10,20 11.132</circle>", desc="A") + \
        area("<polygon>1,1 1,2</polygon>", "<polygon></polygon>", "<circle>0,0 -1</circle>",
             "<circle>5,6 0</circle>", desc="B")
    items = parse(alert(info(areas=shapes)))
    rejected = [i.reason for i in items if isinstance(i, Rejected)]
    assert len(rejected) == 2 and rejected[0].startswith("invalid polygon")
    assert rejected[1].startswith("invalid circle")
    (ev,) = events(items)
    assert ev.area is not None and ev.area["type"] == "MultiPolygon"
    first, circle = ev.area["coordinates"]
    assert first == [[[1.0, 1.0], [2.0, 1.0], [2.0, 2.0], [1.0, 1.0]]]
    ring = circle[0]
    assert len(ring) == 33 and ring[0] == ring[-1] and len({tuple(p) for p in ring}) == 32
    assert ring[0] == pytest.approx([20.0 + 0.1 / math.cos(math.radians(10)), 10.0], abs=1e-6)
    assert ring[8] == pytest.approx([20.0, 10.1], abs=1e-6)
    assert ev.attrs["circles"] == [{"lat": 10.0, "lon": 20.0, "radius_km": 11.132},
                                   {"lat": 5.0, "lon": 6.0, "radius_km": 0.0}]
    assert ev.attrs["areaDesc"] == "A; B"


def test_no_geometry_is_none() -> None:
    """An alert with areaDesc only (or a radius-0 circle) has area None."""
    (ev,) = parse(alert(info(areas=area("<circle>12.7,-88.7 0.0</circle>"))))
    assert ev.area is None and ev.attrs["circles"][0]["radius_km"] == 0.0


def test_shape_helpers() -> None:
    """Polygon and circle text parsers accept the known quirks and refuse the rest."""
    assert parse_polygon("+41.1,-117.6 +41.0,-117.4, +40.9,-117.5,\n 41.1,-117.6") == [
        [-117.6, 41.1], [-117.4, 41.0], [-117.5, 40.9], [-117.6, 41.1]]
    assert parse_polygon("21,120 21,130 22,130") == [[120.0, 21.0], [130.0, 21.0], [130.0, 22.0],
                                                     [120.0, 21.0]]
    for bad in ("1,2 3", "1-2,3 4,5 6,7", "a,b c,d e,f", "91,0 1,1 2,2", "1,1 2,2 1,1", "nan,1 1,1 2,2"):
        with pytest.raises(ValueError):
            parse_polygon(bad)
    assert parse_circle("-35.3888,147.0598 25.0") == (-35.3888, 147.0598, 25.0)
    for bad in ("1,2", "1,2 x", "100,2 3", "1,2 -3", "1 2 3"):
        with pytest.raises(ValueError):
            parse_circle(bad)
    ring = circle_ring(89.99, 179.9, 50.0)
    assert all(-180 <= x <= 180 and -90 <= y <= 90 for x, y in ring)


def test_severity_table() -> None:
    """The documented mapping, and back."""
    assert map_severity("Extreme", "Immediate") == "critical"
    assert map_severity("Extreme", "Future") == "critical"
    assert [map_severity(s) for s in ("Severe", "Moderate", "Minor", "Unknown", "", None, "Odd")] \
        == ["major", "minor", "warning", "info", "info", "info", "info"]
    assert {map_severity(CAP_SEVERITY_OF[ours]): ours for ours in CAP_SEVERITY_OF} == \
        {ours: ours for ours in CAP_SEVERITY_OF}


# -- envelopes -----------------------------------------------------------------------------------------
def test_edxl_de_envelope() -> None:
    """EDXL-DE contentObject/xmlContent/embeddedXMLContent alerts are read."""
    doc = ('<EDXLDistribution xmlns="urn:oasis:names:tc:emergency:EDXL:DE:1.0">'
           "<distributionID>d1</distributionID><contentObject><xmlContent><embeddedXMLContent>"
           + alert(info(), decl=False) + "</embeddedXMLContent></xmlContent></contentObject>"
           "</EDXLDistribution>")
    assert [e.id for e in events(parse(doc))] == ["capf:cap:A-1:s@x.org"]
    with pytest.raises(ParseError):
        parse('<EDXLDistribution xmlns="urn:oasis:names:tc:emergency:EDXL:DE:1.0"/>')


def test_atom_embedded_and_linked() -> None:
    """Atom entries: an embedded alert is parsed, link-only entries are counted in one Rejected."""
    doc = ('<feed xmlns="http://www.w3.org/2005/Atom"><id>f</id>'
           f"<entry><id>1</id><content type=\"application/cap+xml\">{alert(info(), decl=False)}"
           "</content></entry><entry><id>2</id><link href=\"http://x/2.xml\"/></entry>"
           "<entry><id>3</id><link href=\"http://x/3.xml\"/></entry></feed>")
    items = parse(doc)
    assert [e.id for e in events(items)] == ["capf:cap:A-1:s@x.org"]
    assert [i.reason for i in items if isinstance(i, Rejected)] == [
        "index links 2 alert(s) that are not fetched (links are followed when the feed is polled)"]
    assert parse('<feed xmlns="http://www.w3.org/2005/Atom"><id>f</id></feed>') == []


def test_rss_is_read_like_atom() -> None:
    """CAP in RSS 2.0 (and RSS 1.0): items embedding an alert are parsed, items linking one are
    counted (a poll follows them), an empty channel is a valid "no warnings"."""
    doc = ('<rss version="2.0"><channel><title>Warnings</title>'
           f"<item><title>Flood</title>{alert(info(), decl=False)}</item>"
           "<item><title>Wind</title><link>https://x.example/cap/2.xml</link></item>"
           '<item><title>Heat</title><enclosure url="https://x.example/cap/3.xml" '
           'type="application/cap+xml" length="900"/></item>'
           "<item><title>No link</title></item></channel></rss>")
    items = parse(doc)
    assert [e.id for e in events(items)] == ["capf:cap:A-1:s@x.org"]
    assert [i.reason for i in items if isinstance(i, Rejected)] == [
        "index links 2 alert(s) that are not fetched (links are followed when the feed is polled)"]
    assert parse('<rss version="2.0"><channel><title>Quiet</title></channel></rss>') == []
    rdf = ('<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
           'xmlns="http://purl.org/rss/1.0/"><channel/><item>'
           f"{alert(info(), identifier='R-1', decl=False)}</item></rdf:RDF>")
    assert [e.id for e in events(parse(rdf))] == ["capf:cap:R-1:s@x.org"]


def test_index_entries_pick_the_cap_link_and_the_entry_keys() -> None:
    """A link typed as CAP wins over the entry's page; self links are no content; the CAP
    identifier, sent time and the entry's own time are read for the cache."""
    from data_adapters.cap.index import index_entries, message_key
    from data_adapters.cap.xml import read_xml
    doc = ('<feed xmlns="http://www.w3.org/2005/Atom" '
           f'xmlns:cap="{NS12}"><entry><id>1</id><updated>2024-05-01T10:00:00+08:00</updated>'
           '<link rel="self" href="https://x.example/entry/1"/>'
           '<link rel="alternate" type="text/html" href="https://x.example/page/1"/>'
           '<link rel="alternate" type="application/cap+xml" href="/cap/1.xml"/>'
           "<cap:identifier>A-1</cap:identifier><cap:sent>2024-05-01T10:00:00+08:00</cap:sent>"
           '</entry><entry><id>2</id><link rel="self" href="https://x.example/entry/2"/></entry>'
           "</feed>")
    first, second = index_entries(read_xml(doc.encode())) or []
    assert (first.link, first.identifier, first.sent, first.stamp) == (
        "/cap/1.xml", "A-1", "2024-05-01T10:00:00+08:00", "2024-05-01T10:00:00+08:00")
    assert second.link is None
    assert index_entries(read_xml(alert(info()).encode())) is None
    assert message_key(alert(info()).encode()) == ("A-1", "2024-05-01T10:00:00+08:00")
    assert message_key(b"<html/>") is None and message_key(b"not xml") is None


def test_a_frame_holds_the_index_and_its_linked_messages() -> None:
    """The adapter's frame: the index's own alerts, each linked message, a linked document that is
    no CAP (one Rejected naming its URL), and each skipped link, with its reason."""
    from data_adapters.cap.frame import Linked, Skipped, encode_frame, parse_frame
    index = ('<feed xmlns="http://www.w3.org/2005/Atom"><id>f</id>'
             f"<entry><id>1</id><content>{alert(info(), decl=False)}</content></entry>"
             '<entry><id>2</id><link href="http://x.example/2.xml"/></entry></feed>').encode()
    frame = encode_frame("http://x.example/feed", index, [
        Linked("http://x.example/2.xml", alert(info(), identifier="A-2").encode()),
        Linked("http://x.example/3.xml", b"<html>moved</html>", cached=True)],
        [Skipped("1 linked alert(s) not followed: elsewhere", "http://evil.example/4.xml")])
    items = list(parse_frame(frame, "capf", FETCHED, languages=("en",), id_prefix=None,
                             domain="city"))
    assert [e.id for e in events(items)] == ["capf:cap:A-1:s@x.org", "capf:cap:A-2:s@x.org"]
    reasons = [i.reason for i in items if isinstance(i, Rejected)]
    assert reasons[0].startswith("linked alert http://x.example/3.xml: not CAP: root element")
    assert reasons[1:] == ["1 linked alert(s) not followed: elsewhere"]
    with pytest.raises(ParseError, match="no CAP index frame"):
        list(parse_frame(b'{"format": "other"}', "capf", FETCHED, languages=("en",),
                         id_prefix=None, domain="city"))


def test_alerts_root() -> None:
    """A non-standard <alerts> root with several <alert>."""
    doc = (f'<alerts xmlns="{NS12}">' + alert(info(), decl=False)
           + alert(info(severity="Extreme"), identifier="A-2", decl=False) + "</alerts>")
    assert [(e.id, e.severity) for e in events(parse(doc))] == [
        ("capf:cap:A-1:s@x.org", "major"), ("capf:cap:A-2:s@x.org", "critical")]


# -- message types and statuses -----------------------------------------------------------------------
def test_references_parsed() -> None:
    """<references> triplets become (sender, identifier, sent); malformed tokens are dropped."""
    assert parse_references("a,b,c d,e,f") == [("a", "b", "c"), ("d", "e", "f")]
    assert parse_references("a,b,c broken ,x,y a,b") == [("a", "b", "c")]
    assert parse_references("") == [] and parse_references(None) == []


def test_update_and_cancel() -> None:
    """Update: the new Event and Removed for the referenced; Cancel likewise; ids sanitized."""
    refs = "s@x.org,A-0,2024-05-01T09:00:00+08:00 http://o.org/a,B-7,2024-05-01T09:30:00+08:00"
    items = parse(alert(info(), identifier="A-1", msg_type="Update", references=refs))
    assert items == [events(items)[0], Removed("city", "capf:cap:A-0:s@x.org"),
                     Removed("city", "capf:cap:B-7:http___o.org_a")]
    assert items[0].attrs["references"] == [("s@x.org", "A-0", "2024-05-01T09:00:00+08:00"),
                                            ("http://o.org/a", "B-7", "2024-05-01T09:30:00+08:00")]
    cancel = parse(alert(info(), msg_type="Cancel", references=refs), id_prefix="city",
                   domain="water")
    assert [type(i).__name__ for i in cancel] == ["Event", "Removed", "Removed"]
    assert cancel[1] == Removed("water", "city:cap:A-0:s@x.org")
    # A plain Alert with references removes nothing.
    assert [type(i) for i in parse(alert(info(), references=refs))] == [Event]


def test_cancel_without_info() -> None:
    """A Cancel with no info block yields only the Removed of what it references."""
    items = parse(alert(msg_type="Cancel", references="s@x.org,A-0,2024-05-01T09:00:00+08:00"))
    assert items == [Removed("city", "capf:cap:A-0:s@x.org")]
    assert [i.reason for i in parse(alert())] == ["alert without an info block: nothing to show"]


@pytest.mark.parametrize("status", ["Test", "Exercise", "Draft", "System"])
def test_not_actual_is_rejected(status: str) -> None:
    """Test/Exercise/Draft/System alerts are Rejected, never Events."""
    items = parse(alert(info(), status=status))
    assert len(items) == 1 and items[0].reason == "not an actual alert"


def test_id_sanitized() -> None:
    assert cap_id("p", "a b/c:d", "http://x.org/") == "p:cap:a_b_c_d:http___x.org_"


# -- refused payloads ---------------------------------------------------------------------------------
BOMB = ('<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        f'<alert xmlns="{NS12}"><identifier>&c;</identifier></alert>')
EXTERNAL = ('<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            f'<alert xmlns="{NS12}"><identifier>&x;</identifier></alert>')


@pytest.mark.parametrize("data", [
    b"", b"   ", b"\x00\xff garbage", b"<html>500</html>", b"{\"alert\": 1}",
    BOMB.encode(), EXTERNAL.encode(), alert(info()).encode()[:-10],
    b'<?xml version="1.0" encoding="no-such-codec"?><alert/>',
    f'<alert xmlns="{NS12}"><foo/></alert>'.encode(),
], ids=["empty", "blank", "binary", "html", "json", "entity-bomb", "external-entity",
        "truncated", "unknown-encoding", "no-cap-content"])
def test_refused(data: bytes) -> None:
    with pytest.raises(ParseError):
        parse(data)


def test_oversize_refused() -> None:
    padding = "<!--" + "x" * MAX_BYTES + "-->"
    with pytest.raises(ParseError, match="larger"):
        parse(alert(info()).replace("<identifier>", padding + "<identifier>"))


# -- adapter --------------------------------------------------------------------------------------------
def test_adapter_config_and_parse() -> None:
    """CapAdapter reads url, languages and domain, and parses with them."""
    adapter = CapAdapter({"name": "warn", "url": "http://127.0.0.1:9/cap", "languages": ["zh"],
                          "domain": "water"})
    assert adapter.name == "cap" and adapter.domain == "water" and adapter.languages == ("zh",)
    raw = RawPayload(data=alert(info("en", headline="en"), info("zh-CN", headline="zh")).encode(),
                     source="t", fetched_at=FETCHED)
    (ev,) = list(adapter.parse(raw))
    assert ev.title == "zh" and ev.domain == "water" and ev.id.startswith("warn:cap:")
    assert CapAdapter({"url": "http://127.0.0.1:9/"}).domain == "city"
    with pytest.raises(FatalFeedError):
        CapAdapter({"url": "http://127.0.0.1:9/", "domain": "space"})
    with pytest.raises(FatalFeedError):
        CapAdapter({"url": "http://127.0.0.1:9/", "languages": [3]})
    with pytest.raises(FatalFeedError):
        CapAdapter({"name": "x"})


# -- real samples ----------------------------------------------------------------------------------------
# file -> (Events, Removed, Rejected, area type of the first Event). SOURCES.md marks no file as
# unusable (its "errors" variants are real alerts with quirks), so none may raise ParseError.
EXPECTED: dict[str, tuple[int, int, int, str | None]] = {
    "CanadaNaad.xml": (1, 0, 0, "Polygon"),
    "NOAA_MultiplePolygons.xml": (1, 8, 0, "MultiPolygon"),
    "australia.cap": (1, 0, 0, "Polygon"),
    "australia_bom.cap": (1, 0, 0, None),
    "canada.cap": (1, 2, 0, "MultiPolygon"),
    "canada_errors.cap": (1, 0, 0, "Polygon"),
    "earthquake-iso8859-1.cap": (1, 0, 0, None),
    "earthquake.cap": (1, 0, 0, None),
    "iceland_met_office.cap": (1, 0, 0, "Polygon"),
    "invalid_xmlns.cap": (1, 0, 0, None),
    "mexico.xml": (1, 1, 0, "Polygon"),
    "no_info_tag.cap": (0, 1, 0, None),
    "no_optional_fields.cap": (0, 0, 1, None),
    "noaa_errors.cap": (1, 0, 0, "Polygon"),
    "ph.cap": (0, 0, 1, None),
    "rfs.xml": (1, 0, 0, None),
    "smhi.se.alerts.cap": (17, 0, 0, None),
    "sweden.cap": (1, 0, 0, None),
    "taiwan.cap": (1, 0, 0, None),
    "us_nws_weather.atom": (0, 0, 1, None),
    "wcatwc-warning.cap": (1, 1, 0, None),
    "weather.cap": (1, 0, 0, None),
}
BROKEN: set[str] = set()


def sample_files() -> list[Path]:
    if not CAP_SAMPLES.is_dir():
        return []
    return sorted(p for p in CAP_SAMPLES.iterdir() if p.is_file() and p.name != "SOURCES.md")


needs_samples = pytest.mark.skipif(not CAP_SAMPLES.is_dir(), reason="shared CAP samples absent")


@needs_samples
def test_sources_marks_nothing_unusable() -> None:
    """The BROKEN set follows SOURCES.md: no file there is called broken or unusable."""
    notes = (CAP_SAMPLES / "SOURCES.md").read_text(encoding="utf-8")
    flagged = {name for name in re.findall(r"^\| (\S+) \(", notes, re.M)
               if re.search(rf"^\| {re.escape(name)} .*\b(broken|unusable|unparseable)\b",
                            notes, re.M | re.I)}
    assert flagged == BROKEN
    assert {p.name for p in sample_files()} == set(EXPECTED)


@needs_samples
@pytest.mark.parametrize("path", sample_files(), ids=lambda p: p.name)
def test_real_sample(path: Path) -> None:
    """Every real file parses without surprise into the expected counts with valid closed rings."""
    data = path.read_bytes()
    if path.name in BROKEN:
        with pytest.raises(ParseError):
            parse(data)
        return
    items = parse(data)
    n_events, n_removed, n_rejected, area_type = EXPECTED[path.name]
    evs = events(items)
    assert (len(evs), sum(isinstance(i, Removed) for i in items),
            sum(isinstance(i, Rejected) for i in items)) == (n_events, n_removed, n_rejected)
    assert ((evs[0].area or {}).get("type") if evs else None) == area_type
    for ev in evs:
        assert ev.id.startswith("capf:cap:") and ev.title and ev.severity in CAP_SEVERITY_OF
        assert ev.starts_at is not None and math.isfinite(ev.starts_at)
        if ev.area is None:
            continue
        polygons = ([ev.area["coordinates"]] if ev.area["type"] == "Polygon"
                    else ev.area["coordinates"])
        for polygon in polygons:
            for ring in polygon:
                assert len(ring) >= 4 and ring[0] == ring[-1], path.name
                assert all(-180 <= lon <= 180 and -90 <= lat <= 90 for lon, lat in ring)


@needs_samples
def test_real_sample_details() -> None:
    """Spot checks: language choice, references, encodings of the real files."""
    def first(name: str, **kw: Any) -> Event:
        return events(parse((CAP_SAMPLES / name).read_bytes(), **kw))[0]
    assert first("iceland_met_office.cap").attrs["language"] == "en-US"
    assert first("iceland_met_office.cap", languages=("is",)).attrs["language"] == "is-IS"
    assert first("CanadaNaad.xml", languages=("fr",)).attrs["language"] == "fr-CA"
    assert first("taiwan.cap").title == "明德水庫:洩洪中"
    assert "Usulután" in first("earthquake-iso8859-1.cap").title
    assert first("australia.cap").attrs["circles"] == [
        {"lat": -35.3888, "lon": 147.0598, "radius_km": 25.0}]
    assert first("mexico.xml").attrs["references"] == [
        ("smn.cna.gob.mx", "avisossmn-ciclontropical-4061", "2018-10-20T04:15:00-05:00")]
