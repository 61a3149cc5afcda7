"""FHIR R4 hospitals and SANER capacity: hand-made fixtures, paging over loopback, real samples."""

from __future__ import annotations

import json
from collections import Counter
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Iterator

import pytest

from app.model.records import Entity, FeedHeader, Observation, ParseItem, RawPayload, Rejected
from data_adapters.base import FatalFeedError, ParseError, RetryableFeedError
from data_adapters.medical.adapter import FhirAdapter
from data_adapters.medical.fhir import fhir_time, parse_fhir, reference_target
from tests.support.local_http import LocalHttpServer
from tests.support.paths import SAMPLES
from tests.support.payloads.fhir import (
    SANER,
    YIYANG,
    bundle,
    dumps,
    location,
    outcome,
    population,
    report,
)

FHIR_SAMPLES = SAMPLES / "fhir"

FETCHED_AT = 1_709_300_000.0
MIDNIGHT_0301_SHANGHAI = 1_709_222_400.0  # 2024-03-01T00:00:00+08:00


def parse(doc: Any, **kwargs: Any) -> list[ParseItem]:
    """Every item of parse_fhir on a fixture (feed "med", Yiyang bounds unless given)."""
    kwargs.setdefault("bounds", YIYANG)
    data = doc if isinstance(doc, bytes) else dumps(doc)
    return list(parse_fhir(data, "med", FETCHED_AT, **kwargs))


def of(items: list[ParseItem], cls: type) -> list[Any]:
    """The items of one type."""
    return [i for i in items if isinstance(i, cls)]


def metrics(items: list[ParseItem]) -> dict[str, float]:
    """metric -> value of the Observations."""
    return {o.metric: o.value for o in of(items, Observation)}


# -- parse_fhir ---------------------------------------------------------------------------------
def test_bundle_with_location_and_measure_report() -> None:
    """A hospital entity with its attrs, and the mapped and derived capacity observations."""
    items = parse(bundle(location(), report(),
                         {"resourceType": "Organization", "id": "o1", "name": "Yiyang Health",
                          "active": True}))
    assert isinstance(items[0], FeedHeader) and items[0].full_dataset is False
    hospital, org = of(items, Entity)
    assert hospital == Entity("medical", "hospital", "med:hospital:h1", 28.55, 112.36, "active",
                              FETCHED_AT, "med", {
                                  "fhir_id": "h1", "name": "Yiyang Central Hospital",
                                  "address": "118 Kangfu Rd, Yiyang",
                                  "managing_organization": "Organization/o1",
                                  "organization_name": "Yiyang Health",
                                  "telecom": [{"system": "phone", "value": "0737-1234567"}],
                                  "diversion": False})
    assert (org.kind, org.id, org.lat, org.lon, org.status) == (
        "organization", "med:organization:o1", None, None, "active")
    assert metrics(items) == {"beds_total": 200, "beds_occupied": 150, "icu_beds_total": 20,
                              "icu_beds_occupied": 18, "ventilators_total": 10,
                              "ventilators_in_use": 4, "beds_available": 50,
                              "icu_beds_available": 2}
    assert {(o.entity_id, o.unit, o.observed_at) for o in of(items, Observation)} == {
        ("med:hospital:h1", "1", MIDNIGHT_0301_SHANGHAI)}
    assert not of(items, Rejected)


def test_single_resource_and_id_prefix() -> None:
    """A bare Location (not a Bundle) is read; id_prefix replaces the feed name in ids."""
    (entity,) = of(parse(location("x-9"), id_prefix="city-med"), Entity)
    assert entity.id == "city-med:hospital:x-9" and entity.source == "med"


@pytest.mark.parametrize(("date", "tz", "expected"), [
    ("2024-03-01", "Asia/Shanghai", MIDNIGHT_0301_SHANGHAI),
    ("2024-03-01", "UTC", 1_709_251_200.0),
    ("2024-03-01T08:30:00+08:00", "UTC", MIDNIGHT_0301_SHANGHAI + 8.5 * 3600),
    ("2024-03-01T00:00:00Z", "Asia/Shanghai", 1_709_251_200.0),
    ("2020-05-11T00:00:00-05:00", "Asia/Shanghai", 1_589_173_200.0),
])
def test_date_or_datetime(date: str, tz: str, expected: float) -> None:
    """A date is midnight in the city's zone; a dateTime keeps its own offset."""
    observations = of(parse(report(date=date), tz=tz), Observation)
    assert observations and {o.observed_at for o in observations} == {expected}


def test_period_end_when_no_date_and_rejection_when_neither() -> None:
    """Without date, period.end dates the report; with neither, the report is rejected."""
    items = parse(report(date=None))
    assert {o.observed_at for o in of(items, Observation)} == {MIDNIGHT_0301_SHANGHAI - 86400}
    items = parse(bundle(location(), report(date="yesterday", period={})))
    assert len(of(items, Entity)) == 1 and not of(items, Observation)
    assert [r.reason for r in of(items, Rejected)] == [
        "MeasureReport has no valid date or period.end"]


def test_data_absent_population_is_unknown_never_zero() -> None:
    """A data-absent count yields no observation (not 0), is counted, and blocks derivation."""
    counts: Counter[str] = Counter()
    items = parse(report(populations=[population("numbeds", 200), population("numBedsOcc", None),
                                      population("numICUBeds", 0)]), counts=counts)
    assert metrics(items) == {"beds_total": 200, "icu_beds_total": 0}
    assert counts == Counter({"data_absent": 1})
    assert not of(items, Rejected)


def test_bad_counts_and_inconsistent_occupancy_are_rejected() -> None:
    """A negative or fractional count, and occupied > total, are rejections, not observations."""
    items = parse(report(populations=[population("numbeds", 10), population("numBedsOcc", 12),
                                      population("numVent", -1)]
                         + [{"code": {"coding": [{"system": SANER, "code": "numVentUse"}]},
                             "count": 1.5}]))
    assert metrics(items) == {"beds_total": 10, "beds_occupied": 12}
    assert sorted(r.reason for r in of(items, Rejected)) == [
        "beds_occupied 12 exceeds beds_total 10: no beds_available",
        "ventilators_in_use: count 1.5 is not a non-negative integer",
        "ventilators_total: count -1 is not a non-negative integer"]


def test_out_of_bounds_position_is_flagged_not_drawn() -> None:
    """Outside the bounds: lat/lon None and out_of_bounds; with no bounds it is drawn."""
    far = location("far", lat=40.19, lon=74.67)
    (entity,) = of(parse(far), Entity)
    assert (entity.lat, entity.lon) == (None, None)
    assert entity.attrs["out_of_bounds"] is True
    (drawn,) = of(parse(far, bounds=None), Entity)
    assert (drawn.lat, drawn.lon) == (40.19, 74.67) and "out_of_bounds" not in drawn.attrs


def test_invalid_and_missing_positions() -> None:
    """0,0 and string coordinates are not drawn (flagged); no position at all is not flagged."""
    zero, text, none = of(parse(bundle(location("a", 0.0, 0.0),
                                       location("b", position={"latitude": "28.5",
                                                               "longitude": "112.3"}),
                                       location("c", None))), Entity)
    assert [(e.lat, e.lon) for e in (zero, text, none)] == [(None, None)] * 3
    assert zero.attrs["invalid_position"] and text.attrs["invalid_position"]
    assert "invalid_position" not in none.attrs


def test_reporter_organization_resolves_to_its_location() -> None:
    """A report naming only its Organization lands on the Location that organization manages."""
    items = parse(bundle(location(), report(subject=None)))
    assert {o.entity_id for o in of(items, Observation)} == {"med:hospital:h1"}
    alone = parse(report(subject=None))
    assert {o.entity_id for o in of(alone, Observation)} == {"med:organization:o1"}


def test_references() -> None:
    """Relative, absolute, versioned and fullUrl references; identifier-only ones name nothing."""
    assert reference_target({"reference": "Location/a1"}) == ("Location", "a1")
    assert reference_target({"reference": "https://x.org/fhir/Location/a1/_history/3"}) == (
        "Location", "a1")
    assert reference_target({"reference": "urn:uuid:1"}, {"urn:uuid:1": ("Location", "q")}) == (
        "Location", "q")
    assert reference_target({"identifier": {"value": "X1"}, "display": "X"}) is None
    assert reference_target({"reference": "Patient/p1"}) is None


def test_unknown_resource_type_is_rejected_by_its_type_alone() -> None:
    """A resource we do not read is a rejection naming its type, without its text; the rest
    still parses."""
    items = parse(bundle(location(), {"resourceType": "Device", "id": "d1",
                                      "owner": {"display": "Ward 7 pump"}}))
    assert len(of(items, Entity)) == 1
    rejected = of(items, Rejected)
    assert [r.reason for r in rejected] == ["unsupported resource type Device"]
    assert "Ward 7" not in rejected[0].excerpt


@pytest.mark.parametrize("data", [b"", b"   ", b"<html>502</html>", b"[1, 2]", b'{"id": "x"}',
                                  b"\xff\xfe", b"[" * 100_000,
                                  dumps(bundle({"resourceType": "Patient", "id": "p"})),
                                  dumps(bundle(outcome("error")))])
def test_unusable_payloads_raise_parse_error(data: bytes) -> None:
    """Empty, not JSON, not a resource, nothing usable, a search that failed: ParseError."""
    with pytest.raises(ParseError):
        parse(data)


WARNED = ("OperationOutcome in Bundle: information informational information note; warning "
          "informational warning note")


@pytest.mark.parametrize("answer, notes, warnings", [
    ({"resourceType": "Bundle", "type": "searchset", "total": 0}, 0, []),
    ({"resourceType": "Bundle", "type": "searchset", "total": 0, "entry": []}, 0, []),
    (bundle(outcome("information")), 1, []),
    ({"resourceType": "Bundle", "type": "searchset", "total": 0,
      "entry": [{"resource": outcome("information", "warning"), "search": {"mode": "outcome"}}]},
     0, [WARNED]),
    (outcome("information"), 1, []),
], ids=["no-entry", "empty-entry", "information", "warning", "bare-outcome"])
def test_a_search_that_matches_nothing_is_an_answer(answer: dict[str, Any], notes: int,
                                                    warnings: list[str]) -> None:
    """An empty searchset, or one holding only an OperationOutcome that informs or warns, is a
    valid answer: a FeedHeader (with the Bundle's own time) and no record; a warning is kept
    for the dead letters, information is only counted."""
    counts: Counter[str] = Counter()
    stamped = dict(answer, timestamp="2024-03-01T00:00:00+08:00")
    items = parse(stamped if answer["resourceType"] == "Bundle" else answer, counts=counts)
    assert isinstance(items[0], FeedHeader) and not items[0].full_dataset
    assert not of(items, Entity) and not of(items, Observation)
    assert [r.reason for r in of(items, Rejected)] == warnings
    assert counts["outcome_information"] == notes
    if answer["resourceType"] == "Bundle":
        assert items[0].timestamp == MIDNIGHT_0301_SHANGHAI


def test_operation_outcome_is_a_parse_error_with_diagnostics() -> None:
    """A server error answer becomes a ParseError that says what the server said."""
    outcome = {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "processing", "diagnostics": "Unknown search parameter"}]}
    with pytest.raises(ParseError, match="error processing Unknown search parameter"):
        parse(outcome)


def test_fhir_time() -> None:
    """Partial dates and impossible times are not guessed at."""
    from zoneinfo import ZoneInfo
    zone = ZoneInfo("Asia/Shanghai")
    assert fhir_time("2024-03", zone) is None
    assert fhir_time("2024-13-01", zone) is None
    assert fhir_time(20240301, zone) is None
    assert fhir_time("2024-03-01T08:00:00", zone) == MIDNIGHT_0301_SHANGHAI + 8 * 3600


# -- the adapter over loopback ------------------------------------------------------------------
class PagedServer(LocalHttpServer):
    """A FHIR search on 127.0.0.1: /fhir/Location?page=N, each page linking to the next."""

    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages
        self.accepts: list[str] = []
        super().__init__()
        self.base = self.origin

    def respond(self, request: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        """Page N of the search, or 404 past the last."""
        self.accepts.append(request.headers.get("Accept", ""))
        number = int(request.path.rsplit("page=", 1)[-1]) if "page=" in request.path else 0
        if number >= len(self.pages):
            return 404, {"Content-Type": "application/fhir+json"}, b"nope"
        return 200, {"Content-Type": "application/fhir+json"}, dumps(self.pages[number])


def paged(n: int, next_of: Any = None) -> list[dict[str, Any]]:
    """n pages of one Location each; page k links to page k+1 (relative links) except the last."""
    pages = []
    for k in range(n):
        links = [{"relation": "self", "url": f"/fhir/Location?page={k}"}]
        if k + 1 < n:
            links.append({"relation": "next",
                          "url": next_of(k) if next_of else f"/fhir/Location?page={k + 1}"})
        pages.append(bundle(location(f"h{k}"), link=links))
    return pages


@pytest.fixture
def server_of() -> Iterator[Any]:
    """Start PagedServers for a test and stop them after it."""
    servers: list[PagedServer] = []

    def start(pages: list[dict[str, Any]]) -> PagedServer:
        servers.append(PagedServer(pages))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def adapter_for(server: PagedServer, **config: Any) -> FhirAdapter:
    """A FhirAdapter on the server's first page."""
    return FhirAdapter({"name": "med", "url": f"{server.base}/fhir/Location?page=0",
                        "bounds": list(YIYANG), **config})


def test_adapter_follows_next_links(server_of: Any) -> None:
    """Three pages become one payload with all three hospitals, fetched as FHIR JSON."""
    server = server_of(paged(3))
    adapter = adapter_for(server)
    raw = adapter.fetch()
    assert raw.meta == {"pages": "3", "truncated": "false"}
    ids = [e.id for e in adapter.parse(raw) if isinstance(e, Entity)]
    assert ids == ["med:hospital:h0", "med:hospital:h1", "med:hospital:h2"]
    assert server.accepts == ["application/fhir+json"] * 3


def test_adapter_stops_at_max_pages(server_of: Any) -> None:
    """max_pages caps the pages fetched and marks the payload truncated."""
    server = server_of(paged(5))
    raw = adapter_for(server, max_pages=2).fetch()
    assert raw.meta == {"pages": "2", "truncated": "true"} and len(server.accepts) == 2
    assert len(json.loads(raw.data)["entry"]) == 2


def test_adapter_single_page_is_untouched(server_of: Any) -> None:
    """With no next link the bytes are returned as received."""
    server = server_of(paged(1))
    assert adapter_for(server).fetch().data == dumps(server.pages[0])


def test_adapter_refuses_next_link_to_another_server(server_of: Any) -> None:
    """A next link off the configured server is not followed."""
    server = server_of(paged(2, next_of=lambda k: "http://127.0.0.2:1/fhir/Location?page=1"))
    with pytest.raises(RetryableFeedError, match="leaves the server"):
        adapter_for(server).fetch()
    assert len(server.accepts) == 1


def test_adapter_refuses_a_redirect_of_a_later_page_to_another_server(server_of: Any) -> None:
    """A next page that redirects off the configured server is refused like a link to it (the
    same server by another name, localhost, counts as another)."""
    server = server_of(paged(2))
    elsewhere = server.base.replace("127.0.0.1", "localhost")
    original = server.respond

    def respond(request: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        if request.path.endswith("page=1"):
            server.accepts.append("redirected")
            return 302, {"Location": f"{elsewhere}/fhir/Location?page=1"}, b""
        return original(request)

    server.respond = respond  # type: ignore[method-assign]
    with pytest.raises(RetryableFeedError, match="refused: another server"):
        adapter_for(server).fetch()
    assert len(server.accepts) == 2  # the first page and the redirect, never the other host


def test_adapter_fails_when_a_later_page_is_broken(server_of: Any) -> None:
    """A next link to a missing page fails the poll rather than losing hospitals silently."""
    server = server_of(paged(2, next_of=lambda k: "/fhir/Location?page=7"))
    with pytest.raises(FatalFeedError, match="404"):
        adapter_for(server).fetch()


def test_adapter_parse_uses_tz_and_counts() -> None:
    """Config tz places plain dates; last_counts tells of data-absent populations."""
    adapter = FhirAdapter({"name": "med", "url": "http://127.0.0.1:9/fhir", "tz": "UTC"})
    raw = RawPayload(dumps(report(populations=[population("numbeds", 3),
                                               population("numBedsOcc", None)])), "test",
                     fetched_at=FETCHED_AT)
    (obs,) = [i for i in adapter.parse(raw) if isinstance(i, Observation)]
    assert (obs.metric, obs.value, obs.observed_at) == ("beds_total", 3.0, 1_709_251_200.0)
    assert adapter.last_counts == Counter({"data_absent": 1})


@pytest.mark.parametrize("config", [{"bounds": [1, 2, 3]}, {"bounds": [30, 0, 20, 1]},
                                    {"max_pages": 0}, {"tz": "Mars/Olympus"}, {"url": ""}])
def test_adapter_bad_config_is_fatal(config: dict[str, Any]) -> None:
    """Configuration mistakes are FatalFeedError at construction."""
    with pytest.raises(FatalFeedError):
        FhirAdapter({"name": "med", "url": "http://127.0.0.1:9/fhir", **config})


# -- conformance over the real captures ---------------------------------------------------------
SAMPLE_FILES = sorted(FHIR_SAMPLES.glob("*.json")) if FHIR_SAMPLES.is_dir() else []


# What each sample Location is (SOURCES.md): hospital buildings typed HOSP, ward-level units (an
# ICU, a telemetry ward), a hospital's wing, and the untyped state of New Jersey (read as the
# feed's default, a hospital: nothing in it says otherwise).
SAMPLE_KINDS = {"Loc-X140008": "hospital", "Loc-X140010": "hospital", "Loc-X143300": "hospital",
                "Loc-X410004": "hospital", "Loc-X410011": "hospital", "Location1a": "ward",
                "Location2a": "ward", "1": "ward", "states-NJ": "hospital"}


@pytest.mark.skipif(not SAMPLE_FILES, reason=f"no FHIR samples in {FHIR_SAMPLES}")
@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_samples(path: Path) -> None:
    """Every sample parses; each Location is stored as what it is, at its position;
    MeasureReports observe."""
    doc = json.loads(path.read_bytes())
    resources = [e["resource"] for e in doc["entry"]] if doc["resourceType"] == "Bundle" \
        else [doc]
    items = parse(path.read_bytes(), bounds=None)
    entities = {e.id: e for e in of(items, Entity)}
    for res in resources:
        if res["resourceType"] == "Location":
            place = entities[f"med:{SAMPLE_KINDS[res['id']]}:{res['id']}"]
            assert place.kind == SAMPLE_KINDS[res["id"]]
            if "position" in res:
                assert (place.lat, place.lon) == (res["position"]["latitude"],
                                                  res["position"]["longitude"])
    reports = [r for r in resources if r["resourceType"] == "MeasureReport"]
    if reports:
        assert of(items, Observation)
    assert not of(items, Rejected)


@pytest.mark.skipif(not SAMPLE_FILES, reason=f"no FHIR samples in {FHIR_SAMPLES}")
def test_sample_values() -> None:
    """Exact values from the SANER captures: mapping, derivation, data-absent, bounds."""
    items = parse((FHIR_SAMPLES / "MeasureReport-FHIR-381.json").read_bytes())
    got = metrics(items)
    assert {k: got[k] for k in ("beds_total", "beds_occupied", "beds_available", "icu_beds_total",
                                "icu_beds_available", "ventilators_total",
                                "ventilators_in_use")} == {
        "beds_total": 206, "beds_occupied": 43, "beds_available": 163, "icu_beds_total": 13,
        "icu_beds_available": 7, "ventilators_total": 2, "ventilators_in_use": 2}
    assert {o.observed_at for o in of(items, Observation)} == {1_589_173_200.0}
    counts: Counter[str] = Counter()
    nj = parse((FHIR_SAMPLES / "MeasureReport-ExampleNJ-20200404-CDCPatientImpactAndHospitalCapacity"
                          ".json").read_bytes(), counts=counts)
    assert counts["data_absent"] == 10
    assert "beds_occupied" not in metrics(nj) and "beds_available" not in metrics(nj)
    (state,) = of(parse((FHIR_SAMPLES / "Location-states-NJ.json").read_bytes()), Entity)
    assert state.lat is None and state.attrs["out_of_bounds"] is True


def test_a_suspended_hospital_is_on_diversion() -> None:
    """Location.status says whether the hospital takes patients; other statuses say nothing."""
    hospitals = {e.attrs["fhir_id"]: e for e in parse(bundle(
        location("open"), location("closed", status="suspended"), location("gone", status="inactive")))
        if isinstance(e, Entity)}
    assert hospitals["open"].attrs["diversion"] is False
    assert hospitals["closed"].attrs["diversion"] is True
    assert "diversion" not in hospitals["gone"].attrs


# -- what a Location is, and references by identifier -------------------------------------------
ROLE_CODES = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
PHYSICAL = "http://terminology.hl7.org/CodeSystem/location-physical-type"
HOSPITALS = "http://example.org/hospitals"


def typed(fid: str, *, codes: tuple[str, ...] = (), physical: str | None = None,
          system: str = ROLE_CODES, **extra: Any) -> dict[str, Any]:
    """A Location of the given v3-RoleCode types and physical type."""
    res = location(fid, **extra)
    if codes:
        res["type"] = [{"coding": [{"system": system, "code": code}]} for code in codes]
    if physical is not None:
        res["physicalType"] = {"coding": [{"system": PHYSICAL, "code": physical}]}
    return res


def test_locations_are_stored_as_what_they_are() -> None:
    """Hospitals, wards (a part of a building, a hospital unit, a CDC NHSN location), ambulances,
    classes of places (mode kind) and other places each keep their own kind; only a hospital
    says whether it is on diversion; an untyped Location is still a hospital."""
    items = parse(bundle(
        typed("h1", codes=("HOSP",), physical="si"),
        typed("w1", physical="wa", partOf={"reference": "Location/h1"}, status="suspended"),
        typed("icu", codes=("ICU",)),
        typed("tele", codes=("1208-8",), system="https://www.cdc.gov/nhsn/cdaportal/terminology/"
                                                "codesystem/hsloc.html"),
        typed("amb-7", physical="ve", lat=28.56, lon=112.37),
        typed("amb-8", codes=("AMB",)),
        typed("any-ambulance", codes=("AMB",), mode="kind", lat=None),
        typed("outpatient-pharmacy", codes=("OUTPHARM",), physical="bu"),
        typed("plain")))
    kinds = {e.attrs["fhir_id"]: (e.kind, e.id) for e in of(items, Entity)}
    assert kinds == {
        "h1": ("hospital", "med:hospital:h1"), "w1": ("ward", "med:ward:w1"),
        "icu": ("ward", "med:ward:icu"), "tele": ("ward", "med:ward:tele"),
        "amb-7": ("ambulance", "med:ambulance:amb-7"), "amb-8": ("ambulance", "med:ambulance:amb-8"),
        "any-ambulance": ("location_class", "med:location_class:any-ambulance"),
        "outpatient-pharmacy": ("ward", "med:ward:outpatient-pharmacy"),
        "plain": ("hospital", "med:hospital:plain")}
    entities = {e.attrs["fhir_id"]: e for e in of(items, Entity)}
    assert entities["w1"].attrs["part_of"] == "Location/h1" and entities["w1"].status == "suspended"
    assert "diversion" not in entities["w1"].attrs and entities["h1"].attrs["diversion"] is False
    assert (entities["amb-7"].lat, entities["amb-7"].lon) == (28.56, 112.37)
    assert (entities["any-ambulance"].lat, entities["any-ambulance"].lon) == (None, None)
    other = of(parse(typed("school", codes=("SCHOOL",))), Entity)
    assert [(e.kind, e.id) for e in other] == [("location", "med:location:school")]


def test_a_report_lands_on_the_place_it_is_about() -> None:
    """A ward's report stays on the ward; the organization running a hospital and its wards still
    stands for its one hospital (its wards are not hospitals)."""
    items = parse(bundle(typed("h1", codes=("HOSP",)), typed("w1", physical="wa"),
                         report(subject="Location/w1"),
                         dict(report(subject=None), id="mr2")))
    assert {o.entity_id for o in of(items, Observation)} == {"med:ward:w1", "med:hospital:h1"}


def test_organizations_and_locations_referenced_by_identifier_are_linked() -> None:
    """A managingOrganization, subject or reporter that names its target only by identifier (no
    literal reference) is resolved against the identifiers in the payload."""
    org = {"resourceType": "Organization", "id": "o1", "name": "Yiyang Health",
           "identifier": [{"system": HOSPITALS, "value": "YY-01"}]}
    hospital = location("h1", identifier=[{"system": HOSPITALS, "value": "YY-01-LOC"}],
                        managingOrganization={"identifier": {"system": HOSPITALS, "value": "YY-01"},
                                              "display": "sent name"})
    by_org = report(subject=None, reporter={"identifier": {"system": HOSPITALS, "value": "YY-01"}})
    by_place = dict(report(subject=None, id="mr2"),
                    subject={"identifier": {"system": HOSPITALS, "value": "YY-01-LOC"}},
                    reporter={"display": "nobody"})
    items = parse(bundle(org, hospital, by_org, by_place))
    (place,) = [e for e in of(items, Entity) if e.kind == "hospital"]
    assert place.attrs["managing_organization"] == "Organization/o1"
    assert place.attrs["organization_name"] == "Yiyang Health"
    assert {o.entity_id for o in of(items, Observation)} == {"med:hospital:h1"}
    assert not of(items, Rejected)
    # Without the Organization in the payload, the reference's display still names it.
    (alone,) = of(parse(hospital), Entity)
    assert alone.attrs["organization_name"] == "sent name"
    assert "managing_organization" not in alone.attrs
