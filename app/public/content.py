"""What the public may see, read at one moment: warnings in force and incidents an operator made public.

Everything here is a plain value fit for a citizen: feed text cleaned (no control or reordering
characters, bounded length), codes kept only where the page turns them into words (severity,
level, status), and no id, no operator's name, no internal number. The ``key`` of a warning is
private: the CAP writer digests it into a message identifier and the page never shows it.
Transit and water problems are read in app/public/services.py.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import redis

from app import incidents, store
from app.model.alerts import SEVERITY_RANK
from app.model.domains import DOMAINS
from app.model.incidents import CLOSED, LEVEL_SEVERITY
from app.model.text import BIDI_CONTROLS, xml_safe

CAP_KIND = "cap_warning"
# A public incident closed this recently still has its Cancel in the feed, so that platforms
# which took the warning learn that it is over; the page shows only what is in force.
CANCEL_KEPT_S = 3600.0
MAX_HEADLINE = 300
MAX_TEXT = 4000
_BIDI = re.compile("[" + "".join(sorted(BIDI_CONTROLS)) + "]")
_SPACES = re.compile(r"[ \t]+")


def clean(text: object, most: int = MAX_HEADLINE) -> str:
    """Feed or operator text made fit to publish: characters XML forbids and bidirectional
    controls dropped, runs of spaces folded, at most ``most`` characters (an ellipsis when cut)."""
    if text is None:
        return ""
    value = _SPACES.sub(" ", _BIDI.sub("", xml_safe(text))).strip()
    return value if len(value) <= most else value[:most - 1].rstrip() + "…"


@dataclass(frozen=True)
class PublicWarning:
    """One warning in force (or just cancelled): from a CAP feed, or an incident made public."""

    key: str  # private: the source's own identity, digested for CAP identifiers, never shown
    origin: str  # "cap" (a warning from a feed) or "incident"
    severity: str  # ours: critical, major, minor, warning, info
    headline: str
    event: str
    event_zh: str
    area: str
    description: str
    instruction: str
    onset: float | None
    expires: float | None
    sent: float
    cancelled: bool = False
    level: str = ""  # an incident's level (I-IV)
    status: str = ""  # an incident's status (declared, responding, stabilised, closed)
    updated: float = 0.0
    source: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def rank(self) -> tuple[int, float]:
        """Gravest first, then newest."""
        return (SEVERITY_RANK.get(self.severity, 9), -self.sent)


def _float(value: Any) -> float | None:
    try:
        return float(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


def cap_warnings(r: redis.Redis, now: float) -> list[PublicWarning]:
    """The CAP warnings the CAP adapter stored, meant for the public and not expired."""
    found = []
    for domain in DOMAINS:
        for event in store.entities.read_events(r, domain):
            if event.get("kind") != CAP_KIND:
                continue
            attrs = event.get("attrs") or {}
            # Only what its sender meant for everyone: a Restricted or Private message stays in.
            if attrs.get("scope") != "Public" or attrs.get("status") != "Actual":
                continue
            expires = _float(event.get("ends_at"))
            if expires is not None and expires < now:
                continue
            sent = _float(event.get("observed_at")) or now
            found.append(PublicWarning(
                key=str(event.get("id") or ""), origin="cap",
                severity=str(event.get("severity") or "info"),
                headline=clean(event.get("title")), event=clean(attrs.get("event")),
                event_zh=clean(attrs.get("event")), area=clean(attrs.get("areaDesc")),
                description=clean(attrs.get("description"), MAX_TEXT),
                instruction=clean(attrs.get("instruction"), MAX_TEXT),
                onset=_float(event.get("starts_at")), expires=expires, sent=sent,
                cancelled=attrs.get("msgType") == "Cancel", updated=sent, source=event))
    return found


def _incident_warning(incident: Mapping[str, Any]) -> PublicWarning:
    closed = incident["status"] == CLOSED
    updated = incident.get("updated_at") or incident.get("public_at") or 0.0
    return PublicWarning(
        key=str(incident["id"]), origin="incident",
        severity=LEVEL_SEVERITY.get(incident["level"], "warning"),
        headline=clean(incident["title"]), event=clean(incident["type_name"] or incident["title"]),
        event_zh=clean(incident["type_name_zh"] or incident["type_name"] or incident["title"]),
        area="", description=clean(incident["description"], MAX_TEXT), instruction="",
        onset=incident.get("declared_at"), expires=None,
        sent=float(incident.get("public_at") or updated), cancelled=closed,
        level=str(incident["level"]), status=str(incident["status"]), updated=float(updated),
        source=incident)


def incident_warnings(r: redis.Redis, now: float) -> list[PublicWarning]:
    """Incidents an operator made public: open ones, and ones closed within CANCEL_KEPT_S."""
    open_ones = incidents.list_incidents(r, open_only=True, limit=500, now=now)
    closed = incidents.list_incidents(r, statuses=[CLOSED], limit=50, now=now)
    recent = [i for i in closed if (i.get("closed_at") or 0) >= now - CANCEL_KEPT_S]
    return [_incident_warning(i) for i in open_ones + recent if i.get("public")]


@dataclass(frozen=True)
class PublicView:
    """Everything the page and the feed show, read at ``at``."""

    at: float
    warnings: tuple[PublicWarning, ...]  # in force and cancelled ones, gravest first
    disruptions: tuple[Any, ...] = ()  # services.Disruption
    late_lines: tuple[Any, ...] = ()  # services.LateLine
    other_late_lines: int = 0
    water_zones: tuple[Any, ...] = ()  # services.ZoneProblem

    @property
    def in_force(self) -> list[PublicWarning]:
        """The warnings the page lists (every warning not cancelled)."""
        return [w for w in self.warnings if not w.cancelled]

    @property
    def incidents(self) -> list[PublicWarning]:
        """The public incidents that are still open, for their own section."""
        return [w for w in self.warnings if w.origin == "incident" and not w.cancelled]


def ranked(warnings: Iterable[PublicWarning]) -> tuple[PublicWarning, ...]:
    """Gravest first, then newest."""
    return tuple(sorted(warnings, key=lambda w: w.rank))


def read_warnings(r: redis.Redis, now: float | None = None) -> tuple[PublicWarning, ...]:
    """Every warning for the public now (feed warnings and public incidents), gravest first."""
    now = time.time() if now is None else now
    return ranked([*cap_warnings(r, now), *incident_warnings(r, now)])
