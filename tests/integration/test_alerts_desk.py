"""The desk (issue 19) on /alerts and in the alert service: an alert is assigned only to someone who
could act on it (the service refuses anyone else, audited; the API answers 400 naming `user`; the
page offers only them), the list in the order of what needs attention, the counts that filter it,
and the sound switches saying they are for every screen."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import accounts, alerts, audit, i18n
from app.accounts import admin
from app.alerts import screens
from app.model.principal import Principal
from layouts import alert_filters, alert_panel, ids
from tests.support.alert_sheet import sheet_inputs
from tests.support.api import problems
from tests.support.incident_pages import call, find_all, prop, texts
from tests.support.security import Snapshot, callback_key, callback_request, session_caller
from tests.support.web import PASSWORD, csrf_header, login

pytestmark = pytest.mark.integration

WATER_USER = "medic-water"
MEDICAL_USER = "medic-icu"
OFF_USER = "gone-operator"
OPERATOR = Principal(name="operator1", role="operator")
ADMIN = Principal(name="admin1", role="admin")


@pytest.fixture
def people(r: redis.Redis, users: dict[str, str]) -> dict[str, str]:
    """One user per role (emergency1 has no domains: every domain), a water-only and a
    medical-only emergency user, and a disabled operator."""
    accounts.add_user(r, WATER_USER, "emergency", PASSWORD, ("water",))
    accounts.add_user(r, MEDICAL_USER, "emergency", PASSWORD, ("medical",))
    accounts.add_user(r, OFF_USER, "operator", PASSWORD)
    admin.set_disabled(r, ADMIN, OFF_USER, True)
    return dict(users, water=WATER_USER, medical=MEDICAL_USER)


def _alert(r: redis.Redis, tag: str, domain: str = "medical", severity: str = "major",
           now: float | None = None) -> str:
    return alerts.raise_alert(r, fingerprint=f"desk:{tag}", title=f"Desk {tag}", severity=severity,
                              domain=domain, source="rule", now=now).alert_id


def _denied(r: redis.Redis, alert_id: str) -> list[Any]:
    return [e for e in audit.recent(r, 200) if e.action == "alert_assign" and e.target == alert_id
            and e.outcome == "denied"]


# -- 1. assigning: the service -------------------------------------------------------------------
@pytest.mark.parametrize(("assignee", "why"), [
    ("official1", alerts.REFUSED_ROLE), (WATER_USER, alerts.REFUSED_DOMAIN),
    (OFF_USER, alerts.ASSIGNEE_DISABLED), ("nobody", alerts.ASSIGNEE_UNKNOWN)])
def test_the_service_refuses_an_assignee_who_cannot_act(r: redis.Redis, raw: redis.Redis,
                                                        people: dict[str, str], assignee: str,
                                                        why: str) -> None:
    """Whoever asks (here an operator, who may act on everything), the medical alert does not go
    to an official, a water-only user, a disabled account or nobody: the refusal names the user
    and why, is audited as denied, and nothing else is written."""
    alert_id = _alert(r, f"refuse-{assignee}")
    before = Snapshot(raw)
    with pytest.raises(alerts.NotAssignable) as refused:
        alerts.act(r, OPERATOR, alert_id, "assign", user=assignee, addr="10.0.0.9")
    assert (refused.value.user, refused.value.why, refused.value.domain) == (assignee, why, "medical")
    assert assignee in str(refused.value)
    if why == alerts.REFUSED_DOMAIN:
        assert refused.value.domains == ("water",) and "water" in str(refused.value)
    if why == alerts.REFUSED_ROLE:
        assert refused.value.role == "official" and "official" in str(refused.value)
    assert before.written() == []
    line = _denied(r, alert_id)[0]
    assert (line.actor, line.addr, line.detail) == ("operator1", "10.0.0.9", f"{assignee}: {why}")
    alert = alerts.get_alert(r, alert_id)
    assert alert is not None and alert["assignee"] == "" and alert["version"] == 1


def test_the_service_assigns_to_those_who_may_act(r: redis.Redis, people: dict[str, str]) -> None:
    """A medical user, an emergency user with no domains (every domain: app.alerts.policy), an
    operator and an admin may be given a medical alert; assignees() lists exactly them."""
    alert_id = _alert(r, "allowed")
    alert = alerts.get_alert(r, alert_id)
    assert alert is not None
    assert [u["name"] for u in alerts.assignees(r, alert)] == sorted(
        ["admin1", "operator1", "emergency1", MEDICAL_USER])
    water = alerts.get_alert(r, _alert(r, "water", domain="water"))
    assert water is not None
    assert WATER_USER in {u["name"] for u in alerts.assignees(r, water)}
    assert MEDICAL_USER not in {u["name"] for u in alerts.assignees(r, water)}
    expected = ""
    for name in (MEDICAL_USER, "emergency1", "operator1", "admin1"):
        done = alerts.act(r, OPERATOR, alert_id, "assign", user=name, expected=expected)
        assert done["assignee"] == name
        expected = name
    assert _denied(r, alert_id) == []


# -- 1. assigning: the API -------------------------------------------------------------------------
def test_the_api_refuses_an_assignee_who_cannot_act_with_400_naming_user(
        web_app: Any, r: redis.Redis, raw: redis.Redis, people: dict[str, str]) -> None:
    """400 {"error": "'user': ..."} naming the user and why (role, domains), as the API's other
    refusals of a field; audited as denied; nothing else written. The OpenAPI document lists the
    400 with the Error shape for this operation."""
    operator = session_caller(web_app, "operator", people["operator"])
    alert_id = _alert(r, "api")
    for user, words in (("official1", ("official1", "official")),
                        (WATER_USER, (WATER_USER, "medical", "water"))):
        before = Snapshot(raw)
        answer = operator.call("POST", f"/api/v1/alerts/{alert_id}/assign", {"user": user})
        assert answer.status_code == 400, answer.data
        body = answer.get_json()
        assert set(body) == {"error"} and body["error"].startswith("'user': ")
        assert all(w in body["error"] for w in words), body
        assert before.written() == []
    assert len(_denied(r, alert_id)) == 2
    done = operator.call("POST", f"/api/v1/alerts/{alert_id}/assign", {"user": MEDICAL_USER})
    assert done.status_code == 200 and done.get_json()["assignee"] == MEDICAL_USER
    document = operator.call("GET", "/api/v1/openapi.json").get_json()
    refused = document["paths"]["/api/v1/alerts/{alert_id}/assign"]["post"]["responses"]["400"]
    assert refused == {"$ref": "#/components/responses/E400"}
    schema = document["components"]["responses"]["E400"]["content"]["application/json"]["schema"]
    assert problems(document, schema, body) == []


# -- 1. assigning: the page ------------------------------------------------------------------------
def _assign_options(client: Any, web_app: Any, alert_id: str | None) -> dict[str, Any]:
    answer = call(client, web_app, "layouts.alert_assign.assign_options", {
        prop(ids.ALERT_SELECTED, "data"): {"id": alert_id, "mode": "view"} if alert_id else None,
        prop(ids.ALERTS_SHOWN, "data"): None}, trigger=prop(ids.ALERT_SELECTED, "data"))
    assert answer.status_code == 200, answer.data[:300]
    return answer.get_json()["response"]


def test_the_assign_list_offers_only_who_may_act_on_the_alert_opened(
        web_app: Any, r: redis.Redis, people: dict[str, str]) -> None:
    """An operator opening a medical alert is offered the admin, operators and emergency staff
    whose domains hold medical (none set: every domain), named with their role; never the
    official, the water-only user or the disabled operator. A water alert offers the water user.
    Emergency staff claim rather than assign: the row stays hidden for them."""
    medical, water = _alert(r, "page-medical"), _alert(r, "page-water", domain="water")
    client = web_app.server.test_client()
    assert login(client, people["operator"]).status_code == 302
    shown = _assign_options(client, web_app, medical)
    options = shown[ids.ALERT_ASSIGN_USER]["options"]
    assert [o["value"] for o in options] == sorted(["admin1", "operator1", "emergency1",
                                                    MEDICAL_USER])
    assert {"label": f"{MEDICAL_USER} (emergency)", "value": MEDICAL_USER} in options
    assert shown[ids.ALERT_ASSIGN_ROW]["hidden"] is False
    assert shown[ids.ALERT_ASSIGN_USER]["value"] is None
    on_water = [o["value"] for o in _assign_options(client, web_app, water)[
        ids.ALERT_ASSIGN_USER]["options"]]
    assert WATER_USER in on_water and MEDICAL_USER not in on_water and "official1" not in on_water
    nothing = _assign_options(client, web_app, None)
    assert nothing[ids.ALERT_ASSIGN_ROW]["hidden"] is True
    medic = web_app.server.test_client()
    assert login(medic, people["emergency"]).status_code == 302
    theirs = _assign_options(medic, web_app, medical)
    assert theirs[ids.ALERT_ASSIGN_ROW]["hidden"] is True
    assert theirs[ids.ALERT_ASSIGN_USER]["options"] == []


def _assign_on_page(client: Any, web_app: Any, alert_id: str, user: str) -> list[str]:
    pressed, changed = sheet_inputs(ids.ALERT_ASSIGN)
    key = callback_key(web_app, "layouts.alerts.act")
    values = {f"{cid}.{p}": value for cid, p, value in pressed}
    values.update({prop(ids.ALERT_SELECTED, "data"): {"id": alert_id, "mode": "view"},
                   prop(ids.ALERT_ASSIGN_USER, "value"): user,
                   prop(ids.ALERT_SEEN_ASSIGNEE, "data"): ""})
    body = callback_request(key, web_app.callback_map[key], values, changed)
    answer = client.post("/_dash-update-component", json=body, headers=csrf_header(client))
    assert answer.status_code == 200, answer.data[:300]
    return texts(answer.get_json()["response"][ids.ALERT_RESULT]["children"])


def test_the_page_says_why_an_assignee_was_refused_in_both_languages(
        web_app: Any, r: redis.Redis, people: dict[str, str]) -> None:
    """A crafted assign (the list never offers them) meets the service's refusal, said in the
    reader's language with the user's name and why; the alert keeps nobody."""
    alert_id = _alert(r, "page-refusal")
    client = web_app.server.test_client()
    assert login(client, people["operator"]).status_code == 302
    assert _assign_on_page(client, web_app, alert_id, WATER_USER) == [
        f"Not assigned: {WATER_USER} acts on water alerts only, and this one is a medical alert."]
    assert _assign_on_page(client, web_app, alert_id, "official1") == [
        "Not assigned: official1 is official, a role that reads alerts but does not act on them."]
    accounts.set_language(r, people["admin"], "zh")
    chinese = web_app.server.test_client()
    assert login(chinese, people["admin"]).status_code == 302
    said = _assign_on_page(chinese, web_app, alert_id, WATER_USER)
    assert said == [f"未指派：{WATER_USER} 只能处理以下领域的告警：供水；此告警属于医疗领域。"]
    said = _assign_on_page(chinese, web_app, alert_id, "official1")
    assert said == ["未指派：official1 的角色是领导，只能查看告警，不能处理。"]
    assert alerts.get_alert(r, alert_id)["assignee"] == ""  # type: ignore[index]
    assert len(_denied(r, alert_id)) == 4


# -- 2. the order of what needs attention ---------------------------------------------------------
SEVERITY_WORDS = ["critical", "major", "minor", "warning", "info"]


def documented_order(alert: dict[str, Any]) -> tuple[int, int, int, float]:
    """docs/alerts.md, "Order", as written there: escalated alerts nobody acknowledged; then by
    severity; then unacknowledged (active, then cleared) before acknowledged; oldest first;
    closed alerts last."""
    closed = alert["state"] == "cleared_ack"
    unacked = alert["state"] in ("active_unack", "cleared_unack")
    tier = 2 if closed else 0 if alert["escalated"] and unacked else 1
    state = ["active_unack", "cleared_unack", "active_ack", "cleared_ack"].index(alert["state"])
    return (tier, SEVERITY_WORDS.index(alert["severity"]), state, alert["opened_at"])


ALERT_PLAN = st.tuples(st.sampled_from(SEVERITY_WORDS), st.integers(0, 5000),
                       st.sampled_from(["open", "acked", "cleared", "cleared+acked", "resolved"]),
                       st.booleans())


def _make(r: redis.Redis, plan: list[tuple[str, int, str, bool]]) -> None:
    for i, (severity, opened, fate, escalated) in enumerate(plan):
        alert_id = _alert(r, f"order-{i}", domain="water", severity=severity, now=1000.0 + opened)
        if escalated:
            assert alerts.escalate(r, alert_id, 60.0, now=1000.0 + opened + 61)
        if fate in ("acked", "cleared+acked"):
            alerts.acknowledge(r, alert_id, "operator1", now=9000.0)
        if fate in ("cleared", "cleared+acked"):
            alerts.clear(r, alert_id, now=9100.0)
        if fate == "resolved":
            alerts.resolve(r, alert_id, "operator1", now=9200.0)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(ALERT_PLAN, min_size=1, max_size=12))
def test_alerts_come_in_the_documented_order_of_attention(r: redis.Redis,
                                                          plan: list[tuple[str, int, str, bool]]) -> None:
    """Whatever alerts there are, "attention" lists every one of them in the documented order
    (ties broken by id), and the wall's list keeps it within active and cleared alerts."""
    r.flushall()
    _make(r, plan)
    listed = alerts.list_alerts(r, order="attention", limit=1000)
    assert len(listed) == len(plan)
    keys = [documented_order(a) + (a["id"],) for a in listed]
    assert keys == sorted(keys)
    wall = sorted((a for a in listed if a["state"] != "cleared_ack"), key=alert_panel.wall_order)
    expected = ([a["id"] for a in listed if a["state"] in ("active_unack", "active_ack")]
                + [a["id"] for a in listed if a["state"] == "cleared_unack"])
    assert [a["id"] for a in wall] == expected


def _list_cards(client: Any, web_app: Any, order: str | None, picked: Any = None,
                severities: list[str] | None = None, states: list[str] | None = None) -> list[str]:
    answer = call(client, web_app, "layouts.alerts.refresh_list", {
        prop(ids.ALERT_PANEL_SHOWN, "data"): 1, prop(ids.ALERTS_ORDER, "value"): order,
        prop(ids.ALERTS_COUNT_PICKED, "data"): picked,
        prop(ids.ALERTS_FILTER_SEVERITY, "value"): severities or [],
        prop(ids.ALERTS_FILTER_STATE, "value"): states or []},
        trigger=prop(ids.ALERT_PANEL_SHOWN, "data"))
    assert answer.status_code == 200, answer.data[:300]
    cards = find_all(answer.get_json()["response"][ids.ALERTS_LIST]["children"],
                     lambda p: "data-alert" in p)
    return [c["props"]["data-alert"] for c in cards]


def test_the_page_lists_in_the_order_of_attention_unless_newest_is_picked(
        web_app: Any, r: redis.Redis, users: dict[str, str]) -> None:
    """/alerts starts in the order of attention (its control's default) and offers newest
    unacknowledged first; the cards come in the service's order either way."""
    _make(r, [("minor", 10, "open", True), ("critical", 500, "open", False),
              ("critical", 20, "open", False), ("critical", 5, "acked", False),
              ("info", 900, "open", False)])
    client = web_app.server.test_client()
    assert login(client, users["operator"]).status_code == 302
    attention = [a["id"] for a in alerts.list_alerts(r, order="attention")]
    newest = [a["id"] for a in alerts.list_alerts(r, order="newest")]
    assert attention != newest
    assert _list_cards(client, web_app, "attention") == attention
    assert _list_cards(client, web_app, None) == attention  # no choice sent: the default
    assert _list_cards(client, web_app, "newest") == newest
    with web_app.server.test_request_context("/alerts"), i18n.use_language("zh"):
        control = alert_filters.order_control().children[1]
    assert control.value == "attention"
    assert [o["label"] for o in control.options] == ["最需处理的在前", "未确认的最新告警在前"]


# -- 3. the counts filter the list ----------------------------------------------------------------
def _pick(client: Any, web_app: Any, cell: str, picked: Any, severities: list[str] | None = None,
          states: list[str] | None = None) -> dict[str, Any]:
    key = callback_key(web_app, "layouts.alert_filters.pick_count")
    pattern = next(i["id"] for i in web_app.callback_map[key]["inputs"] if i["id"].startswith("{"))
    button = {"type": ids.ALERT_COUNT_PICK, "index": cell}
    trigger = json.dumps(button, sort_keys=True, separators=(",", ":")) + ".n_clicks"
    body = callback_request(key, web_app.callback_map[key], {
        f"{pattern}.n_clicks": [{"id": button, "property": "n_clicks", "value": 1}],
        prop(ids.ALERTS_FILTER_SEVERITY, "value"): severities or [],
        prop(ids.ALERTS_FILTER_STATE, "value"): states or [],
        prop(ids.ALERTS_COUNT_PICKED, "data"): picked}, trigger)
    answer = client.post("/_dash-update-component", json=body, headers=csrf_header(client))
    assert answer.status_code == 200, answer.data[:300]
    return answer.get_json()["response"]


def test_a_count_pressed_filters_the_list_and_pressed_again_clears_it(
        web_app: Any, r: redis.Redis, users: dict[str, str]) -> None:
    """Pressing "critical, unacknowledged" sets those filters and says so; pressing it again shows
    every open alert; an escalated count shows its severity's escalated alerts only; changing a
    filter by hand drops the pick."""
    _make(r, [("critical", 10, "open", True), ("critical", 20, "open", False),
              ("critical", 30, "acked", False), ("major", 40, "open", True)])
    client = web_app.server.test_client()
    assert login(client, users["emergency"]).status_code == 302
    open_states = ["active_unack", "active_ack", "cleared_unack"]
    got = _pick(client, web_app, "critical:active_unack", None)
    cell = {"severity": "critical", "column": "active_unack"}
    assert got[ids.ALERTS_FILTER_SEVERITY]["value"] == ["critical"]
    assert got[ids.ALERTS_FILTER_STATE]["value"] == ["active_unack"]
    assert got[ids.ALERTS_COUNT_PICKED]["data"] == cell
    assert got[ids.ALERTS_COUNT_NOTE]["children"] == (
        "Showing only critical alerts, active, unacknowledged. Press the count again to show "
        "every open alert.")
    cards = _list_cards(client, web_app, "attention", cell, ["critical"], ["active_unack"])
    assert len(cards) == 2
    again = _pick(client, web_app, "critical:active_unack", cell, ["critical"], ["active_unack"])
    assert again[ids.ALERTS_FILTER_SEVERITY]["value"] == []
    assert again[ids.ALERTS_FILTER_STATE]["value"] == open_states
    assert again[ids.ALERTS_COUNT_PICKED]["data"] == {} and again[ids.ALERTS_COUNT_NOTE][
        "children"] is None
    escalated = _pick(client, web_app, "critical:escalated", None)
    picked = escalated[ids.ALERTS_COUNT_PICKED]["data"]
    assert picked == {"severity": "critical", "column": "escalated"}
    assert escalated[ids.ALERTS_FILTER_STATE]["value"] == open_states
    only = _list_cards(client, web_app, "attention", picked, ["critical"], open_states)
    assert [alerts.get_alert(r, i)["escalated"] for i in only] == [True]  # type: ignore[index]
    # The state filter changed by hand: the pick (and its line) goes, the filters stay as set.
    key = callback_key(web_app, "layouts.alert_filters.pick_count")
    body = callback_request(key, web_app.callback_map[key], {
        prop(ids.ALERTS_FILTER_SEVERITY, "value"): ["critical"],
        prop(ids.ALERTS_FILTER_STATE, "value"): ["active_ack"],
        prop(ids.ALERTS_COUNT_PICKED, "data"): picked}, prop(ids.ALERTS_FILTER_STATE, "value"))
    dropped = client.post("/_dash-update-component", json=body,
                          headers=csrf_header(client)).get_json()["response"]
    assert dropped == {ids.ALERTS_COUNT_PICKED: {"data": {}},
                       ids.ALERTS_COUNT_NOTE: {"children": None}}


def _panel(client: Any, web_app: Any, classes: str, headers: dict[str, str] | None = None) -> Any:
    key = callback_key(web_app, "layouts.alert_panel.refresh")
    body = callback_request(key, web_app.callback_map[key], {
        prop(ids.pulse_part(ids.ALERT_PANEL_LIST, ids.PULSE), "data"): {"n": 1},
        prop(ids.ALERT_PANEL, "className"): classes})
    answer = client.post("/_dash-update-component", json=body,
                         headers=headers if headers is not None else csrf_header(client))
    assert answer.status_code == 200, answer.data[:300]
    return answer.get_json()["response"]


def test_the_counts_are_buttons_on_the_alerts_page_only(web_app: Any, r: redis.Redis,
                                                        users: dict[str, str]) -> None:
    """On /alerts every count is a <button> (reached by Tab, pressed with Enter or Space) named
    with what it shows; the wall's and the overview's counts stay plain numbers."""
    _make(r, [("critical", 10, "open", False)])
    client = web_app.server.test_client()
    assert login(client, users["operator"]).status_code == 302
    desk = _panel(client, web_app, "alert-panel compact pick-counts")
    buttons = find_all(desk[ids.ALERT_PANEL_COUNTS]["children"],
                       lambda p: isinstance(p.get("id"), dict))
    assert len(buttons) == 5 * 4 and all(b["type"] == "Button" for b in buttons)
    first = next(b for b in buttons if b["props"]["id"]["index"] == "critical:active_unack")
    assert first["props"]["children"] == "1"
    assert first["props"]["aria-label"] == (
        "1 critical alert(s), active, unacknowledged: show only these")
    assert "pick-counts" in desk[ids.ALERT_PANEL]["className"].split()
    overview = _panel(client, web_app, "alert-panel compact")
    assert find_all(overview[ids.ALERT_PANEL_COUNTS]["children"],
                    lambda p: isinstance(p.get("id"), dict)) == []


# -- 4. the sound switches are for every screen ---------------------------------------------------
def test_muting_a_severity_says_and_is_for_every_screen(web_app: Any, r: redis.Redis,
                                                        users: dict[str, str]) -> None:
    """The switches' label says "every screen" in both languages, and it is so: an operator's
    switch is one stored setting that a wall display's panel follows."""
    _make(r, [("major", 10, "open", False)])
    with web_app.server.test_request_context("/alerts"):
        for language, words in (("en", "Sound, for every screen:"), ("zh", "所有屏幕的声音：")):
            with i18n.use_language(language):
                controls = alert_panel.sound_controls(screens.sound_settings(r), True)
            assert controls[0].children == words
    screens.set_sound(r, OPERATOR, "major", False)
    token = accounts.create_token(r, "wall-desk", "wall")
    wall = _panel(web_app.server.test_client(), web_app, "alert-panel",
                  {"Authorization": f"Bearer {token}"})
    assert wall[ids.ALERT_SOUND]["data"]["enabled"]["major"] is False
