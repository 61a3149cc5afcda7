"""Water, medical and city KPIs on a real Redis, from records the real parsers made of own payloads."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis

from app import kpis, store
from app.config import ConfigError, Settings, load_settings, updated
from app.kpis.city import compute_city
from app.kpis.medical import compute_medical
from app.kpis.water import compute_water
from app.model.records import Entity, Event, Observation, RawPayload
from app.pipeline.ingest import ingest
from data_adapters.city.adapter import Open311Adapter
from data_adapters.medical.adapter import FhirAdapter
from data_adapters.medical.ambulances import AmbulanceAvlAdapter
from data_adapters.water.adapter import SenmlHttpAdapter
from tests.support import transport_fixtures as fx
from tests.support.paths import SAMPLES

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Never fetched: parse() is all the tests use, as the runner does after its own fetch.
NOWHERE = "http://127.0.0.1:9/"
ZONES = {"urn:dev:north-": "north", "urn:dev:south-": "south", "urn:dev:east-": "east"}
SANER = "http://hl7.org/fhir/uv/saner/CodeSystem/MeasuredValues"
DAR = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0,
          tz: ZoneInfo = SHANGHAI) -> float:
    """Unix time of a wall time in ``tz``."""
    return datetime(year, month, day, hour, minute, tzinfo=tz).timestamp()


NOW = local(2027, 1, 15, 10, 0)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Default settings in the demo city's zone."""
    return load_settings(environ={"CITYOPS_DATA_DIR": str(tmp_path),
                                  "CITYOPS_TIMEZONE": "Asia/Shanghai"})


def by_name(found: list[kpis.Kpi]) -> dict[str, kpis.Kpi]:
    """KPIs by name."""
    return {k.name: k for k in found}


# -- water ------------------------------------------------------------------------------------------
def sensor(name: str, at: float, **readings: tuple[float, str]) -> list[dict[str, Any]]:
    """SenML records of one positioned sensor ``urn:dev:<name>`` reading (value, unit) at ``at``."""
    records: list[dict[str, Any]] = [{"bn": f"urn:dev:{name}:", "bt": at, "n": "lat", "v": 28.55},
                                     {"n": "lon", "v": 112.36}]
    records += [{"n": measurement, "u": unit, "v": value}
                for measurement, (value, unit) in readings.items()]
    return records


def feed_water(r: redis.Redis, *sensors: list[dict[str, Any]], at: float = NOW) -> None:
    """One SenML pack through the water adapter's parse and ingest, as the runner does."""
    adapter = SenmlHttpAdapter({"name": "w", "url": NOWHERE, "zones": ZONES})
    data = json.dumps([record for s in sensors for record in s]).encode()
    result = ingest(r, adapter, RawPayload(data, source="test", fetched_at=at))
    assert result.rejected == 0, result.errors


def test_min_pressure_per_zone_ignores_stale_and_keeps_silent_zones_unknown(
        r: redis.Redis, settings: Settings) -> None:
    """Lowest current pressure per zone and city-wide; a stale reading is no data, not a value."""
    feed_water(r, sensor("north-p1", NOW - 60, pressure=(260, "kPa")),
               sensor("north-p2", NOW - 60, pressure=(1.8, "bar")),
               sensor("south-p1", NOW - 60, pressure=(120_000, "Pa")))
    feed_water(r, sensor("south-p2", NOW - 3600, pressure=(0.5, "bar")),
               sensor("east-p1", NOW - 3600, pressure=(0.4, "bar")), at=NOW - 3600)
    found = by_name(compute_water(r, NOW, settings))
    assert found["min_pressure"].value == pytest.approx(1.2)
    assert found["min_pressure"].status == "bad"
    assert found["min_pressure"].detail == {"sensors": 3, "lowest": "w:sensor:urn:dev:south-p1"}
    north = found["min_pressure:north"]
    assert (north.value, north.status, north.subject, north.group) == (
        pytest.approx(1.8), "warn", "north", "min_pressure")
    assert found["min_pressure:south"].value == pytest.approx(1.2)
    # east has a pressure sensor whose only reading is an hour old: unknown, never 0.4 nor 0.
    assert found["min_pressure:east"].value is None
    assert found["min_pressure:east"].status == "unknown"
    tuned = updated(settings, {"kpis.pressure_min_bar": 1.0, "kpis.pressure_bad_bar": 0.8})
    assert by_name(compute_water(r, NOW, tuned))["min_pressure:north"].status == "ok"


def test_water_quality_compliance_uses_limits(r: redis.Redis, settings: Settings) -> None:
    """A sensor complies when every current quality reading is within limits (bounds included)."""
    at = NOW - 30
    feed_water(r, sensor("north-q1", at, turbidity=(0.4, "NTU"), chlorine=(0.3, "mg/L")),
               sensor("north-q2", at, turbidity=(1.5, "NTU")),
               sensor("south-q3", at, chlorine=(0.02, "mg/L")),
               sensor("south-q4", at, chlorine=(0.05, "mg/L")),
               sensor("south-q5", at, turbidity=(1.0, "NTU"), chlorine=(6.0, "mg/L")),
               sensor("east-q6", at, turbidity=(1.0, "NTU")))
    found = by_name(compute_water(r, NOW, settings))
    city = found["water_quality_compliance"]
    assert city.value == pytest.approx(100 * 3 / 6) and city.status == "bad"
    assert city.detail is not None and city.detail["outside"] == [
        "w:sensor:urn:dev:north-q2", "w:sensor:urn:dev:south-q3", "w:sensor:urn:dev:south-q5"]
    assert found["water_quality_compliance:north"].value == pytest.approx(50.0)
    assert found["water_quality_compliance:south"].value == pytest.approx(100 / 3)
    assert found["water_quality_compliance:east"].value == 100.0
    assert found["water_quality_compliance:east"].status == "ok"
    looser = updated(settings, {"kpis.turbidity_max_ntu": 2.0, "kpis.free_chlorine_min_mgl": 0.01,
                     "kpis.free_chlorine_max_mgl": 8.0})
    assert by_name(compute_water(r, NOW, looser))["water_quality_compliance"].value == 100.0


def test_water_without_readings_is_unknown(r: redis.Redis, settings: Settings) -> None:
    """Pressure sensors only: no quality, flow or reservoir figures are made up."""
    feed_water(r, sensor("north-p1", NOW, pressure=(3.0, "bar")))
    found = by_name(compute_water(r, NOW, settings))
    for name in ("water_quality_compliance", "total_flow", "reservoir_level", "suspected_leaks"):
        assert (found[name].value, found[name].status) == (None, "unknown"), name
    assert found["min_pressure"].status == "ok"


def test_flow_and_reservoirs(r: redis.Redis, settings: Settings) -> None:
    """Flow adds up current meters (units converted by the parser); each reservoir is judged."""
    feed_water(r, sensor("north-f1", NOW, flow=(10.0, "m3/h")),
               sensor("north-f2", NOW, flow=(2.5, "l/s")),
               sensor("south-f1", NOW, flow=(4.0, "m3/h")),
               sensor("north-r1", NOW, level=(3.0, "m")),
               sensor("south-r2", NOW, level=(1.5, "m")))
    feed_water(r, sensor("east-r3", NOW - 7200, level=(0.2, "m")), at=NOW - 7200)
    found = by_name(compute_water(r, NOW, settings))
    assert found["total_flow"].value == pytest.approx(10 + 9 + 4)
    assert found["total_flow:north"].value == pytest.approx(19.0)
    assert found["reservoir_level"].value == 1.5 and found["reservoir_level"].status == "warn"
    assert found["reservoir_level:w:sensor:urn:dev:north-r1"].status == "ok"
    stale = found["reservoir_level:w:sensor:urn:dev:east-r3"]
    assert (stale.value, stale.status) == (None, "unknown")
    assert stale.title == "Reservoir level: urn:dev:east-r3"


def test_zone_flow_counts_its_inlets_when_known(r: redis.Redis, settings: Settings) -> None:
    """Where the feed marks a zone's inlet meters (role "inlet"), its flow is theirs alone.

    Neither water parser sets the role yet, so these entities are built directly.
    """
    def meter(name: str, role: str | None = None) -> Entity:
        attrs: dict[str, Any] = {"zone": "north", "metrics": ["flow_m3h"]}
        if role:
            attrs["role"] = role
        return Entity("water", "sensor", f"w:sensor:{name}", 28.55, 112.36, "active", NOW, "w", attrs)

    flows = {"in1": 100.0, "in2": 50.0, "sub1": 30.0, "loose": 7.0}
    store.entities.write_batch(r, "water", "w", entities=[meter("in1", "inlet"), meter("in2", "inlet"),
                                                 meter("sub1")],
                      observations=[Observation(f"w:sensor:{n}", "flow_m3h", v, "m3/h", NOW)
                                    for n, v in flows.items()])
    found = by_name(compute_water(r, NOW, settings))
    assert found["total_flow:north"].value == 150.0
    assert found["total_flow"].value == 157.0  # the zone's inlets and the meter of no zone
    assert found["night_flow:north"].detail is not None
    assert found["night_flow:north"].detail["meters"] == 2


# -- suspected leaks --------------------------------------------------------------------------------
SAMPLE_TIMES = ((2, 0), (2, 30), (3, 0), (3, 30), (3, 55))


def night(r: redis.Redis, settings: Settings, day: int, zone_flows: dict[str, list[float]],
          silent: frozenset[str] = frozenset()) -> None:
    """One night of January 2027: samples through the 02:00-04:00 window, then a 05:00 refresh.

    ``zone_flows`` maps a meter name to its flow at each sample time; ``silent`` meters send nothing.
    """
    for i, (hour, minute) in enumerate(SAMPLE_TIMES):
        at = local(2027, 1, day, hour, minute)
        feed_water(r, *(sensor(name, at, flow=(flows[i], "m3/h"))
                        for name, flows in zone_flows.items() if name not in silent), at=at)
        kpis.refresh(r, "water", at, settings)
    kpis.refresh(r, "water", local(2027, 1, day, 5, 0), settings)


def current(r: redis.Redis) -> dict[str, dict[str, Any]]:
    """The stored water KPIs by name."""
    return {k["name"]: k for k in store.kpis.read(r, "water")}


def test_leak_is_suspected_when_night_flow_exceeds_learned_baseline(
        r: redis.Redis, settings: Settings) -> None:
    """Three quiet nights teach the baseline; a fourth far above it is a suspected leak, and the
    leak's own nights never become the baseline."""
    quiet = {"north-f1": [5.0, 3.0, 3.5, 4.0, 6.0], "north-f2": [1.0, 1.0, 1.0, 1.0, 1.0],
             "south-f1": [4.0, 3.0, 3.0, 3.2, 5.0]}
    for day in (10, 11, 12):
        night(r, settings, day, quiet)
    north = current(r)["night_flow:north"]
    # Night 3 is measured (min of the sums 6,4,4.5,5,7) but only two nights came before it.
    assert north["value"] == 4.0 and north["status"] == "unknown"
    assert north["detail"]["baseline"] is None and "learned" in north["target"]
    leaking = dict(quiet, **{"north-f2": [6.0, 6.0, 6.0, 6.0, 6.0]})
    night(r, settings, 13, leaking)
    now = current(r)
    assert now["night_flow:north"]["value"] == 9.0
    assert now["night_flow:north"]["detail"]["baseline"] == 4.0
    assert now["night_flow:north"]["detail"]["suspected"] is True
    # threshold max(4 * 1.2, 4 + 1) = 5; 9 is more than twice the allowed excess: bad.
    assert now["night_flow:north"]["status"] == "bad"
    assert now["night_flow:south"]["status"] == "ok" and now["night_flow:south"]["value"] == 3.0
    assert now["suspected_leaks"]["value"] == 1.0 and now["suspected_leaks"]["status"] == "bad"
    assert now["suspected_leaks"]["detail"]["zones"] == ["north"]
    # Learning from the last 3 clean nights: were leak nights learned, night 15's baseline
    # would be the median of 4, 9, 9.
    short_memory = updated(settings, {"kpis.leak_learn_nights": 3})
    for day in (14, 15):
        night(r, short_memory, day, leaking)
    assert current(r)["night_flow:north"]["detail"]["night"] == "2027-01-15"
    assert current(r)["night_flow:north"]["detail"]["baseline"] == 4.0
    assert current(r)["night_flow:north"]["status"] == "bad"
    # Two days later nothing was measured: no judgement on old nights.
    later = by_name(compute_water(r, local(2027, 1, 17, 12, 0), settings))
    assert later["suspected_leaks"].status == "unknown"


def test_leak_with_configured_baseline_and_silent_meter(r: redis.Redis, settings: Settings) -> None:
    """A configured baseline judges the first night; a silent meter voids its zone's samples."""
    configured = updated(settings, {"kpis.night_flow_baseline_m3h": {"north": 5.0, "south": 2.0}})
    flows = {"north-f1": [5.5] * 5, "south-f1": [4.0] * 5, "south-f2": [0.5] * 5}
    noon = local(2027, 1, 9, 12, 0)
    # south-f2 is known as one of south's meters, then falls silent for the night.
    feed_water(r, sensor("south-f2", noon, flow=(0.5, "m3/h")), at=noon)
    night(r, configured, 10, flows, silent=frozenset({"south-f2"}))
    now = current(r)
    assert now["night_flow:north"]["value"] == 5.5
    assert now["night_flow:north"]["status"] == "ok"  # 5.5 <= max(5 * 1.2, 5 + 1)
    assert now["night_flow:north"]["detail"]["baseline_from"] == "configured"
    assert now["night_flow:south"]["status"] == "unknown"
    assert now["night_flow:south"]["value"] is None
    assert now["suspected_leaks"]["value"] == 0.0 and now["suspected_leaks"]["status"] == "ok"
    # The same night with both south meters: 4.5 against a baseline of 2 is a leak (warn or bad).
    night(r, configured, 11, flows)
    assert current(r)["night_flow:south"]["detail"]["suspected"] is True
    assert current(r)["suspected_leaks"]["value"] == 1.0


def test_night_window_follows_city_time_zone(r: redis.Redis, settings: Settings) -> None:
    """Samples at 02:00-04:00 Shanghai are outside the window of a city in Berlin."""
    berlin = updated(settings, {"city.timezone": "Europe/Berlin",
                     "kpis.night_flow_baseline_m3h": {"north": 1.0}})
    night(r, berlin, 10, {"north-f1": [9.0] * 5})
    assert current(r)["night_flow:north"]["detail"]["nights"] == {}
    assert current(r)["night_flow:north"]["status"] == "unknown"


# -- medical ----------------------------------------------------------------------------------------
def location(fid: str, name: str) -> dict[str, Any]:
    """A hospital Location in Yiyang."""
    return {"resourceType": "Location", "id": fid, "status": "active", "name": name,
            "position": {"latitude": 28.55, "longitude": 112.36}}


def population(code: str, count: int | None) -> dict[str, Any]:
    """A SANER population; None = a data-absent-reason instead of a count."""
    pop: dict[str, Any] = {"code": {"coding": [{"system": SANER, "code": code}]}}
    if count is None:
        pop["_count"] = {"extension": [{"url": DAR, "valueCode": "unknown"}]}
    else:
        pop["count"] = count
    return pop


def report(fid: str, location_id: str, date: str, **counts: int | None) -> dict[str, Any]:
    """A SANER MeasureReport about one Location."""
    return {"resourceType": "MeasureReport", "id": fid, "status": "complete", "type": "summary",
            "measure": "http://hl7.org/fhir/uv/saner/Measure/CDCPatientImpactAndHospitalCapacity",
            "subject": {"reference": f"Location/{location_id}"}, "date": date,
            "group": [{"population": [population(code, n) for code, n in counts.items()]}]}


def feed_fhir(r: redis.Redis, *resources: dict[str, Any]) -> None:
    """A FHIR Bundle through the FHIR adapter's parse and ingest."""
    adapter = FhirAdapter({"name": "med", "url": NOWHERE})
    data = json.dumps({"resourceType": "Bundle", "type": "searchset",
                       "entry": [{"resource": res} for res in resources]}).encode()
    ingest(r, adapter, RawPayload(data, source="test", fetched_at=NOW))


def test_beds_unknown_is_never_zero(r: redis.Redis, settings: Settings) -> None:
    """A data-absent count leaves a hospital unknown; a real zero ICU count stays a zero."""
    today = "2027-01-15T08:00:00+08:00"
    feed_fhir(r, location("a", "Central"), location("b", "East"), location("c", "Silent"),
              report("ra", "a", today, numbeds=100, numBedsOcc=80, numICUBeds=10, numICUBedsOcc=10),
              report("rb", "b", today, numbeds=50, numBedsOcc=None, numICUBeds=8, numICUBedsOcc=2))
    found = by_name(compute_medical(r, NOW, settings))
    beds = found["beds_available"]
    assert beds.value == 20.0 and beds.detail is not None
    assert (beds.detail["reporting"], beds.detail["hospitals"]) == (1, 3)
    assert beds.status == "ok"  # 80 % occupied of the beds known
    assert found["beds_available:med:hospital:b"].value is None
    assert found["beds_available:med:hospital:b"].status == "unknown"
    assert found["beds_available:med:hospital:c"].status == "unknown"
    assert found["beds_available:med:hospital:a"].title == "Beds available: Central"
    icu_a = found["icu_beds_available:med:hospital:a"]
    assert (icu_a.value, icu_a.status) == (0.0, "bad")  # full: 100 % occupied
    assert found["icu_beds_available"].value == 6.0
    assert found["icu_beds_available"].status == "ok"  # 12 of 18 occupied
    assert found["ward_occupancy"].value == 80.0 and found["ward_occupancy"].status == "ok"
    assert found["ward_occupancy:med:hospital:b"].value is None
    assert found["ed_occupancy"].status == "unknown"
    # Active FHIR Locations say they take patients: diversion is known (none), not unknown.
    assert found["hospitals_on_diversion"].value == 0.0
    assert found["hospitals_on_diversion"].status == "ok"
    assert found["ambulances_available"].status == "unknown"


def test_old_reports_are_unknown_and_occupancy_limits(r: redis.Redis, settings: Settings) -> None:
    """A report older than the configured age says nothing now; occupancy is judged by limits."""
    feed_fhir(r, location("a", "Central"), location("b", "East"),
              report("ra", "a", "2027-01-15T06:00:00+08:00", numbeds=100, numBedsOcc=90),
              report("rb", "b", "2027-01-12T06:00:00+08:00", numbeds=100, numBedsOcc=10))
    found = by_name(compute_medical(r, NOW, settings))
    assert found["beds_available"].value == 10.0
    assert found["ward_occupancy"].value == 90.0 and found["ward_occupancy"].status == "warn"
    assert found["beds_available:med:hospital:b"].status == "unknown"
    longer = updated(settings, {"kpis.bed_report_max_age_h": 24 * 7})
    found = by_name(compute_medical(r, NOW, longer))
    assert found["beds_available"].value == 100.0
    assert found["ward_occupancy"].value == 50.0 and found["ward_occupancy"].status == "ok"


def feed_ambulances(r: redis.Redis, fleet: dict[str, tuple[str | None, float]]) -> None:
    """The AVL export (GTFS-rt VehiclePositions) of ``fleet``: vehicle -> (call/trip id, heard at)."""
    message = fx.new_message(int(NOW))
    for vehicle, (call, heard) in fleet.items():
        fx.add_vehicle(message, vehicle, vehicle, trip_id=call, timestamp=int(heard))
    adapter = AmbulanceAvlAdapter({"name": "ems", "url": NOWHERE})
    result = ingest(r, adapter, RawPayload(message.SerializeToString(), source="test", fetched_at=NOW))
    assert result.rejected == 0, result.errors


def test_ed_occupancy_diversion_and_ambulances(r: redis.Redis, settings: Settings) -> None:
    """ED crowding above 100 %, a diversion event, ambulances by call state.

    No parser produces ED counts or diversion yet: those records are built directly in the
    shapes docs/kpis.md names, and written through the store like any batch.
    """
    feed_fhir(r, location("a", "Central"), location("b", "East"), location("c", "West"),
              location("d", "North"))
    store.entities.write_batch(r, "medical", "ed", observations=[
        Observation("med:hospital:a", "ed_beds_total", 20.0, "1", NOW - 600),
        Observation("med:hospital:a", "ed_patients", 26.0, "1", NOW - 600)])
    store.entities.write_batch(r, "medical", "div", events=[
        Event("medical", "diversion", "div:1", "Central on diversion", NOW - 300, "div",
              starts_at=NOW - 300, attrs={"hospital": "med:hospital:a"}),
        Event("medical", "diversion", "div:2", "East was on diversion", NOW - 9000, "div",
              starts_at=NOW - 9000, ends_at=NOW - 3600, attrs={"hospital": "med:hospital:b"})])
    fleet: dict[str, tuple[str | None, float]] = {
        "amb-1": (None, NOW - 20), "amb-2": ("call-1", NOW - 20), "amb-3": ("call-2", NOW - 20),
        "amb-4": ("call-3", NOW - 20), "amb-5": ("call-4", NOW - 20), "amb-6": (None, NOW - 3600)}
    feed_ambulances(r, fleet)
    found = by_name(compute_medical(r, NOW, settings))
    ed = found["ed_occupancy:med:hospital:a"]
    assert (ed.value, ed.status) == (130.0, "bad")
    assert found["ed_occupancy:med:hospital:b"].status == "unknown"
    diversion = found["hospitals_on_diversion"]
    assert (diversion.value, diversion.status) == (1.0, "warn")  # 1 of 4 hospitals
    assert diversion.detail == {"hospitals": ["med:hospital:a"]}
    amb = found["ambulances_available"]
    # 1 of the 5 heard from (20 %) is free; amb-6's "available" is an hour old.
    assert (amb.value, amb.status) == (1.0, "warn")
    assert amb.detail == {"heard": 5, "on_call": 4, "other": 0, "silent": 1}
    feed_ambulances(r, dict(fleet, **{"amb-1": ("call-5", NOW - 5)}))
    amb = by_name(compute_medical(r, NOW, settings))["ambulances_available"]
    assert (amb.value, amb.status) == (0.0, "bad")
    relaxed = updated(settings, {"kpis.ambulances_available_pct": 0.0})
    assert by_name(compute_medical(r, NOW, relaxed))["ambulances_available"].status == "ok"


FHIR_SAMPLES = SAMPLES / "fhir"


def _saner_counts(report_doc: dict[str, Any]) -> dict[str, int]:
    """code -> count of a sample MeasureReport, read straight from its JSON (the test's oracle)."""
    return {coding["code"]: pop["count"] for group in report_doc.get("group", [])
            for pop in group.get("population", []) if "count" in pop
            for coding in pop.get("code", {}).get("coding", []) if coding.get("system") == SANER}


@pytest.mark.skipif(not FHIR_SAMPLES.is_dir(), reason="shared FHIR samples not present")
def test_medical_kpis_over_saner_connectathon_samples(r: redis.Redis, settings: Settings) -> None:
    """The SANER connectathon hospitals: sums over the newest fresh report of each, read in place."""
    adapter = FhirAdapter({"name": "saner", "url": NOWHERE})
    newest: dict[str, tuple[datetime, dict[str, int]]] = {}
    for path in sorted(FHIR_SAMPLES.glob("Location-Loc-X*.json")) + sorted(
            FHIR_SAMPLES.glob("MeasureReport-FHIR-*.json")):
        ingest(r, adapter, RawPayload(path.read_bytes(), source=str(path), fetched_at=NOW))
        doc = json.loads(path.read_bytes())
        if doc["resourceType"] == "MeasureReport":
            subject = doc["subject"]["reference"].split("/")[-1]
            when = datetime.fromisoformat(doc["date"])
            if subject not in newest or when > newest[subject][0]:
                newest[subject] = (when, _saner_counts(doc))
    last = max(when for when, _ in newest.values())
    now = last.timestamp() + 6 * 3600
    week = updated(settings, {"kpis.bed_report_max_age_h": 24 * 7})
    found = by_name(compute_medical(r, now, week))
    assert len(newest) == 5
    assert found["beds_available"].value == sum(c["numbeds"] - c["numBedsOcc"]
                                                for _, c in newest.values())
    assert found["icu_beds_available"].value == sum(c["numICUBeds"] - c["numICUBedsOcc"]
                                                    for _, c in newest.values())
    # With the default 48 h, only the hospital that reported on the last day is current.
    found = by_name(compute_medical(r, now, settings))
    fresh_ones = [c for when, c in newest.values() if when == last]
    assert found["beds_available"].value == sum(c["numbeds"] - c["numBedsOcc"] for c in fresh_ones)
    assert found["beds_available"].detail is not None
    assert found["beds_available"].detail["reporting"] == len(fresh_ones)


# -- city -------------------------------------------------------------------------------------------
def request(rid: str, service: str, status: str, requested: str, updated: str | None = None,
            expected: str | None = None) -> dict[str, Any]:
    """A GeoReport v2 request row."""
    return {"service_request_id": rid, "status": status, "service_name": service,
            "service_code": service[:3].upper(), "requested_datetime": requested,
            "updated_datetime": updated, "expected_datetime": expected,
            "lat": 28.55, "long": 112.36, "description": "<b>x</b>"}


def feed_open311(r: redis.Redis, *rows: dict[str, Any]) -> None:
    """A requests.json list through the Open311 adapter's parse and ingest."""
    adapter = Open311Adapter({"name": "sr", "base_url": NOWHERE, "tz": "Asia/Shanghai"})
    result = ingest(r, adapter, RawPayload(json.dumps(list(rows)).encode(), source="test",
                                           fetched_at=NOW))
    assert result.rejected == 0, result.errors


# 07:30 in Shanghai is 23:30 UTC the day before: a day boundary between the two zones.
CITY_NOW = local(2027, 1, 15, 7, 30)


def test_new_today_is_counted_in_the_city_time_zone(r: redis.Redis, settings: Settings) -> None:
    """A request filed at 23:50 local yesterday is not new today, though it is the same UTC day."""
    feed_open311(r, request("1", "Pothole", "open", "2027-01-15T00:10:00+08:00"),
                 request("2", "Pothole", "open", "2027-01-14T23:50:00+08:00"),
                 request("3", "Graffiti", "closed", "2027-01-15T07:00:00+08:00",
                         "2027-01-15T07:20:00+08:00"),
                 request("4", "Graffiti", "open", "2027-01-15T08:00:00+08:00"))  # future: clock skew
    found = by_name(compute_city(r, CITY_NOW, settings))
    assert found["new_today"].value == 2.0
    assert found["new_today"].detail == {"day": "2027-01-15", "time_zone": "Asia/Shanghai"}
    utc = by_name(compute_city(r, CITY_NOW, updated(settings, {"city.timezone": "UTC"})))
    assert utc["new_today"].value == 3.0  # 1, 2 and 3 all fall on 2027-01-14 UTC; 4 is ahead
    assert found["open_requests"].value == 3.0
    assert found["open_requests:Pothole"].value == 2.0
    assert found["open_requests:Graffiti"].value == 1.0


def test_sla_breach_and_median_time_to_close(r: redis.Redis, settings: Settings) -> None:
    """Breach share over open requests with an expected time; median over recent closures."""
    feed_open311(
        r,
        request("1", "Pothole", "open", "2027-01-10T08:00:00+08:00",
                expected="2027-01-12T08:00:00+08:00"),
        request("2", "Pothole", "open", "2027-01-10T08:00:00+08:00",
                expected="2027-01-15T07:00:00+08:00"),
        request("3", "Pothole", "open", "2027-01-14T08:00:00+08:00",
                expected="2027-01-16T08:00:00+08:00"),
        request("4", "Streetlight", "open", "2027-01-14T08:00:00+08:00"),
        request("5", "Streetlight", "closed", "2027-01-14T08:00:00+08:00",
                "2027-01-14T10:00:00+08:00"),
        request("6", "Pothole", "closed", "2027-01-13T08:00:00+08:00",
                "2027-01-13T18:00:00+08:00"),
        request("7", "Pothole", "closed", "2027-01-09T08:00:00+08:00",
                "2027-01-13T12:00:00+08:00"),
        request("8", "Pothole", "closed", "2026-11-01T08:00:00+08:00",
                "2026-12-01T08:00:00+08:00"))
    found = by_name(compute_city(r, CITY_NOW, settings))
    assert found["sla_breach"].value == pytest.approx(200 / 3) and found["sla_breach"].status == "bad"
    assert found["sla_breach"].detail == {"overdue": 2, "with_expected_time": 3,
                                          "without_expected_time": 1}
    # Streetlight has an open request but no expected time: unknown, never 0 %.
    assert found["sla_breach:Streetlight"].value is None
    assert found["sla_breach:Streetlight"].status == "unknown"
    # 2 h, 10 h and 100 h in the last 7 days; the November closure is outside the window.
    assert found["median_time_to_close"].value == 10.0
    assert found["median_time_to_close"].status == "ok"
    assert found["median_time_to_close:Pothole"].value == 55.0
    assert found["median_time_to_close:Streetlight"].value == 2.0
    strict = updated(settings, {"kpis.close_time_target_h": 1.0, "kpis.close_time_bad_h": 5.0,
                     "kpis.close_window_days": 60})
    found = by_name(compute_city(r, CITY_NOW, strict))
    assert found["median_time_to_close"].value == 55.0  # 2, 10, 100, 720 h
    assert found["median_time_to_close"].status == "bad"


def test_city_without_requests_is_unknown(r: redis.Redis, settings: Settings) -> None:
    """No requests: no count, no share, no median (and refresh stores nothing before data)."""
    found = by_name(compute_city(r, CITY_NOW, settings))
    for name in ("open_requests", "new_today", "sla_breach", "median_time_to_close"):
        assert (found[name].value, found[name].status) == (None, "unknown"), name
    assert kpis.refresh(r, "city", CITY_NOW, settings) == []


# -- storage, ordering, groups ----------------------------------------------------------------------
def test_refresh_stores_groups_and_subjects_headlines_first(r: redis.Redis,
                                                           settings: Settings) -> None:
    """Stored KPIs carry group and subject; city-wide ones rank first; a group picks every zone."""
    feed_water(r, sensor("north-p1", NOW, pressure=(2.5, "bar")),
               sensor("south-p1", NOW, pressure=(1.0, "bar")))
    computed = kpis.refresh(r, "water", NOW, settings)
    stored = store.kpis.read(r, "water")
    assert [k["name"] for k in stored] == [k.name for k in computed]
    firsts = [k["subject"] for k in stored]
    assert firsts.index("north") > max(i for i, s in enumerate(firsts) if s is None)
    zones = {k["subject"]: k["status"] for k in stored if k["group"] == "min_pressure" and k["subject"]}
    assert zones == {"north": "ok", "south": "bad"}


# -- configuration ----------------------------------------------------------------------------------
def test_kpi_settings_from_toml_and_environment(tmp_path: Path) -> None:
    """[kpis] keys (a zone table included) load; variables win; bad values name their key."""
    toml = tmp_path / "cityops.toml"
    toml.write_text('[kpis]\nturbidity_max_ntu = 4\nnight_window = "01:30-04:00"\n'
                    '[kpis.night_flow_baseline_m3h]\nnorth = 3.5\n"Old Town" = 2\n')
    loaded = load_settings(environ={"CITYOPS_CONFIG": str(toml),
                                    "CITYOPS_KPI_FREE_CHLORINE_MIN_MGL": "0.2"})
    assert loaded.kpis.turbidity_max_ntu == 4.0 and loaded.kpis.free_chlorine_min_mgl == 0.2
    assert loaded.kpis.night_window == (90, 240)
    assert loaded.kpis.night_flow_baseline_m3h == {"north": 3.5, "Old Town": 2.0}
    env = load_settings(environ={"CITYOPS_KPI_NIGHT_FLOW_BASELINE_M3H": "north=1.5, south=2"})
    assert env.kpis.night_flow_baseline_m3h == {"north": 1.5, "south": 2.0}


@pytest.mark.parametrize("environ, fragment", [
    ({"CITYOPS_KPI_TURBIDITY_MAX_NTU": "cloudy"}, "CITYOPS_KPI_TURBIDITY_MAX_NTU: expected"),
    ({"CITYOPS_KPI_NIGHT_WINDOW": "04:00-02:00"}, "CITYOPS_KPI_NIGHT_WINDOW: expected"),
    ({"CITYOPS_KPI_NIGHT_WINDOW": "2-4"}, "HH:MM-HH:MM"),
    ({"CITYOPS_KPI_NIGHT_FLOW_BASELINE_M3H": "north"}, "zone=1.5"),
    ({"CITYOPS_KPI_NIGHT_FLOW_BASELINE_M3H": "north=-1"}, "NIGHT_FLOW_BASELINE_M3H: expected"),
    ({"CITYOPS_KPI_PRESSURE_BAD_BAR": "2.5"}, "kpis.pressure_bad_bar (CITYOPS_KPI_PRESSURE_BAD_BAR)"),
    ({"CITYOPS_KPI_SLA_BREACH_TARGET_PCT": "50"}, "at most kpis.sla_breach_bad_pct"),
])
def test_bad_kpi_settings_are_named(environ: dict[str, str], fragment: str) -> None:
    """Each bad KPI setting is refused with its name, including limits in the wrong order."""
    with pytest.raises(ConfigError) as err:
        load_settings(environ=environ)
    assert fragment in str(err.value)
