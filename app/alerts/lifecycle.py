"""The alert lifecycle: raise (dedup by fingerprint, reopen), acknowledge, assign, claim, resolve, escalate.

An alert is the command center's own object. Its id is derived from its fingerprint (rule +
entity), so a condition that repeats or returns lands on the same alert: a repeat bumps its count
and last_seen, a return after clearing reopens it. Every step is one atomic script in app/store.py
that also writes the alert's timeline; the installation's audit log gets the same line right after
(it lives in another cluster slot). When two people act at once exactly one wins; the other gets
:class:`Conflict` saying who acted and when.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import orjson
import redis

from app import store
from app.alerts.errors import AlertError, AlertNotFound, Conflict
from app.alerts.queries import get_alert
from app.model.alerts import ALERT_ID, MAX_DESCRIPTION, MAX_NOTE, MAX_TITLE, SEVERITIES, alert_id_for
from app.model.domains import DOMAINS

SYSTEM_ACTOR = "system:rules"
SYSTEM_ADDR = "runner"


@dataclass(frozen=True)
class Raised:
    """What raising an alert did: created, repeated or reopened it."""

    alert_id: str
    outcome: str
    state: str


def _now(now: float | None) -> float:
    return time.time() if now is None else now


def _audit(r: redis.Redis, actor: str, action: str, alert_id: str, addr: str, outcome: str = "ok",
           detail: str = "") -> None:
    """Mirror a lifecycle step into the installation's audit log (append-only, never trimmed)."""
    store.audit.append(r, actor, f"alert_{action}", target=alert_id, addr=addr, outcome=outcome,
                detail=detail)


def _check_choice(value: str, allowed: Sequence[str], what: str) -> str:
    if value not in allowed:
        raise AlertError(f"unknown {what} '{value}': use one of {', '.join(allowed)}")
    return value


def raise_alert(r: redis.Redis, *, fingerprint: str, title: str, severity: str, domain: str,
                source: str, rule: str = "", entity: str = "", lat: float | None = None,
                lon: float | None = None, description: str = "",
                area: Mapping[str, Any] | None = None, actor: str = SYSTEM_ACTOR,
                addr: str = SYSTEM_ADDR, now: float | None = None, title_zh: str = "") -> Raised:
    """Raise the alert of ``fingerprint``: create it, bump a repeat, or reopen it if it had cleared.
    ``title_zh``: the title in Chinese, when the source has one (a rule's ``title_zh``)."""
    _check_choice(severity, SEVERITIES, "severity")
    _check_choice(domain, DOMAINS, "domain")
    located = lat is not None and lon is not None and math.isfinite(lat) and math.isfinite(lon)
    fields = {
        "title": title[:MAX_TITLE] or "(untitled)", "title_zh": title_zh[:MAX_TITLE],
        "severity": severity, "domain": domain,
        "source": source, "rule": rule, "entity": entity[:300],
        "description": description[:MAX_DESCRIPTION],
        "lat": f"{lat:.6f}" if located else "", "lon": f"{lon:.6f}" if located else "",
        "area": orjson.dumps(area).decode() if area else "",
    }
    alert_id = alert_id_for(fingerprint)
    outcome, state = store.alerts.raise_alert(r, alert_id, fingerprint, fields, actor=actor, addr=addr,
                                       now=_now(now))
    if outcome == "collision":
        raise AlertError(f"alert id {alert_id} belongs to another fingerprint")
    _audit(r, actor, outcome, alert_id, addr, detail=fields["title"])
    return Raised(alert_id, outcome, state)


def raise_manual(r: redis.Redis, *, title: str, domain: str, severity: str, actor: str,
                 lat: float | None = None, lon: float | None = None, description: str = "",
                 addr: str = "", now: float | None = None) -> dict[str, Any]:
    """An incident raised by hand (a phone call): always a new alert."""
    raised = raise_alert(r, fingerprint=f"manual:{uuid.uuid4().hex}", title=title,
                         severity=severity, domain=domain, source="manual", rule="manual",
                         entity=actor, lat=lat, lon=lon, description=description, actor=actor,
                         addr=addr, now=now)
    alert = get_alert(r, raised.alert_id)
    assert alert is not None  # just written
    return alert


def _act(r: redis.Redis, alert_id: str, action: str, actor: str, addr: str, now: float | None,
         text: str = "", arg: str = "", expected: str = "") -> list[str]:
    if not ALERT_ID.match(alert_id):
        raise AlertNotFound(f"no alert '{alert_id[:40]}'")
    answer = store.alerts.act(r, alert_id, action, actor=actor, addr=addr, now=_now(now),
                             text=text, arg=arg, expected=expected)
    if answer[0] == "missing":
        raise AlertNotFound(f"no alert '{alert_id}'")
    if answer[0] == "conflict":
        why, by, at = answer[1], answer[2], answer[3]
        _audit(r, actor, action, alert_id, addr, outcome="conflict", detail=f"{why} by {by}")
        raise Conflict(why, by, float(at) if at else None)
    if answer[0] == "error":
        raise AlertError(answer[1])
    if answer[0] == "ok":
        _audit(r, actor, action, alert_id, addr, detail=text or arg)
    return answer


def _acted(r: redis.Redis, alert_id: str) -> dict[str, Any]:
    alert = get_alert(r, alert_id)
    if alert is None:
        raise AlertNotFound(f"no alert '{alert_id}'")
    return alert


def acknowledge(r: redis.Redis, alert_id: str, actor: str, note: str = "", addr: str = "",
                now: float | None = None) -> dict[str, Any]:
    """Acknowledge an alert (with an optional note); Conflict if someone already did."""
    _act(r, alert_id, "ack", actor, addr, now, text=note[:MAX_NOTE])
    return _acted(r, alert_id)


def assign(r: redis.Redis, alert_id: str, actor: str, user: str, expected: str = "",
           addr: str = "", now: float | None = None) -> dict[str, Any]:
    """Assign an alert to ``user`` (a claim when it is the actor). ``expected`` is the assignee the
    caller saw: a reassignment succeeds only if nobody changed it meanwhile."""
    _act(r, alert_id, "assign", actor, addr, now, arg=user, expected=expected)
    return _acted(r, alert_id)


def claim(r: redis.Redis, alert_id: str, actor: str, addr: str = "",
          now: float | None = None) -> dict[str, Any]:
    """Take an alert nobody holds; Conflict naming the holder and since when if someone does
    (taking it from them is :func:`take_over`, a separate, confirmed step)."""
    _act(r, alert_id, "claim", actor, addr, now, arg=actor)
    return _acted(r, alert_id)


def take_over(r: redis.Redis, alert_id: str, actor: str, expected: str, addr: str = "",
              now: float | None = None) -> dict[str, Any]:
    """Take an alert from its holder ``expected`` (the one the person confirmed taking it from);
    Conflict if someone else holds it by now. The timeline and the audit name the former holder."""
    _act(r, alert_id, "takeover", actor, addr, now, text=expected, arg=actor, expected=expected)
    return _acted(r, alert_id)


def add_note(r: redis.Redis, alert_id: str, actor: str, text: str, addr: str = "",
             now: float | None = None) -> dict[str, Any]:
    """Add a note to an alert's timeline."""
    if not text.strip():
        raise AlertError("a note needs some text")
    _act(r, alert_id, "note", actor, addr, now, text=text[:MAX_NOTE])
    return _acted(r, alert_id)


def resolve(r: redis.Redis, alert_id: str, actor: str, note: str = "", addr: str = "",
            now: float | None = None) -> dict[str, Any]:
    """Close an alert (cleared_ack); Conflict if it is closed already."""
    _act(r, alert_id, "resolve", actor, addr, now, text=note[:MAX_NOTE])
    return _acted(r, alert_id)


def clear(r: redis.Redis, alert_id: str, actor: str = SYSTEM_ACTOR, addr: str = SYSTEM_ADDR,
          now: float | None = None) -> bool:
    """The condition went away: active alerts become cleared. True if the alert changed."""
    try:
        return _act(r, alert_id, "clear", actor, addr, now)[0] == "ok"
    except AlertNotFound:
        return False


def escalate(r: redis.Redis, alert_id: str, deadline_s: float, actor: str = SYSTEM_ACTOR,
             addr: str = SYSTEM_ADDR, now: float | None = None) -> bool:
    """Escalate an alert still unacknowledged ``deadline_s`` after it opened. True if it changed."""
    try:
        return _act(r, alert_id, "escalate", actor, addr, now, arg=f"{deadline_s:g}")[0] == "ok"
    except AlertNotFound:
        return False


