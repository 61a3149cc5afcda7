"""Small readers of FHIR R4 values (pure): dates, codings, addresses, contact points, outcomes.

Shared by the resource mappings (locations.py, fhir.py); each reader takes what a payload holds,
whatever its JSON type, and returns None or an empty value for what it cannot read.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any, Mapping

from app.model.records import valid_time

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?\Z")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
# OperationOutcome.issue.severity values that report no failure (R4 IssueSeverity).
ADVISORY = frozenset({"information", "warning"})


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


def last_updated(resource: Mapping[str, Any], tz: dt.tzinfo) -> float | None:
    """meta.lastUpdated of a resource as epoch seconds, if it has a valid one."""
    meta = resource.get("meta")
    return fhir_time(meta.get("lastUpdated"), tz) if isinstance(meta, Mapping) else None


def codes(concept: Any) -> list[tuple[str | None, str]]:
    """(system, code) of each coding of a CodeableConcept that has a string code."""
    if not isinstance(concept, Mapping) or not isinstance(concept.get("coding"), list):
        return []
    return [(c.get("system") if isinstance(c.get("system"), str) else None, c["code"])
            for c in concept["coding"] if isinstance(c, Mapping) and isinstance(c.get("code"), str)]


def all_codes(concepts: Any) -> list[tuple[str | None, str]]:
    """The codings of a CodeableConcept or of a list of them (Location.type is 0..*)."""
    if isinstance(concepts, list):
        return [pair for concept in concepts for pair in codes(concept)]
    return codes(concepts)


def snake(text: str) -> str:
    """A metric-name fragment: camelCase and punctuation to lower snake_case."""
    return re.sub(r"[^a-z0-9]+", "_", _CAMEL.sub("_", text).lower()).strip("_")


def address_text(address: Any) -> str | None:
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


def telecom(value: Any) -> list[dict[str, str]]:
    """The ContactPoints as small string dicts (system, value, use)."""
    if not isinstance(value, list):
        return []
    return [{k: c[k] for k in ("system", "value", "use") if isinstance(c.get(k), str)}
            for c in value if isinstance(c, Mapping) and isinstance(c.get("value"), str)]


def as_float(number: int | float) -> float:
    """A JSON number as a float; an integer past float's range is infinite (so never valid)."""
    try:
        return float(number)
    except OverflowError:
        return math.inf


def outcome_text(outcome: Mapping[str, Any]) -> str:
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


def outcome_severities(outcome: Mapping[str, Any]) -> set[str] | None:
    """The severities of an OperationOutcome's issues; None when it lists none it can read."""
    issues = outcome.get("issue")
    if not isinstance(issues, list) or not issues:
        return None
    if not all(isinstance(i, Mapping) and isinstance(i.get("severity"), str) for i in issues):
        return None  # an issue without a severity could be anything: not read as advice
    return {i["severity"] for i in issues}


def advisory(outcome: Mapping[str, Any]) -> bool:
    """True for an OperationOutcome that only informs or warns (a search that found nothing, a
    parameter the server ignored): an answer, not a failure."""
    severities = outcome_severities(outcome)
    return severities is not None and severities <= ADVISORY
