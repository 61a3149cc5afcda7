"""SensorThings API v1.1 water Observations: hand-made fixtures, paging over loopback, real samples."""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from collections import Counter
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import redis

from app import store
from app.model.records import Entity, FeedHeader, Observation, ParseItem, RawPayload, Rejected
from app.pipeline.ingest import ingest
from data_adapters.base import FatalFeedError, ParseError, RetryableFeedError
from data_adapters.water.sensorthings import (
    Newest,
    check_metrics,
    geometry_point,
    iso_z,
    measurement_in,
    numeric_result,
    parse_observations,
    sta_time,
    ucum_code,
)
from data_adapters.water.sta_adapter import DEFAULT_EXPAND, SensorThingsAdapter, origin
from tests.support.local_http import LocalHttpServer
from tests.support.paths import REPO
from tests.support.payloads.sensorthings import (
    PSI_KPA,
    T0,
    collection,
    contract_payloads,
    datastream,
    dumps,
    iso,
    observation,
    thing,
    water_streams,
)

SAMPLES = REPO.parent / "shared" / "samples" / "sensorthings"


def parse(doc: Any, **kwargs: Any) -> list[ParseItem]:
    """Every item parse_observations yields for a fixture (feed "sta")."""
    return list(parse_observations(doc if isinstance(doc, bytes) else dumps(doc), "sta",
                                   **kwargs))


def of(items: list[ParseItem], cls: type) -> list[Any]:
    """The items of one type."""
    return [i for i in items if isinstance(i, cls)]


# -- small readers ----------------------------------------------------------------------------------
def test_sta_time_reads_instants_and_interval_ends() -> None:
    """Z, offsets, no zone (read in tz), intervals by their end; durations and junk give None."""
    utc = dt.timezone.utc
    shanghai = dt.timezone(dt.timedelta(hours=8))
    assert sta_time("2026-01-01T00:00:00.000Z") == dt.datetime(2026, 1, 1, tzinfo=utc)
    assert sta_time("2026-01-01T08:00:00+08:00") == dt.datetime(2026, 1, 1, tzinfo=utc)
    assert sta_time("2026-01-01T08:00:00", shanghai) == dt.datetime(2026, 1, 1, tzinfo=utc)
    assert sta_time("2025-12-31T23:00:00Z/2026-01-01T00:00:00Z") == dt.datetime(2026, 1, 1,
                                                                                 tzinfo=utc)
    for bad in ("2026-01-01T00:00:00Z/PT1H", "yesterday", "2026-13-01T00:00:00Z", 1767225600,
                None, "2026-01-01T00:00:60Z", "x/2026-01-01T00:00:00Z", ""):
        assert sta_time(bad) is None, bad
    assert iso_z(dt.datetime(2026, 1, 1, 8, tzinfo=shanghai)) == "2026-01-01T00:00:00Z"
    assert iso_z(dt.datetime(2026, 1, 1, 0, 0, 0, 1500, tzinfo=utc)) == "2026-01-01T00:00:00.001500Z"


def test_ucum_code_prefers_a_ucum_definition_over_the_symbol() -> None:
    """FROST's "ucum:", the OGC definition server, OGC URNs; a UCUM page anchor falls to the symbol."""
    assert ucum_code({"symbol": "C", "definition": "ucum:Cel"}) == "Cel"
    assert ucum_code({"definition": "http://www.opengis.net/def/uom/UCUM/0/m3%2Fh"}) == "m3/h"
    assert ucum_code({"definition": "urn:ogc:def:uom:UCUM::[psi]"}) == "[psi]"
    assert ucum_code({"symbol": "°C",
                      "definition": "http://unitsofmeasure.org/ucum.html#para-30"}) == "Cel"
    assert ucum_code({"name": "Unitless", "definition": "http://qudt.org/schema/qudt/UNITLESS"}) \
        == "1"
    assert ucum_code({"symbol": "psi"}) == "[psi]"
    assert ucum_code({"name": "no code"}) is None
    assert ucum_code("kPa") is None


def test_numeric_result_accepts_numbers_and_numeric_text_only() -> None:
    """Numbers and numeric strings pass; booleans, objects, null, NaN and odd text do not."""
    assert numeric_result(3) == 3.0 and numeric_result(2.5) == 2.5
    assert numeric_result(" -1.5e2 ") == -150.0
    for bad in (True, False, None, {"value": 1}, [1, 2], "n/a", "1_000", "nan", "inf", "0x10",
                float("nan"), float("inf"), "", 10 ** 400):
        assert isinstance(numeric_result(bad), str), bad


def test_measurement_in_names() -> None:
    """Keywords pick the measurement; words that change the meaning veto it."""
    assert measurement_in("Free Chlorine") == "chlorine"
    assert measurement_in("Total chlorine") is None
    assert measurement_in("WaterLevel") == "level"
    assert measurement_in("Battery level") is None
    assert measurement_in("Barometric Pressure") is None
    assert measurement_in("North main FlowRate") == "flow"
    assert measurement_in("二水厂出水压力") == "pressure"
    assert measurement_in("余氯") == "chlorine"
    assert measurement_in("Water Temperature") is None


def test_geometry_point() -> None:
    """Points as [lon, lat]; Features; other geometries by the centre of their bounding box."""
    assert geometry_point({"type": "Point", "coordinates": [112.36, 28.55, 40.0]}) == (28.55, 112.36)
    assert geometry_point({"type": "Feature", "geometry": {
        "type": "Point", "coordinates": [112.0, 28.0]}}) == (28.0, 112.0)
    assert geometry_point({"type": "Polygon", "coordinates": [
        [[112.0, 28.0], [112.4, 28.0], [112.4, 28.6], [112.0, 28.0]]]}) == pytest.approx((28.3, 112.2))
    for bad in ({"type": "Point", "coordinates": [112.0]}, {"type": "Point"}, "POINT(1 2)",
                {"type": "Point", "coordinates": [True, 28.0]}, None):
        assert geometry_point(bad) is None, bad


# -- parsing ------------------------------------------------------------------------------------------
def test_water_datastreams_become_sensor_entities_and_metric_observations() -> None:
    """Each measurement in its unit -> our metric in bar, m3/h, m, NTU, mg/L; one entity per stream."""
    s = water_streams()
    t = T0
    items = parse(collection(
        observation(1, s["kpa"], 310, t), observation(2, s["psi"], 50, t),
        observation(3, s["mbar"], 2500, t), observation(4, s["flow"], 10, t),
        observation(5, s["flow_min"], 600, t), observation(6, s["level"], 6.5, t),
        observation(7, s["turbidity"], 0.4, t), observation(8, s["chlorine"], "0.35", t)),
        zones={"PZ2": "pz2", "PZ3": "pz3"})
    assert isinstance(items[0], FeedHeader) and items[0].timestamp == T0
    assert not items[0].full_dataset
    assert not of(items, Rejected)
    got = {o.entity_id: (o.metric, o.unit, o.value) for o in of(items, Observation)}
    assert got == {
        "sta:sensor:1": ("pressure_bar", "bar", pytest.approx(3.1)),
        "sta:sensor:2": ("pressure_bar", "bar", pytest.approx(50 * PSI_KPA / 100)),
        "sta:sensor:3": ("pressure_bar", "bar", pytest.approx(2.5)),
        "sta:sensor:4": ("flow_m3h", "m3/h", pytest.approx(36.0)),
        "sta:sensor:5": ("flow_m3h", "m3/h", pytest.approx(36.0)),
        "sta:sensor:6": ("level_m", "m", 6.5),
        "sta:sensor:7": ("turbidity_ntu", "NTU", 0.4),
        "sta:sensor:8": ("free_chlorine_mgl", "mg/L", 0.35),
    }
    entities = {e.id: e for e in of(items, Entity)}
    assert set(entities) == set(got)
    pressure = entities["sta:sensor:1"]
    assert pressure == Entity("water", "sensor", "sta:sensor:1", 28.55, 112.36, "active", T0, "sta",
                              {"datastream_id": "1", "name": "PZ2-P1 pressure",
                               "observed_property": "Pressure", "thing": "PZ2 station 4",
                               "thing_id": "1", "zone": "pz2", "located_by": "thing_location",
                               "metrics": ["pressure_bar"], "unit": "bar"})
    assert entities["sta:sensor:3"].attrs["zone"] == "pz3"
    assert entities["sta:sensor:6"].kind == "reservoir"
    assert "zone" not in entities["sta:sensor:6"].attrs
    flow = entities["sta:sensor:4"]
    assert (flow.lat, flow.lon) == (None, None) and "located_by" not in flow.attrs


def test_positions_from_location_observed_area_or_feature_of_interest() -> None:
    """Thing Location first, then observedArea, then the newest row's FeatureOfInterest; none or
    0,0 leaves the sensor unlocated (never at 0,0), and a bad position is rejected with an excerpt."""
    area = {"type": "Polygon", "coordinates": [[[112.3, 28.5], [112.5, 28.5], [112.5, 28.7],
                                                [112.3, 28.5]]]}
    both = datastream(1, with_thing=thing(1, lat=28.55, lon=112.36), observedArea=area)
    area_only = datastream(2, with_thing=thing(2, lat=None), observedArea=area)
    foi_only = datastream(3, with_thing=thing(3, lat=None))
    old_foi = {"feature": {"type": "Point", "coordinates": [112.1, 28.1]}}
    new_foi = {"feature": {"type": "Feature",
                           "geometry": {"type": "Point", "coordinates": [112.2, 28.2]}}}
    zero = datastream(4, with_thing=thing(4, lat=0.0, lon=0.0))
    nowhere = datastream(5, with_thing=thing(5, lat=None))
    items = parse(collection(
        observation(1, both, 300, T0), observation(2, area_only, 300, T0),
        observation(3, foi_only, 300, T0 + 60, FeatureOfInterest=new_foi),
        observation(4, foi_only, 300, T0, FeatureOfInterest=old_foi),
        observation(5, zero, 300, T0), observation(6, nowhere, 300, T0)))
    where = {e.id: (e.lat, e.lon, e.attrs.get("located_by")) for e in of(items, Entity)}
    assert where == {
        "sta:sensor:1": (28.55, 112.36, "thing_location"),
        "sta:sensor:2": (pytest.approx(28.6), pytest.approx(112.4), "observed_area"),
        "sta:sensor:3": (28.2, 112.2, "feature_of_interest"),
        "sta:sensor:4": (None, None, None),
        "sta:sensor:5": (None, None, None),
    }
    (bad,) = of(items, Rejected)
    assert "Datastream 4" in bad.reason and "[0.0, 0.0]" in bad.excerpt
    assert len(of(items, Observation)) == 6


def test_bad_rows_are_rejected_with_excerpts_and_the_rest_kept() -> None:
    """Non-numeric results, broken times, missing Datastreams: one rejection each, good rows kept."""
    ds = datastream(1)
    rows: list[Any] = [observation(1, ds, 300, T0),
            observation(2, ds, True, T0), observation(3, ds, {"value": 3}, T0),
            observation(4, ds, None, T0), observation(5, ds, "n/a", T0),
            observation(6, ds, "310", T0 + 1, phenomenonTime="not a time"),
            observation(7, ds, "320", T0 + 2, phenomenonTime=f"{iso(T0)}/PT1H"),
            {"@iot.id": 8, "phenomenonTime": iso(T0), "result": 1.0},
            observation(9, datastream(None), 1.0, T0),  # type: ignore[arg-type]
            "not an object",
            observation(10, ds, 330, T0 + 3, resultTime=None)]
    items = parse(collection(*rows))
    observations = of(items, Observation)
    assert [o.value for o in observations] == [pytest.approx(3.0), pytest.approx(3.3)]
    rejected = of(items, Rejected)
    assert len(rejected) == 9
    reasons = [r.reason for r in rejected]
    assert "boolean result" in reasons[0] and '"@iot.id": 2' in rejected[0].excerpt
    assert "object result" in reasons[1] and '"result": {"value": 3}' in rejected[1].excerpt
    assert "null" in reasons[2]
    assert "'n/a' is not a number" in reasons[3] and '"@iot.id": 5' in rejected[3].excerpt
    assert "'not a time'" in reasons[4] and "neither an ISO 8601 instant" in reasons[4]
    assert "/PT1H" in reasons[5]
    assert "$expand=Datastream" in reasons[6]
    assert "@iot.id" in reasons[7]
    assert "JSON object" in reasons[8] and "not an object" in rejected[8].excerpt
    # The dead letter shows the Datastream by name and unit, not its whole expansion.
    assert '"Datastream": {"@iot.id": 1, "name": "PZ2-P1 pressure"' in rejected[0].excerpt
    assert "Thing" not in rejected[0].excerpt


def test_nan_result_is_rejected_not_the_payload() -> None:
    """A bare NaN (not JSON, but servers send it) rejects its row only."""
    ds = datastream(1)
    payload = dumps(collection(observation(1, ds, 0, T0), observation(2, ds, 300, T0)))
    items = parse(payload.replace(b'"result": 0', b'"result": NaN'))
    assert [o.value for o in of(items, Observation)] == [pytest.approx(3.0)]
    (bad,) = of(items, Rejected)
    assert "not finite" in bad.reason


def test_unmapped_datastreams_overrides_and_ignore() -> None:
    """A stream outside the water vocabulary is a generic reading in its own unit (never refused);
    the metrics table names or ignores it."""
    temp = datastream(1, "GGA01 Water Temperature", "C", "ucum:Cel", None)
    head = datastream(2, "GGA01 Head of Water", "m", "ucum:m", None)
    baro = datastream(3, "GGA01 Barometric Pressure", "mbar", "ucum:mbar", None)
    by_unit = datastream(4, "P-17", "kPa", "ucum:kPa", None)
    bad_unit = datastream(5, "P-18 pressure", "degF", None, None)
    rows = collection(observation(1, temp, 9.5, T0), observation(2, head, 3.2, T0),
                      observation(3, baro, 1013, T0), observation(4, by_unit, 250, T0),
                      observation(5, bad_unit, 7, T0))
    items = parse(rows)
    assert {o.entity_id: (o.metric, o.unit, o.value) for o in of(items, Observation)} == {
        "sta:sensor:1": ("reading", "Cel", 9.5), "sta:sensor:2": ("reading", "m", 3.2),
        "sta:sensor:3": ("reading", "hPa", 1013.0),
        "sta:sensor:4": ("pressure_bar", "bar", pytest.approx(2.5)),
        "sta:sensor:5": ("pressure", "degF", 7.0)}
    assert not of(items, Rejected)
    generic = {e.id for e in of(items, Entity) if e.attrs.get("generic")}
    assert generic == {"sta:sensor:1", "sta:sensor:2", "sta:sensor:3"}
    counts: Counter[str] = Counter()
    metrics = check_metrics({"Water Temperature": "water_temperature", "head of water": "level",
                             "Barometric": "ignore"})
    items = parse(rows, metrics=metrics, counts=counts)
    got = {o.entity_id: (o.metric, o.unit, o.value) for o in of(items, Observation)}
    assert got == {"sta:sensor:1": ("water_temperature", "Cel", 9.5),
                   "sta:sensor:2": ("level_m", "m", 3.2),
                   "sta:sensor:4": ("pressure_bar", "bar", pytest.approx(2.5)),
                   "sta:sensor:5": ("pressure", "degF", 7.0)}
    assert counts["ignored"] == 1
    assert not of(items, Rejected)


def test_check_metrics_refuses_bad_tables() -> None:
    """Values are a measurement, "ignore" or a metric name; keys are text."""
    assert check_metrics({" Head ": "LEVEL"}) == {"head": "level"}
    for bad in ({"x": "Water Temp"}, {"": "level"}, {"x": 3}, ["level"], {"x": "1abc"}):
        with pytest.raises(ValueError):
            check_metrics(bad)


def test_observations_come_oldest_first_and_duplicates_are_dropped() -> None:
    """The store keeps a batch's last reading as the latest: output is ordered by time."""
    ds = datastream(1)
    counts: Counter[str] = Counter()
    newest = Newest()
    items = parse(collection(observation(3, ds, 330, T0 + 120), observation(1, ds, 310, T0),
                             observation(2, ds, 320, T0 + 60), observation(3, ds, 330, T0 + 120)),
                  counts=counts, newest=newest)
    assert [o.value for o in of(items, Observation)] == pytest.approx([3.1, 3.2, 3.3])
    assert counts["duplicate"] == 1
    (entity,) = of(items, Entity)
    assert entity.observed_at == T0 + 120
    assert newest.value == dt.datetime.fromtimestamp(T0 + 120, dt.timezone.utc)
    limited = Newest(limit=T0 + 60)
    parse(collection(observation(1, ds, 310, T0), observation(2, ds, 320, T0 + 600)),
          newest=limited)
    assert limited.value == dt.datetime.fromtimestamp(T0, dt.timezone.utc)


def test_payload_shapes() -> None:
    """A bare array, one Observation, string ids; an empty collection yields nothing."""
    ds = datastream("a1f0", with_thing=thing("t-9"))
    row = observation("ob-1", ds, 300, T0)
    assert of(parse([row]), Observation) == of(parse(row), Observation)
    (entity,) = of(parse(row), Entity)
    assert entity.id == "sta:sensor:a1f0" and entity.attrs["thing_id"] == "t-9"
    assert parse(collection()) == []
    assert parse(b"\xef\xbb\xbf" + dumps(collection(row)))  # a BOM is tolerated
    items = parse(collection(observation(1, ds, "x", T0)))
    assert items and all(isinstance(i, Rejected) for i in items)


@pytest.mark.parametrize("data, message", [
    (b"", "empty"), (b"<html>500</html>", "not JSON"), (b"\xff\xfe", "not UTF-8"),
    (b"42", "a JSON int"), (b'{"value": 3}', "without a 'value' array"),
    (b'{"code": 400, "type": "error", "message": "Not a valid path"}', "Not a valid path"),
    (b'{"value": [', "not JSON"),
])
def test_unusable_payloads_raise_parse_error(data: bytes, message: str) -> None:
    """Whatever is no Observations document is a ParseError naming why, with an excerpt."""
    with pytest.raises(ParseError, match=message) as info:
        parse(data)
    assert info.value.excerpt == data.decode("utf-8", errors="replace")


# -- the adapter ------------------------------------------------------------------------------------
def test_adapter_config_is_checked() -> None:
    """Bad settings are fatal with a message naming them."""
    base = {"name": "sta", "url": "http://127.0.0.1:9/v1.1"}
    for extra, message in (({"page_limit": 0}, "page_limit"), ({"top": "many"}, "top"),
                           ({"top": 20_000}, "top"), ({"zones": {"a": 1}}, "zones"),
                           ({"metrics": {"x": "Bad Name"}}, "metrics entry"),
                           ({"tz": "Mars/Olympus"}, "time zone"),
                           ({"lookback_hours": -1}, "lookback_hours"),
                           ({"url": "ftp://127.0.0.1/v1.1"}, "http"), ({"url": ""}, "url")):
        with pytest.raises(FatalFeedError, match=message):
            SensorThingsAdapter({**base, **extra})


def test_sample_toml_feed_builds_the_adapter() -> None:
    """The SensorThings feed in water/sample.toml is a valid configuration of this adapter."""
    config = tomllib.loads((REPO / "data_adapters" / "water" / "sample.toml").read_text("utf-8"))
    (feed,) = [f for f in config["feeds"] if f.get("adapter") == "sensorthings"]
    adapter = SensorThingsAdapter(feed)
    assert adapter.feed == "water-sta" and adapter.id_prefix == "water"
    assert adapter.metrics == {"head of water": "level", "barometric": "ignore"}
    assert adapter.collection == "https://sensors.example.org/FROST-Server/v1.1/Observations"
    assert (adapter.top, adapter.page_limit, adapter.lookback_s) == (200, 10, 6 * 3600.0)


def test_request_url_for_root_collection_and_datastream() -> None:
    """The service root gets /Observations; a configured $filter is kept and ANDed with ours."""
    now = T0 + 7200
    root = SensorThingsAdapter({"name": "sta", "url": "http://127.0.0.1:9/FROST/v1.1/",
                                "lookback_hours": 2, "top": 50})
    parts = urlsplit(root.request_url(now))
    assert parts.path == "/FROST/v1.1/Observations"
    assert parse_qs(parts.query) == {"$filter": [f"phenomenonTime gt {iso(T0)}"],
                                     "$orderby": ["phenomenonTime asc"], "$top": ["50"],
                                     "$expand": [DEFAULT_EXPAND]}
    assert "+" not in parts.query and " " not in parts.query
    one = SensorThingsAdapter({
        "name": "sta", "lookback_hours": 0, "expand": "Datastream", "filter": "result lt 99",
        "url": "http://127.0.0.1:9/v1.1/Datastreams(7)/Observations?$filter=result%20ge%200"
               "&$top=5&$select=result,phenomenonTime"})
    parts = urlsplit(one.request_url(now))
    assert parts.path == "/v1.1/Datastreams(7)/Observations"
    query = parse_qs(parts.query)
    assert query["$filter"] == ["(result lt 99) and (result ge 0)"]
    assert query["$top"] == ["200"] and query["$expand"] == ["Datastream"]
    assert query["$select"] == ["result,phenomenonTime"]
    one.since = dt.datetime.fromtimestamp(T0 + 0.25, dt.timezone.utc)
    assert parse_qs(urlsplit(one.request_url(now)).query)["$filter"] == [
        "(result lt 99) and (result ge 0) and phenomenonTime gt 2026-01-01T00:00:00.250000Z"]


def test_origin_makes_default_ports_explicit() -> None:
    """The same-server check compares scheme, host and port."""
    assert origin("https://Sensors.example.org/v1.1") == origin("https://sensors.example.org:443/x")
    assert origin("http://127.0.0.1:80/a") != origin("http://127.0.0.1:8080/a")
    assert origin("http://127.0.0.1/a") != origin("https://127.0.0.1/a")


class StaServer(LocalHttpServer):
    """A SensorThings service on 127.0.0.1: /v1.1/Observations with $filter (phenomenonTime gt),
    $orderby, $top and $skip, paged by absolute @iot.nextLinks as FROST-Server writes them."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.queries: list[dict[str, str]] = []
        self.accepts: list[str] = []
        self.link_of: Callable[[str, dict[str, str], int], str] | None = None
        self.fail: dict[int, int] = {}  # $skip -> HTTP status
        super().__init__()

    def respond(self, request: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        """One page of the filtered, ordered Observations."""
        parts = urlsplit(request.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.queries.append(query)
        self.accepts.append(request.headers.get("Accept", ""))
        if parts.path != "/v1.1/Observations":
            return 404, {}, b'{"code": 404, "type": "error", "message": "Nothing found."}'
        skip = int(query.get("$skip", "0"))
        if skip in self.fail:
            return self.fail[skip], {}, b'{"code": 400, "message": "bad skip"}'
        rows = self.rows
        flt = query.get("$filter", "")
        if "phenomenonTime gt " in flt:
            since = sta_time(flt.split("phenomenonTime gt ", 1)[1].split(" ", 1)[0])
            assert since is not None
            rows = [r for r in rows if sta_time(r["phenomenonTime"]) > since]  # type: ignore[operator]
        assert query.get("$orderby") == "phenomenonTime asc"
        rows = sorted(rows, key=lambda r: (r["phenomenonTime"], r["@iot.id"]))
        top = int(query.get("$top", "100"))
        page: dict[str, Any] = {"@iot.count": len(rows), "value": rows[skip:skip + top]}
        if skip + top < len(rows):
            following = {**query, "$skip": str(skip + top)}
            page["@iot.nextLink"] = (self.link_of(parts.path, following, skip + top)
                                     if self.link_of else
                                     f"{self.origin}{parts.path}?{urlencode(following)}")
        return 200, {"Content-Type": "application/json"}, dumps(page)


@pytest.fixture
def servers() -> Iterator[Callable[[list[dict[str, Any]]], StaServer]]:
    """Start StaServers for a test and stop them after it."""
    started: list[StaServer] = []

    def start(rows: list[dict[str, Any]]) -> StaServer:
        started.append(StaServer(rows))
        return started[-1]

    yield start
    for server in started:
        server.close()


def rows_at(times: list[float], ds: dict[str, Any] | None = None, first_id: int = 1
            ) -> list[dict[str, Any]]:
    """Pressure Observations at the given times; the row with id k reads 300 + k kPa."""
    ds = ds or datastream(1)
    return [observation(first_id + n, ds, 300 + first_id + n, t) for n, t in enumerate(times)]


def poll(adapter: SensorThingsAdapter) -> tuple[RawPayload, list[ParseItem]]:
    """One fetch, a full parse and the commit of a stored batch, as the runner does."""
    raw = adapter.fetch()
    items = list(adapter.parse(raw))
    adapter.committed(raw)
    return raw, items


def read_ids(items: list[ParseItem]) -> list[float]:
    """The kPa value of each Observation (values are unique per row in these fixtures)."""
    return [round(o.value * 100) for o in of(items, Observation)]


def adapter_for(server: StaServer, **config: Any) -> SensorThingsAdapter:
    """An adapter on the server's service root."""
    return SensorThingsAdapter({"name": "sta", "url": f"{server.origin}/v1.1",
                                "lookback_hours": 0, **config})


def test_poll_follows_next_links_into_one_payload(servers: Any) -> None:
    """Four pages of two become one collection of seven Observations, asked for as JSON."""
    server = servers(rows_at([T0 + 60 * n for n in range(7)]))
    adapter = adapter_for(server, top=2)
    raw, items = poll(adapter)
    assert raw.meta == {"pages": "4", "resume": "", "refused": ""}
    assert read_ids(items) == [301, 302, 303, 304, 305, 306, 307]
    assert len(server.queries) == 4 and set(server.accepts) == {"application/json"}
    assert server.queries[0]["$expand"] == DEFAULT_EXPAND and "$filter" not in server.queries[0]
    assert adapter.since == dt.datetime.fromtimestamp(T0 + 360, dt.timezone.utc)
    assert adapter.resume is None


def test_page_limit_resumes_next_poll_without_skipping(servers: Any) -> None:
    """Ties across page boundaries and a page limit: polls continue where the last stopped, then
    ask only for what is newer than the newest time seen."""
    times = [T0, T0, T0, T0 + 60, T0 + 60, T0 + 60, T0 + 60, T0 + 120, T0 + 180]
    server = servers(rows_at(times))
    adapter = adapter_for(server, top=2, page_limit=2)
    seen: list[float] = []
    raw, items = poll(adapter)
    assert raw.meta["pages"] == "2" and raw.meta["resume"].startswith(server.origin)
    assert adapter.resume == raw.meta["resume"]
    seen += read_ids(items)
    for _ in range(2):
        raw, items = poll(adapter)
        seen += read_ids(items)
    assert sorted(seen) == list(range(301, 310)), seen  # each row once, none skipped
    assert adapter.resume is None
    assert adapter.since == dt.datetime.fromtimestamp(T0 + 180, dt.timezone.utc)
    _raw, items = poll(adapter)
    assert read_ids(items) == []
    assert server.queries[-1]["$filter"] == f"phenomenonTime gt {iso(T0 + 180)}"
    server.rows += rows_at([T0 + 240, T0 + 300], first_id=10)
    _raw, items = poll(adapter)
    assert read_ids(items) == [310, 311]


def test_first_poll_reads_the_lookback_window(servers: Any) -> None:
    """With no cursor yet, only the last lookback_hours are asked for."""
    server = servers(rows_at([T0 - 7200, T0 - 1800, T0 - 60]))
    adapter = adapter_for(server, lookback_hours=1)
    raw = adapter.fetch()
    since = sta_time(server.queries[0]["$filter"].removeprefix("phenomenonTime gt "))
    assert since is not None and abs(since.timestamp() - (raw.fetched_at - 3600)) < 5
    adapter.since = dt.datetime.fromtimestamp(T0 - 3600, dt.timezone.utc)
    _raw, items = poll(adapter)
    assert read_ids(items) == [302, 303]


def test_next_link_to_another_server_is_refused_and_recorded(servers: Any) -> None:
    """The other server is never asked; the link lands in the dead letters; the cursor moves on."""
    other = servers([])
    server = servers(rows_at([T0, T0 + 60, T0 + 120]))
    server.link_of = lambda path, query, skip: f"{other.origin}{path}?{urlencode(query)}"
    adapter = adapter_for(server, top=2)
    raw, items = poll(adapter)
    assert other.queries == []
    assert len(server.queries) == 1
    assert adapter.refused == [raw.meta["refused"]] and raw.meta["refused"].startswith(other.origin)
    refused = [r for r in of(items, Rejected) if "another server" in r.reason]
    assert [r.excerpt for r in refused] == adapter.refused
    assert read_ids(items) == [301, 302]
    assert adapter.resume is None
    poll(adapter)
    assert server.queries[-1]["$filter"] == f"phenomenonTime gt {iso(T0 + 60)}"


def test_relative_and_looping_next_links(servers: Any) -> None:
    """A relative nextLink is resolved on the same server; a link back to a read page ends paging."""
    server = servers(rows_at([T0, T0 + 60, T0 + 120, T0 + 180, T0 + 240]))
    server.link_of = lambda path, query, skip: (f"{path}?{urlencode(query)}" if skip == 2 else
                                                f"{path}?{urlencode({**query, '$skip': '2'})}")
    adapter = adapter_for(server, top=2)
    raw, items = poll(adapter)
    assert raw.meta["pages"] == "2" and raw.meta["resume"] == ""
    assert read_ids(items) == [301, 302, 303, 304]


def test_resume_link_the_server_no_longer_knows_starts_from_the_cursor(servers: Any) -> None:
    """A 400 on the resume link: the poll asks again after the newest time seen."""
    server = servers(rows_at([T0, T0 + 60, T0 + 120, T0 + 180, T0 + 240]))
    adapter = adapter_for(server, top=2, page_limit=1)
    _raw, items = poll(adapter)
    assert read_ids(items) == [301, 302] and adapter.resume is not None
    server.fail = {2: 400}
    raw, items = poll(adapter)
    assert read_ids(items) == [303, 304]
    assert server.queries[-1]["$filter"] == f"phenomenonTime gt {iso(T0 + 60)}"
    assert raw.meta["resume"] != ""


def test_broken_later_page_fails_the_poll_and_keeps_the_state(servers: Any) -> None:
    """A 500 on page two loses nothing: the state stays, and the next poll reads everything."""
    server = servers(rows_at([T0, T0 + 60, T0 + 120]))
    adapter = adapter_for(server, top=2)
    server.fail = {2: 500}
    with pytest.raises(RetryableFeedError, match="500"):
        adapter.fetch()
    assert adapter.since is None and adapter.resume is None
    server.fail = {}
    _raw, items = poll(adapter)
    assert read_ids(items) == [301, 302, 303]


def test_parse_of_a_payload_not_fetched_leaves_the_state_alone() -> None:
    """A recorded payload (cityops ingest, the contract suite) yields records but moves no cursor."""
    adapter = SensorThingsAdapter({"name": "sta", "url": "http://127.0.0.1:9/v1.1"})
    items = list(adapter.parse(RawPayload(dumps(collection(*rows_at([T0]))), "file")))
    assert read_ids(items) == [301]
    assert adapter.since is None and adapter.resume is None


def test_polled_batch_is_stored_with_dead_letters(servers: Any, r: redis.Redis) -> None:
    """Through ingest into a real Redis: latest readings, the located sensor, the rejected row."""
    s = water_streams()
    server = servers([observation(1, s["kpa"], 310, T0), observation(2, s["kpa"], "295", T0 + 60),
                      observation(3, s["level"], 6.5, T0 + 60),
                      observation(4, s["kpa"], {"v": 1}, T0 + 120)])
    adapter = adapter_for(server, top=2, zones={"PZ2": "pz2"})
    result = ingest(r, adapter, adapter.fetch())
    assert result.rejected == 1 and result.feed_timestamp == T0 + 60
    latest = store.entities.read_latest(r, "water", "pressure_bar")
    assert latest == {"sta:sensor:1": (pytest.approx(2.95), "bar", T0 + 60)}
    assert store.entities.read_latest(r, "water", "level_m") == {"sta:sensor:6": (6.5, "m", T0 + 60)}
    entities = {e["id"]: e for e in store.entities.read_entities(r, "water")}
    assert entities["sta:sensor:1"]["attrs"]["zone"] == "pz2"
    assert entities["sta:sensor:6"]["kind"] == "reservoir"
    (letter,) = store.feeds.read_dead_letters(r, "sta")
    assert "object result" in letter["reason"] and '"result": {"v": 1}' in letter["excerpt"]


def test_contract_payloads_parse() -> None:
    """The payloads offered to the adapter contract give entities and observations, none at 0,0."""
    adapter = SensorThingsAdapter({"name": "contract-sta", "url": "http://127.0.0.1:9/v1.1",
                                   "zones": {"PZ2": "pz2"}})
    first, second = (list(adapter.parse(RawPayload(p, "contract", fetched_at=T0)))
                     for p in contract_payloads(T0))
    assert {e.id: e.kind for e in of(first, Entity)} == {
        "contract-sta:sensor:1": "sensor", "contract-sta:sensor:6": "reservoir",
        "contract-sta:sensor:4": "sensor"}
    assert len(of(first, Observation)) == 4 and len(of(first, Rejected)) == 1
    located = {e.id: (e.lat, e.lon) for e in of(second, Entity)}
    assert located["contract-sta:sensor:7"] == (28.54, 112.35)
    chlorine = next(o for o in of(second, Observation) if o.metric == "free_chlorine_mgl")
    assert chlorine.observed_at == T0 - 300


# -- real samples (read in place) ----------------------------------------------------------------
def sample(name: str) -> Any:
    """A sample file's JSON; skips when the shared samples are absent."""
    path = SAMPLES / name
    if not path.is_file():
        pytest.skip(f"shared sample {name} not present")
    return json.loads(path.read_text(encoding="utf-8"))


def test_bgs_page_without_expanded_datastreams_is_rejected_row_by_row() -> None:
    """BGS FROST page: no $expand, so each row is rejected with the hint; nothing raises."""
    page = sample("bgs-frost-observations-collection-page.json")
    items = parse(page)
    rejected = of(items, Rejected)
    assert len(items) == len(rejected) == len(page["value"]) == 3
    assert all("$expand=Datastream" in i.reason for i in rejected)
    assert '"result": 1009.86' in rejected[0].excerpt
    assert origin(page["@iot.nextLink"]) == ("https", "sensors.bgs.ac.uk", 443)


def test_bgs_observations_with_each_bgs_datastream() -> None:
    """Real BGS rows paired with each real BGS Datastream: water levels are reservoir levels in m,
    pressures in mbar (absolute, and of the water head) become bar, barometric pressure and the
    rest are generic readings in their own units (not refused); every sensor is located by its
    observedArea."""
    rows = sample("bgs-frost-observations-value-array.json")
    streams = [ds for group in sample("bgs-frost-datastreams-expanded-foi-by-feature.json").values()
               for ds in group]
    paired = [{**rows[n % len(rows)], "@iot.id": n, "Datastream": ds}
              for n, ds in enumerate(streams)]
    items = parse(paired)
    by_id = {str(ds["@iot.id"]): ds for ds in streams}
    observations = of(items, Observation)
    assert observations
    for o in observations:
        ds = by_id[o.entity_id.removeprefix("sta:sensor:")]
        n = next(k for k, p in enumerate(paired) if p["Datastream"] is ds)
        name = ds["name"]
        if o.metric == "reading":
            assert not ("Water Level" in name or "Absolute Pressure" in name
                        or "Pressure Head of Water" in name), name
            assert o.value == pytest.approx(paired[n]["result"] * _factor(ds)), name
        elif "Water Level" in name:
            assert (o.metric, o.unit, o.value) == ("level_m", "m", paired[n]["result"])
        else:
            assert "Pressure" in name and ds["unitOfMeasurement"]["symbol"] == "mbar"
            assert (o.metric, o.unit) == ("pressure_bar", "bar")
            assert o.value == pytest.approx(paired[n]["result"] / 1000)
    water = [ds for ds in streams if "Water Level" in ds["name"]
             or "Absolute Pressure" in ds["name"] or "Pressure Head of Water" in ds["name"]]
    assert len([o for o in observations if o.metric != "reading"]) == len(water)
    assert len(observations) == len(streams)
    for entity in of(items, Entity):
        assert entity.lat is not None and 49 < entity.lat < 61 and -9 < entity.lon < 2, entity
        assert entity.attrs["located_by"] == "observed_area"
    assert not of(items, Rejected)
    generic = {e.attrs["name"] for e in of(items, Entity) if e.attrs.get("generic")}
    assert any("Barometric Pressure" in name for name in generic)
    assert len(generic) == len(streams) - len(water)
    assert {e.kind for e in of(items, Entity)} == {"sensor", "reservoir"}


def _factor(ds: dict[str, Any]) -> float:
    """What a generic reading of ``ds`` is scaled by: the UCUM conversion to SenML's unit (1 for
    units SenML takes as they are), as the parser applies it."""
    from data_adapters.water.sensorthings import _TO_SENML
    return _TO_SENML.get(ucum_code(ds["unitOfMeasurement"]) or "", ("", 1.0))[1]


def test_psnc_object_results_string_ids_and_zoneless_times() -> None:
    """PSNC: hex string ids, object results (rejected, excerpt kept), times without a zone."""
    page = sample("bodc-bblocks-psnc-observations-object-result-string-ids.json")
    ds = sample("bodc-bblocks-psnc-datastream-no-symbol.json")
    assert ucum_code(ds["unitOfMeasurement"]) == "1"
    rows = [{**row, "Datastream": ds} for row in page["value"]]
    newest = Newest()
    shanghai = dt.timezone(dt.timedelta(hours=8))
    items = parse(collection(*rows), metrics=check_metrics({ds["name"]: "jellyfish_abundance"}),
                  tz=shanghai, newest=newest)
    rejected = of(items, Rejected)
    assert len(items) == len(rejected) == 3
    assert all("object result" in i.reason and ds["@iot.id"] in i.reason for i in rejected)
    assert "Rhopilema nomadica" in rejected[0].excerpt
    assert newest.value == dt.datetime(2024, 3, 30, 3, 35, tzinfo=dt.timezone.utc)
    numeric = [{**row, "result": 7} for row in rows]
    items = parse(collection(*numeric), metrics=check_metrics({ds["name"]: "jellyfish_abundance"}),
                  tz=shanghai)
    (entity,) = of(items, Entity)
    assert entity.id == f"sta:sensor:{ds['@iot.id']}" and (entity.lat, entity.lon) == (None, None)
    assert {(o.metric, o.unit) for o in of(items, Observation)} == {("jellyfish_abundance", "1")}


def test_a_meters_role_comes_from_thing_or_datastream_properties() -> None:
    """An inlet meter says so (a zone's flow is its inlets'); properties without one add nothing."""
    inlet_thing = dict(thing(7, "PZ2 inlet"), properties={"role": "inlet"})
    t = 1_767_225_600.0
    rows = [observation(1, datastream(1, "PZ2 inlet flow", "m3/h", "ucum:m3/h", "Flow",
                                      with_thing=inlet_thing), 120.0, t),
            observation(2, datastream(2, "PZ2 district meter", "m3/h", "ucum:m3/h", "Flow",
                                      properties={"role": "district"}), 30.0, t),
            observation(3, datastream(3, "PZ2-P1 pressure"), 310, t)]
    entities = {e.attrs["datastream_id"]: e for e in of(parse(collection(*rows)), Entity)}
    assert entities["1"].attrs["role"] == "inlet"
    assert entities["2"].attrs["role"] == "district"
    assert "role" not in entities["3"].attrs


def test_a_failed_write_leaves_the_cursor_so_the_next_poll_reads_it_again(
        servers: Any, r: redis.Redis) -> None:
    """The cursor moves only once a batch is stored: Redis down during the write loses nothing."""
    s = water_streams()
    server = servers([observation(1, s["kpa"], 310, T0), observation(2, s["kpa"], 295, T0 + 60)])
    adapter = adapter_for(server)
    broken = redis.Redis(host="127.0.0.1", port=9, socket_connect_timeout=0.5)
    with pytest.raises(redis.RedisError):
        ingest(broken, adapter, adapter.fetch())
    assert adapter.since is None  # nothing stored, nothing skipped
    result = ingest(r, adapter, adapter.fetch())
    assert result.accepted >= 2
    assert store.entities.read_latest(r, "water", "pressure_bar")["sta:sensor:1"][2] == T0 + 60
    assert adapter.since == dt.datetime.fromtimestamp(T0 + 60, dt.timezone.utc)
