"""The demo city's hospitals as a FHIR R4 server: Location, Organization and SANER bed capacity.

Each hospital is a ``Location`` (type HOSP, with a position) run by an ``Organization``, and
reports its bed capacity every 5 minutes as a SANER ``MeasureReport`` (measure
CDCPatientImpactAndHospitalCapacity: numbeds, numBedsOcc, numICUBeds, numICUBedsOcc, numVent,
numVentUse). Occupancy follows a daily pattern (admissions outpace discharges through the day:
evening peak, morning low); in the rainstorm the hospitals fill up, the flooded district's most,
and the trickle (trickle.py) brings one hospital near capacity now and then.
Searches return ``searchset`` Bundles paged by ``next`` links; unknown search parameters are
ignored as FHIR's default lenient handling says.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import parse_qsl, quote, urlencode

import numpy as np

from data_adapters.simulator.city import CityModel, points_in_polygon
from data_adapters.simulator.patterns import (
    hospital_load,
    iso_local,
    local_hours,
    smooth_noise,
    uniform,
    zone,
)
from data_adapters.simulator.scenario import Scenario
from data_adapters.simulator.trickle import Trickle

DEFAULT_HOSPITALS = 8
MAX_HOSPITALS = 2_000
REPORT_S = 300
DEFAULT_COUNT = 20
MAX_COUNT = 500
FHIR_JSON = "application/fhir+json"
SANER_MEASURE = "http://hl7.org/fhir/uv/saner/Measure/CDCPatientImpactAndHospitalCapacity"
SANER_VALUES = "http://hl7.org/fhir/uv/saner/CodeSystem/MeasuredValues"
SANER_GROUPS = "http://hl7.org/fhir/uv/saner/CodeSystem/MeasureGroupSystem"
MEASURE_POPULATION = "http://terminology.hl7.org/CodeSystem/measure-population"
ROLE_CODES = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
# Set when the city was first published: hospitals do not change during a demo.
PUBLISHED = "2024-01-01T00:00:00+08:00"
STORM_RISE_FLOODED = 0.14
STORM_RISE_ELSEWHERE = 0.05

# (name, district the name ties it to or None, size): size 0 large, 1 general, 2 small.
HOSPITALS: tuple[tuple[str, str | None, int], ...] = (
    ("Yiyang Central Hospital", None, 0),
    ("Yiyang Hospital of Traditional Chinese Medicine", None, 1),
    ("Heshan District People's Hospital", "Heshan", 1),
    ("Ziyang District People's Hospital", "Ziyang", 1),
    ("Yiyang Maternal and Child Health Hospital", None, 2),
    ("Yiyang Third People's Hospital", None, 1),
    ("Gaoxin District Hospital", "Gaoxin", 2),
    ("Huilongshan Community Hospital", "Huilongshan", 2),
    ("Changchun Community Hospital", "Changchun", 2),
)
BEDS = ((900, 1500), (300, 650), (80, 220))


@dataclass(frozen=True)
class Hospital:
    """One hospital: its FHIR ids, place and capacity."""

    index: int
    id: str              # Location id
    organization: str    # Organization id
    name: str
    district: str
    node: int
    lon: float
    lat: float
    address: str
    beds: int
    icu_beds: int
    ventilators: int


class HospitalNetwork:
    """The city's hospitals and their bed capacity at any time."""

    def __init__(self, city: CityModel, seed: int = 1, hospitals: int = DEFAULT_HOSPITALS,
                 scenario: Scenario | None = None, trickle: Trickle | None = None) -> None:
        if not 1 <= hospitals <= MAX_HOSPITALS:
            raise ValueError(f"hospitals must be from 1 to {MAX_HOSPITALS}")
        self.city, self.seed, self.scenario, self.trickle = city, seed, scenario, trickle
        self.tz = zone(city.timezone)
        nodes = np.array(city.nodes)
        by_name = {d.name: d for d in city.districts}
        in_district = {d.name: np.flatnonzero(points_in_polygon(nodes[:, 0], nodes[:, 1], d.polygon))
                       for d in city.districts}
        self.hospitals: list[Hospital] = []
        for k in range(hospitals):
            if k < len(HOSPITALS):
                name, tied, size = HOSPITALS[k]
            else:
                tied, size = None, 2
                name = ""
            district = by_name[tied] if tied in by_name else city.districts[k % len(city.districts)]
            if not name:
                name = f"{district.name} Community Health Centre {k + 1}"
            candidates = in_district[district.name]
            if not len(candidates):
                candidates = np.arange(len(nodes))
            node = int(candidates[int(uniform(seed, 80, k, 0)[0] * len(candidates))])
            column, row = city.node_lines[node]
            road, cross = city.row_names[row], city.column_names[column]
            low, high = BEDS[size]
            beds = int(low + (high - low) * uniform(seed, 81, k, 0)[0])
            icu = max(4, int(beds * (0.04 + 0.04 * uniform(seed, 82, k, 0)[0])))
            vents = max(3, int(icu * (0.8 + 0.4 * uniform(seed, 83, k, 0)[0])))
            number = 2 * int(1 + 300 * uniform(seed, 84, k, 0)[0]) + 1
            self.hospitals.append(Hospital(
                k, f"hosp-{k + 1}", f"org-{k + 1}", name, district.name, node,
                float(nodes[node, 0]), float(nodes[node, 1]), f"{number} {road} (at {cross})",
                beds, icu, vents))
        n = len(self.hospitals)
        ids = np.arange(n)
        self.flooded = np.array([h.district == (scenario.district.name if scenario else "")
                                 for h in self.hospitals])
        self.base = 0.72 + 0.14 * uniform(seed, 85, ids, 0)
        self.icu_base = 0.6 + 0.25 * uniform(seed, 86, ids, 0)
        self.vent_share = 0.4 + 0.3 * uniform(seed, 87, ids, 0)

    # -- capacity ------------------------------------------------------------------------------
    def report_time(self, now: float) -> int:
        """The time of the newest capacity reports at ``now``."""
        return int(math.floor(now / REPORT_S) * REPORT_S)

    def capacity(self, index: Any, when: float) -> dict[str, np.ndarray]:
        """Bed, ICU and ventilator counts of hospitals ``index`` at report time ``when``."""
        k = np.asarray(index, dtype=np.int64)
        t = np.full(k.shape, float(when))
        hours = local_hours(t, self.tz)
        occupancy = self.base[k] * hospital_load(hours) + 0.025 * smooth_noise(self.seed, 88, k, t, 7200.0)
        if self.scenario is not None:
            rise = np.where(self.flooded[k], STORM_RISE_FLOODED, STORM_RISE_ELSEWHERE)
            occupancy = occupancy + rise * self.scenario.level("hospital_load", t)
        if self.trickle is not None:  # a hospital near capacity now and then
            occupancy = self.trickle.occupancy(len(self.hospitals), k, float(when), occupancy)
        occupancy = np.clip(occupancy, 0.2, 0.995)
        icu_share = np.clip(self.icu_base[k] + 0.6 * (occupancy - self.base[k])
                            + 0.04 * smooth_noise(self.seed, 89, k, t, 5400.0), 0.05, 1.0)
        beds = np.array([self.hospitals[i].beds for i in k.tolist()], dtype=np.int64)
        icu = np.array([self.hospitals[i].icu_beds for i in k.tolist()], dtype=np.int64)
        vents = np.array([self.hospitals[i].ventilators for i in k.tolist()], dtype=np.int64)
        icu_occupied = np.minimum(icu, np.rint(icu * icu_share).astype(np.int64))
        return {"numbeds": beds, "numBedsOcc": np.minimum(beds, np.rint(beds * occupancy).astype(np.int64)),
                "numICUBeds": icu, "numICUBedsOcc": icu_occupied, "numVent": vents,
                "numVentUse": np.minimum(vents, np.rint(icu_occupied * self.vent_share[k]).astype(np.int64))}


class FhirService:
    """Answers FHIR R4 reads and searches over a :class:`HospitalNetwork` at a given time."""

    def __init__(self, network: HospitalNetwork) -> None:
        self.network = network
        self._by_id = {h.id: h for h in network.hospitals}
        self._by_org = {h.organization: h for h in network.hospitals}

    def handle(self, base: str, path: str, query_string: str, now: float) -> tuple[int, bytes]:
        """(HTTP status, FHIR JSON) for ``path`` below the FHIR base (``/Location?...``)."""
        base = base.rstrip("/")
        parts = [p for p in path.split("/") if p]
        params = dict(parse_qsl(query_string, keep_blank_values=True))
        try:
            if parts == ["metadata"]:
                return 200, _json(self.capability(now))
            if len(parts) == 1 and parts[0] in ("Location", "Organization", "MeasureReport"):
                return 200, _json(self.search(base, parts[0], params, now))
            if len(parts) == 2 and parts[0] in ("Location", "Organization", "MeasureReport"):
                resource = self.read(parts[0], parts[1], now)
                if resource is not None:
                    return 200, _json(resource)
                return 404, _json(outcome("not-found", f"{parts[0]}/{parts[1]} is not known"))
        except ValueError as exc:
            return 400, _json(outcome("invalid", str(exc)))
        return 404, _json(outcome("not-supported", f"no such FHIR endpoint: /{'/'.join(parts)}"))

    # -- resources -----------------------------------------------------------------------------
    def location(self, h: Hospital) -> dict[str, Any]:
        """The hospital's Location."""
        return {
            "resourceType": "Location", "id": h.id, "meta": {"lastUpdated": PUBLISHED},
            "status": "active", "name": h.name, "mode": "instance",
            "type": [{"coding": [{"system": ROLE_CODES, "code": "HOSP", "display": "Hospital"}]}],
            "telecom": [{"system": "phone", "value": _phone(h), "use": "work"}],
            "address": _address(h, self.network.city.name),
            "physicalType": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/location-physical-type",
                                         "code": "bu", "display": "Building"}]},
            "position": {"longitude": h.lon, "latitude": h.lat},
            "managingOrganization": {"reference": f"Organization/{h.organization}", "display": h.name},
        }

    def organization(self, h: Hospital) -> dict[str, Any]:
        """The Organization that runs the hospital."""
        return {
            "resourceType": "Organization", "id": h.organization, "meta": {"lastUpdated": PUBLISHED},
            "active": True,
            "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type",
                                  "code": "prov", "display": "Healthcare Provider"}]}],
            "name": h.name, "telecom": [{"system": "phone", "value": _phone(h), "use": "work"}],
            "address": [_address(h, self.network.city.name)],
        }

    def measure_report(self, h: Hospital, when: int, counts: Mapping[str, int]) -> dict[str, Any]:
        """A SANER bed-capacity MeasureReport of the hospital for the 5 minutes ending at ``when``."""
        tz = self.network.tz

        def population(code: str, role: str) -> dict[str, Any]:
            return {"code": {"coding": [{"system": SANER_VALUES, "code": code},
                                        {"system": MEASURE_POPULATION, "code": role}]},
                    "count": int(counts[code])}

        return {
            "resourceType": "MeasureReport", "id": f"{h.id}-{when}",
            "meta": {"lastUpdated": iso_local(when, tz),
                     "profile": ["http://hl7.org/fhir/uv/saner/StructureDefinition/PublicHealthMeasureReport"]},
            "status": "complete", "type": "summary", "measure": SANER_MEASURE,
            "subject": {"reference": f"Location/{h.id}", "display": h.name},
            "reporter": {"reference": f"Organization/{h.organization}", "display": h.name},
            "date": iso_local(when, tz),
            "period": {"start": iso_local(when - REPORT_S, tz), "end": iso_local(when, tz)},
            "group": [
                {"code": {"coding": [{"system": SANER_GROUPS, "code": "Beds"}]},
                 "population": [population("numbeds", "initial-population"),
                                population("numBedsOcc", "measure-population"),
                                population("numICUBeds", "initial-population"),
                                population("numICUBedsOcc", "measure-population")]},
                {"code": {"coding": [{"system": SANER_GROUPS, "code": "Ventilators"}]},
                 "population": [population("numVent", "initial-population"),
                                population("numVentUse", "measure-population")]},
            ],
        }

    def reports(self, hospitals: list[Hospital], now: float) -> list[dict[str, Any]]:
        """The newest MeasureReport of each hospital at ``now``."""
        when = self.network.report_time(now)
        counts = self.network.capacity([h.index for h in hospitals], when)
        return [self.measure_report(h, when, {code: int(values[k]) for code, values in counts.items()})
                for k, h in enumerate(hospitals)]

    def read(self, kind: str, resource_id: str, now: float) -> dict[str, Any] | None:
        """One resource by id, or None."""
        if kind == "Location":
            h = self._by_id.get(resource_id)
            return self.location(h) if h else None
        if kind == "Organization":
            h = self._by_org.get(resource_id)
            return self.organization(h) if h else None
        location, _, stamp = resource_id.rpartition("-")
        h = self._by_id.get(location)
        if h is None or not stamp.isdigit():
            return None
        when = int(stamp)
        if when % REPORT_S or when > self.network.report_time(now):
            return None
        counts = self.network.capacity([h.index], when)
        return self.measure_report(h, when, {code: int(v[0]) for code, v in counts.items()})

    # -- search --------------------------------------------------------------------------------
    def search(self, base: str, kind: str, params: Mapping[str, str], now: float) -> dict[str, Any]:
        """A searchset Bundle page of ``kind`` (``_count`` per page, ``_offset`` where it starts)."""
        count = _int(params.get("_count"), DEFAULT_COUNT, "_count", 0)
        count = min(count, MAX_COUNT)
        offset = _int(params.get("_offset"), 0, "_offset", 0)
        matches = self._matches(kind, params, now)
        page = matches[offset:offset + count]
        if kind == "Location":
            resources = [self.location(h) for h in page]
        elif kind == "Organization":
            resources = [self.organization(h) for h in page]
        else:
            resources = self.reports(page, now)
        entries = [{"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r,
                    "search": {"mode": "match"}} for r in resources]
        if kind == "Location" and "Location:organization" in params.get("_include", ""):
            entries += [{"fullUrl": f"{base}/Organization/{h.organization}", "resource": self.organization(h),
                         "search": {"mode": "include"}} for h in page]
        links = [{"relation": "self", "url": _url(base, kind, params)}]
        if offset + count < len(matches) and count > 0:
            following = {**params, "_offset": str(offset + count)}
            links.append({"relation": "next", "url": _url(base, kind, following)})
        return {"resourceType": "Bundle", "id": f"search-{kind.lower()}-{int(now)}-{offset}",
                "meta": {"lastUpdated": iso_local(now, self.network.tz)}, "type": "searchset",
                "total": len(matches), "link": links, "entry": entries}

    def _matches(self, kind: str, params: Mapping[str, str], now: float) -> list[Hospital]:
        """The hospitals whose resources of ``kind`` match the supported search parameters."""
        found = list(self.network.hospitals)
        if kind == "Location" and params.get("type"):
            codes = {c.rpartition("|")[2] for c in params["type"].split(",")}
            found = found if "HOSP" in codes else []
        if "_id" in params:
            wanted = set(params["_id"].split(","))
            found = [h for h in found if (h.organization if kind == "Organization" else h.id) in wanted]
        if kind == "MeasureReport":
            if params.get("measure") and params["measure"].split("|")[0] != SANER_MEASURE:
                found = []
            if params.get("subject"):
                wanted = {s.rpartition("/")[2] for s in params["subject"].split(",")}
                found = [h for h in found if h.id in wanted]
            if params.get("date") and not _date_matches(params["date"], self.network.report_time(now),
                                                        self.network.tz):
                found = []
        return found

    def capability(self, now: float) -> dict[str, Any]:
        """A small CapabilityStatement: what this server can search."""
        searchable = (("Location", (("type", "token"), ("_id", "token"))),
                      ("Organization", (("_id", "token"),)),
                      ("MeasureReport", (("measure", "reference"), ("subject", "reference"),
                                         ("date", "date"))))
        resources = [{"type": kind, "interaction": [{"code": "read"}, {"code": "search-type"}],
                      "searchParam": [{"name": name, "type": kind_of} for name, kind_of in params]}
                     for kind, params in searchable]
        return {"resourceType": "CapabilityStatement", "status": "active", "kind": "instance",
                "date": iso_local(now, self.network.tz), "fhirVersion": "4.0.1", "format": ["json"],
                "rest": [{"mode": "server", "resource": resources}]}


def outcome(code: str, text: str) -> dict[str, Any]:
    """An OperationOutcome with one error issue."""
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": text}]}


def _json(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def _int(value: str | None, default: int, name: str, minimum: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{name} must be an integer, not {value!r}") from None
    if number < minimum:
        raise ValueError(f"{name} must be at least {minimum}")
    return number


def _url(base: str, kind: str, params: Mapping[str, str]) -> str:
    query = urlencode(dict(params), quote_via=quote, safe=":/|,")
    return f"{base}/{kind}?{query}" if query else f"{base}/{kind}"


def _date_matches(text: str, when: int, tz: dt.tzinfo) -> bool:
    """FHIR date search (``ge2024-01-01``, ``lt2026-01-01T10:00:00+08:00``) against a report time."""
    prefix, value = (text[:2], text[2:]) if text[:2] in ("eq", "ne", "gt", "lt", "ge", "le") else ("eq", text)
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"date must be a FHIR date or dateTime, not {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    bound = moment.timestamp()
    return {"eq": when == bound, "ne": when != bound, "gt": when > bound, "lt": when < bound,
            "ge": when >= bound, "le": when <= bound}[prefix]


def _address(h: Hospital, city: str) -> dict[str, Any]:
    return {"use": "work", "type": "physical", "line": [h.address], "city": city, "district": h.district,
            "state": "Hunan", "postalCode": "413000", "country": "CN"}


def _phone(h: Hospital) -> str:
    return f"+86 737 {4_200_000 + 131 * h.index:07d}"
