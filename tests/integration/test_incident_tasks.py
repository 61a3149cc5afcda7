"""Tasks for departments on a real redis-server (and a Redis Cluster): 20 people take one task and
one owns it; finish, cannot do, notes, reassignment; who may act; overdue escalation once; the
steps the system does itself (notify, publish the CAP warning, raise the level)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import redis

from app import accounts, audit, incidents, store
from app.incidents import actions
from app.model import roles
from app.store.link import connect
from tests.support.incidents import CATALOGUE, T0, person
from tests.support.web import PASSWORD

ADA = person("ada")  # an operator
EVE = person("eve", roles.EMERGENCY)  # water bureau
FAY = person("fay", roles.EMERGENCY)  # fire and rescue


@pytest.fixture
def people(r: redis.Redis) -> None:
    accounts.add_user(r, "ada", roles.OPERATOR, PASSWORD)
    accounts.add_user(r, "eve", roles.EMERGENCY, PASSWORD, departments=("water_bureau",))
    accounts.add_user(r, "fay", roles.EMERGENCY, PASSWORD, departments=("fire_rescue",))
    accounts.add_user(r, "olga", roles.OFFICIAL, PASSWORD, departments=("water_bureau",))


def _incident(r: redis.Redis, kind: str = "water_main_burst", **extra: Any) -> dict[str, Any]:
    return incidents.declare(r, ADA, CATALOGUE, title="Burst main", kind=kind, now=T0, **extra)


def _task(r: redis.Redis, incident: dict[str, Any], step: str) -> dict[str, Any]:
    return next(t for t in incidents.incident_tasks(r, incident["id"], T0) if t["step"] == step)


def _audit(r: redis.Redis, target: str) -> list[tuple[str, str, str]]:
    return [(e.actor, e.action, e.outcome) for e in reversed(audit.recent(r, 2000))
            if e.target == target]


def test_twenty_take_one_task_and_one_owns_it(r: redis.Redis, redis_url: str, people: None) -> None:
    """20 people of the department take the same task at the same moment: exactly one owns it,
    the 19 others are told who took it and when; the timeline and the audit log agree."""
    names = [f"crew{i:02d}" for i in range(20)]
    for name in names:
        accounts.add_user(r, name, roles.EMERGENCY, PASSWORD, departments=("water_bureau",))
    task = _task(r, _incident(r), "isolate")
    barrier = threading.Barrier(20)
    results: dict[str, Any] = {}

    def take(name: str) -> None:
        client = connect(redis_url)
        try:
            barrier.wait(timeout=10)
            incidents.act_on_task(client, person(name, roles.EMERGENCY), CATALOGUE, task["id"], "take")
            results[name] = "won"
        except incidents.Conflict as exc:
            results[name] = (exc.reason, exc.by, exc.at)
        finally:
            client.close()

    threads = [threading.Thread(target=take, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    winners = [name for name, outcome in results.items() if outcome == "won"]
    assert len(results) == 20 and len(winners) == 1, results
    taken = incidents.get_task(r, task["id"])
    assert taken is not None and (taken["state"], taken["owner"]) == ("accepted", winners[0])
    losers = [outcome for name, outcome in results.items() if name != winners[0]]
    assert losers == [("taken", winners[0], pytest.approx(taken["taken_at"]))] * 19
    story = [e for e in incidents.timeline(r, task["incident"]) if e["task"] == task["id"]]
    assert [(e["action"], e["actor"]) for e in story] == [("task_taken", winners[0])]
    lines = _audit(r, task["id"])
    assert lines.count((winners[0], "task_take", "ok")) == 1
    assert sum(outcome == "conflict" for _, _, outcome in lines) == 19


def test_a_task_from_open_to_done(r: redis.Redis, people: None) -> None:
    """take -> (taking again is a Conflict) -> note -> finish; a finished task cannot be taken,
    finished again or reported, and leaves the department's list."""
    task = _task(r, _incident(r), "isolate")
    taken = incidents.act_on_task(r, EVE, CATALOGUE, task["id"], "take", text_="on my way", now=T0 + 60)
    assert (taken["state"], taken["owner"], taken["taken_at"]) == ("accepted", "eve", pytest.approx(T0 + 60))
    with pytest.raises(incidents.Conflict) as again:
        incidents.act_on_task(r, EVE, CATALOGUE, task["id"], "take", now=T0 + 61)
    assert (again.value.reason, again.value.by) == ("yours", "eve")
    assert incidents.act_on_task(r, ADA, CATALOGUE, task["id"], "note", text_="valve 7 stuck")["notes"] == 1
    done = incidents.act_on_task(r, EVE, CATALOGUE, task["id"], "finish", text_="isolated", now=T0 + 900)
    assert (done["state"], done["done_by"], done["done_at"]) == ("done", "eve", pytest.approx(T0 + 900))
    assert task["id"] not in store.incidents.open_task_ids(r, department="water_bureau")
    assert task["id"] not in store.incidents.open_task_ids(r)
    for action in ("take", "finish", "cannot"):
        with pytest.raises(incidents.Conflict) as finished:
            incidents.act_on_task(r, ADA, CATALOGUE, task["id"], action, text_="late")
        assert (finished.value.reason, finished.value.by, finished.value.at) == (
            "done", "eve", pytest.approx(T0 + 900))
    story = [(e["action"], e["note"]) for e in incidents.timeline(r, task["incident"])
             if e["task"] == task["id"]]
    assert story == [("task_taken", "on my way"), ("task_note", "valve 7 stuck"),
                     ("task_done", "isolated")]


def test_cannot_do_needs_a_reason(r: redis.Redis, people: None) -> None:
    """"Cannot do" without a reason is refused naming the field; with one, the task ends so."""
    task = _task(r, _incident(r), "tankers")
    with pytest.raises(incidents.IncidentError) as bare:
        incidents.act_on_task(r, EVE, CATALOGUE, task["id"], "cannot", text_="  ")
    assert bare.value.field == "reason"
    assert incidents.get_task(r, task["id"])["state"] == "open"  # type: ignore[index]
    ended = incidents.act_on_task(r, EVE, CATALOGUE, task["id"], "cannot",
                                  text_="both tankers in repair", now=T0 + 5)
    assert (ended["state"], ended["cannot_by"], ended["reason"]) == ("cannot", "eve",
                                                                     "both tankers in repair")
    assert incidents.get_incident(r, task["incident"])["tasks"]["cannot"] == 1  # type: ignore[index]


def test_who_may_act_on_a_task(r: redis.Redis, people: None) -> None:
    """A user of the task's department, the commander, operators and admins act on it; a user of
    another department or an official may not (audited as denied, nothing changes)."""
    incident = _incident(r, commander="fay")
    water, police = _task(r, incident, "isolate"), _task(r, incident, "traffic")
    for who, task in ((EVE, police), (person("olga", roles.OFFICIAL), water)):
        with pytest.raises(incidents.NotPermitted):
            incidents.act_on_task(r, who, CATALOGUE, task["id"], "take")
        assert (who.name, "task_take", "denied") in _audit(r, task["id"])
    assert incidents.get_task(r, police["id"])["state"] == "open"  # type: ignore[index]
    assert incidents.act_on_task(r, EVE, CATALOGUE, water["id"], "take")["owner"] == "eve"
    # fay is of fire and rescue, but she commands the incident: every task of it is hers to act on
    assert incidents.act_on_task(r, FAY, CATALOGUE, police["id"], "take")["owner"] == "fay"
    assert incidents.act_on_task(r, ADA, CATALOGUE, _task(r, incident, "tankers")["id"],
                                 "take")["owner"] == "ada"
    with pytest.raises(incidents.NotPermitted):
        incidents.act_on_task(r, EVE, CATALOGUE, water["id"], "reassign", department="fire_rescue",
                              expected="eve")


def test_reassigning_moves_the_task_between_departments(r: redis.Redis, people: None) -> None:
    """The commander hands a task to another department (back to open, or straight to a named
    person there); a reassignment that did not see the current owner is a Conflict."""
    incident = _incident(r)
    task = _task(r, incident, "tankers")
    incidents.act_on_task(r, EVE, CATALOGUE, task["id"], "take", now=T0 + 10)
    with pytest.raises(incidents.Conflict) as blind:
        incidents.act_on_task(r, ADA, CATALOGUE, task["id"], "reassign", department="fire_rescue",
                              expected="")
    assert (blind.value.reason, blind.value.by, blind.value.at) == ("taken", "eve", pytest.approx(T0 + 10))
    moved = incidents.act_on_task(r, ADA, CATALOGUE, task["id"], "reassign",
                                  department="fire_rescue", expected="eve", now=T0 + 20)
    assert (moved["department"], moved["state"], moved["owner"]) == ("fire_rescue", "open", "")
    assert task["id"] in store.incidents.open_task_ids(r, department="fire_rescue")
    assert task["id"] not in store.incidents.open_task_ids(r, department="water_bureau")
    handed = incidents.act_on_task(r, ADA, CATALOGUE, task["id"], "reassign",
                                   department="fire_rescue", owner="fay", now=T0 + 30)
    assert (handed["state"], handed["owner"]) == ("accepted", "fay")
    with pytest.raises(incidents.IncidentError) as unknown:
        incidents.act_on_task(r, ADA, CATALOGUE, task["id"], "reassign", department="navy",
                              expected="fay")
    assert unknown.value.field == "department"
    assert incidents.act_on_task(r, FAY, CATALOGUE, task["id"], "finish")["state"] == "done"


def test_overdue_tasks_escalate_once(r: redis.Redis, people: None) -> None:
    """Past its due time an open or accepted task is escalated once (timeline, audit, shown as
    overdue); the next passes do not repeat it; finished tasks and those of closed incidents never."""
    incident = _incident(r)
    isolate, traffic = _task(r, incident, "isolate"), _task(r, incident, "traffic")
    incidents.act_on_task(r, EVE, CATALOGUE, isolate["id"], "take", now=T0 + 60)
    incidents.act_on_task(r, ADA, CATALOGUE, traffic["id"], "finish", now=T0 + 120)
    assert actions.due_tasks(r, T0 + 29 * 60).escalated == []
    first = actions.due_tasks(r, T0 + 31 * 60)
    assert first.escalated == [isolate["id"]]  # due 30 min after; traffic is done
    assert actions.due_tasks(r, T0 + 32 * 60).escalated == []
    late = incidents.get_task(r, isolate["id"], now=T0 + 32 * 60)
    assert late is not None and late["escalated"] and late["overdue"]
    assert late["escalated_at"] == pytest.approx(T0 + 31 * 60)
    overdue = incidents.list_tasks(r, overdue_only=True, now=T0 + 32 * 60)
    assert [t["id"] for t in overdue] == [isolate["id"]]
    assert [e["action"] for e in incidents.timeline(r, incident["id"])].count("task_escalated") == 1
    assert _audit(r, isolate["id"]).count(("system:incidents", "task_escalate", "ok")) == 1
    incidents.change(r, ADA, CATALOGUE, incident["id"], "status", status="closed", now=T0 + 33 * 60)
    assert actions.due_tasks(r, T0 + 48 * 3600).escalated == []


def test_the_system_does_its_own_steps_when_due(r: redis.Redis, people: None) -> None:
    """Untaken steps with an action are done by the system when due: the departments are
    notified, the public warning published, the level raised; a step someone took stays theirs
    (and escalates like any other)."""
    incident = _incident(r, kind="urban_flooding", level="III")
    warning, escalate = _task(r, incident, "warning"), _task(r, incident, "escalate")
    incidents.act_on_task(r, ADA, CATALOGUE, escalate["id"], "take", now=T0 + 1)
    at_once = actions.due_tasks(r, T0 + 5)
    assert at_once.done == [(_task(r, incident, "notify")["id"], "notify")]
    told = incidents.notices(r, ["traffic_police", "water_bureau"])
    assert {n["department"] for n in told} == {"traffic_police", "water_bureau"}
    assert all(n["incident"] == incident["id"] and n["number"] == 1 for n in told)
    assert incidents.notices(r, ["power_supply"]) == []  # no step of this incident is theirs
    assert not incidents.get_incident(r, incident["id"])["public"]  # type: ignore[index]
    actions.due_tasks(r, T0 + 16 * 60)
    published = incidents.get_incident(r, incident["id"])
    assert published is not None and published["public"] and published["public_by"] == "system:incidents"
    done = incidents.get_task(r, warning["id"])
    assert done is not None and (done["state"], done["done_by"], done["auto"]) == (
        "done", "system:incidents", True)
    later = actions.due_tasks(r, T0 + 4 * 3600)
    assert escalate["id"] in later.escalated  # taken by ada: escalated, not done by the system
    assert incidents.get_incident(r, incident["id"])["level"] == "III"  # type: ignore[index]
    other = _incident(r, kind="urban_flooding", level="III")
    actions.due_tasks(r, T0 + 4 * 3600)
    raised = incidents.get_incident(r, other["id"])
    assert raised is not None and raised["level"] == "II" and raised["level_by"] == "system:incidents"
    assert ("system:incidents", "incident_level", "ok") in _audit(r, other["id"])
