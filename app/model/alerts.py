"""The alert vocabulary: severities, lifecycle states, alert ids and the limits of an alert's text."""

from __future__ import annotations

import hashlib
import re
from typing import Any, Mapping

SEVERITIES: tuple[str, ...] = ("critical", "major", "minor", "warning", "info")
SEVERITY_RANK: dict[str, int] = {s: i for i, s in enumerate(SEVERITIES)}
# One colour per severity wherever one is shown (screens, map, e-mail); assets/alerts.css holds
# the same values as --sev-* (tests/unit/test_severity_colours.py keeps them equal). Okabe-Ito
# colours: told apart with the common colour-vision deficiencies too.
SEVERITY_COLOURS: dict[str, str] = {"critical": "#D55E00", "major": "#E69F00", "minor": "#0072B2",
                                    "warning": "#CC79A7", "info": "#8C8C8C"}
# active_unack -> active_ack -> cleared_ack, or active_unack -> cleared_unack -> cleared_ack
# (docs/alerts.md); cleared_ack is closed.
STATES: tuple[str, ...] = ("active_unack", "active_ack", "cleared_unack", "cleared_ack")
UNACKED = frozenset({"active_unack", "cleared_unack"})
ACTIVE = frozenset({"active_unack", "active_ack"})
CLOSED = "cleared_ack"
MAX_TITLE = 200
MAX_DESCRIPTION = 2000
MAX_NOTE = 1000
ALERT_ID = re.compile(r"^al-[0-9a-f]{16}$")


def alert_id_for(fingerprint: str) -> str:
    """The alert id of a fingerprint: the same condition always maps to the same alert."""
    return "al-" + hashlib.sha256(fingerprint.encode("utf-8")).hexdigest()[:16]


def newest_unacked_first(alert: Mapping[str, Any]) -> tuple[int, float]:
    """Sort key: unacknowledged before acknowledged, then the newest occurrence first."""
    return (0 if alert["state"] in UNACKED else 1, -(alert.get("last_seen") or 0.0))


def most_urgent_first(alert: Mapping[str, Any]) -> tuple[int, int, float]:
    """Sort key of the wall: unacknowledged first, then by severity, then newest first."""
    return (0 if alert["state"] in UNACKED else 1, SEVERITY_RANK.get(alert["severity"], 9),
            -(alert.get("last_seen") or 0.0))
