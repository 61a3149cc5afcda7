"""The incident screens' callbacks over HTTP with real sessions: /incidents (list, detail, declaring,
proposals, changes and conflicts), /tasks, the linkage panel, /alerts' declare button, and the
wall's incidents (the alert panel's lines and the rotation's pin)."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
import redis
from plotly.utils import PlotlyJSONEncoder

from app import accounts, audit, i18n, incidents
from app.model import roles
from layouts import alert_panel, ids, linkage_panel, wall
from tests.support.incident_pages import (
    HOSTILE_NAME,
    call,
    find_all,
    pattern,
    prop,
    seed_city,
    texts,
)
from tests.support.incidents import CATALOGUE, CENTRE, person, placed_alert
from tests.support.security import callback_key
from tests.support.seeds.official import page_body
from tests.support.web import PASSWORD, csrf_header, login

ID_LIKE = re.compile(r"\b(in|tk|pr|al)-[0-9a-f]{12}\b|\b[a-z]+:[a-z]+:\d+\b")


def as_json(component: Any) -> Any:
    """A Dash component tree as the browser receives it."""
    return json.loads(json.dumps(component, cls=PlotlyJSONEncoder))


def _declare(r: redis.Redis, title: str, kind: str = "water_main_burst", level: str = "",
             alerts_: tuple[str, ...] = (), now: float | None = None, **where: Any) -> dict[str, Any]:
    where = where or {"lat": CENTRE[0], "lon": CENTRE[1], "radius_m": 800.0}
    return incidents.declare(r, person("desk", roles.OPERATOR), CATALOGUE, title=title, kind=kind,
                             level=level, alert_ids=list(alerts_), now=now, **where)


def _response(resp: Any) -> dict[str, Any]:
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    return resp.get_json()["response"]


def _signed_in(client: Any, users: dict[str, str], role: str) -> Any:
    assert login(client, users[role]).status_code == 302
    return client


def _pulse(gate: str) -> str:
    """The callback input a page's tick reaches a gated callback by (layouts/pulse.py)."""
    return prop(ids.pulse_part(gate, ids.PULSE), "data")


def _detail(client: Any, web_app: Any, incident_id: str) -> dict[str, Any]:
    return _response(call(client, web_app, "layouts.incident_detail.render", {
        prop(ids.INCIDENT_SELECTED, "data"): incident_id}))


def _list(client: Any, web_app: Any, which: str = "open") -> dict[str, Any]:
    return _response(call(client, web_app, "layouts.incidents.poll", {
        _pulse(ids.INCIDENTS_LIST): {"n": 1}, prop(ids.INCIDENTS_FILTER, "value"): which}))


def _pattern_input(web_app: Any, name: str, kind: str) -> str:
    """The callback map's id of the pattern-matching input of ``kind`` (as Dash keys it)."""
    spec = web_app.callback_map[callback_key(web_app, name)]
    return next(i["id"] for i in spec["inputs"]
                if i["id"].startswith("{") and json.loads(i["id"])["type"] == kind)


def press(client: Any, web_app: Any, name: str, button: dict[str, str] | str,
          values: dict[str, Any]) -> Any:
    """Press one button (a plain one, or one of a pattern-matching family) of callback ``name``."""
    values = dict(values)
    if isinstance(button, dict):
        key = _pattern_input(web_app, name, button["type"])
        values[f"{key}.n_clicks"] = [{"id": button, "property": "n_clicks", "value": 1}]
    else:
        values[prop(button, "n_clicks")] = 1
    return call(client, web_app, name, values, prop(button, "n_clicks"))


def _act(client: Any, web_app: Any, button: dict[str, str] | str, seen: Any,
         **states: Any) -> Any:
    """Press one button of the incident's detail (the states as the page holds them)."""
    values: dict[str, Any] = {prop(ids.INCIDENT_SEEN, "data"): seen}
    values.update({prop(getattr(ids, k.upper()), "value"): v for k, v in states.items()})
    return press(client, web_app, "layouts.incident_detail.act", button, values)


# -- the list ---------------------------------------------------------------------------------------
def test_list_shows_open_incidents_gravest_first_with_their_task_progress(
        client: Any, web_app: Any, users: dict[str, str], r: redis.Redis) -> None:
    """Open before closed, level I before III; each card says its level in words, its number and
    title, its status and how many of its tasks are done; no internal code on the cards."""
    minor = _declare(r, "Pipe leak on Taohualun Rd", level="III")
    grave = _declare(r, "Main burst <b>Kangfu Rd</b>", level="I")
    false_alarm = _declare(r, "Smoke report", kind="power_outage", level="II")
    incidents.change(r, person("desk"), CATALOGUE, false_alarm["id"], "status", status="closed")
    task = incidents.incident_tasks(r, grave["id"])[0]
    incidents.act_on_task(r, person("desk"), CATALOGUE, task["id"], "finish")
    _signed_in(client, users, "official")
    shown = _list(client, web_app)
    cards = find_all(shown[ids.INCIDENTS_LIST]["children"],
                     lambda p: "data-incident" in p)
    assert [c["props"]["data-incident"] for c in cards] == [grave["id"], minor["id"]]
    words = texts(cards[0])
    assert "Level I (red)" in words and "Declared" in words
    assert "#2 Main burst <b>Kangfu Rd</b>" in words  # a person's text, shown as text
    total = grave["tasks"]["total"]
    assert f"1 of {total} tasks done" in words
    assert not any(ID_LIKE.search(w) for w in texts(shown[ids.INCIDENTS_LIST]["children"]))
    everything = _list(client, web_app, "all")
    cards = find_all(everything[ids.INCIDENTS_LIST]["children"], lambda p: "data-incident" in p)
    assert [c["props"]["data-incident"] for c in cards][-1] == false_alarm["id"]
    # Nothing changed: the next tick costs one read and sends nothing.
    again = call(client, web_app, "layouts.incidents.poll", {
        _pulse(ids.INCIDENTS_LIST): {"n": 2}, prop(ids.INCIDENTS_FILTER, "value"): "open",
        prop(ids.INCIDENTS_SHOWN, "data"): shown[ids.INCIDENTS_SHOWN]["data"]})
    assert again.status_code == 204


def test_the_page_opens_for_its_roles_and_an_incident_from_a_link(
        client: Any, users: dict[str, str], r: redis.Redis) -> None:
    """/incidents?incident=<id> opens that incident; a wall token and others are not shown it."""
    incident = _declare(r, "Burst main")
    _signed_in(client, users, "emergency")
    body = page_body("/incidents")
    body["inputs"][1]["value"] = f"?incident={incident['id']}"
    response = client.post("/_dash-update-component", json=body, headers=csrf_header(client))
    page = _response(response)["_pages_content"]["children"]
    stores = find_all(page, lambda p: p.get("id") == ids.INCIDENT_SELECTED)
    assert stores and stores[0]["props"]["data"] == incident["id"]
    assert "Incidents" in texts(page)


# -- the detail -------------------------------------------------------------------------------------
def test_detail_shows_every_task_and_gives_buttons_only_to_those_who_may_act(
        client: Any, web_app: Any, users: dict[str, str], r: redis.Redis) -> None:
    """An official reads every task (department, state, due) and no button; an operator gets the
    next statuses and the tasks' buttons; an emergency user of the water bureau only the water
    bureau's tasks' buttons, and no change of the incident (not its commander)."""
    alert = placed_alert(r, "detail", title="Low pressure Zone 3")
    incident = _declare(r, "Burst main", alerts_=(alert,))
    _signed_in(client, users, "official")
    shown = _detail(client, web_app, incident["id"])
    assert shown[ids.INCIDENT_ACTIONS]["hidden"] is True
    tasks = shown[ids.INCIDENT_TASKS]["children"]
    assert len(find_all(tasks, lambda p: "data-task" in p)) == incident["tasks"]["total"]
    assert not find_all(tasks, lambda p: isinstance(p.get("id"), dict))
    words = texts(tasks)
    assert "Water bureau" in words and "Open" in words
    assert any(w.startswith("Due ") for w in words)
    assert "Low pressure Zone 3" in texts(shown[ids.INCIDENT_ALERTS]["children"])
    assert "declared" in texts(shown[ids.INCIDENT_TIMELINE]["children"])
    assert not any(ID_LIKE.search(w) for part in (ids.INCIDENT_HEAD, ids.INCIDENT_TASKS,
                                                  ids.INCIDENT_ALERTS, ids.INCIDENT_TIMELINE)
                   for w in texts(shown[part]["children"]))

    client.post("/logout", headers=csrf_header(client), data={"csrf_token": ""})
    operator = _signed_in(web_app.server.test_client(), users, "operator")
    shown = _detail(operator, web_app, incident["id"])
    assert shown[ids.INCIDENT_ACTIONS]["hidden"] is False
    assert texts(shown[ids.INCIDENT_STATUS_BUTTONS]["children"]) == ["Start responding",
                                                                     "Close as a false alarm"]
    buttons = find_all(shown[ids.INCIDENT_TASKS]["children"], lambda p: isinstance(p.get("id"), dict))
    assert len(buttons) == 3 * incident["tasks"]["total"]  # take, finish, cannot each

    accounts.add_user(r, "waterman", "emergency", PASSWORD, departments=("water_bureau",))
    water = _signed_in(web_app.server.test_client(), {"emergency": "waterman"}, "emergency")
    shown = _detail(water, web_app, incident["id"])
    assert shown[ids.INCIDENT_ACTIONS]["hidden"] is True
    mine = {b["props"]["id"]["task"] for b in find_all(shown[ids.INCIDENT_TASKS]["children"],
                                                      lambda p: isinstance(p.get("id"), dict))}
    water_tasks = {t["id"] for t in incidents.incident_tasks(r, incident["id"])
                   if t["department"] == "water_bureau"}
    assert mine == water_tasks and water_tasks


def test_detail_in_chinese_names_states_levels_and_departments(
        client: Any, web_app: Any, users: dict[str, str], r: redis.Redis) -> None:
    incident = _declare(r, "Burst main", level="II")
    accounts.set_language(r, users["operator"], "zh")
    _signed_in(client, users, "operator")
    shown = _detail(client, web_app, incident["id"])
    head = texts(shown[ids.INCIDENT_HEAD]["children"])
    assert "Ⅱ级（橙色）" in head and "已启动" in head and "供水管道爆管" in head
    assert "水务局" in texts(shown[ids.INCIDENT_TASKS]["children"])
    assert texts(shown[ids.INCIDENT_STATUS_BUTTONS]["children"])[0] == "开始处置"
    assert "启动事件" in texts(shown[ids.INCIDENT_TIMELINE]["children"])


def test_changes_from_the_detail_go_through_the_service_and_say_so(
        client: Any, web_app: Any, users: dict[str, str], r: redis.Redis) -> None:
    """Status, level, commander, public warning, area, a step, a note, link and unlink: each is
    done, said in words, on the timeline, and the page is told to redraw."""
    incident = _declare(r, "Burst main", level="III")
    iid = incident["id"]
    spare = placed_alert(r, "spare", title="Turbid water")
    _signed_in(client, users, "operator")

    def seen() -> Any:
        return _detail(client, web_app, iid)[ids.INCIDENT_SEEN]["data"]

    def result(response: Any) -> str:
        body = _response(response)
        assert body[ids.INCIDENTS_SHOWN]["data"] is None  # the list and detail redraw
        return " ".join(texts(body[ids.INCIDENT_RESULT]["children"]))

    assert result(_act(client, web_app, pattern(ids.INCIDENT_STATUS_TO, index="responding"),
                       seen())) == "Status: Responding."
    assert result(_act(client, web_app, ids.INCIDENT_LEVEL_SET, seen(),
                       incident_level="I")) == "Level: Level I (red)."
    assert result(_act(client, web_app, ids.INCIDENT_COMMANDER_SET, seen(),
                       incident_commander=users["admin"])) == f"Command handed to {users['admin']}."
    assert result(_act(client, web_app, ids.INCIDENT_PUBLIC_SET, seen())) == (
        "The public warning is published.")
    assert result(_act(client, web_app, ids.INCIDENT_AREA_SET, seen(), incident_area_lat=28.56,
                       incident_area_lon=112.36, incident_area_radius=300)) == "Area set."
    assert result(_act(client, web_app, ids.INCIDENT_STEP_ADD, seen(),
                       incident_step_title="Close Kangfu Rd to traffic",
                       incident_step_department="traffic_police", incident_step_due=15,
                       incident_step_required=["yes"])) == (
        "Step added for Traffic police: Close Kangfu Rd to traffic")
    noted = _response(_act(client, web_app, ids.INCIDENT_NOTE_ADD, seen(),
                           incident_note="Valves 3 and 4 closed"))
    assert noted[ids.INCIDENT_NOTE]["value"] == ""  # the field empties for the next note
    assert result(_act(client, web_app, ids.INCIDENT_LINK, seen(),
                       incident_link_alert=spare)) == "Alert linked."
    assert result(_act(client, web_app, pattern(ids.INCIDENT_UNLINK, index=spare),
                       seen())) == "Alert unlinked."
    now = incidents.get_incident(r, iid)
    assert (now["status"], now["level"], now["commander"], now["public"], now["radius_m"]) == (
        "responding", "I", users["admin"], True, 300.0)
    assert any(t["title"] == "Close Kangfu Rd to traffic" and t["department"] == "traffic_police"
               for t in incidents.incident_tasks(r, iid))
    story = texts(_detail(client, web_app, iid)[ids.INCIDENT_TIMELINE]["children"])
    for words in ("status changed", "Responding", "Level III (yellow) → Level I (red)",
                  "public warning changed", "published", "Valves 3 and 4 closed", "alert unlinked",
                  "step added", "Close Kangfu Rd to traffic"):
        assert words in story, words
    # Inputs a person forgot are said, and nothing is asked of the service.
    version = incidents.get_incident(r, iid)["version"]
    for button, states, expected in (
            (ids.INCIDENT_LEVEL_SET, {}, "Pick a level"),
            (ids.INCIDENT_AREA_SET, {"incident_area_lat": 28.5}, "Give a latitude and longitude"),
            (ids.INCIDENT_STEP_ADD, {"incident_step_title": "x", "incident_step_due": -5,
                                     "incident_step_department": "traffic_police"}, "Due in 0 to"),
            (ids.INCIDENT_NOTE_ADD, {"incident_note": "  "}, "Write the note first.")):
        body = _response(_act(client, web_app, button, seen(), **states))
        assert texts(body[ids.INCIDENT_RESULT]["children"])[0].startswith(expected), button
    assert incidents.get_incident(r, iid)["version"] == version


def test_a_change_made_meanwhile_names_who_made_it_and_when(
        client: Any, web_app: Any, users: dict[str, str], r: redis.Redis) -> None:
    """The detail showed version n; someone changed the level since: the page's change is refused
    with their name and the time, and their level stands. Shown again, it goes through."""
    incident = _declare(r, "Burst main", level="III")
    _signed_in(client, users, "operator")
    seen = _detail(client, web_app, incident["id"])[ids.INCIDENT_SEEN]["data"]
    incidents.change(r, person("kim"), CATALOGUE, incident["id"], "level", level="II")
    body = _response(_act(client, web_app, ids.INCIDENT_LEVEL_SET, seen, incident_level="I"))
    said = texts(body[ids.INCIDENT_RESULT]["children"])[0]
    assert said.startswith("Not changed: the incident changed meanwhile (kim, "), said
    assert incidents.get_incident(r, incident["id"])["level"] == "II"
    fresh = _detail(client, web_app, incident["id"])[ids.INCIDENT_SEEN]["data"]
    _response(_act(client, web_app, ids.INCIDENT_LEVEL_SET, fresh, incident_level="I"))
    assert incidents.get_incident(r, incident["id"])["level"] == "I"
    # A task someone else took: taking it says who.
    task = incidents.incident_tasks(r, incident["id"])[0]
    incidents.act_on_task(r, person("lee"), CATALOGUE, task["id"], "take")
    body = _response(_act(client, web_app, pattern(ids.INCIDENT_TASK_ACT, task=task["id"],
                                                   action="take"), fresh))
    said = texts(body[ids.INCIDENT_RESULT]["children"])[0]
    assert said.startswith("Not changed: someone else took the task (lee, "), said


def test_a_crafted_change_by_someone_who_may_not_is_refused_and_audited(
        client: Any, web_app: Any, r: redis.Redis) -> None:
    """An emergency user who does not command the incident sends a level change anyway."""
    incident = _declare(r, "Burst main", level="III")
    accounts.add_user(r, "medic", "emergency", PASSWORD, departments=("hospitals",))
    _signed_in(client, {"emergency": "medic"}, "emergency")
    seen = {"id": incident["id"], "version": incident["version"], "public": False}
    body = _response(_act(client, web_app, ids.INCIDENT_LEVEL_SET, seen, incident_level="I"))
    assert texts(body[ids.INCIDENT_RESULT]["children"]) == ["You may not do this to this incident."]
    assert incidents.get_incident(r, incident["id"])["level"] == "III"
    assert any(e.action == "incident_level" and e.outcome == "denied" and e.actor == "medic"
               for e in audit.recent(r, 50))


def test_tasks_from_the_detail_take_finish_and_cannot_with_a_reason(
        client: Any, web_app: Any, users: dict[str, str], r: redis.Redis) -> None:
    incident = _declare(r, "Burst main")
    first, second = incidents.incident_tasks(r, incident["id"])[:2]
    _signed_in(client, users, "operator")
    seen = _detail(client, web_app, incident["id"])[ids.INCIDENT_SEEN]["data"]

    def press_task(task_id: str, action: str, reason: str | None = None) -> str:
        body = _response(_act(client, web_app, pattern(ids.INCIDENT_TASK_ACT, task=task_id,
                                                       action=action), seen,
                              incident_task_reason=reason))
        return texts(body[ids.INCIDENT_RESULT]["children"])[0]

    assert press_task(first["id"], "take").startswith("Taken: ")
    assert press_task(first["id"], "finish").startswith("Done: ")
    assert press_task(second["id"], "cannot") == "Say why it cannot be done."
    assert press_task(second["id"], "cannot", "No crew free") .startswith("Reported as cannot do")
    states = {t["id"]: (t["state"], t["owner"], t["reason"])
              for t in incidents.incident_tasks(r, incident["id"])}
    assert states[first["id"]] == ("done", users["operator"], "")
    assert states[second["id"]] == ("cannot", "", "No crew free")
    words = texts(_detail(client, web_app, incident["id"])[ids.INCIDENT_TASKS]["children"])
    assert f"Done by {users['operator']} at" in " ".join(words)
    assert "Reason: No crew free" in words


# -- declaring and proposals ---------------------------------------------------------------------
def test_declaring_from_alerts_links_them_and_opens_the_incident(
        client: Any, web_app: Any, users: dict[str, str], r: redis.Redis) -> None:
    one = placed_alert(r, "declare-1", title="Pipe burst on Kangfu Rd", severity="critical")
    two = placed_alert(r, "declare-2", domain="transport", title="Road flooded", severity="minor")
    _signed_in(client, users, "operator")
    values = {prop(ids.DECLARE_TITLE, "value"): "Burst main, Kangfu Rd",
              prop(ids.DECLARE_TYPE, "value"): "water_main_burst",
              prop(ids.DECLARE_COMMANDER, "value"): users["operator"],
              prop(ids.DECLARE_ALERTS, "value"): [one, two]}
    body = _response(press(client, web_app, "layouts.incident_declare.declare",
                           ids.DECLARE_SUBMIT, values))
    opened = body[ids.INCIDENT_SELECTED]["data"]
    incident = incidents.get_incident(r, opened)
    assert incident is not None and sorted(incident["alerts"]) == sorted([one, two])
    assert incident["level"] == "I"  # the critical alert's
    assert incident["lat"] == pytest.approx(CENTRE[0])  # the first located alert's place
    assert texts(body[ids.DECLARE_RESULT]["children"]) == [
        f"Declared: #{incident['number']} Burst main, Kangfu Rd"]
    # Declaring one of them again: the alert belongs to the open incident; who linked it and when.
    values[prop(ids.DECLARE_ALERTS, "value")] = [one]
    body = _response(press(client, web_app, "layouts.incident_declare.declare",
                           ids.DECLARE_SUBMIT, values))
    said = texts(body[ids.DECLARE_RESULT]["children"])[0]
    assert said.startswith("Not changed: the alert belongs to another incident"), said
    # A phone call: no alert, a place typed in; a missing type is said before anything is asked.
    values.update({prop(ids.DECLARE_ALERTS, "value"): [], prop(ids.DECLARE_LAT, "value"): 28.56,
                   prop(ids.DECLARE_LON, "value"): 112.35,
                   prop(ids.DECLARE_TYPE, "value"): None})
    body = _response(press(client, web_app, "layouts.incident_declare.declare",
                           ids.DECLARE_SUBMIT, values))
    assert texts(body[ids.DECLARE_RESULT]["children"]) == ["Pick a type"]
    values[prop(ids.DECLARE_TYPE, "value")] = "power_outage"
    body = _response(press(client, web_app, "layouts.incident_declare.declare",
                           ids.DECLARE_SUBMIT, values))
    call_in = incidents.get_incident(r, body[ids.INCIDENT_SELECTED]["data"])
    assert call_in["source"] == "call" and call_in["lat"] == pytest.approx(28.56)


def test_the_form_opened_from_an_alert_starts_with_it(client: Any, users: dict[str, str],
                                                      r: redis.Redis) -> None:
    """/incidents?declare=<id>: the form is open with the alert, its title and a suggested type."""
    alert = placed_alert(r, "from-alert", title="Pressure drop: pipe burst suspected")
    _signed_in(client, users, "operator")
    body = page_body("/incidents")
    body["inputs"][1]["value"] = f"?declare={alert}"
    page = _response(client.post("/_dash-update-component", json=body,
                                 headers=csrf_header(client)))["_pages_content"]["children"]
    form = find_all(page, lambda p: p.get("id") == ids.DECLARE_FORM)[0]["props"]
    assert form["open"] is True
    value = {c["props"]["id"]: c["props"].get("value") for c in find_all(
        form["children"], lambda p: p.get("id") in (ids.DECLARE_ALERTS, ids.DECLARE_TITLE,
                                                   ids.DECLARE_TYPE))}
    assert value == {ids.DECLARE_ALERTS: [alert], ids.DECLARE_TITLE: "Pressure drop: pipe burst "
                     "suspected", ids.DECLARE_TYPE: "water_main_burst"}


def test_proposals_are_shown_to_operators_to_accept_or_dismiss(
        client: Any, web_app: Any, users: dict[str, str], r: redis.Redis) -> None:
    from tests.support.incidents import incident_sample
    first = incident_sample(r, users["admin"], "p1", parts=("proposal",))["proposal_id"]
    second = incident_sample(r, users["admin"], "p2", parts=("proposal",))["proposal_id"]
    _signed_in(client, users, "operator")
    lines = _list(client, web_app)[ids.PROPOSALS]["children"]
    shown = [line["props"]["data-proposal"] for line in find_all(lines, lambda p: "data-proposal" in p)]
    assert sorted(shown) == sorted([first, second])
    assert "Suggested type: Urban flooding / rainstorm · City management, Water" in " ".join(
        texts(lines))
    body = _response(press(client, web_app, "layouts.incident_declare.judge",
                           pattern(ids.PROPOSAL_ACCEPT, index=first), {}))
    incident = incidents.get_incident(r, body[ids.INCIDENT_SELECTED]["data"])
    assert incident["source"] == "proposal" and incident["type"] == "urban_flooding"
    body = _response(press(client, web_app, "layouts.incident_declare.judge",
                           pattern(ids.PROPOSAL_DISMISS, index=second),
                           {prop(ids.PROPOSAL_REASON, "value"): "Drill"}))
    assert texts(body[ids.PROPOSAL_RESULT]["children"]) == ["Proposal dismissed."]
    assert incidents.get_proposal(r, second)["reason"] == "Drill"
    body = _response(press(client, web_app, "layouts.incident_declare.judge",
                           pattern(ids.PROPOSAL_DISMISS, index=first), {}))
    said = texts(body[ids.PROPOSAL_RESULT]["children"])[0]
    assert said.startswith(f"Not changed: the proposal was accepted ({users['operator']}, "), said
    # Officials read incidents but are shown no proposals.
    official = _signed_in(web_app.server.test_client(), users, "official")
    assert _list(official, web_app)[ids.PROPOSALS]["children"] == []


# -- /tasks ------------------------------------------------------------------------------------------
def _tasks(client: Any, web_app: Any) -> list[Any]:
    return _response(call(client, web_app, "layouts.tasks.poll", {
        _pulse(ids.TASKS_LIST): {"n": 1}}))[ids.TASKS_LIST]["children"]


def _task_cards(children: list[Any]) -> dict[str, Any]:
    return {c["props"]["data-task"]: c for c in find_all(children, lambda p: "data-task" in p)}


def _tap(client: Any, web_app: Any, task_id: str, action: str,
         reasons: dict[str, str] | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if reasons is not None:
        key = _pattern_state(web_app, "layouts.tasks.act")
        values[f"{key}.value"] = [{"id": pattern(ids.TASK_REASON, task=t), "property": "value",
                                   "value": v} for t, v in reasons.items()]
    return _response(press(client, web_app, "layouts.tasks.act",
                           pattern(ids.TASK_ACT, task=task_id, action=action), values))


def _pattern_state(web_app: Any, name: str) -> str:
    spec = web_app.callback_map[callback_key(web_app, name)]
    return next(s["id"] for s in spec["state"] if s["id"].startswith("{"))


def test_tasks_page_shows_the_departments_tasks_and_takes_and_finishes_in_two_taps(
        client: Any, web_app: Any, r: redis.Redis) -> None:
    """A water bureau user sees the water bureau's open tasks, soonest due first, and nobody
    else's; "Take" then "Finish" on the same card; the answer after each tap redraws the list."""
    incident = _declare(r, "Burst main", level="II")
    accounts.add_user(r, "waterman", "emergency", PASSWORD, departments=("water_bureau",))
    _signed_in(client, {"emergency": "waterman"}, "emergency")
    cards = _task_cards(_tasks(client, web_app))
    water = [t for t in incidents.incident_tasks(r, incident["id"])
             if t["department"] == "water_bureau"]
    assert list(cards) == [t["id"] for t in sorted(water, key=lambda t: t["due_at"])]
    first = water[0]
    card = cards[first["id"]]
    words = texts(card)
    assert "Level II (orange)" in words and first["title"] in words
    assert "#1 Burst main" in words and "Water bureau" in words
    buttons = [b["props"]["id"]["action"] for b in find_all(card, lambda p: isinstance(
        p.get("id"), dict) and p["id"].get("type") == ids.TASK_ACT)]
    assert buttons == ["take", "cannot"]

    taken = _tap(client, web_app, first["id"], "take")  # tap 1
    assert texts(taken[ids.TASKS_RESULT]["children"]) == [f"Taken: {first['title']}"]
    card = _task_cards(taken[ids.TASKS_LIST]["children"])[first["id"]]
    assert [b["props"]["id"]["action"] for b in find_all(card, lambda p: isinstance(
        p.get("id"), dict) and p["id"].get("type") == ids.TASK_ACT)] == ["finish", "cannot"]
    assert any(w.startswith("Taken by waterman at ") for w in texts(card))
    finished = _tap(client, web_app, first["id"], "finish")  # tap 2
    assert texts(finished[ids.TASKS_RESULT]["children"]) == [f"Done: {first['title']}"]
    assert first["id"] not in _task_cards(finished[ids.TASKS_LIST]["children"])
    stored = incidents.get_task(r, first["id"])
    assert (stored["state"], stored["owner"], stored["done_by"]) == ("done", "waterman", "waterman")


def test_a_task_someone_else_took_says_who_and_cannot_needs_a_reason(
        client: Any, web_app: Any, r: redis.Redis) -> None:
    incident = _declare(r, "Burst main")
    water = [t for t in incidents.incident_tasks(r, incident["id"])
             if t["department"] == "water_bureau"]
    accounts.add_user(r, "waterman", "emergency", PASSWORD, departments=("water_bureau",))
    accounts.add_user(r, "colleague", "emergency", PASSWORD, departments=("water_bureau",))
    incidents.act_on_task(r, person("colleague", roles.EMERGENCY), CATALOGUE, water[0]["id"], "take")
    _signed_in(client, {"emergency": "waterman"}, "emergency")
    card = _task_cards(_tasks(client, web_app))[water[0]["id"]]
    assert any(w.startswith("Taken by colleague at ") for w in texts(card))
    assert not find_all(card, lambda p: isinstance(p.get("id"), dict))  # no button on it
    # Taking it anyway (a stale page): told who has it.
    said = texts(_tap(client, web_app, water[0]["id"], "take")[ids.TASKS_RESULT]["children"])[0]
    assert said.startswith("Not changed: someone else took the task (colleague, "), said
    # "Cannot do" without a reason is refused on the page; with one it is reported.
    second = water[1]["id"]
    said = texts(_tap(client, web_app, second, "cannot", {second: " "})[ids.TASKS_RESULT]["children"])
    assert said == ["Say why it cannot be done."]
    assert incidents.get_task(r, second)["state"] == "open"
    body = _tap(client, web_app, second, "cannot", {water[0]["id"]: "not this one",
                                                    second: "Valve key missing"})
    assert texts(body[ids.TASKS_RESULT]["children"])[0].startswith("Reported as cannot do")
    assert incidents.get_task(r, second)["reason"] == "Valve key missing"


def test_a_task_of_another_department_cannot_be_taken_by_a_crafted_tap(
        client: Any, web_app: Any, r: redis.Redis) -> None:
    incident = _declare(r, "Burst main")
    police = next(t for t in incidents.incident_tasks(r, incident["id"])
                  if t["department"] != "water_bureau")
    accounts.add_user(r, "waterman", "emergency", PASSWORD, departments=("water_bureau",))
    _signed_in(client, {"emergency": "waterman"}, "emergency")
    assert police["id"] not in _task_cards(_tasks(client, web_app))
    said = texts(_tap(client, web_app, police["id"], "take")[ids.TASKS_RESULT]["children"])
    assert said == ["You may not do this to this incident."]
    assert incidents.get_task(r, police["id"])["state"] == "open"


def test_officials_may_not_open_tasks_and_operators_see_every_department(
        client: Any, web_app: Any, users: dict[str, str], r: redis.Redis) -> None:
    incident = _declare(r, "Burst main")
    _signed_in(client, users, "official")
    assert call(client, web_app, "layouts.tasks.poll",
                {_pulse(ids.TASKS_LIST): {"n": 1}}).status_code == 403
    operator = _signed_in(web_app.server.test_client(), users, "operator")
    assert len(_task_cards(_tasks(operator, web_app))) == incident["tasks"]["total"]


# -- the linkage panel ------------------------------------------------------------------------------
def test_linkage_panel_names_what_the_city_knows_about_the_area(
        client: Any, web_app: Any, users: dict[str, str], r: redis.Redis) -> None:
    """Around the incident: the available ambulance (not the one on call) with its distance, the
    hospitals with free beds and the diversion, the route crossing with its bus and delay, the
    stop, the sensor's pressure, the reservoir's level, the open request (not the closed one),
    the warning covering it; feed names as sent (as text), units in words, no ids."""
    seed_city(r, time.time())
    incident = _declare(r, "Burst main", lat=CENTRE[0], lon=CENTRE[1], radius_m=500.0)
    _signed_in(client, users, "official")
    body = _response(call(client, web_app, "layouts.incident_detail.refresh_linkage", {
        prop(ids.INCIDENT_SEEN, "data"): {"id": incident["id"], "version": 1}}))
    panel = body[ids.INCIDENT_LINKAGE]["children"]
    sections = {s["props"]["data-section"]: " | ".join(texts(s))
                for s in find_all(panel, lambda p: "data-section" in p)}
    assert "Ambulance A1" in sections["ambulances"] and "Ambulance A2" not in sections["ambulances"]
    assert re.search(r"Ambulance A1 \| 3\d0 m", sections["ambulances"]), sections["ambulances"]
    assert f"{HOSTILE_NAME} | 1.1 km | 12 of 80 beds free | on diversion" in sections["hospitals"]
    assert "River Hospital | 2.2 km | 3 beds free" in sections["hospitals"]
    assert "Rainstorm warning | major" in sections["warnings"]
    assert "Bus 9" in sections["vehicles"] and "5 min late" in sections["vehicles"]
    assert "Kangfu Road stop" in sections["stops"]
    assert "Pressure point North" in sections["sensors"] and "pressure 1.42 bar" in sections["sensors"]
    assert "level 3.50 m" in sections["reservoirs"]
    assert "Flooded road" in sections["requests"] and "Broken lamp" not in sections["requests"]
    assert sections["routes"].split(" | ")[:3] == ["Bus routes crossing the area", "1", "Line 7"]
    assert "Bus 9 | 100 m | route Line 7 | 5 min late" in sections["vehicles"]
    assert not any(ID_LIKE.search(w) for w in texts(panel))
    figure = body[ids.INCIDENT_MAP]["figure"]
    names = [trace.get("name") for trace in figure["data"]]
    assert names[0] == "Incident area" and "Nearest available ambulances" in names
    hover = [h for trace in figure["data"] for h in trace.get("hovertext") or []]
    assert "&lt;b&gt;Kangfu&lt;/b&gt; Hospital" in hover  # plotly would read <b> as markup
    accounts.set_language(r, users["official"], "zh")
    body = _response(call(client, web_app, "layouts.incident_detail.refresh_linkage", {
        prop(ids.INCIDENT_SEEN, "data"): {"id": incident["id"], "version": 1}}))
    words = " | ".join(texts(body[ids.INCIDENT_LINKAGE]["children"]))
    assert "最近的可用救护车" in words and "1.1 公里" in words and "空余床位 12/80 张" in words


def test_an_incident_without_a_place_has_no_linkage_yet(web_app: Any, r: redis.Redis) -> None:
    incident = _declare(r, "Phone call", lat=None, lon=None, radius_m=None)
    with web_app.server.test_request_context("/incidents"):
        assert linkage_panel.area_of(incident) is None
        assert texts(as_json(linkage_panel.panel(None))) == [i18n.t("linkage.no_area")]
        # The city's map with nothing on it (one empty map trace), never an empty chart with axes.
        data = linkage_panel.figure(incident, None)["data"]
        assert [(trace["type"], trace["lat"]) for trace in data] == [("scattermap", [])]
    polygon = {"type": "Polygon", "coordinates": [[[112.35, 28.55], [112.36, 28.55],
                                                   [112.36, 28.56], [112.35, 28.55]]]}
    area = linkage_panel.area_of({"area": polygon, "lat": 28.553, "lon": 112.356, "radius_m": 10})
    assert area is not None and area.shape == polygon and area.radius_m > 500


# -- /alerts: declaring from an alert -------------------------------------------------------------
@pytest.mark.parametrize(("role", "offered"), [("operator", True), ("admin", True),
                                              ("emergency", False), ("official", False)])
def test_alert_cards_offer_declaring_to_operators_and_admins(
        client: Any, web_app: Any, users: dict[str, str], r: redis.Redis, role: str,
        offered: bool) -> None:
    alert = placed_alert(r, "card", title="Pipe burst")
    _signed_in(client, users, role)
    body = _response(call(client, web_app, "layouts.alerts.refresh_list", {
        prop(ids.ALERT_PANEL_SHOWN, "data"): 1}))
    links = find_all(body[ids.ALERTS_LIST]["children"],
                     lambda p: str(p.get("href", "")).startswith("/incidents?declare="))
    assert [link["props"]["href"] for link in links] == ([f"/incidents?declare={alert}"]
                                                          if offered else [])


# -- the wall -------------------------------------------------------------------------------------
def _wall_caller(web_app: Any, r: redis.Redis) -> tuple[Any, dict[str, str]]:
    token = accounts.create_token(r, "wall-test", "wall")
    return web_app.server.test_client(), {"Authorization": f"Bearer {token}"}


def test_wall_panel_shows_open_incidents_above_alerts_with_progress_and_overdue_tasks(
        web_app: Any, r: redis.Redis) -> None:
    """Gravest first, each with its level in words, its task progress and its overdue tasks by
    name and department; closed incidents are not shown."""
    now = time.time()
    late = _declare(r, "Burst main", level="II", now=now - 3 * 3600)  # every step past due
    grave = _declare(r, "Chemical leak", kind="hazardous_chemical_leak", level="I")
    closed = _declare(r, "False alarm", level="I")
    incidents.change(r, person("desk"), CATALOGUE, closed["id"], "status", status="closed")
    client, headers = _wall_caller(web_app, r)
    key = callback_key(web_app, "layouts.alert_panel.refresh_incidents")
    from tests.support.security import callback_request
    body = callback_request(key, web_app.callback_map[key], {
        _pulse(ids.ALERT_PANEL_INCIDENTS): {"n": 1}})
    response = client.post("/_dash-update-component", json=body, headers=headers)
    block = _response(response)[ids.ALERT_PANEL_INCIDENTS]["children"]
    lines = find_all(block, lambda p: "data-incident" in p)
    assert [line["props"]["data-incident"] for line in lines] == [grave["id"], late["id"]]
    words = texts(lines[1])
    assert "Level II (orange)" in words and "#1 Burst main" in words
    overdue = [t for t in incidents.incident_tasks(r, late["id"]) if t["overdue"]]
    assert overdue and f"{len(overdue)} overdue" in words
    named = [w for w in words if " · " in w]
    assert len(named) == min(len(overdue), alert_panel.OVERDUE_ROWS)
    departments = {d.id: d.name for d in CATALOGUE.departments.values()}
    assert set(named) <= {f"{t['title']} · {departments[t['department']]}" for t in overdue}
    assert f"0 of {grave['tasks']['total']} tasks done" in texts(lines[0])


def test_the_rotation_pins_an_incident_just_declared_or_raised_a_level(
        web_app: Any, r: redis.Redis) -> None:
    now = time.time()
    old = _declare(r, "Old burst", level="III", now=now - 3600)
    with web_app.server.test_request_context("/wall"):
        assert wall.pinned_incident(r, now) is None
        incidents.change(r, person("desk"), CATALOGUE, old["id"], "level", level="IV", now=now - 10)
        assert wall.pinned_incident(r, now) is None  # lowered: no pin
        incidents.change(r, person("desk"), CATALOGUE, old["id"], "level", level="II", now=now - 5)
        held = wall.pinned_incident(r, now)
        assert held is not None and held[0]["id"] == old["id"] and held[1] == pytest.approx(now - 5)
        fresh = _declare(r, "New leak", level="IV", now=now - 1)
        assert wall.pinned_incident(r, now)[0]["id"] == fresh["id"]  # the most recent pin wins
        assert wall.pinned_incident(r, now + wall.INCIDENT_PIN_S + 5) is None  # runs out
    client, headers = _wall_caller(web_app, r)
    key = callback_key(web_app, "layouts.wall.pin")
    from tests.support.security import callback_request
    for seconds, expected in ((10, fresh["id"]), (0, None)):
        body = callback_request(key, web_app.callback_map[key], {
            _pulse(ids.WALL_INCIDENT_PIN): {"n": 1},
            prop(ids.WALL_ROTATION, "data"): {"seconds": seconds}})
        response = client.post("/_dash-update-component", json=body, headers=headers)
        if expected is None:
            assert response.status_code == 204  # a wall that does not rotate pins nothing
            continue
        pinned = _response(response)[ids.WALL_INCIDENT_PIN]["data"]
        assert pinned["id"] == expected and pinned["label"] == "#2 New leak"
        assert pinned["until"] == pytest.approx((now - 1 + wall.INCIDENT_PIN_S) * 1000, abs=2000)
        key_view = callback_key(web_app, "layouts.wall.refresh_incident_view")
        view = client.post("/_dash-update-component", headers=headers, json=callback_request(
            key_view, web_app.callback_map[key_view],
            {prop(ids.WALL_INCIDENT_PIN, "data"): pinned}))
        shown = _response(view)
        assert "#2 New leak" in texts(shown[ids.WALL_INCIDENT_HEAD]["children"])
        assert shown[ids.WALL_INCIDENT_MAP]["figure"]["data"][0]["name"] == "Incident area"
        assert find_all(shown[ids.WALL_INCIDENT_LINKAGE]["children"],
                        lambda p: "data-section" in p)


def test_a_wall_opened_while_an_incident_holds_the_rotation_starts_with_it(
        web_app: Any, r: redis.Redis) -> None:
    """The pin comes with the wall's layout (a wall opened or reloaded shows the incident on its
    first tick); a wall that does not rotate starts with no pin."""
    fresh = _declare(r, "Fresh burst", level="II", now=time.time() - 1)
    client, headers = _wall_caller(web_app, r)
    for query, expected in (("?rotate=30", fresh["id"]), ("", None)):
        layout = client.get("/_dash-layout", headers={**headers, "Referer": f"http://localhost/wall{query}"})
        stores = find_all(layout.get_json(), lambda p: p.get("id") == ids.WALL_INCIDENT_PIN)
        assert len(stores) == 1
        assert (stores[0]["props"].get("data") or {}).get("id") == expected, stores[0]["props"]
