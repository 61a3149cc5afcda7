"""Tasks for departments: take, finish, cannot do (with a reason), note, reassign; overdue escalation.

A task comes from a step of its incident's procedure (or one the commander added). Whoever takes it
owns it: when 20 people take one task at once, exactly one does and the others are told who took it
and when. Who may act: a user of the task's department, the incident's commander, operators and
admins; reassigning to another department is the commander's (or an operator's or admin's).
"""

from __future__ import annotations

import time
from typing import Any

import redis

from app import accounts, store
from app.incidents.errors import IncidentError, IncidentNotFound, NotPermitted
from app.incidents.lifecycle import (
    SYSTEM_ACTOR,
    SYSTEM_ADDR,
    commander_name,
    incident_or_404,
    record,
    settle,
    text,
)
from app.incidents.policy import may_act_on_task, may_change
from app.incidents.queries import get_task
from app.incidents.sop import Catalogue
from app.model.incidents import MAX_NOTE, TASK_ACTIONS, TASK_ID
from app.model.principal import Principal


def _task_or_404(r: redis.Redis, task_id: str, now: float) -> dict[str, Any]:
    task = get_task(r, task_id, now) if TASK_ID.match(task_id) else None
    if task is None:
        raise IncidentNotFound(f"no task '{task_id[:40]}'")
    return task


def act(r: redis.Redis, principal: Principal, catalogue: Catalogue, task_id: str, action: str, *,
        text_: str = "", department: str = "", owner: str = "", expected: str = "",
        addr: str = "", now: float | None = None) -> dict[str, Any]:
    """Do ``action`` on the task as ``principal``: take (``text_``: note), finish (note), cannot
    (``text_``: the reason, required), note (``text_``, required), reassign (``department``, and
    ``owner`` to hand it to someone there; ``expected`` is the owner the caller saw). Returns
    the changed task; raises IncidentNotFound, NotPermitted (audited as denied), Conflict or
    IncidentError naming the field."""
    now = time.time() if now is None else now
    if action not in TASK_ACTIONS:
        raise ValueError(f"unknown task action {action!r}")
    task = _task_or_404(r, task_id, now)
    incident = incident_or_404(r, task["incident"])
    allowed = (may_change(principal, incident) if action == "reassign" else may_act_on_task(
        principal, task, incident, accounts.departments_of(r, principal.name)))
    if not allowed:
        record(r, principal.name, f"task_{action}", task_id, addr, "denied")
        raise NotPermitted("only users of the task's department, the incident's commander, "
                           "operators and admins act on it" if action != "reassign" else
                           "only the incident's commander, operators and admins reassign tasks")
    field = {"cannot": "reason", "note": "text"}.get(action, "note")
    words = text(text_, MAX_NOTE, field, required=action in ("cannot", "note"))
    if action == "reassign":
        if department not in catalogue.departments:
            raise IncidentError(f"unknown department '{department[:40]}': use one of "
                                f"{', '.join(catalogue.departments)}", "department")
        owner = commander_name(r, owner, "owner") if owner else ""
    answer = store.incidents.task_act(r, task_id, action, actor=principal.name, addr=addr,
                                      now=now, text=words, department=department, owner=owner,
                                      expected=expected)
    settle(r, answer, principal.name, f"task_{action}", task_id, addr,
           f"no task '{task_id[:40]}'")
    detail = " ".join(part for part in (department, owner, words) if part)
    record(r, principal.name, f"task_{action}", task_id, addr, detail=detail)
    return _task_or_404(r, task_id, now)


def escalate(r: redis.Redis, task_id: str, now: float) -> bool:
    """Mark an overdue task escalated, once: on the incident's timeline and in the audit log.
    True when it changed (False: not overdue, finished, or escalated before)."""
    answer = store.incidents.task_act(r, task_id, "escalate", actor=SYSTEM_ACTOR,
                                      addr=SYSTEM_ADDR, now=now)
    if answer[0] != "ok":
        return False
    record(r, SYSTEM_ACTOR, "task_escalate", task_id, SYSTEM_ADDR)
    return True


def claim_for_system(r: redis.Redis, task_id: str, action: str, now: float) -> bool:
    """The system takes and finishes a still untaken step whose own action it is about to do.
    True when it did (False: someone took it or reported it first)."""
    answer = store.incidents.task_act(r, task_id, "auto", actor=SYSTEM_ACTOR, addr=SYSTEM_ADDR,
                                      now=now, arg=action)
    if answer[0] != "ok":
        return False
    record(r, SYSTEM_ACTOR, "task_auto", task_id, SYSTEM_ADDR, detail=action)
    return True
