"""HL7 FHIR R4 JSON to normalized medical records (pure): hospitals and SANER bed capacity.

A payload is one resource or a Bundle of them. Location -> a ``hospital`` Entity, Organization ->
an ``organization`` Entity (no position), SANER MeasureReport -> Observations of the hospital it
is about. OperationOutcome, non-JSON and non-FHIR payloads raise ParseError; other resource
types and broken resources become Rejected. See README.md for the mappings.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections import Counter
from typing import Any, Iterator, Mapping
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from app.model.geo import valid_position
from app.model.records import Entity, FeedHeader, Observation, ParseItem, Rejected, valid_time
from data_adapters.base import ParseError
from data_adapters.json_payload import decode_json

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
# FHIR id (R4 2.24.0.1): what may follow "Location/" in a reference.
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}\Z")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?\Z")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_REF_TYPES = ("Location", "Organization")
# A nested Bundle (a document inside a searchset) is read; deeper nesting is not FHIR we expect.
MAX_BUNDLE_DEPTH = 2
# No hospital counts a billion beds; a larger count is a corrupt value, not a capacity.
MAX_COUNT = 10**9


# -- small helpers ----------------------------------------------------------------------------------
def fhir_time(value: Any, tz: dt.tzinfo) -> float | None:
    """Epoch seconds of a FHIR date or dateTime; a plain date is midnight in ``tz``; else None."""
    if not isinstance(value, str):
        return None
    try:
        if _DATE.match(value):
            seconds = dt.datetime.fromisoformat(value).replace(tzinfo=tz).timestamp()
        elif _DATETIME.match(value):
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            # FHIR requires a zone with a time; one without is read in the city's zone.
            seconds = (moment if moment.tzinfo else moment.replace(tzinfo=tz)).timestamp()
        else:
            return None
    except (ValueError, OverflowError):  # month 13 or a leap second, which datetime cannot hold
        return None
    # 9999-12-31T23:00:00-05:00 is past any datetime in UTC: not a time a screen can show.
    return seconds if valid_time(seconds) else None


def reference_target(ref: Any, full_urls: Mapping[str, tuple[str, str]] | None = None
                     ) -> tuple[str, str] | None:
    """(type, id) of a Reference to a Location or Organization, or None (identifier-only, other)."""
    if not isinstance(ref, Mapping) or not isinstance(ref.get("reference"), str):
        return None
    text = ref["reference"].strip()
    if full_urls and text in full_urls:  # urn:uuid: or absolute fullUrl within the Bundle
        return full_urls[text]
    try:
        path = urlsplit(text).path if "://" in text else text
    except ValueError:  # "http://[x/Location/1": an unclosed IPv6 host names nothing
        return None
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 4 and parts[-2] == "_history":  # a versioned reference: Type/id/_history/v
        parts = parts[:-2]
    if len(parts) >= 2 and parts[-2] in _REF_TYPES and _ID.match(parts[-1]):
        return parts[-2], parts[-1]
    return None


def _codes(concept: Any) -> list[tuple[str | None, str]]:
    """(system, code) of each coding of a CodeableConcept that has a string code."""
    if not isinstance(concept, Mapping) or not isinstance(concept.get("coding"), list):
        return []
    return [(c.get("system") if isinstance(c.get("system"), str) else None, c["code"])
            for c in concept["coding"] if isinstance(c, Mapping) and isinstance(c.get("code"), str)]


def _snake(text: str) -> str:
    """A metric-name fragment: camelCase and punctuation to lower snake_case."""
    return re.sub(r"[^a-z0-9]+", "_", _CAMEL.sub("_", text).lower()).strip("_")


def _address_text(address: Any) -> str | None:
    """One line for a FHIR Address (its ``text`` when given, else its parts)."""
    if isinstance(address, list):  # Organization.address is 0..*; the first one is shown
        address = next((a for a in address if isinstance(a, Mapping)), None)
    if not isinstance(address, Mapping):
        return None
    if isinstance(address.get("text"), str) and address["text"].strip():
        return address["text"].strip()
    lines = [x for x in address.get("line") or [] if isinstance(x, str)] \
        if isinstance(address.get("line"), list) else []
    parts = lines + [address[k] for k in ("city", "district", "state", "postalCode", "country")
                     if isinstance(address.get(k), str)]
    return ", ".join(p.strip() for p in parts if p.strip()) or None


def _telecom(value: Any) -> list[dict[str, str]]:
    """The ContactPoints as small string dicts (system, value, use)."""
    if not isinstance(value, list):
        return []
    return [{k: c[k] for k in ("system", "value", "use") if isinstance(c.get(k), str)}
            for c in value if isinstance(c, Mapping) and isinstance(c.get("value"), str)]


def _outcome_text(outcome: Mapping[str, Any]) -> str:
    """The issues of an OperationOutcome as one line (severity, code, diagnostics)."""
    texts = []
    issues = outcome.get("issue")
    for issue in issues if isinstance(issues, list) else []:
        if not isinstance(issue, Mapping):
            continue
        details = issue.get("details")
        detail = details.get("text") if isinstance(details, Mapping) else None
        said = [str(x) for x in (issue.get("severity"), issue.get("code"),
                                 issue.get("diagnostics"), detail) if isinstance(x, str)]
        texts.append(" ".join(said))
    return "; ".join(t for t in texts if t) or "no diagnostics"


# -- resources --------------------------------------------------------------------------------------
def _decode(data: bytes) -> dict[str, Any]:
    """The top-level FHIR resource of a payload, or ParseError."""
    doc = decode_json(data, what="a FHIR resource")
    if not isinstance(doc, dict) or not isinstance(doc.get("resourceType"), str):
        raise ParseError("not a FHIR resource (a JSON object with resourceType)", data)
    if doc["resourceType"] == "OperationOutcome":
        raise ParseError(f"server sent an OperationOutcome: {_outcome_text(doc)}", data)
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


def _position(resource: Mapping[str, Any],
              bounds: tuple[float, float, float, float] | None) -> tuple[float | None,
                                                                         float | None,
                                                                         dict[str, Any]]:
    """(lat, lon, flags) of a Location: None, None when absent, invalid or outside ``bounds``."""
    position = resource.get("position")
    if position is None:
        return None, None, {}
    lat = position.get("latitude") if isinstance(position, Mapping) else None
    lon = position.get("longitude") if isinstance(position, Mapping) else None
    if (not isinstance(lat, (int, float)) or isinstance(lat, bool)
            or not isinstance(lon, (int, float)) or isinstance(lon, bool)
            or not valid_position(_as_float(lat), _as_float(lon))):
        return None, None, {"invalid_position": True}
    lat, lon = float(lat), float(lon)
    if bounds is not None:
        min_lat, min_lon, max_lat, max_lon = bounds
        if not (min_lat <= lat <= max_lat and min_lon <= lon <= max_lon):
            # Flagged, not drawn: wrong-sign longitudes (the SANER NJ and AK examples) land here.
            return None, None, {"out_of_bounds": True, "reported_position": [lat, lon]}
    return lat, lon, {}


def _as_float(number: int | float) -> float:
    """A JSON number as a float; an integer past float's range is infinite (so never valid)."""
    try:
        return float(number)
    except OverflowError:
        return math.inf


def _location(resource: Mapping[str, Any], prefix: str, feed: str, fetched_at: float,
              tz: dt.tzinfo, bounds: tuple[float, float, float, float] | None,
              org_names: Mapping[str, str]) -> Entity:
    """The hospital Entity of a Location."""
    lat, lon, flags = _position(resource, bounds)
    attrs: dict[str, Any] = {"fhir_id": resource["id"], **flags}
    if isinstance(resource.get("name"), str):
        attrs["name"] = resource["name"]
    address = _address_text(resource.get("address"))
    if address:
        attrs["address"] = address
    org = resource.get("managingOrganization")
    if isinstance(org, Mapping) and isinstance(org.get("reference"), str):
        attrs["managing_organization"] = org["reference"]
        target = reference_target(org)
        if target and target[1] in org_names:
            attrs["organization_name"] = org_names[target[1]]
    telecom = _telecom(resource.get("telecom"))
    if telecom:
        attrs["telecom"] = telecom
    types = [code for _system, code in _codes(next(iter(resource.get("type") or []), None))] \
        if isinstance(resource.get("type"), list) else []
    if types:
        attrs["type"] = types
    status = resource.get("status") if isinstance(resource.get("status"), str) else "unknown"
    # FHIR has no diversion flag of its own: a hospital Location "suspended" (temporarily not
    # available) is taken as on diversion, an "active" one as taking patients.
    if status in ("active", "suspended"):
        attrs["diversion"] = status == "suspended"
    when = _last_updated(resource, tz) or fetched_at
    return Entity(DOMAIN, "hospital", f"{prefix}:hospital:{resource['id']}", lat, lon, status,
                  when, feed, attrs)


def _organization(resource: Mapping[str, Any], prefix: str, feed: str, fetched_at: float,
                  tz: dt.tzinfo) -> Entity:
    """The organization Entity of an Organization (no position: FHIR gives it none)."""
    attrs: dict[str, Any] = {"fhir_id": resource["id"]}
    if isinstance(resource.get("name"), str):
        attrs["name"] = resource["name"]
    address = _address_text(resource.get("address"))
    if address:
        attrs["address"] = address
    telecom = _telecom(resource.get("telecom"))
    if telecom:
        attrs["telecom"] = telecom
    active = resource.get("active")
    status = "unknown" if not isinstance(active, bool) else "active" if active else "inactive"
    return Entity(DOMAIN, "organization", f"{prefix}:organization:{resource['id']}", None, None,
                  status, _last_updated(resource, tz) or fetched_at, feed, attrs)


def _last_updated(resource: Mapping[str, Any], tz: dt.tzinfo) -> float | None:
    """meta.lastUpdated of a resource as epoch seconds, if it has a valid one."""
    meta = resource.get("meta")
    return fhir_time(meta.get("lastUpdated"), tz) if isinstance(meta, Mapping) else None


def _report_entity(report: Mapping[str, Any], prefix: str,
                   full_urls: Mapping[str, tuple[str, str]],
                   location_of_org: Mapping[str, str]) -> str | None:
    """The entity id a MeasureReport is about: its subject, else its reporter; None if neither."""
    for field in ("subject", "reporter"):
        target = reference_target(report.get(field), full_urls)
        if target is None:
            continue  # identifier/display-only references name nothing we can key on
        kind, fhir_id = target
        if kind == "Location":
            return f"{prefix}:hospital:{fhir_id}"
        # An Organization that manages exactly one Location of this payload is that hospital.
        if fhir_id in location_of_org:
            return f"{prefix}:hospital:{location_of_org[fhir_id]}"
        return f"{prefix}:organization:{fhir_id}"
    return None


def population_metric(population: Mapping[str, Any], measure: Any) -> str | None:
    """Our metric for a MeasureReport population, or None when it names no measured value.

    A SANER MeasuredValues coding wins over the measure-population role coding beside it.
    Unmapped SANER codes keep their name (``saner_<code>``); draft-era populations with only a
    role are named by the measure and the role.
    """
    codes = _codes(population.get("code"))
    for system, code in codes:
        if system == SANER_VALUES:
            return SANER_METRICS.get(code) or f"saner_{_snake(code)}"
    roles = [code for system, code in codes if system in (MEASURE_POPULATION, None)]
    tail = measure.rstrip("/").rsplit("/", 1)[-1] if isinstance(measure, str) else ""
    if roles and tail:
        return f"saner_{_snake(tail)}_{_snake(roles[0])}"
    return None


def _count(population: Mapping[str, Any]) -> int | None | str:
    """The population's count; None when unknown (absent or data-absent-reason); a str = why bad."""
    if "count" not in population:
        return None  # "_count" with a data-absent-reason, or nothing: unknown, never zero
    count = population["count"]
    if isinstance(count, bool) or not isinstance(count, (int, float)) \
            or not math.isfinite(_as_float(count)) or count < 0 or int(count) != count:
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


def _measure_report(report: Mapping[str, Any], prefix: str, tz: dt.tzinfo,
                    full_urls: Mapping[str, tuple[str, str]],
                    location_of_org: Mapping[str, str],
                    counts: Counter[str]) -> list[ParseItem]:
    """The Observations of a MeasureReport (plus Rejecteds for its unusable populations)."""
    raw = json.dumps(report)
    if report.get("status") == "error":
        return [Rejected.of("MeasureReport status is 'error'", raw)]
    entity_id = _report_entity(report, prefix, full_urls, location_of_org)
    if entity_id is None:
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
            items.append(Observation(entity_id, metric, float(count), COUNT_UNIT, when))
    for available, total, occupied in DERIVED:
        if total in known and occupied in known:
            if known[occupied] > known[total]:
                items.append(Rejected.of(f"{occupied} {known[occupied]} exceeds {total} "
                                         f"{known[total]}: no {available}", raw))
            else:
                items.append(Observation(entity_id, available,
                                         float(known[total] - known[occupied]), COUNT_UNIT, when))
    if not any(isinstance(item, Observation) for item in items):
        counts["empty_reports"] += 1
    return items


# -- the payload ------------------------------------------------------------------------------------
def parse_fhir(data: bytes, feed: str, fetched_at: float, *, id_prefix: str | None = None,
               bounds: tuple[float, float, float, float] | None = None, tz: str = DEFAULT_TZ,
               counts: Counter[str] | None = None) -> Iterator[ParseItem]:
    """Yield a FeedHeader, then the Entities, Observations and Rejecteds of a FHIR payload.

    ``bounds`` (min_lat, min_lon, max_lat, max_lon) flags hospitals outside the city;
    ``tz`` (an IANA zone) places plain dates; ``counts``, when given, is incremented with what
    was skipped without a rejection (``data_absent`` populations, ``unmapped`` ones, ...).
    """
    prefix = id_prefix or feed
    zone = ZoneInfo(tz)
    tally: Counter[str] = counts if counts is not None else Counter()
    doc = _decode(data)
    flat = list(_flatten(doc))
    if doc.get("resourceType") == "Bundle" and not flat:
        raise ParseError("Bundle holds no entries", data)
    # Within a Bundle, references may be entry fullUrls (urn:uuid:...), not Type/id.
    full_urls: dict[str, tuple[str, str]] = {}
    org_names: dict[str, str] = {}
    managed: dict[str, list[str]] = {}
    for resource, _entry, full_url in flat:
        if resource is None or not isinstance(resource.get("id"), str):
            continue
        kind = resource["resourceType"]
        if full_url and kind in _REF_TYPES:
            full_urls[full_url] = (kind, resource["id"])
        if kind == "Organization" and isinstance(resource.get("name"), str):
            org_names[resource["id"]] = resource["name"]
        if kind == "Location":
            target = reference_target(resource.get("managingOrganization"))
            if target:
                managed.setdefault(target[1], []).append(resource["id"])
    location_of_org = {org: locs[0] for org, locs in managed.items() if len(locs) == 1}

    items: list[ParseItem] = []
    for resource, entry, _full_url in flat:
        if resource is None:
            items.append(Rejected.of("Bundle entry without a resource", json.dumps(entry)))
            continue
        kind = resource["resourceType"]
        if kind == "OperationOutcome":
            # A searchset's outcome entry: warnings from the server, kept for the dead letters.
            items.append(Rejected.of(f"OperationOutcome in Bundle: {_outcome_text(resource)}",
                                     json.dumps(resource)))
            continue
        if kind not in ("Location", "Organization", "MeasureReport"):
            items.append(Rejected.of(f"unsupported resource type {kind}", json.dumps(resource)))
            continue
        if kind != "MeasureReport" and not (isinstance(resource.get("id"), str)
                                            and _ID.match(resource["id"])):
            items.append(Rejected.of(f"{kind} without a valid id", json.dumps(resource)))
            continue
        if kind == "Location":
            items.append(_location(resource, prefix, feed, fetched_at, zone, bounds, org_names))
        elif kind == "Organization":
            items.append(_organization(resource, prefix, feed, fetched_at, zone))
        else:
            items.extend(_measure_report(resource, prefix, zone, full_urls, location_of_org, tally))
    if not any(not isinstance(item, Rejected) for item in items):
        first = next((f": {item.reason}" for item in items if isinstance(item, Rejected)), "")
        raise ParseError(f"FHIR payload holds no usable resource{first}", data)
    stamp = fhir_time(doc.get("timestamp"), zone) or _last_updated(doc, zone)
    if stamp is None:
        times = [i.observed_at for i in items if isinstance(i, (Entity, Observation))]
        stamp = max(times) if times else None
    # Never a full dataset: a search may be capped at max_pages, so absence proves nothing.
    yield FeedHeader(stamp, full_dataset=False)
    yield from items
