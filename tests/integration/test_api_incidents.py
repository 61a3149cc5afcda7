"""The incidents API on the whole app and a real redis-server: declare (201), change and act (200),
who may (403), what does not exist (404), races (409 with who and when), bad input (400 naming the
field), proposals, tasks, the catalogue, the departments' notices and the CAP 1.2 warning."""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET
from typing import Any

import pytest
import redis

from app import accounts, audit, incidents, store
from app.incidents import actions
from app.incidents.cap import CAP_NS
from tests.support.incidents import CATALOGUE, SQUARE_TEXT, placed_alert
from tests.support.web import PASSWORD, csrf_header, login

WATER_CREW = "crew-water"
NEW_INCIDENT = {"title": "Burst main on Kangfu Road", "type": "water_main_burst", "lat": 28.56,
                "lon": 112.35, "radius_m": 300, "description": "Reported by phone"}


class Caller:
    """A signed-in session sending Dash's CSRF header with every POST."""

    def __init__(self, web_app: Any, name: str) -> None:
        self.client = web_app.server.test_client()
        assert login(self.client, name).status_code == 302

    def get(self, path: str) -> Any:
        return self.client.get(path)

    def post(self, path: str, body: Any = None) -> Any:
        return self.client.post(path, json=body if body is not None else {},
                                headers=csrf_header(self.client))


@pytest.fixture
def callers(web_app: Any, r: redis.Redis, users: dict[str, str]) -> dict[str, Caller]:
    """A session per role, and one of emergency staff of the water bureau."""
    accounts.add_user(r, WATER_CREW, "emergency", PASSWORD, departments=("water_bureau",))
    found = {role: Caller(web_app, name) for role, name in users.items()}
    found["crew"] = Caller(web_app, WATER_CREW)
    return found


def _declared(callers: dict[str, Caller], **extra: Any) -> dict[str, Any]:
    response = callers["operator"].post("/api/v1/incidents", dict(NEW_INCIDENT, **extra))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_declare_read_and_list(callers: dict[str, Caller], r: redis.Redis,
                               users: dict[str, str]) -> None:
    """201 with the whole incident (its timeline, tasks and links, times in Unix seconds and ISO
    8601); everyone reads it and finds it in the list; the alert's own timeline says so."""
    alert_id = placed_alert(r, "api")
    incident = _declared(callers, alerts=alert_id, level="II", commander=users["emergency"])
    assert (incident["number"], incident["status"], incident["level"]) == (1, "declared", "II")
    assert incident["commander"] == users["emergency"] and incident["alerts"] == [alert_id]
    assert incident["declared_at_iso"].endswith("Z") and abs(incident["declared_at"] - time.time()) < 60
    assert [e["action"] for e in incident["timeline"]] == ["declared", "linked"]
    assert len(incident["task_list"]) == len(CATALOGUE.types["water_main_burst"].steps)
    assert incident["links"][0]["alert"] == alert_id and incident["links"][0]["how"] == "declared"
    for role in ("admin", "operator", "emergency", "official"):
        one = callers[role].get(f"/api/v1/incidents/{incident['id']}")
        assert one.status_code == 200 and one.get_json()["id"] == incident["id"]
        listed = callers[role].get("/api/v1/incidents?status=declared")
        assert [i["id"] for i in listed.get_json()["incidents"]] == [incident["id"]]
    assert callers["official"].get("/api/v1/incidents?status=closed").get_json()["incidents"] == []
    alert = callers["official"].get(f"/api/v1/alerts/{alert_id}").get_json()
    assert alert["timeline"][-1]["action"] == "incident_linked"


def test_who_may_declare_and_change(callers: dict[str, Caller], r: redis.Redis,
                                    users: dict[str, str]) -> None:
    """Officials and emergency staff do not declare (403, nothing written); emergency staff
    change only what they command; a refusal is audited as denied."""
    for role in ("official", "emergency"):
        assert callers[role].post("/api/v1/incidents", NEW_INCIDENT).status_code == 403
    assert store.incidents.ids(r) == []
    theirs = _declared(callers, commander=users["emergency"])
    other = _declared(callers)
    assert callers["emergency"].post(f"/api/v1/incidents/{theirs['id']}/status",
                                     {"status": "responding"}).status_code == 200
    refused = callers["emergency"].post(f"/api/v1/incidents/{other['id']}/status",
                                        {"status": "responding"})
    assert refused.status_code == 403 and "commander" in refused.get_json()["error"]
    assert callers["official"].post(f"/api/v1/incidents/{theirs['id']}/note",
                                    {"text": "hello"}).status_code == 403
    assert (users["emergency"], "incident_status", "denied") in [
        (e.actor, e.action, e.outcome) for e in audit.recent(r, 100)]


def test_changes_and_their_conflicts(callers: dict[str, Caller]) -> None:
    """status, level, commander, area, public: 200 with the incident; a transition not allowed,
    a value already set, or a version someone else changed is 409 with who and when."""
    incident = _declared(callers)
    path = f"/api/v1/incidents/{incident['id']}"
    ok = callers["admin"].post(f"{path}/level", {"level": "I", "note": "spreading",
                                                 "version": incident["version"]})
    assert ok.status_code == 200 and ok.get_json()["level"] == "I"
    stale = callers["operator"].post(f"{path}/public", {"public": "yes",
                                                         "version": incident["version"]})
    body = stale.get_json()
    assert stale.status_code == 409 and (body["reason"], body["by"]) == ("stale", "admin1")
    assert body["at"] == pytest.approx(ok.get_json()["level_at"]) and body["at_iso"].endswith("Z")
    jump = callers["operator"].post(f"{path}/status", {"status": "stabilised"})
    assert jump.status_code == 409 and jump.get_json()["reason"] == "transition"
    assert callers["operator"].post(f"{path}/area", {"area": SQUARE_TEXT}).get_json()["area"]
    assert callers["operator"].post(f"{path}/public", {"public": "yes"}).get_json()["public"]
    twice = callers["admin"].post(f"{path}/public", {"public": "yes"})
    assert twice.status_code == 409 and twice.get_json()["by"] == "operator1"
    assert callers["operator"].post(f"{path}/commander", {"commander": "Emergency1"}).get_json()[
        "commander"] == "emergency1"


@pytest.mark.parametrize(("action", "body", "field"), [
    ("status", {"status": "over"}, "status"),
    ("level", {"level": "V"}, "level"),
    ("commander", {"commander": "nobody"}, "commander"),
    ("commander", {"commander": "official1"}, "commander"),
    ("area", {"lat": 28.5}, "lon"),
    ("area", {"area": '{"type": "Point", "coordinates": [112, 28]}'}, "area"),
    ("area", {"area": "not json"}, "area"),
    ("link", {"alert": "al-0000000000000000"}, "alert"),
    ("step", {"title": "x", "department": "navy", "due_minutes": 5}, "department"),
    ("note", {"text": ""}, "text"),
])
def test_bad_changes_name_the_field(callers: dict[str, Caller], raw: redis.Redis, action: str,
                                    body: dict[str, Any], field: str) -> None:
    """A value the service refuses is a 400 naming the field, and changes nothing."""
    incident = _declared(callers)
    before = raw.dump(store.keys.Keys.incident(incident["id"]))
    response = callers["operator"].post(f"/api/v1/incidents/{incident['id']}/{action}", body)
    assert response.status_code == 400 and f"'{field}'" in response.get_json()["error"]
    assert raw.dump(store.keys.Keys.incident(incident["id"])) == before


@pytest.mark.parametrize("body", [{"type": "volcano"}, {"commander": "ghost"},
                                  {"alerts": "al-0000000000000000"}, {"radius_m": 5},
                                  {"area": "[1, 2]"}])
def test_bad_declarations_name_the_field(callers: dict[str, Caller], r: redis.Redis,
                                         body: dict[str, Any]) -> None:
    """400 naming the field (type, commander, alerts, radius_m, area); no incident is written."""
    response = callers["operator"].post("/api/v1/incidents", dict(NEW_INCIDENT, **body))
    field = next(iter(body))
    assert response.status_code == 400 and f"'{field}'" in response.get_json()["error"]
    assert store.incidents.ids(r) == []


def test_unknown_ids_are_404(callers: dict[str, Caller]) -> None:
    """An unknown incident, task or proposal: 404 on every route, never a 500."""
    for path in ("/api/v1/incidents/in-0123456789ab", "/api/v1/tasks/tk-0123456789ab",
                 "/api/v1/incidents/in-0123456789ab/cap"):
        assert callers["official"].get(path).status_code == 404
    for path, body in (("/api/v1/incidents/in-0123456789ab/note", {"text": "x"}),
                       ("/api/v1/tasks/tk-0123456789ab/take", {}),
                       ("/api/v1/incidents/proposals/pr-0123456789ab/dismiss", {}),
                       ("/api/v1/incidents/proposals/pr-0123456789ab/accept", {})):
        assert callers["admin"].post(path, body).status_code == 404, path


def test_tasks_through_the_api(callers: dict[str, Caller], users: dict[str, str]) -> None:
    """Department staff see their tasks and take them (201 steps added by the commander, 200 task
    steps); taking one someone holds is 409 naming them; other staff get 403; finish and cannot."""
    incident = _declared(callers)
    mine = callers["crew"].get("/api/v1/tasks?department=water_bureau").get_json()["tasks"]
    assert mine and {t["department"] for t in mine} == {"water_bureau"}
    task = next(t for t in mine if t["step"] == "isolate")
    assert callers["emergency"].post(f"/api/v1/tasks/{task['id']}/take").status_code == 403
    taken = callers["crew"].post(f"/api/v1/tasks/{task['id']}/take", {"note": "on my way"})
    assert taken.status_code == 200 and taken.get_json()["owner"] == WATER_CREW
    late = callers["operator"].post(f"/api/v1/tasks/{task['id']}/take")
    assert late.status_code == 409 and (late.get_json()["reason"], late.get_json()["by"]) == (
        "taken", WATER_CREW)
    assert callers["crew"].get(f"/api/v1/tasks?owner={WATER_CREW}").get_json()["tasks"][0]["id"] == task["id"]
    done = callers["crew"].post(f"/api/v1/tasks/{task['id']}/finish", {"note": "isolated"})
    assert done.status_code == 200 and done.get_json()["state"] == "done"
    one = callers["official"].get(f"/api/v1/tasks/{task['id']}").get_json()
    assert [e["action"] for e in one["timeline"]] == ["task_taken", "task_done"]
    reason = callers["crew"].post(f"/api/v1/tasks/{mine[-1]['id']}/cannot", {"reason": ""})
    assert reason.status_code == 400 and "'reason'" in reason.get_json()["error"]
    step = callers["operator"].post(f"/api/v1/incidents/{incident['id']}/step", {
        "title": "Sandbags at the depot", "department": "city_management", "due_minutes": 20,
        "required": "no"})
    assert step.status_code == 201 and step.get_json()["required"] is False
    moved = callers["operator"].post(f"/api/v1/tasks/{step.get_json()['id']}/reassign", {
        "department": "fire_rescue", "owner": users["emergency"]})
    assert moved.status_code == 200 and moved.get_json()["owner"] == users["emergency"]


def test_twenty_take_one_task_through_the_api(web_app: Any, callers: dict[str, Caller],
                                              r: redis.Redis) -> None:
    """Twenty operators press "take" at once: one 200, nineteen 409 naming the one."""
    task = next(t for t in _declared(callers)["task_list"] if t["step"] == "isolate")
    people = []
    for i in range(20):
        accounts.add_user(r, f"desk{i:02d}", "operator", PASSWORD)
        people.append(Caller(web_app, f"desk{i:02d}"))
    barrier = threading.Barrier(20)
    answers: list[tuple[int, Any]] = []

    def take(caller: Caller) -> None:
        barrier.wait(timeout=10)
        response = caller.post(f"/api/v1/tasks/{task['id']}/take")
        answers.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=take, args=(c,)) for c in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(code for code, _ in answers) == [200] + [409] * 19
    owner = next(body["owner"] for code, body in answers if code == 200)
    assert all(body["by"] == owner for code, body in answers if code == 409)


def test_proposals_through_the_api(callers: dict[str, Caller], r: redis.Redis) -> None:
    """Pending proposals are listed; accepting one is 201 with the incident; judging it again
    is 409 naming who did first; dismissing another keeps its reason."""
    now = time.time()
    for i, domain in enumerate(("water", "city", "water")):
        placed_alert(r, f"cluster-{i}", domain=domain, now=now - 60 * i)
    created = incidents.propose(r, CATALOGUE, now=now)
    listed = callers["official"].get("/api/v1/incidents/proposals").get_json()["proposals"]
    assert [p["id"] for p in listed] == created
    accepted = callers["operator"].post(f"/api/v1/incidents/proposals/{created[0]}/accept",
                                        {"type": "urban_flooding"})
    assert accepted.status_code == 201 and accepted.get_json()["proposal"] == created[0]
    again = callers["admin"].post(f"/api/v1/incidents/proposals/{created[0]}/dismiss",
                                  {"reason": "drill"})
    assert again.status_code == 409 and again.get_json()["by"] == "operator1"
    assert callers["emergency"].post(f"/api/v1/incidents/proposals/{created[0]}/dismiss",
                                     {}).status_code == 403
    judged = callers["official"].get("/api/v1/incidents/proposals?state=accepted").get_json()
    assert [p["state"] for p in judged["proposals"]] == ["accepted"]


def test_catalogue_notices_and_the_cap_warning(callers: dict[str, Caller], r: redis.Redis) -> None:
    """/sop gives the catalogue in force; after the system's notify step the departments'
    notices list the incident; its CAP warning is a Draft until published, then Actual."""
    catalogue = callers["official"].get("/api/v1/sop").get_json()
    assert {t["id"] for t in catalogue["types"]} == set(CATALOGUE.types) and catalogue["error"] == ""
    assert any(d["id"] == "water_bureau" and d["name_zh"] == "水务局" for d in catalogue["departments"])
    incident = _declared(callers, title="<b>Burst</b> & co")
    actions.due_tasks(r, time.time() + 1)
    notices = callers["crew"].get("/api/v1/notices").get_json()["notices"]
    assert [n["incident"] for n in notices] == [incident["id"]]
    assert callers["official"].get("/api/v1/notices").get_json()["notices"] == []
    cap = callers["official"].get(f"/api/v1/incidents/{incident['id']}/cap")
    assert cap.status_code == 200 and cap.mimetype == "application/cap+xml"
    root = ET.fromstring(cap.data)
    ns = {"cap": CAP_NS}
    assert root.findtext("cap:status", namespaces=ns) == "Draft"
    assert root.findtext("cap:info/cap:headline", namespaces=ns) == "<b>Burst</b> & co"
    callers["operator"].post(f"/api/v1/incidents/{incident['id']}/public", {"public": "yes"})
    published = ET.fromstring(callers["official"].get(f"/api/v1/incidents/{incident['id']}/cap").data)
    assert published.findtext("cap:status", namespaces=ns) == "Actual"
