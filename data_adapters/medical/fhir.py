"""HL7 FHIR R4 JSON to normalized medical records (pure): hospitals and SANER bed capacity.

A payload is one resource or a Bundle of them. Location -> an Entity of its kind (a ``hospital``,
``ward``, ``ambulance``, ... see locations.py), Organization -> an ``organization`` Entity (no
position), SANER MeasureReport -> Observations of the place it is about. A search that matches
nothing (a Bundle without entries, or holding only OperationOutcomes that inform or warn) is an
answer with nothing in it. An OperationOutcome that reports an error, non-JSON and non-FHIR
payloads raise ParseError; other resource types and broken resources become Rejected. See
README.md for the mappings.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import Counter
from typing import Any, Iterator, Mapping
from zoneinfo import ZoneInfo

from app.model.records import Entity, FeedHeader, Observation, ParseItem, Rejected
from data_adapters.base import ParseError
from data_adapters.json_payload import decode_json
from data_adapters.medical.fhir_values import (
    advisory,
    as_float,
    codes,
    fhir_time,
    last_updated,
    outcome_text,
    snake,
)
from data_adapters.medical.locations import (
    HOSPITAL,
    entity_id,
    location_entity,
    location_kind,
    organization_entity,
)
from data_adapters.medical.references import ID, References, reference_target

__all__ = ["fhir_time", "parse_fhir", "population_metric", "reference_target"]

DOMAIN = "medical"
DEFAULT_TZ = "Asia/Shanghai"
SANER_VALUES = "http://hl7.org/fhir/uv/saner/CodeSystem/MeasuredValues"
MEASURE_POPULATION = "http://terminology.hl7.org/CodeSystem/measure-population"
DATA_ABSENT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
COUNT_UNIT = "1"  # UCUM: a count of beds or devices is dimensionless

# SANER MeasuredValues code -> our metric. numbeds, not numTotBeds, is beds_total: numBedsOcc
# counts occupied *inpatient* beds, so only numbeds gives a meaningful beds_available.
SANER_METRICS: dict[str, str] = {
    "numbeds": "beds_total",
    "numBedsOcc": "beds_occupied",
    "numTotBeds": "beds_total_all",
    "numICUBeds": "icu_beds_total",
    "numICUBedsOcc": "icu_beds_occupied",
    "numVent": "ventilators_total",
    "numVentUse": "ventilators_in_use",
}
# SANER reports totals and occupancy, not availability: derived as total - occupied when both
# are known in the same report. (available metric, total metric, occupied metric)
DERIVED: tuple[tuple[str, str, str], ...] = (
    ("beds_available", "beds_total", "beds_occupied"),
    ("icu_beds_available", "icu_beds_total", "icu_beds_occupied"),
)
# A nested Bundle (a document inside a searchset) is read; deeper nesting is not FHIR we expect.
MAX_BUNDLE_DEPTH = 2
# No hospital counts a billion beds; a larger count is a corrupt value, not a capacity.
MAX_COUNT = 10**9


# Resources about people: a server answering a broad search may send them along; none is read,
# stored or kept in a dead letter (docs/data.md). Any other resource whose subject or patient is
# one of them is dropped the same way.
PERSONAL_RESOURCES = frozenset({"Patient", "Practitioner", "PractitionerRole", "RelatedPerson",
                                "Person"})
_PERSON_REFERENCE = ("subject", "patient", "beneficiary", "individual", "performer", "participant")


def _about_a_person(resource: Mapping[str, Any]) -> bool:
    """True when a resource refers to a person in a role that makes it about that person."""
    def refers(value: Any) -> bool:
        if isinstance(value, list):
            return any(refers(v) for v in value)
        if isinstance(value, Mapping):
            reference = value.get("reference")
            if isinstance(reference, str) and reference.split("/")[0] in PERSONAL_RESOURCES:
                return True
            return any(refers(value.get(k)) for k in ("individual", "actor", "who"))
        return False

    return any(refers(resource.get(key)) for key in _PERSON_REFERENCE)


def _summary(data: bytes) -> str:
    """What a dead letter keeps of an unusable medical payload: its size, not its text."""
    return f"({len(data)} bytes; the text of a medical payload is not kept)"


def _kinds(flat: list[tuple[Mapping[str, Any] | None, Any, str | None]]) -> str:
    """What a dead letter keeps of a payload with nothing usable: the kinds of its resources."""
    counted = Counter(resource["resourceType"] for resource, _, _ in flat if resource is not None)
    return ", ".join(f"{kind} x{n}" for kind, n in sorted(counted.items())) or "(no resources)"


# -- resources --------------------------------------------------------------------------------------
def _decode(data: bytes) -> dict[str, Any]:
    """The top-level FHIR resource of a payload, or ParseError."""
    doc = decode_json(data, what="a FHIR resource")
    if not isinstance(doc, dict) or not isinstance(doc.get("resourceType"), str):
        raise ParseError("not a FHIR resource (a JSON object with resourceType)", data)
    if doc["resourceType"] == "OperationOutcome" and not advisory(doc):
        raise ParseError(f"server sent an OperationOutcome: {outcome_text(doc)}", data)
    return doc


def _flatten(doc: Mapping[str, Any], depth: int = 0
             ) -> Iterator[tuple[Mapping[str, Any] | None, Any, str | None]]:
    """(resource, raw entry, fullUrl) of a resource or of each Bundle entry; resource None = broken."""
    if doc.get("resourceType") != "Bundle":
        yield doc, doc, None
        return
    if depth >= MAX_BUNDLE_DEPTH:
        yield None, {"reason": "Bundle nested too deep"}, None
        return
    entries = doc.get("entry")
    for entry in entries if isinstance(entries, list) else []:
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if not isinstance(resource, Mapping) or not isinstance(resource.get("resourceType"), str):
            yield None, entry, None
        elif resource["resourceType"] == "Bundle":
            yield from _flatten(resource, depth + 1)
        else:
            full_url = entry.get("fullUrl")
            yield resource, entry, full_url if isinstance(full_url, str) else None


def _report_entity(report: Mapping[str, Any], prefix: str, refs: References,
                   location_ids: Mapping[str, str], location_of_org: Mapping[str, str]
                   ) -> str | None:
    """The entity id a MeasureReport is about: its subject, else its reporter; None if neither.

    A reference may be literal or only an identifier of a resource in the payload. A Location of
    the payload keeps its own kind (a ward's report lands on the ward); one that is not in the
    payload is taken for a hospital (the form its id had before it was seen).
    """
    for field in ("subject", "reporter"):
        target = refs.resolve(report.get(field))
        if target is None:
            continue  # display-only references name nothing we can key on
        kind, fhir_id = target
        if kind == "Location":
            return location_ids.get(fhir_id) or entity_id(prefix, HOSPITAL, fhir_id)
        # An Organization that manages exactly one hospital of this payload is that hospital.
        if fhir_id in location_of_org:
            return location_of_org[fhir_id]
        return f"{prefix}:organization:{fhir_id}"
    return None


def population_metric(population: Mapping[str, Any], measure: Any) -> str | None:
    """Our metric for a MeasureReport population, or None when it names no measured value.

    A SANER MeasuredValues coding wins over the measure-population role coding beside it.
    Unmapped SANER codes keep their name (``saner_<code>``); draft-era populations with only a
    role are named by the measure and the role.
    """
    found = codes(population.get("code"))
    for system, code in found:
        if system == SANER_VALUES:
            return SANER_METRICS.get(code) or f"saner_{snake(code)}"
    roles = [code for system, code in found if system in (MEASURE_POPULATION, None)]
    tail = measure.rstrip("/").rsplit("/", 1)[-1] if isinstance(measure, str) else ""
    if roles and tail:
        return f"saner_{snake(tail)}_{snake(roles[0])}"
    return None


def _count(population: Mapping[str, Any]) -> int | None | str:
    """The population's count; None when unknown (absent or data-absent-reason); a str = why bad."""
    if "count" not in population:
        return None  # "_count" with a data-absent-reason, or nothing: unknown, never zero
    count = population["count"]
    if isinstance(count, bool) or not isinstance(count, (int, float)) \
            or not math.isfinite(as_float(count)) or count < 0 or int(count) != count:
        return f"count {repr(count)[:40]} is not a non-negative integer"
    if count > MAX_COUNT:
        return f"count {repr(count)[:40]} is more than {MAX_COUNT}"
    return int(count)


def _data_absent(population: Mapping[str, Any]) -> bool:
    """True when the population's count carries a data-absent-reason extension."""
    extra = population.get("_count")
    extensions = extra.get("extension") if isinstance(extra, Mapping) else None
    return isinstance(extensions, list) and any(
        isinstance(e, Mapping) and e.get("url") == DATA_ABSENT for e in extensions)


def _measure_report(report: Mapping[str, Any], prefix: str, tz: dt.tzinfo, refs: References,
                    location_ids: Mapping[str, str], location_of_org: Mapping[str, str],
                    counts: Counter[str]) -> list[ParseItem]:
    """The Observations of a MeasureReport (plus Rejecteds for its unusable populations)."""
    raw = json.dumps(report)
    if report.get("status") == "error":
        return [Rejected.of("MeasureReport status is 'error'", raw)]
    subject = _report_entity(report, prefix, refs, location_ids, location_of_org)
    if subject is None:
        return [Rejected.of("MeasureReport has no Location or Organization reference in subject "
                            "or reporter", raw)]
    period = report.get("period")
    when = fhir_time(report.get("date"), tz)
    if when is None and isinstance(period, Mapping):
        when = fhir_time(period.get("end"), tz)
    if when is None:
        return [Rejected.of("MeasureReport has no valid date or period.end", raw)]
    items: list[ParseItem] = []
    known: dict[str, int] = {}
    groups = report.get("group")
    for group in groups if isinstance(groups, list) else []:
        populations = group.get("population") if isinstance(group, Mapping) else None
        for population in populations if isinstance(populations, list) else []:
            if not isinstance(population, Mapping):
                continue
            metric = population_metric(population, report.get("measure"))
            if metric is None:
                counts["unmapped"] += 1
                continue
            count = _count(population)
            if count is None:
                counts["data_absent" if _data_absent(population) else "missing_count"] += 1
                continue
            if isinstance(count, str):
                items.append(Rejected.of(f"{metric}: {count}", json.dumps(population)))
                continue
            known.setdefault(metric, count)
            items.append(Observation(subject, metric, float(count), COUNT_UNIT, when))
    for available, total, occupied in DERIVED:
        if total in known and occupied in known:
            if known[occupied] > known[total]:
                items.append(Rejected.of(f"{occupied} {known[occupied]} exceeds {total} "
                                         f"{known[total]}: no {available}", raw))
            else:
                items.append(Observation(subject, available,
                                         float(known[total] - known[occupied]), COUNT_UNIT, when))
    if not any(isinstance(item, Observation) for item in items):
        counts["empty_reports"] += 1
    return items


# -- the payload ------------------------------------------------------------------------------------
def _links(flat: list[tuple[Mapping[str, Any] | None, Any, str | None]], prefix: str
           ) -> tuple[References, dict[str, str], dict[str, str], dict[str, str]]:
    """What references in the payload may name: (the reference index, Organization id -> name,
    Location id -> entity id, Organization id -> the one hospital it manages)."""
    refs = References.of((resource, full_url) for resource, _entry, full_url in flat)
    org_names: dict[str, str] = {}
    location_ids: dict[str, str] = {}
    managed: dict[str, list[str]] = {}
    for resource, _entry, _full_url in flat:
        if resource is None or not isinstance(resource.get("id"), str) \
                or not ID.match(resource["id"]):
            continue
        kind = resource["resourceType"]
        if kind == "Organization" and isinstance(resource.get("name"), str):
            org_names[resource["id"]] = resource["name"]
        if kind == "Location":
            own_kind = location_kind(resource)
            location_ids[resource["id"]] = entity_id(prefix, own_kind, resource["id"])
            target = refs.resolve(resource.get("managingOrganization"), ("Organization",))
            if target and own_kind == HOSPITAL:  # its wards and ambulances are not the hospital
                managed.setdefault(target[1], []).append(location_ids[resource["id"]])
    location_of_org = {org: ids[0] for org, ids in managed.items() if len(ids) == 1}
    return refs, org_names, location_ids, location_of_org


def parse_fhir(data: bytes, feed: str, fetched_at: float, *, id_prefix: str | None = None,
               bounds: tuple[float, float, float, float] | None = None, tz: str = DEFAULT_TZ,
               counts: Counter[str] | None = None) -> Iterator[ParseItem]:
    """Yield a FeedHeader, then the Entities, Observations and Rejecteds of a FHIR payload.

    ``bounds`` (min_lat, min_lon, max_lat, max_lon) flags places outside the city;
    ``tz`` (an IANA zone) places plain dates; ``counts``, when given, is incremented with what
    was skipped without a rejection (``data_absent`` populations, ``unmapped`` ones,
    ``outcome_information`` notes of the server, ...). A search that matched nothing yields the
    FeedHeader alone (and a Rejected for each warning the server sent with it).
    """
    prefix = id_prefix or feed
    zone = ZoneInfo(tz)
    tally: Counter[str] = counts if counts is not None else Counter()
    try:
        doc = _decode(data)
    except ParseError as exc:
        # A medical payload may carry patients: its text is never kept in a dead letter.
        raise ParseError(str(exc), _summary(data)) from None
    flat = list(_flatten(doc))
    refs, org_names, location_ids, location_of_org = _links(flat, prefix)
    items: list[ParseItem] = []
    advice = 0  # outcomes that only inform or warn: they make no payload unusable
    for resource, entry, _full_url in flat:
        if resource is None:
            items.append(Rejected.of("Bundle entry without a resource", json.dumps(entry)))
            continue
        kind = resource["resourceType"]
        if kind == "OperationOutcome":
            if advisory(resource):
                advice += 1
                if not _warns(resource):
                    tally["outcome_information"] += 1
                    continue
            # A server's warning (an ignored search parameter) is kept for the dead letters.
            items.append(Rejected.of(f"OperationOutcome in Bundle: {outcome_text(resource)}",
                                     json.dumps(resource)))
            continue
        if kind not in ("Location", "Organization", "MeasureReport"):
            if kind in PERSONAL_RESOURCES or _about_a_person(resource):
                # Never stored, not even as a rejection: counted only (docs/data.md).
                tally["personal_dropped"] += 1
            else:
                # The type alone: a resource we do not read may still hold what we must not keep.
                items.append(Rejected.of(f"unsupported resource type {kind}", kind))
            continue
        if kind != "MeasureReport" and not (isinstance(resource.get("id"), str)
                                            and ID.match(resource["id"])):
            items.append(Rejected.of(f"{kind} without a valid id", json.dumps(resource)))
            continue
        if kind == "Location":
            items.append(location_entity(resource, prefix, feed, fetched_at, zone, bounds, refs,
                                         org_names))
        elif kind == "Organization":
            items.append(organization_entity(resource, prefix, feed, fetched_at, zone))
        else:
            items.extend(_measure_report(resource, prefix, zone, refs, location_ids,
                                         location_of_org, tally))
    usable = any(not isinstance(item, Rejected) for item in items)
    if not usable and len(flat) > advice:
        first = next((f": {item.reason}" for item in items if isinstance(item, Rejected)), "")
        raise ParseError(f"FHIR payload holds no usable resource{first}", _kinds(flat))
    stamp = fhir_time(doc.get("timestamp"), zone) or last_updated(doc, zone)
    if stamp is None:
        times = [i.observed_at for i in items if isinstance(i, (Entity, Observation))]
        stamp = max(times) if times else None
    # Never a full dataset: a search may be capped at max_pages, so absence proves nothing.
    yield FeedHeader(stamp, full_dataset=False)
    yield from items


def _warns(outcome: Mapping[str, Any]) -> bool:
    """True when an advisory OperationOutcome holds a warning (not only information)."""
    issues = outcome.get("issue")
    return any(isinstance(i, Mapping) and i.get("severity") == "warning"
               for i in (issues if isinstance(issues, list) else []))
