"""The CAP vocabulary CityOps shares: CAP severities mapped to ours and back, and CAP event ids."""

from __future__ import annotations

import re

# CAP <severity> -> ours. Urgency only matters for Extreme, which is critical either way; the
# pair is listed so that the table reads as the documented mapping (README.md).
SEVERITY_TABLE: dict[tuple[str, str | None], str] = {
    ("Extreme", "Immediate"): "critical",
    ("Extreme", None): "critical",
    ("Severe", None): "major",
    ("Moderate", None): "minor",
    ("Minor", None): "warning",
    ("Unknown", None): "info",
}
# Ours -> CAP <severity>, for alerts the command center would publish as CAP.
CAP_SEVERITY_OF: dict[str, str] = {"critical": "Extreme", "major": "Severe", "minor": "Moderate",
                                   "warning": "Minor", "info": "Unknown"}
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9._@+\-]")


def map_severity(severity: str | None, urgency: str | None = None,
                 certainty: str | None = None) -> str:
    """Our severity (critical, major, minor, warning, info) for a CAP severity/urgency/certainty."""
    # Certainty is kept in attrs for the operator; the documented table does not weigh it.
    del certainty
    sev = (severity or "").strip()
    urg = (urgency or "").strip()
    return SEVERITY_TABLE.get((sev, urg), SEVERITY_TABLE.get((sev, None), "info"))


def cap_id(prefix: str, identifier: str, sender: str) -> str:
    """The Event id of a CAP alert: ``{prefix}:cap:{identifier}:{sender}``, unsafe chars as "_"."""
    # ":" separates the parts and senders are often URLs, so both parts lose their ":" and "/".
    return f"{prefix}:cap:{_UNSAFE_ID.sub('_', identifier)}:{_UNSAFE_ID.sub('_', sender)}"
