"""The incident lifecycle on a real redis-server (and a Redis Cluster): declare, every transition,
level, commander, area, public flag, links, steps; conflicts with who and when; audit; atomicity."""

from __future__ import annotations

import itertools
import threading
import xml.etree.ElementTree as ET
from typing import Any

import pytest
import redis

from app import accounts, alerts, audit, incidents, store
from app.incidents.cap import CAP_NS, cap_document
from app.model import roles
from app.model.incidents import STATUSES, TRANSITIONS
from app.store.link import connect
from tests.support.incidents import (
    CATALOGUE,
    CENTRE,
    SQUARE,
    T0,
    person,
    placed_alert,
)
from tests.support.web import PASSWORD

ADA, BOB = person("ada"), person("bob")  # operators


@pytest.fixture
def people(r: redis.Redis) -> None:
    """The users the tests name: operators ada and bob, emergency staff eve, official olga."""
    accounts.add_user(r, "ada", roles.OPERATOR, PASSWORD)
    accounts.add_user(r, "bob", roles.OPERATOR, PASSWORD)
    accounts.add_user(r, "eve", roles.EMERGENCY, PASSWORD, departments=("water_bureau",))
    accounts.add_user(r, "olga", roles.OFFICIAL, PASSWORD)


def _declare(r: redis.Redis, by: Any = ADA, **extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"title": "Burst main on Taohualun Road", "kind": "water_main_burst",
                              "now": T0} | extra
    return incidents.declare(r, by, CATALOGUE, **fields)


def _audit_lines(r: redis.Redis, target: str) -> list[tuple[str, str, str]]:
    """(actor, action, outcome) of the audit entries about ``target``, oldest first."""
    return [(e.actor, e.action, e.outcome) for e in reversed(audit.recent(r, 1000))
            if e.target == target]


# -- declaring ---------------------------------------------------------------------------------------
def test_declared_from_alerts_the_procedure_becomes_tasks(r: redis.Redis, people: None) -> None:
    """Declared from a pressure alert and a CAP warning: the alerts are linked (and their own
    timelines say so), the warning's area is the incident's, the level is the graver of the type's
    and the alerts', and every step of the procedure is a task of its department, due after the
    declaration by the step's time."""
    pressure = placed_alert(r, "pressure", severity="major", now=T0 - 60)
    warning = placed_alert(r, "warning", domain="city", severity="minor", source="cap",
                           area=SQUARE, title="Rainstorm warning", now=T0 - 120)
    incident = _declare(r, alert_ids=[pressure, warning], description="Called in by a cabbie")
    procedure = CATALOGUE.types["water_main_burst"]
    assert (incident["number"], incident["status"], incident["commander"]) == (1, "declared", "ada")
    assert incident["level"] == "II" and incident["severity"] == "major"  # major alert > type III
    assert incident["alerts"] == sorted([pressure, warning])
    assert incident["area"] == SQUARE and incident["source"] == "alerts"
    assert incident["declared_at"] == pytest.approx(T0)
    assert incident["declared_at_iso"] == "2026-01-01T00:00:00Z"
    tasks = incidents.incident_tasks(r, incident["id"], now=T0)
    assert [(t["step"], t["department"], t["state"]) for t in tasks] == [
        (s.id, s.department, "open") for s in procedure.steps]
    assert [t["due_at"] for t in tasks] == [pytest.approx(T0 + s.due_s) for s in procedure.steps]
    assert incident["tasks"]["open"] == len(procedure.steps)
    for alert_id in (pressure, warning):
        entry = alerts.timeline(r, alert_id)[-1]
        assert entry["action"] == "incident_linked" and entry["actor"] == "ada"
        assert entry["detail"] == "#1 Burst main on Taohualun Road"
    story = incidents.timeline(r, incident["id"])
    assert [e["action"] for e in story] == ["declared", "linked", "linked"]
    assert ("ada", "incident_declare", "ok") in _audit_lines(r, incident["id"])
    assert set(store.incidents.open_task_ids(r, department="water_bureau")) == {
        t["id"] for t in tasks if t["department"] == "water_bureau"}


def test_declared_from_a_phone_call(r: redis.Redis, people: None) -> None:
    """From nothing: a point and radius entered by hand (or no place at all), the type's level,
    a commander named by the declarer; numbers count up."""
    located = _declare(r, lat=CENTRE[0], lon=CENTRE[1], radius_m=250.0, commander="Eve")
    assert (located["lat"], located["lon"], located["radius_m"]) == (CENTRE[0], CENTRE[1], 250.0)
    assert located["area"] is None and located["level"] == "III" and located["source"] == "call"
    assert located["commander"] == "eve"
    nowhere = _declare(r, kind="public_health_event", title="Food poisoning at a school")
    assert nowhere["lat"] is None and nowhere["number"] == 2 and nowhere["level"] == "II"


@pytest.mark.parametrize(("fields", "field"), [
    ({"kind": "volcano"}, "type"),
    ({"title": "  "}, "title"),
    ({"level": "V"}, "level"),
    ({"commander": "nobody"}, "commander"),
    ({"commander": "olga"}, "commander"),  # officials do not command
    ({"alert_ids": ["al-0000000000000000"]}, "alerts"),
    ({"lat": 28.5}, "lon"),
    ({"lat": 28.5, "lon": 112.3, "radius_m": 1.0}, "radius_m"),
    ({"area": {"type": "Point", "coordinates": [112.3, 28.5]}}, "area"),
    ({"area": '{"type": "Polygon", "coordinates": [[[112, 28], [113, 28], [112, 28]]]}'}, "area"),
])
def test_bad_declarations_name_the_field_and_write_nothing(r: redis.Redis, people: None,
                                                           fields: dict[str, Any], field: str) -> None:
    """Each bad input is refused naming its field; nothing of an incident is written."""
    with pytest.raises(incidents.IncidentError) as refused:
        _declare(r, **fields)
    assert refused.value.field == field and f"'{field}'" in str(refused.value)
    assert store.incidents.ids(r) == [] and not r.exists(store.keys.Keys.incidents_meta)


def test_declaring_is_atomic(r: redis.Redis, people: None) -> None:
    """An alert already linked to an open incident: the second declaration is a Conflict naming
    who linked it and when, and writes nothing (no incident, no task, no number used)."""
    alert_id = placed_alert(r, "shared")
    first = _declare(r, alert_ids=[alert_id])
    keys_before = sorted(r.keys("co:{incidents}:*"))
    with pytest.raises(incidents.Conflict) as lost:
        _declare(r, alert_ids=[alert_id], by=BOB, now=T0 + 5)
    assert lost.value.reason == "linked_elsewhere" and "#1" in lost.value.why
    assert (lost.value.by, lost.value.at) == ("ada", pytest.approx(T0))
    assert sorted(r.keys("co:{incidents}:*")) == keys_before
    assert store.incidents.ids(r) == [first["id"]]
    assert _declare(r)["number"] == 2
    assert ("bob", "incident_declare", "conflict") in [
        (e.actor, e.action, e.outcome) for e in audit.recent(r, 100)]


# -- status --------------------------------------------------------------------------------------------
def _reach(r: redis.Redis, status: str) -> dict[str, Any]:
    """A new incident brought to ``status`` by allowed steps."""
    incident = _declare(r)
    path = {"declared": [], "responding": ["responding"], "stabilised": ["responding", "stabilised"],
            "closed": ["closed"]}[status]
    for step in path:
        incident = incidents.change(r, ADA, CATALOGUE, incident["id"], "status", status=step,
                                    now=T0 + 10)
    return incident


@pytest.mark.parametrize(("origin", "target"), list(itertools.product(STATUSES, STATUSES)))
def test_every_transition(r: redis.Redis, people: None, origin: str, target: str) -> None:
    """Each (from, to) pair: the allowed ones move the status and say so on the timeline and in
    the audit log; every other one is a Conflict naming who set the current status and when."""
    incident = _reach(r, origin)
    if target in TRANSITIONS[origin]:
        changed = incidents.change(r, BOB, CATALOGUE, incident["id"], "status", status=target,
                                   note="as planned", now=T0 + 20)
        assert (changed["status"], changed["status_by"]) == (target, "bob")
        assert changed["status_at"] == pytest.approx(T0 + 20)
        entry = incidents.timeline(r, incident["id"])[-1]
        assert (entry["action"], entry["detail"], entry["note"]) == ("status", target, "as planned")
        assert ("bob", "incident_status", "ok") in _audit_lines(r, incident["id"])
        assert (incident["id"] in store.incidents.ids(r, open_only=True)) == (target != "closed")
        return
    with pytest.raises(incidents.Conflict) as refused:
        incidents.change(r, BOB, CATALOGUE, incident["id"], "status", status=target, now=T0 + 20)
    expected_reason = "closed" if origin == "closed" else "already" if origin == target else "transition"
    assert refused.value.reason == expected_reason
    assert refused.value.by == "ada"
    assert refused.value.at == pytest.approx(T0 if origin == "declared" else T0 + 10)
    assert incidents.get_incident(r, incident["id"])["status"] == origin  # type: ignore[index]
    assert ("bob", "incident_status", "conflict") in _audit_lines(r, incident["id"])


def test_twenty_change_the_status_at_once(r: redis.Redis, redis_url: str, people: None) -> None:
    """20 people start the response at the same moment: one does, 19 are told who and when."""
    incident = _declare(r)
    barrier = threading.Barrier(20)
    results: dict[str, Any] = {}

    def act(name: str) -> None:
        client = connect(redis_url)
        try:
            barrier.wait(timeout=10)
            incidents.change(client, person(name), CATALOGUE, incident["id"], "status",
                             status="responding")
            results[name] = "won"
        except incidents.Conflict as exc:
            results[name] = (exc.reason, exc.by, exc.at)
        finally:
            client.close()

    threads = [threading.Thread(target=act, args=(f"op{i:02d}",)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    winners = [name for name, outcome in results.items() if outcome == "won"]
    assert len(results) == 20 and len(winners) == 1, results
    after = incidents.get_incident(r, incident["id"])
    assert after is not None and after["status_by"] == winners[0]
    losers = [outcome for name, outcome in results.items() if name != winners[0]]
    assert losers == [("already", winners[0], pytest.approx(after["status_at"]))] * 19
    assert [e["action"] for e in incidents.timeline(r, incident["id"])].count("status") == 1


# -- level, commander, area, public flag, notes -----------------------------------------------------------
def test_changes_with_the_version_seen(r: redis.Redis, people: None) -> None:
    """Level, commander, area and public flag change with the version the caller saw; a caller
    who saw an older version is told who changed it meanwhile and when; the same value twice is
    a Conflict naming who set it."""
    incident = _declare(r)
    raised_ = incidents.change(r, ADA, CATALOGUE, incident["id"], "level", level="I",
                               version=incident["version"], note="hospital hit", now=T0 + 30)
    assert (raised_["level"], raised_["level_colour"], raised_["version"]) == ("I", "red", 2)
    with pytest.raises(incidents.Conflict) as stale:
        incidents.change(r, BOB, CATALOGUE, incident["id"], "commander", commander="bob",
                         version=incident["version"], now=T0 + 31)
    assert (stale.value.reason, stale.value.by, stale.value.at) == ("stale", "ada", pytest.approx(T0 + 30))
    with pytest.raises(incidents.Conflict) as same:
        incidents.change(r, BOB, CATALOGUE, incident["id"], "level", level="I", now=T0 + 32)
    assert (same.value.reason, same.value.by) == ("already", "ada")
    moved = incidents.change(r, BOB, CATALOGUE, incident["id"], "commander", commander="eve",
                             version=2, now=T0 + 33)
    assert (moved["commander"], moved["commander_by"]) == ("eve", "bob")
    drawn = incidents.change(r, BOB, CATALOGUE, incident["id"], "area", area=SQUARE, now=T0 + 34)
    assert drawn["area"] == SQUARE and drawn["area_by"] == "bob"
    public = incidents.change(r, ADA, CATALOGUE, incident["id"], "public", public=True, now=T0 + 35)
    assert public["public"] and public["public_at"] == pytest.approx(T0 + 35)
    noted = incidents.change(r, BOB, CATALOGUE, incident["id"], "note", note="crews on site")
    assert noted["notes"] == 1 and noted["version"] == public["version"]  # notes never conflict
    story = incidents.timeline(r, incident["id"])
    assert [e["action"] for e in story][1:] == ["level", "commander", "area", "public", "note"]
    assert story[1]["detail"] == "III -> I" and story[1]["note"] == "hospital hit"
    assert [a for _, a, o in _audit_lines(r, incident["id"]) if o == "ok"] == [
        "incident_declare", "incident_level", "incident_commander", "incident_area",
        "incident_public", "incident_note"]


def test_who_may_change_an_incident(r: redis.Redis, people: None) -> None:
    """Emergency staff change an incident they command and no other; officials never; refusals
    are audited as denied and change nothing. Only operators and admins declare."""
    eve, olga = person("eve", roles.EMERGENCY), person("olga", roles.OFFICIAL)
    theirs = _declare(r, commander="eve")
    other = _declare(r)
    assert incidents.change(r, eve, CATALOGUE, theirs["id"], "status",
                            status="responding")["status"] == "responding"
    for who, incident_id in ((eve, other["id"]), (olga, theirs["id"])):
        with pytest.raises(incidents.NotPermitted):
            incidents.change(r, who, CATALOGUE, incident_id, "status", status="closed")
        assert (who.name, "incident_status", "denied") in _audit_lines(r, incident_id)
    assert incidents.get_incident(r, other["id"])["status"] == "declared"  # type: ignore[index]
    with pytest.raises(incidents.NotPermitted):
        incidents.declare(r, eve, CATALOGUE, title="Mine", kind="power_outage")
    assert len(store.incidents.ids(r)) == 2


def test_closing_frees_the_alerts_and_takes_the_tasks_off_the_lists(r: redis.Redis, people: None) -> None:
    """A closed incident: its open tasks leave every list (marked left open), its alerts may join
    another incident, and nothing changes it any more but notes; who closed it and when answer."""
    alert_id = placed_alert(r, "closing")
    incident = _declare(r, alert_ids=[alert_id])
    tasks = incidents.incident_tasks(r, incident["id"])
    incidents.change(r, ADA, CATALOGUE, incident["id"], "status", status="closed", now=T0 + 40)
    assert store.incidents.open_task_ids(r) == []
    assert all(store.incidents.open_task_ids(r, department=d) == []
               for d in CATALOGUE.departments)
    assert all(t["left_open"] and not t["overdue"] for t in incidents.incident_tasks(r, incident["id"]))
    assert len(tasks) == len(CATALOGUE.types["water_main_burst"].steps)
    assert store.incidents.linked_alerts(r) == {}
    assert incidents.get_incident(r, incident["id"])["alerts"] == [alert_id]  # type: ignore[index]
    with pytest.raises(incidents.Conflict) as frozen:
        incidents.change(r, BOB, CATALOGUE, incident["id"], "level", level="I")
    assert (frozen.value.reason, frozen.value.by, frozen.value.at) == ("closed", "ada",
                                                                       pytest.approx(T0 + 40))
    assert incidents.change(r, BOB, CATALOGUE, incident["id"], "note", note="lessons")["notes"] == 1
    again = _declare(r, alert_ids=[alert_id], by=BOB)
    assert again["alerts"] == [alert_id]


# -- links and steps ----------------------------------------------------------------------------------
def test_link_and_unlink_by_hand(r: redis.Redis, people: None) -> None:
    """Linking twice, linking an alert of another open incident and unlinking what is not linked
    are Conflicts with who and when; the alert's own timeline tells each link and unlink."""
    mine, elsewhere = placed_alert(r, "mine"), placed_alert(r, "elsewhere")
    incident = _declare(r)
    other = _declare(r, alert_ids=[elsewhere], by=BOB, now=T0 + 1)
    linked = incidents.link(r, ADA, incident["id"], mine, note="same street", now=T0 + 50)
    assert linked["alerts"] == [mine]
    with pytest.raises(incidents.Conflict) as twice:
        incidents.link(r, BOB, incident["id"], mine, now=T0 + 51)
    assert (twice.value.reason, twice.value.by, twice.value.at) == ("already_linked", "ada",
                                                                    pytest.approx(T0 + 50))
    with pytest.raises(incidents.Conflict) as taken:
        incidents.link(r, ADA, incident["id"], elsewhere, now=T0 + 52)
    assert taken.value.reason == "linked_elsewhere" and f"#{other['number']}" in taken.value.why
    assert (taken.value.by, taken.value.at) == ("bob", pytest.approx(T0 + 1))
    assert incidents.link(r, BOB, incident["id"], mine, unlink=True, now=T0 + 53)["alerts"] == []
    with pytest.raises(incidents.Conflict) as gone:
        incidents.link(r, ADA, incident["id"], mine, unlink=True, now=T0 + 54)
    assert (gone.value.reason, gone.value.by) == ("not_linked", "bob")
    assert [e["action"] for e in alerts.timeline(r, mine)][1:] == ["incident_linked",
                                                                   "incident_unlinked"]
    with pytest.raises(incidents.IncidentError) as unknown:
        incidents.link(r, ADA, incident["id"], "al-0000000000000000")
    assert unknown.value.field == "alert"
    assert [link["state"] for link in incidents.alert_links(r, incident["id"])] == ["unlinked"]


def test_the_commander_adds_steps(r: redis.Redis, people: None) -> None:
    """An added step is a task of its department due from now; unknown departments and closed
    incidents are refused."""
    eve = person("eve", roles.EMERGENCY)
    incident = _declare(r, commander="eve")
    task = incidents.add_step(r, eve, CATALOGUE, incident["id"], title="Sandbags at the depot",
                              department="city_management", due_minutes=20, required=False,
                              now=T0 + 60)
    assert (task["step"], task["department"], task["required"], task["state"]) == (
        "added", "city_management", False, "open")
    assert task["due_at"] == pytest.approx(T0 + 60 + 1200)
    assert incidents.incident_tasks(r, incident["id"])[-1]["id"] == task["id"]
    assert task["id"] in store.incidents.open_task_ids(r, department="city_management")
    with pytest.raises(incidents.IncidentError) as unknown:
        incidents.add_step(r, eve, CATALOGUE, incident["id"], title="x", department="navy",
                           due_minutes=5)
    assert unknown.value.field == "department"
    incidents.change(r, eve, CATALOGUE, incident["id"], "status", status="closed", now=T0 + 70)
    with pytest.raises(incidents.Conflict) as closed:
        incidents.add_step(r, eve, CATALOGUE, incident["id"], title="late", department="hospitals",
                           due_minutes=5)
    assert (closed.value.reason, closed.value.by) == ("closed", "eve")
    assert incidents.timeline(r, incident["id"])[1]["action"] == "step_added"


def test_incident_keys_are_durable(r: redis.Redis, people: None) -> None:
    """No incident key expires or is capped (retention never trims the record of an incident)."""
    _declare(r, alert_ids=[placed_alert(r, "durable")])
    keys = list(r.scan_iter(match="co:{incidents}:*"))
    assert keys and all(r.ttl(key) == -1 for key in keys)


# -- the public warning -------------------------------------------------------------------------------
def _cap(incident: dict[str, Any]) -> dict[str, str]:
    root = ET.fromstring(cap_document(incident, T0 + 100))
    ns = {"cap": CAP_NS}
    return {name: root.findtext(f"cap:{name}", namespaces=ns) or ""
            for name in ("identifier", "status", "msgType", "references")} | {
        "headline": root.findtext("cap:info/cap:headline", namespaces=ns) or "",
        "severity": root.findtext("cap:info/cap:severity", namespaces=ns) or "",
        "languages": ",".join(e.text or "" for e in root.findall("cap:info/cap:language", ns))}


def test_the_incident_as_a_cap_warning(r: redis.Redis, people: None) -> None:
    """A Draft until public, an Alert when just published, an Update after a change, a Cancel once
    closed; a hostile title is escaped by the XML writer, and both languages are sent."""
    incident = _declare(r, title="<script>alert(1)</script> & flood", lat=CENTRE[0], lon=CENTRE[1])
    draft = _cap(incident)
    assert (draft["status"], draft["msgType"], draft["severity"]) == ("Draft", "Alert", "Moderate")
    assert draft["headline"] == "<script>alert(1)</script> & flood"
    assert draft["languages"] == "en-US,zh-CN"
    public = incidents.change(r, ADA, CATALOGUE, incident["id"], "public", public=True, now=T0 + 1)
    assert (_cap(public)["status"], _cap(public)["msgType"]) == ("Actual", "Alert")
    graver = incidents.change(r, ADA, CATALOGUE, incident["id"], "level", level="II", now=T0 + 2)
    update = _cap(graver)
    assert (update["msgType"], update["severity"]) == ("Update", "Severe")
    assert update["identifier"] == f"{incident['id']}.v{graver['version']}"
    assert update["references"].startswith(f"cityops,{incident['id']},")
    closed = incidents.change(r, ADA, CATALOGUE, incident["id"], "status", status="closed", now=T0 + 3)
    assert _cap(closed)["msgType"] == "Cancel"
