"""HL7 FHIR R4 resources built by hand: Locations, SANER MeasureReports, Bundles."""

from __future__ import annotations

import json
from typing import Any

YIYANG = (28.3, 112.1, 28.8, 112.6)  # min_lat, min_lon, max_lat, max_lon


SANER = "http://hl7.org/fhir/uv/saner/CodeSystem/MeasuredValues"


ROLE = "http://terminology.hl7.org/CodeSystem/measure-population"


DAR = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"


# -- fixtures built in code -------------------------------------------------------------------------
def location(fid: str = "h1", lat: float | None = 28.55, lon: float | None = 112.36,
             **extra: Any) -> dict[str, Any]:
    """A hospital Location in Yiyang."""
    res: dict[str, Any] = {"resourceType": "Location", "id": fid, "status": "active",
                           "name": "Yiyang Central Hospital",
                           "address": {"line": ["118 Kangfu Rd"], "city": "Yiyang"},
                           "telecom": [{"system": "phone", "value": "0737-1234567"}],
                           "managingOrganization": {"reference": "Organization/o1"}}
    if lat is not None:
        res["position"] = {"latitude": lat, "longitude": lon}
    res.update(extra)
    return res


def population(code: str, count: int | None, role: str | None = None) -> dict[str, Any]:
    """A SANER population; count None = sent with a data-absent-reason instead."""
    coding = [{"system": SANER, "code": code}] + ([{"system": ROLE, "code": role}] if role else [])
    pop: dict[str, Any] = {"code": {"coding": coding}}
    if count is None:
        pop["_count"] = {"extension": [{"url": DAR, "valueCode": "unsupported"}]}
    else:
        pop["count"] = count
    return pop


def report(date: str | None = "2024-03-01", subject: str | None = "Location/h1",
           populations: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    """A SANER bed-capacity MeasureReport."""
    res: dict[str, Any] = {
        "resourceType": "MeasureReport", "id": "mr1", "status": "complete", "type": "summary",
        "measure": "http://hl7.org/fhir/uv/saner/Measure/CDCPatientImpactAndHospitalCapacity",
        "reporter": {"reference": "Organization/o1"},
        "period": {"start": "2024-02-29", "end": "2024-02-29"},
        "group": [{"population": populations if populations is not None else [
            population("numbeds", 200, "initial-population"), population("numBedsOcc", 150),
            population("numICUBeds", 20), population("numICUBedsOcc", 18),
            population("numVent", 10), population("numVentUse", 4)]}]}
    if date is not None:
        res["date"] = date
    if subject is not None:
        res["subject"] = {"reference": subject}
    res.update(extra)
    return res


def bundle(*resources: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A searchset Bundle of the resources."""
    return {"resourceType": "Bundle", "type": "searchset",
            "entry": [{"resource": r} for r in resources], **extra}


def outcome(*severities: str) -> dict[str, Any]:
    """An OperationOutcome with one issue of each severity (information, warning, error, fatal)."""
    return {"resourceType": "OperationOutcome", "issue": [
        {"severity": severity, "code": "informational", "diagnostics": f"{severity} note"}
        for severity in severities]}


def dumps(doc: Any) -> bytes:
    """JSON bytes of a fixture."""
    return json.dumps(doc).encode()
