"""SenML (RFC 8428) resolution and the water mapping: own fixtures, the RFC oracles, ingestion."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
import redis

from app.model.records import Entity, FeedHeader, Observation, ParseItem, RawPayload, Rejected
from app.pipeline.ingest import ingest
from data_adapters.base import ParseError
from data_adapters.water.adapter import SenmlHttpAdapter
from data_adapters.water.senml import parse_senml, resolve_pack
from tests.support.paths import SAMPLES

SENML_SAMPLES = SAMPLES / "senml"

NOW = 1_767_225_600.0
T0 = 1_767_225_000.0


def pack(*records: dict[str, Any]) -> bytes:
    """A SenML JSON pack of ``records``."""
    return json.dumps(list(records)).encode()


def parse(data: bytes, **kwargs: Any) -> list[ParseItem]:
    """Every item parse_senml yields for ``data`` on feed "w" fetched at NOW."""
    return list(parse_senml(data, "w", NOW, **kwargs))


def of_type(items: list[ParseItem], kind: type) -> list[Any]:
    """The items of one type."""
    return [item for item in items if isinstance(item, kind)]


# -- resolution -------------------------------------------------------------------------------------
def test_base_fields_resolve_and_persist_until_overridden() -> None:
    """bn+n, bt+t, bu, bv+v and bs+s apply to later records until a new base replaces them."""
    data = pack({"bn": "d1/", "bt": T0, "bu": "kPa", "bv": 100.0, "bs": 10.0, "n": "pressure",
                 "v": 2.5, "s": 1.0},
                {"n": "pressure", "t": 30, "v": -1.0},
                {"bn": "d2:", "bu": "m", "n": "level", "t": -10, "v": 0.5, "u": "cm"})
    assert resolve_pack(data, now=NOW) == [
        {"n": "d1/pressure", "u": "kPa", "t": T0, "v": 102.5, "s": 11.0},
        {"n": "d1/pressure", "u": "kPa", "t": T0 + 30, "v": 99.0},
        {"n": "d2:level", "u": "cm", "t": T0 - 10, "v": 100.5},
    ]


def test_relative_times_are_anchored_at_now() -> None:
    """t (or bt + t) below 2**28 counts from now; no time at all is now; 2**28 is absolute."""
    data = pack({"n": "a", "u": "m", "v": 1}, {"n": "b", "u": "m", "t": -60, "v": 1},
                {"bt": 5, "n": "c", "u": "m", "t": 0.5, "v": 1},
                {"bt": 0, "n": "d", "u": "m", "t": 2 ** 28, "v": 1})
    assert [r["t"] for r in resolve_pack(data, now=NOW)] == [NOW, NOW - 60, NOW + 5.5,
                                                             float(2 ** 28)]


def test_string_boolean_data_and_valueless_records_are_kept() -> None:
    """vs, vb and vd pass through; a record without value is kept; a base-only record is not."""
    data = pack({"bn": "dev:"}, {"n": "label", "vs": "Tank 3", "t": T0},
                {"n": "pump", "vb": True, "t": T0}, {"n": "blob", "vd": "aGkgCg", "t": T0},
                {"n": "idle", "u": "m", "t": T0, "ut": 60})
    assert resolve_pack(data, now=NOW) == [
        {"n": "dev:label", "t": T0, "vs": "Tank 3"}, {"n": "dev:pump", "t": T0, "vb": True},
        {"n": "dev:blob", "t": T0, "vd": "aGkgCg"}, {"n": "dev:idle", "u": "m", "t": T0, "ut": 60},
    ]


@pytest.mark.parametrize("data", [
    pack({"n": "a", "v": 1, "x_": 1}),
    pack({"n": "a", "v": 1}, {"n": "b", "v": 2, "bfuture_": "yes"}),
])
def test_unknown_must_understand_field_rejects_the_whole_pack(data: bytes) -> None:
    """A label ending in '_' that we do not understand makes the whole pack unusable."""
    with pytest.raises(ParseError, match="must-understand"):
        resolve_pack(data, now=NOW)


@pytest.mark.parametrize("data, match", [
    (b"", "empty"), (b"{\"n\": \"a\"}", "array"), (b"[1, 2]", "objects"),
    (b"[{\"n\": \"a\", \"v\": \xff}]", "UTF-8"), (b"[{\"n\": \"a\"", "JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "nested"), (b"<html>500</html>", "JSON"),
    (b'{"e": [{"n": "a", "v": 1}], "bn": "x/"}', "legacy"),
    (pack({"bver": 11, "n": "a", "v": 1}), "version"),
    (pack({"bn": 5, "n": "a", "v": 1}), "base field"),
])
def test_unusable_packs_raise_parse_error(data: bytes, match: str) -> None:
    """Empty, not an array of objects, invalid UTF-8, truncated, too deep, legacy, newer version."""
    with pytest.raises(ParseError, match=match):
        resolve_pack(data, now=NOW)


def test_wrong_types_reject_only_their_record() -> None:
    """A string v, a numeric n, a non-boolean vb, NaN, two values or a bad name: one rejection each."""
    data = (b'[{"bn": "d/", "bt": 1767225000, "n": "ok", "u": "m", "v": 1},'
            b'{"n": "p", "v": "3.2"}, {"n": 7, "v": 1}, {"n": "q", "vb": 1},'
            b'{"n": "r", "v": NaN}, {"n": "s", "v": 1, "vs": "x"}, {"n": " bad", "v": 1}]')
    rejected: list[Rejected] = []
    assert resolve_pack(data, now=NOW, rejected=rejected) == [
        {"n": "d/ok", "u": "m", "t": T0, "v": 1}]
    assert [r.reason for r in rejected] == [
        "field 'v' must be a number, not str", "field 'n' must be a string, not int",
        "field 'vb' must be a boolean, not int", "field 'v' must be finite, not nan",
        "more than one value field: v, vs", "invalid name 'd/ bad'"]
    assert '"v": "3.2"' in rejected[0].excerpt


# -- conformance with the RFC 8428 examples -------------------------------------------------------
def _oracle_cases() -> list[str]:
    """The sample packs that have a resolved oracle (empty when the samples are absent)."""
    if not SENML_SAMPLES.is_dir():
        return []
    return sorted(p.name for p in SENML_SAMPLES.glob("rfc8428-ex*.json")
                  if not p.name.endswith(".resolved.json")
                  and (SENML_SAMPLES / p.name.replace(".json", ".resolved.json")).exists())


@pytest.mark.skipif(not SENML_SAMPLES.is_dir(), reason="../shared/samples/senml is absent")
def test_samples_are_present() -> None:
    """The oracle list is not silently empty (so the parametrized test below cannot vacuously pass)."""
    assert len(_oracle_cases()) >= 12


@pytest.mark.skipif(not SENML_SAMPLES.is_dir(), reason="../shared/samples/senml is absent")
@pytest.mark.parametrize("name", _oracle_cases())
def test_resolution_matches_the_rfc_oracles(name: str) -> None:
    """resolve_pack equals the RFC's resolved form, record by record and field by field."""
    source = json.loads((SENML_SAMPLES / name).read_text())
    expected = json.loads((SENML_SAMPLES / name.replace(".json", ".resolved.json")).read_text())
    timeless = not any("t" in r or "bt" in r for r in source)
    # Packs without any time were resolved at the generator's wall clock: use that as our now.
    now = expected[0]["t"] if timeless else NOW
    resolved = resolve_pack((SENML_SAMPLES / name).read_bytes(), now=now)
    if name == "rfc8428-ex7.json":
        # Its oracle omits the vd record (a quirk of the generator, see SOURCES.md).
        assert resolved[-1] == {"n": "urn:dev:ow:10e2073a01080063:nfv-reader", "t": now,
                                "vd": "aGkgCg"}
        resolved = resolved[:-1]
    assert resolved == expected
    for ours, theirs in zip(resolved, expected, strict=True):  # 1 == 1.0 would hide a bool
        assert type(ours.get("vb")) is type(theirs.get("vb"))


@pytest.mark.skipif(not SENML_SAMPLES.is_dir(), reason="../shared/samples/senml is absent")
def test_every_sample_file_is_handled() -> None:
    """Every JSON sample resolves or raises ParseError (legacy drafts); ex13's 0.1 s is added."""
    for path in sorted(SENML_SAMPLES.glob("*.json")):
        if path.name.startswith("legacy-"):
            with pytest.raises(ParseError, match="legacy"):
                resolve_pack(path.read_bytes(), now=NOW)
        else:
            assert resolve_pack(path.read_bytes(), now=NOW), path.name
    ex13 = resolve_pack((SENML_SAMPLES / "rfc8428-ex13.json").read_bytes(), now=NOW)
    assert [r["t"] for r in ex13] == [1.320078429e9, 1.320078429e9, 1320078429.1, 1320078429.1]
    variant = resolve_pack((SENML_SAMPLES / "rfc8428-ex3-handwritten-variant.json").read_bytes(),
                           now=NOW)
    assert variant == json.loads((SENML_SAMPLES / "rfc8428-ex3.resolved.json").read_text())


# -- the water mapping ------------------------------------------------------------------------------
def test_unit_conversions_to_our_metrics() -> None:
    """Pa/kPa -> bar, m3/s and l/s -> m3/h, m, NTU, mg/L; flow sums are volumes in m3."""
    data = pack({"bn": "net/pz1/", "bt": T0, "n": "pressure", "u": "Pa", "v": 350000},
                {"n": "pressure", "u": "kPa", "t": 60, "v": 320},
                {"n": "flow", "u": "m3/s", "v": 0.05, "s": 1234.5},
                {"n": "flow", "u": "l/s", "v": 25},
                {"n": "turbidity", "u": "NTU", "v": 0.4},
                {"n": "chlorine", "u": "mg/L", "v": 0.35},
                {"n": "conductivity", "u": "S/m", "v": 0.05})
    obs = of_type(parse(data), Observation)
    sid = "w:sensor:net/pz1"
    assert obs == [Observation(sid, "pressure_bar", pytest.approx(3.5), "bar", T0),
                   Observation(sid, "pressure_bar", pytest.approx(3.2), "bar", T0 + 60),
                   Observation(sid, "flow_m3h", pytest.approx(180.0), "m3/h", T0),
                   Observation(sid, "volume_m3", 1234.5, "m3", T0),
                   Observation(sid, "flow_m3h", pytest.approx(90.0), "m3/h", T0),
                   Observation(sid, "turbidity_ntu", 0.4, "NTU", T0),
                   Observation(sid, "free_chlorine_mgl", 0.35, "mg/L", T0),
                   Observation(sid, "conductivity", 0.05, "S/m", T0)]


def test_unconvertible_units_are_kept_as_sent_and_text_values_counted() -> None:
    """A pressure in psi cannot become bar: it is kept as a generic "pressure" reading in psi,
    not refused; a vs value is valid SenML but no reading: counted, not stored, not refused."""
    counts: Counter[str] = Counter()
    items = parse(pack({"bn": "d/", "n": "pressure", "u": "psi", "v": 50},
                       {"n": "label", "vs": "North"}, {"n": "level", "u": "m", "v": 4.25},
                       {"n": "valve", "vb": True}, {"n": "spare", "u": "m"}), counts=counts)
    assert isinstance(items[0], FeedHeader) and not items[0].full_dataset
    assert items[0].timestamp == NOW
    assert not of_type(items, Rejected)
    assert counts == {"text_values": 1}
    assert of_type(items, Observation) == [Observation("w:sensor:d", "pressure", 50.0, "psi", NOW),
                                           Observation("w:sensor:d", "level_m", 4.25, "m", NOW),
                                           Observation("w:sensor:d", "valve", 1.0, "1", NOW)]
    # No position in the pack: the sensor is listed, unlocated.
    assert of_type(items, Entity) == [Entity("water", "reservoir", "w:sensor:d", None, None,
                                             "active", NOW, "w",
                                             {"metrics": ["level_m", "pressure", "valve"]})]


def test_names_and_units_outside_the_water_vocabulary_are_generic_readings() -> None:
    """Valid RFC 8428 that our vocabulary does not know (an LwM2M water meter resource in m3, a
    distance sensor, a unit-only record in an unknown unit) is stored under its own name and
    unit, or as a "reading" of the sensor its name gives; the pack is not refused."""
    meter = "urn:imei:359072061234567"
    items = parse(pack({"bn": f"{meter}/", "bt": T0, "n": "3424/0/1", "u": "m3", "v": 1234.5},
                       {"n": "3424/0/2", "u": "m3/h", "v": 0.8},
                       {"bn": "yy/tank-3/", "n": "distance", "u": "m", "v": 1.75},
                       {"bn": "yy/g1", "u": "dB", "v": 41.0}))
    assert not of_type(items, Rejected)
    got = {(o.entity_id, o.metric, o.unit, o.value) for o in of_type(items, Observation)}
    assert got == {(f"w:sensor:{meter}/3424/0/1", "reading", "m3", 1234.5),
                   (f"w:sensor:{meter}/3424/0/2", "flow_m3h", "m3/h", 0.8),
                   ("w:sensor:yy/tank-3", "distance", "m", 1.75),
                   ("w:sensor:yy/g1", "reading", "dB", 41.0)}
    entities = {e.id: e for e in of_type(items, Entity)}
    assert set(entities) == {o[0] for o in got}
    assert entities[f"w:sensor:{meter}/3424/0/1"].attrs == {"metrics": ["reading"]}
    assert all((e.lat, e.lon) == (None, None) for e in entities.values())


def test_an_empty_pack_is_an_answer() -> None:
    """[] (a gateway with nothing new) and a pack of base fields only hold nothing: a FeedHeader
    alone, no ParseError."""
    assert parse(b"[]") == [FeedHeader(None, full_dataset=False)]
    assert parse(pack({"bn": "d/", "bt": T0})) == [FeedHeader(None, full_dataset=False)]


def test_positioned_sensors_become_entities_with_zone_and_kind() -> None:
    """lat/lon records (RFC example 5 style) give one Entity per sensor at its latest fix."""
    data = pack({"bn": "yy/res-7/", "bt": T0, "n": "level", "u": "m", "v": 6.5},
                {"u": "lat", "v": 28.55}, {"u": "lon", "v": 112.35},
                {"u": "lat", "t": 60, "v": 28.56}, {"u": "lon", "t": 60, "v": 112.36},
                {"bn": "yy/pz2-p1/", "n": "pressure", "u": "bar", "v": 3.1},
                {"n": "lat", "v": 28.5}, {"n": "lon", "v": 112.3},
                {"bn": "other/x/", "n": "pressure", "u": "bar", "v": 1},
                {"u": "lat", "v": 95.0}, {"u": "lon", "v": 10.0})
    items = parse(data, id_prefix="yy-water", zones={"yy/": "north", "yy/pz2": "pz2"})
    entities = of_type(items, Entity)
    assert entities == [
        Entity("water", "reservoir", "yy-water:sensor:yy/res-7", 28.56, 112.36, "active", T0 + 60,
               "w", {"metrics": ["level_m"], "zone": "north"}),
        Entity("water", "sensor", "yy-water:sensor:yy/pz2-p1", 28.5, 112.3, "active", T0, "w",
               {"metrics": ["pressure_bar"], "zone": "pz2"}),
        # An impossible position is refused, the sensor and its readings kept, unlocated.
        Entity("water", "sensor", "yy-water:sensor:other/x", None, None, "active", T0, "w",
               {"metrics": ["pressure_bar"]}),
    ]
    assert [r.reason for r in of_type(items, Rejected)] == [
        "invalid position of sensor other/x: 95.0,10.0"]
    assert {o.entity_id for o in of_type(items, Observation)} == {
        "yy-water:sensor:yy/res-7", "yy-water:sensor:yy/pz2-p1", "yy-water:sensor:other/x"}


def test_a_pack_of_only_rejections_is_a_parse_error() -> None:
    """Nothing usable (every record wrong) is a ParseError naming the first reason."""
    with pytest.raises(ParseError, match="no usable record: field 'v' must be a number"):
        parse(pack({"n": "d/pressure", "u": "bar", "v": "high"}))


# -- the adapter and the store ----------------------------------------------------------------------
def test_adapter_requires_a_url_and_parses_with_its_config() -> None:
    """senml_http reads url, id_prefix and zones; a feed without url is a configuration error."""
    from data_adapters.base import FatalFeedError
    with pytest.raises(FatalFeedError):
        SenmlHttpAdapter({"name": "w"})
    adapter = SenmlHttpAdapter({"name": "w", "url": "http://127.0.0.1:9/", "interval_s": 30,
                                "id_prefix": "city", "zones": {"d": "z1"}})
    assert (adapter.name, adapter.domain, adapter.interval_s) == ("senml_http", "water", 30.0)
    items = list(adapter.parse(RawPayload(pack({"bn": "d/", "n": "flow", "u": "m3/h", "v": 9},
                                               {"n": "lat", "v": 28.5}, {"n": "lon", "v": 112.3}),
                                          source="t", fetched_at=NOW)))
    assert of_type(items, Entity)[0].id == "city:sensor:d"
    assert of_type(items, Entity)[0].attrs == {"metrics": ["flow_m3h"], "zone": "z1"}


def test_unusable_pack_stores_nothing(r: redis.Redis) -> None:
    """A must-understand field: ingest raises, and no entity or observation reaches Redis."""
    adapter = SenmlHttpAdapter({"name": "w", "url": "http://127.0.0.1:9/"})
    bad = pack({"bn": "d/", "n": "level", "u": "m", "v": 3, "lat": 28.5},
               {"n": "lat", "v": 28.5}, {"n": "lon", "v": 112.3, "crit_": 1})
    with pytest.raises(ParseError):
        ingest(r, adapter, RawPayload(bad, source="t", fetched_at=NOW))
    keys = list(r.keys("*"))
    # Only the feed's dead letter may be written; the same pack without crit_ does store.
    assert keys and all(":deadletter:" in k for k in keys), keys
    good = pack({"bn": "d/", "n": "level", "u": "m", "v": 3},
                {"n": "lat", "v": 28.5}, {"n": "lon", "v": 112.3})
    result = ingest(r, adapter, RawPayload(good, source="t", fetched_at=NOW))
    assert result.accepted == 2  # the level Observation and the reservoir Entity
    assert any(":deadletter:" not in k for k in r.keys("*"))


@pytest.mark.parametrize("adapter", ["senml_http", "senml_mqtt", "sensorthings"])
@pytest.mark.parametrize("zones", [["yy/"], {"yy/": 3}, "north"])
def test_every_water_adapter_refuses_a_bad_zones_table(adapter: str, zones: object) -> None:
    """One check of the zones table, the same clear error from every water adapter."""
    from data_adapters import registry
    from data_adapters.base import FatalFeedError

    own = ({"url": "mqtt://127.0.0.1:9", "topic": "city/water/+/senml"} if adapter == "senml_mqtt"
           else {"url": "http://127.0.0.1:9/x"})
    config = {"name": "w", "adapter": adapter, **own, "zones": zones}
    with pytest.raises(FatalFeedError, match="^feed 'w': zones: expected a table of .* = supply zone"):
        registry.build(config)
    good = registry.build(dict(config, zones={"yy/": "north"}))
    assert good.zones == {"yy/": "north"}  # type: ignore[attr-defined]
