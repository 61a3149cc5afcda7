"""The incident lifecycle: declare (from alerts, a proposal or a phone call), status, level,
commander, area, public flag, notes and added steps.

Who may do it is checked (a refusal audited as denied) before the step; every step is one atomic
script in app/store/incidents.py that writes the incident's timeline too, and the installation's
audit log gets the same line right after (it lives in another cluster slot). When two people act
at once exactly one wins; the other gets :class:`Conflict` saying who acted and when.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import orjson
import redis

from app import alerts, audit, store
from app.accounts import admin
from app.incidents import areas
from app.incidents.errors import Conflict, IncidentError, IncidentNotFound, NotPermitted
from app.incidents.policy import COMMANDER_ROLES, may_change, may_declare
from app.incidents.queries import get_incident, get_task
from app.incidents.sop import Catalogue, Step
from app.model.incidents import (
    INCIDENT_ACTIONS,
    INCIDENT_ID,
    LEVELS,
    MAX_ALERTS,
    MAX_DESCRIPTION,
    MAX_DUE_MINUTES,
    MAX_NOTE,
    MAX_STEPS,
    MAX_TITLE,
    STATUSES,
    comes_from,
    graver,
    level_of,
    new_id,
)
from app.model.principal import Principal

SYSTEM_ACTOR = "system:incidents"
SYSTEM_ADDR = "runner"


def _now(now: float | None) -> float:
    return time.time() if now is None else now


def record(r: redis.Redis, actor: str, action: str, target: str, addr: str, outcome: str = "ok",
           detail: str = "") -> None:
    """Mirror a step into the installation's audit log (append-only, never trimmed)."""
    audit.record(r, actor, action, target=target, addr=addr, outcome=outcome, detail=detail)


def settle(r: redis.Redis, answer: Sequence[str], actor: str, action: str, target: str,
           addr: str, missing: str) -> Sequence[str]:
    """Turn a script's answer into an outcome: ok passes, a conflict is audited and raised with
    who and when, a missing object is IncidentNotFound."""
    if answer[0] == "missing":
        raise IncidentNotFound(missing)
    if answer[0] == "conflict":
        reason, why, by, at = answer[1], answer[2], answer[3], answer[4]
        record(r, actor, action, target, addr, "conflict", f"{why} (by {by})" if by else why)
        raise Conflict(reason, why, by, float(at) if at else None)
    if answer[0] == "error":
        raise IncidentError(answer[1])
    return answer


def text(value: str, most: int, field: str, required: bool = False) -> str:
    """A person's text, stripped, within ``most`` characters (IncidentError names the field)."""
    value = (value or "").strip()
    if len(value) > most:
        raise IncidentError(f"at most {most} characters", field)
    if required and not value:
        raise IncidentError("must not be empty", field)
    return value


def commander_name(r: redis.Redis, name: str, field: str = "commander") -> str:
    """An enabled user who may command an incident (operator, admin or emergency staff)."""
    user = admin.get_user(r, name.strip().lower()) if name else None
    if user is None:
        raise IncidentError(f"no user '{name[:64]}'", field)
    if user.get("disabled") == "1":
        raise IncidentError(f"'{user['name']}' is disabled", field)
    if user.get("role") not in COMMANDER_ROLES:
        raise IncidentError(f"'{user['name']}' has the role {user.get('role')}, who may not act "
                            "on incidents", field)
    return str(user["name"])


def incident_or_404(r: redis.Redis, incident_id: str) -> dict[str, Any]:
    """The incident, or IncidentNotFound."""
    incident = get_incident(r, incident_id)
    if incident is None:
        raise IncidentNotFound(f"no incident '{incident_id[:40]}'")
    return incident


def task_fields(step: Step, due_at: float, step_id: str = "") -> dict[str, str]:
    """A task's own fields from a step of a procedure (the texts are copied, so that a later
    catalogue does not rewrite an incident's history)."""
    return {"step": step_id or step.id, "title": step.title, "title_zh": step.title_zh,
            "department": step.department, "required": "1" if step.required else "0",
            "action": step.action, "notify": ",".join(step.notify), "due_at": f"{due_at:.3f}"}


# -- declaring -------------------------------------------------------------------------------------------
def declare(r: redis.Redis, principal: Principal, catalogue: Catalogue, *, title: str, kind: str,
            level: str = "", commander: str = "", alert_ids: Sequence[str] = (),
            lat: float | None = None, lon: float | None = None, radius_m: float | None = None,
            area: Any = None, description: str = "", proposal: str = "", addr: str = "",
            now: float | None = None) -> dict[str, Any]:
    """Declare an incident of type ``kind`` from alerts (or from nothing: a phone call); its
    procedure becomes its tasks, its area comes from what was entered or else from its alerts,
    its level from what was chosen or else the graver of the type's and its alerts'."""
    now = _now(now)
    if not may_declare(principal):
        record(r, principal.name, "incident_declare", "", addr, "denied")
        raise NotPermitted("only operators and admins declare incidents")
    title = text(title, MAX_TITLE, "title", required=True)
    description = text(description, MAX_DESCRIPTION, "description")
    procedure = catalogue.types.get(kind)
    if procedure is None:
        raise IncidentError(f"unknown incident type '{kind[:40]}': use one of "
                            f"{', '.join(catalogue.types)}", "type")
    if level and level not in LEVELS:
        raise IncidentError(f"expected one of {', '.join(LEVELS)}", "level")
    ids = list(dict.fromkeys(a.strip() for a in alert_ids if a.strip()))
    if len(ids) > MAX_ALERTS:
        raise IncidentError(f"at most {MAX_ALERTS} alerts", "alerts")
    linked = []
    for alert_id in ids:
        alert = alerts.get_alert(r, alert_id)
        if alert is None:
            raise IncidentError(f"no alert '{alert_id[:40]}'", "alerts")
        linked.append(alert)
    place = areas.entered(lat, lon, radius_m, area, catalogue.radius_m)
    if place is None:
        place = areas.from_alerts(linked, radius_m or catalogue.radius_m) or areas.Area()
    chosen_level = level or graver(procedure.level, *(level_of(a["severity"]) for a in linked))
    incident_id = new_id("in")
    fields = {"title": title, "description": description, "type": kind,
              "type_name": procedure.name, "type_name_zh": procedure.name_zh,
              "domains": ",".join(procedure.domains), "level": chosen_level,
              "commander": commander_name(r, commander) if commander else principal.name,
              "public": "0", "source": "proposal" if proposal else "alerts" if ids else "call",
              **place.fields()}
    tasks = [{"id": new_id("tk"), "fields": task_fields(step, now + step.due_s)}
             for step in procedure.steps]
    answer = settle(r, store.incidents.declare(
        r, incident_id, fields, [(a["id"], a["title"]) for a in linked], tasks,
        proposal=proposal, actor=principal.name, addr=addr, now=now),
        principal.name, "proposal_accept" if proposal else "incident_declare",
        proposal or incident_id, addr, f"no proposal '{proposal[:40]}'")
    number = answer[1]
    for alert in linked:
        store.incidents.alert_side(r, alert["id"], "incident_linked", f"#{number} {title}",
                                   actor=principal.name, addr=addr, now=now)
    if proposal:
        record(r, principal.name, "proposal_accept", proposal, addr, detail=incident_id)
    record(r, principal.name, "incident_declare", incident_id, addr,
           detail=f"#{number} {kind} level {chosen_level}: {title}")
    return incident_or_404(r, incident_id)


# -- changing -------------------------------------------------------------------------------------------
def apply(r: redis.Redis, incident_id: str, action: str, *, actor: str, addr: str, now: float,
          value: str = "", note: str = "", version: int | None = None) -> dict[str, Any]:
    """One change of an incident, already permitted (people come through :func:`change`; the
    system's own steps straight here): atomic, on the timeline and in the audit log."""
    allowed = comes_from(value) if action == "status" else ()
    answer = store.incidents.change(
        r, incident_id, action, value=value, note=note,
        version="" if version is None else str(version), allowed=allowed, actor=actor,
        addr=addr, now=now)
    settle(r, answer, actor, f"incident_{action}", incident_id, addr,
           f"no incident '{incident_id[:40]}'")
    detail = " ".join(part for part in (value if action != "area" else "", note) if part)
    record(r, actor, f"incident_{action}", incident_id, addr, detail=detail)
    return incident_or_404(r, incident_id)


def change(r: redis.Redis, principal: Principal, catalogue: Catalogue, incident_id: str,
           action: str, *, status: str = "", level: str = "", commander: str = "",
           public: bool | None = None, lat: float | None = None, lon: float | None = None,
           radius_m: float | None = None, area: Any = None, note: str = "",
           version: int | None = None, addr: str = "", now: float | None = None) -> dict[str, Any]:
    """Change an incident as ``principal``: ``action`` is status, level, commander, area, public
    or note. ``version`` is the incident's version the caller saw: given, a change made by
    someone else meanwhile is a Conflict naming who and when."""
    now = _now(now)
    if action not in INCIDENT_ACTIONS:
        raise ValueError(f"unknown incident action {action!r}")
    incident = incident_or_404(r, incident_id) if INCIDENT_ID.match(incident_id) else None
    if incident is None:
        raise IncidentNotFound(f"no incident '{incident_id[:40]}'")
    if not may_change(principal, incident):
        record(r, principal.name, f"incident_{action}", incident_id, addr, "denied")
        raise NotPermitted("only the incident's commander, operators and admins change it")
    note = text(note, MAX_NOTE, "text" if action == "note" else "note", required=action == "note")
    value = ""
    if action == "status":
        if status not in STATUSES:
            raise IncidentError(f"expected one of {', '.join(STATUSES)}", "status")
        value = status
    elif action == "level":
        if level not in LEVELS:
            raise IncidentError(f"expected one of {', '.join(LEVELS)}", "level")
        value = level
    elif action == "commander":
        value = commander_name(r, commander)
    elif action == "public":
        value = "1" if public else "0"
    elif action == "area":
        place = areas.entered(lat, lon, radius_m, area, catalogue.radius_m)
        if place is None:
            raise IncidentError("give a point ('lat', 'lon', optional 'radius_m') or a polygon "
                                "('area')", "lat")
        value = orjson.dumps(place.fields()).decode()
    elif action != "note":
        raise ValueError(f"{action} is not a change of the incident itself")
    return apply(r, incident_id, action, actor=principal.name, addr=addr, now=now, value=value,
                 note=note, version=version)


def add_step(r: redis.Redis, principal: Principal, catalogue: Catalogue, incident_id: str, *,
             title: str, department: str, due_minutes: float, required: bool = True,
             title_zh: str = "", addr: str = "", now: float | None = None) -> dict[str, Any]:
    """The commander (or an operator or admin) adds a step: a task for ``department`` due
    ``due_minutes`` from now. Returns the new task."""
    now = _now(now)
    incident = incident_or_404(r, incident_id) if INCIDENT_ID.match(incident_id) else None
    if incident is None:
        raise IncidentNotFound(f"no incident '{incident_id[:40]}'")
    if not may_change(principal, incident):
        record(r, principal.name, "incident_step", incident_id, addr, "denied")
        raise NotPermitted("only the incident's commander, operators and admins add steps")
    title = text(title, MAX_TITLE, "title", required=True)
    if department not in catalogue.departments:
        raise IncidentError(f"unknown department '{department[:40]}': use one of "
                            f"{', '.join(catalogue.departments)}", "department")
    if not 0 <= due_minutes <= MAX_DUE_MINUTES:
        raise IncidentError(f"from 0 to {MAX_DUE_MINUTES} minutes", "due_minutes")
    step = Step(id="added", title=title, title_zh=text(title_zh, MAX_TITLE, "title_zh") or title,
                department=department, due_s=due_minutes * 60.0, required=required)
    task = {"id": new_id("tk"), "fields": task_fields(step, now + step.due_s)}
    answer = store.incidents.add_step(r, incident_id, task, MAX_STEPS, actor=principal.name,
                                      addr=addr, now=now)
    if answer[0] == "full":
        raise IncidentError(f"an incident has at most {MAX_STEPS} steps", "title")
    settle(r, answer, principal.name, "incident_step", incident_id, addr,
           f"no incident '{incident_id[:40]}'")
    record(r, principal.name, "incident_step", incident_id, addr,
           detail=f"{task['id']} {department}: {title}")
    added = get_task(r, task["id"], now)
    assert added is not None  # just written
    return added

