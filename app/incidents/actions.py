"""What the system does itself when a step falls due and nobody took it: notify the departments,
publish the incident as a public CAP warning, or raise its level; and overdue tasks escalated once.

The runner's job (app/incidents/jobs.py) calls :func:`due_tasks`. A step with an action is first
claimed (the task becomes done by the system, atomically, only if it is still untaken), then its
action is carried out, so two runners never do it twice and a person who took the step keeps it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Mapping

import redis

from app import store
from app.incidents.errors import Conflict, IncidentError
from app.incidents.lifecycle import SYSTEM_ACTOR, SYSTEM_ADDR, apply, record
from app.incidents.queries import get_incident, get_task, incident_tasks
from app.incidents.tasks import claim_for_system, escalate
from app.model.incidents import raised

log = logging.getLogger("cityops.incidents")


@dataclass
class DueWork:
    """What one pass over the due tasks did."""

    escalated: list[str] = field(default_factory=list)
    done: list[tuple[str, str]] = field(default_factory=list)  # (task, action)


def notify(r: redis.Redis, incident: Mapping[str, Any], task: Mapping[str, Any], now: float) -> list[str]:
    """Tell the step's departments (or every department with a task in the incident) about it."""
    departments = list(task.get("notify") or []) or sorted(
        {t["department"] for t in incident_tasks(r, incident["id"], now)})
    store.incidents.notify(r, departments, {
        "at": f"{now:.3f}", "incident": incident["id"], "number": str(incident["number"]),
        "title": incident["title"], "type": incident["type"], "level": incident["level"],
        "task": task["id"], "by": SYSTEM_ACTOR})
    record(r, SYSTEM_ACTOR, "incident_notify", incident["id"], SYSTEM_ADDR,
           detail=",".join(departments))
    return departments


def perform(r: redis.Redis, incident: Mapping[str, Any], task: Mapping[str, Any], now: float) -> None:
    """Carry out a claimed step's action. A change someone made meanwhile (already public,
    already at level I) is left as it is."""
    action = task["action"]
    try:
        if action == "notify":
            notify(r, incident, task, now)
        elif action == "publish_cap" and not incident["public"]:
            apply(r, incident["id"], "public", actor=SYSTEM_ACTOR, addr=SYSTEM_ADDR, now=now,
                  value="1", note=task["title"])
        elif action == "raise_level" and raised(incident["level"]) != incident["level"]:
            apply(r, incident["id"], "level", actor=SYSTEM_ACTOR, addr=SYSTEM_ADDR, now=now,
                  value=raised(incident["level"]), note=task["title"])
    except Conflict as exc:
        log.info("step %s of incident %s: %s (by %s)", task["id"], incident["id"], exc.why, exc.by)
    except IncidentError as exc:
        log.warning("step %s of incident %s could not be done: %s", task["id"], incident["id"], exc)


def due_tasks(r: redis.Redis, now: float) -> DueWork:
    """Every open task whose due time has come: a step with an action nobody took is done by
    the system; any other one is escalated as overdue, once."""
    work = DueWork()
    for task_id in store.incidents.open_task_ids(r, due_before=now):
        task = get_task(r, task_id, now)
        if task is None:
            continue
        if task["action"] and task["state"] == "open":
            if claim_for_system(r, task_id, task["action"], now):
                incident = get_incident(r, task["incident"], now)
                if incident is not None:
                    perform(r, incident, task, now)
                work.done.append((task_id, task["action"]))
            continue
        if not task["escalated"] and escalate(r, task_id, now):
            work.escalated.append(task_id)
    return work
