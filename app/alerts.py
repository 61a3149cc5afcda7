"""The alert lifecycle: raise (dedup by fingerprint, reopen), acknowledge, assign, note, resolve, escalate.

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
from typing import Any, Iterable, Mapping, Sequence

import orjson
import redis

from app import store
from app.model import roles
from app.model.alerts import (ACTIVE, ALERT_ID, CLOSED, MAX_DESCRIPTION, MAX_NOTE, MAX_TITLE, SEVERITIES,
                              SEVERITY_RANK, STATES, UNACKED, alert_id_for)
from app.model.geo import point_in_area
from app.accounts import Principal
from app.model.domains import DOMAINS

SYSTEM_ACTOR = "system:rules"
SYSTEM_ADDR = "runner"
# Who acts on every alert; emergency staff act on the domains set on their user.
ACT_ON_ALL = frozenset({roles.OPERATOR, roles.ADMIN})
ACTORS = ACT_ON_ALL | {roles.EMERGENCY}
RAISERS = ACT_ON_ALL
_FLOAT_FIELDS = ("first_seen", "last_seen", "opened_at", "acked_at", "assigned_at", "cleared_at",
                 "closed_at", "resolved_at", "escalated_at", "updated_at")


class AlertError(Exception):
    """An alert operation that cannot be carried out; the message says why."""


class AlertNotFound(AlertError):
    """No alert has that id."""


class Conflict(AlertError):
    """Someone else already did it: ``by`` and ``at`` say who and when."""

    def __init__(self, why: str, by: str, at: float | None) -> None:
        super().__init__(why)
        self.why = why
        self.by = by
        self.at = at


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
                addr: str = SYSTEM_ADDR, now: float | None = None) -> Raised:
    """Raise the alert of ``fingerprint``: create it, bump a repeat, or reopen it if it had cleared."""
    _check_choice(severity, SEVERITIES, "severity")
    _check_choice(domain, DOMAINS, "domain")
    located = lat is not None and lon is not None and math.isfinite(lat) and math.isfinite(lon)
    fields = {
        "title": title[:MAX_TITLE] or "(untitled)", "severity": severity, "domain": domain,
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


# -- reading ----------------------------------------------------------------------------------------
def _float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def to_json(row: Mapping[str, str]) -> dict[str, Any]:
    """An alert as the API and the screens use it (typed fields; times as Unix seconds)."""
    out: dict[str, Any] = {
        "id": row.get("id", ""), "state": row.get("state", ""),
        "severity": row.get("severity", "info"), "domain": row.get("domain", ""),
        "title": row.get("title", ""), "description": row.get("description", ""),
        "count": int(row.get("count") or 0), "source": row.get("source", ""),
        "rule": row.get("rule", ""), "entity": row.get("entity", ""),
        "fingerprint": row.get("fingerprint", ""),
        "acked_by": row.get("acked_by", ""), "ack_note": row.get("ack_note", ""),
        "assignee": row.get("assignee", ""), "assigned_by": row.get("assigned_by", ""),
        "resolved_by": row.get("resolved_by", ""), "closed_by": row.get("closed_by", ""),
        "created_by": row.get("created_by", ""),
        "escalated": row.get("escalated") == "1", "notes": int(row.get("notes") or 0),
        "version": int(row.get("version") or 0),
        "lat": _float(row.get("lat")), "lon": _float(row.get("lon")),
        "area": orjson.loads(row["area"]) if row.get("area") else None,
        "group": None,
    }
    for name in _FLOAT_FIELDS:
        out[name] = _float(row.get(name))
    return out


def get_alert(r: redis.Redis, alert_id: str) -> dict[str, Any] | None:
    """One alert (API form), or None (also for anything that is not an alert id)."""
    row = store.alerts.read_alert(r, alert_id) if ALERT_ID.match(alert_id) else None
    return to_json(row) if row else None


def newest_unacked_first(alert: Mapping[str, Any]) -> tuple[int, float]:
    """Sort key: unacknowledged before acknowledged, then the newest occurrence first."""
    return (0 if alert["state"] in UNACKED else 1, -(alert.get("last_seen") or 0.0))


def most_urgent_first(alert: Mapping[str, Any]) -> tuple[int, int, float]:
    """Sort key of the wall: unacknowledged first, then by severity, then newest first."""
    return (0 if alert["state"] in UNACKED else 1, SEVERITY_RANK.get(alert["severity"], 9),
            -(alert.get("last_seen") or 0.0))


def list_alerts(r: redis.Redis, *, states: Iterable[str] | None = None,
                domains: Iterable[str] | None = None, severities: Iterable[str] | None = None,
                open_only: bool = False, limit: int = 200) -> list[dict[str, Any]]:
    """Alerts matching the filters (None: any), newest unacknowledged first, grouped by area.

    Grouping looks at every open alert, so a member is grouped even when its warning is
    filtered out of the answer.
    """
    state_set, domain_set = set(states or ()), set(domains or ())
    severity_set = set(severities or ())
    closed_wanted = not open_only and (not state_set or CLOSED in state_set)
    # Closed alerts accumulate for ever; open ones stay few. Every open alert is read; the
    # history only when closed ones are asked for, and then its most recently changed part.
    ids = store.alerts.ids(r, open_only=True, limit=100_000)
    if closed_wanted:
        ids = list(dict.fromkeys(ids + store.alerts.ids(r, limit=max(limit * 2, 500))))
    rows = [to_json(row) for row in store.alerts.read_alerts(r, ids)]
    assign_groups(rows)
    picked = [a for a in rows if (not state_set or a["state"] in state_set)
              and (not domain_set or a["domain"] in domain_set)
              and (not severity_set or a["severity"] in severity_set)]
    return sorted(picked, key=newest_unacked_first)[:limit]


def timeline(r: redis.Redis, alert_id: str) -> list[dict[str, Any]]:
    """An alert's whole story, oldest first: at, actor, action, addr, state, detail."""
    return [{"at": _float(e.get("at")), "actor": e.get("actor", ""), "action": e.get("action", ""),
             "addr": e.get("addr", ""), "state": e.get("state", ""), "detail": e.get("detail", "")}
            for e in store.alerts.read_timeline(r, alert_id)]


def counts(alerts: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """severity -> state -> how many (every severity and state present, zeros included)."""
    table = {s: {state: 0 for state in STATES} | {"escalated": 0} for s in SEVERITIES}
    for alert in alerts:
        row = table.get(alert["severity"])
        if row is not None and alert["state"] in row:
            row[alert["state"]] += 1
            row["escalated"] += 1 if alert.get("escalated") and alert["state"] != CLOSED else 0
    return table


# -- who may act ------------------------------------------------------------------------------------
def may_act(principal: Principal | None, alert: Mapping[str, Any]) -> bool:
    """Operators and admins act on every alert; emergency staff on their user's domains only."""
    if principal is None:
        return False
    if principal.role in ACT_ON_ALL:
        return True
    return principal.role == roles.EMERGENCY and alert.get("domain") in principal.domains


def assign_groups(alerts: list[dict[str, Any]]) -> None:
    """Set ``group`` on every alert located inside an active CAP warning's area (the warning's
    id; the most severe, then newest, warning when areas overlap) and ``group_size`` on warnings."""
    warnings = sorted((a for a in alerts if a["source"] == "cap" and a["state"] in ACTIVE
                       and a.get("area")), key=most_urgent_first)
    for warning in warnings:
        warning["group_size"] = 0
    if not warnings:
        return
    by_id = {w["id"]: w for w in warnings}
    for alert in alerts:
        if alert["source"] == "cap" or alert.get("lat") is None or alert.get("lon") is None:
            continue
        for warning in warnings:
            try:
                inside = point_in_area(alert["lat"], alert["lon"], warning["area"])
            except (TypeError, ValueError, IndexError, KeyError, AttributeError):
                inside = False  # a malformed area groups nothing; it never breaks a screen
            if inside:
                alert["group"] = warning["id"]
                by_id[warning["id"]]["group_size"] += 1
                break
