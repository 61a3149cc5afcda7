"""The alerts API on the whole app and a real redis-server: every role against every action,
validation (400), conflicts (409) and the CAP 1.2 export read back by our own CAP import."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import redis

from app import accounts, alerts, store
from app.model.alerts import SEVERITIES
from app.model.cap import cap_id
from app.model.records import Event, Removed
from data_adapters.cap.parse import parse_cap
from layouts import ids
from tests.support.alert_sheet import sheet_inputs
from tests.support.web import PASSWORD, csrf_header, login

T0 = 1_767_225_600.0
WATER_USER = "medic-water"
NEW_ALERT = {"title": "Caller reports a burst main", "domain": "water", "severity": "major",
             "lat": 28.56, "lon": 112.35, "description": "Water on Kangfu Road"}


def _water_alert(r: redis.Redis, fingerprint: str, domain: str = "water") -> str:
    return alerts.raise_alert(r, fingerprint=fingerprint, title="Low pressure", severity="major",
                              domain=domain, source="rule", lat=28.5, lon=112.3).alert_id


class Caller:
    """A signed-in session (with Dash's CSRF header) or a bearer token."""

    def __init__(self, client: Any, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers

    def get(self, path: str) -> Any:
        return self.client.get(path, headers=self.headers)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        headers = dict(self.headers)
        if not self.headers.get("Authorization"):
            headers.update(csrf_header(self.client))
        if "data" in kwargs:
            return self.client.post(path, headers=headers, **kwargs)
        return self.client.post(path, json=body if body is not None else {}, headers=headers)


@pytest.fixture
def people(r: redis.Redis, users: dict[str, str]) -> dict[str, str]:
    """The role fixtures' users plus an emergency user of the water domain."""
    accounts.add_user(r, WATER_USER, "emergency", PASSWORD, ("water",))
    return dict(users, water=WATER_USER)


def _session(web_app: Any, name: str) -> Caller:
    client = web_app.server.test_client()
    assert login(client, name).status_code == 302
    return Caller(client, {})


def _bearer(web_app: Any, r: redis.Redis, role: str) -> Caller:
    token = accounts.create_token(r, f"{role}-token", role)
    return Caller(web_app.server.test_client(), {"Authorization": f"Bearer {token}"})


# Every action, run on an alert of its own, and what each caller must get.
ACTIONS: dict[str, Callable[[Caller, str], Any]] = {
    "list": lambda c, a: c.get("/api/v1/alerts"),
    "get": lambda c, a: c.get(f"/api/v1/alerts/{a}"),
    "cap": lambda c, a: c.get(f"/api/v1/alerts/{a}/cap"),
    "raise": lambda c, a: c.post("/api/v1/alerts", NEW_ALERT),
    "ack": lambda c, a: c.post(f"/api/v1/alerts/{a}/ack", {"note": "seen"}),
    "assign": lambda c, a: c.post(f"/api/v1/alerts/{a}/assign", {"user": "operator1"}),
    "note": lambda c, a: c.post(f"/api/v1/alerts/{a}/note", {"text": "valve closed"}),
    "resolve": lambda c, a: c.post(f"/api/v1/alerts/{a}/resolve", {"note": "fixed"}),
    "audit": lambda c, a: c.get("/api/v1/audit"),
}
OK = {"list": 200, "get": 200, "cap": 200, "raise": 201, "ack": 200, "assign": 200, "note": 200,
      "resolve": 200, "audit": 200}
READ_ONLY = {name: (200 if name in ("list", "get", "cap") else 403) for name in ACTIONS}
EXPECTED: dict[str, dict[str, int]] = {
    "admin": OK,
    "operator": dict(OK, audit=403),
    "operator-token": dict(OK, audit=403),
    "water": dict(OK, audit=403) | {"raise": 403},
    # Emergency staff with no domains set act on every domain (docs/security.md) but raise nothing.
    "emergency": dict(OK, audit=403) | {"raise": 403},
    "official": READ_ONLY,
    "wall-token": {name: 403 for name in ACTIONS},
}


@pytest.mark.parametrize("who", sorted(EXPECTED))
def test_every_role_against_every_action(web_app: Any, r: redis.Redis, people: dict[str, str],
                                         who: str) -> None:
    """Operators/admins act on all, water staff on water, officials and wall tokens only read."""
    if who.endswith("-token"):
        caller = _bearer(web_app, r, who.removesuffix("-token"))
    else:
        caller = _session(web_app, people[who] if who in people else who)
    got = {}
    for name, action in ACTIONS.items():
        response = action(caller, _water_alert(r, f"{who}:{name}"))
        got[name] = response.status_code
        if response.status_code in (401, 403):
            assert "error" in response.get_json(), (name, response.data)
    assert got == EXPECTED[who]


def test_emergency_staff_act_only_on_their_domains(web_app: Any, r: redis.Redis,
                                                   people: dict[str, str]) -> None:
    """A water user may not touch a medical alert (403, audited as denied); nothing changes."""
    caller = _session(web_app, WATER_USER)
    medical = _water_alert(r, "icu", domain="medical")
    for action in ("ack", "assign", "note", "resolve"):
        body = {"assign": {"user": WATER_USER}, "note": {"text": "hi"}}.get(action, {})
        response = caller.post(f"/api/v1/alerts/{medical}/{action}", body)
        assert response.status_code == 403, action
        assert "medical" in response.get_json()["error"]
    alert = alerts.get_alert(r, medical)
    assert alert is not None and alert["state"] == "active_unack" and alert["version"] == 1
    assert [a.outcome for a in store.audit.read(r, 4)] == ["denied"] * 4


def test_anonymous_and_csrf(web_app: Any, r: redis.Redis, people: dict[str, str]) -> None:
    """No session: 401. A session POST without the CSRF header: 403, and nothing changes."""
    alert_id = _water_alert(r, "x")
    anonymous = web_app.server.test_client()
    assert anonymous.get("/api/v1/alerts").status_code == 401
    operator = _session(web_app, people["operator"])
    response = operator.client.post(f"/api/v1/alerts/{alert_id}/ack", json={})
    assert response.status_code == 403
    assert alerts.get_alert(r, alert_id)["state"] == "active_unack"  # type: ignore[index]


def test_the_second_to_act_gets_409_with_who_and_when(web_app: Any, r: redis.Redis,
                                                      people: dict[str, str]) -> None:
    """Ack, claim and resolve twice: the second caller is told who did it and when."""
    operator, medic = _session(web_app, people["operator"]), _session(web_app, WATER_USER)
    alert_id = _water_alert(r, "y")
    first = operator.post(f"/api/v1/alerts/{alert_id}/ack", {"note": "on it"})
    assert first.status_code == 200 and first.get_json()["state"] == "active_ack"
    second = medic.post(f"/api/v1/alerts/{alert_id}/ack", {"note": "me too"})
    assert second.status_code == 409
    assert second.get_json() == {"error": "already acknowledged", "by": "operator1",
                                 "at": first.get_json()["acked_at"]}
    claim = medic.post(f"/api/v1/alerts/{alert_id}/assign", {"user": WATER_USER})
    assert claim.status_code == 200 and claim.get_json()["assignee"] == WATER_USER
    late = operator.post(f"/api/v1/alerts/{alert_id}/assign", {"user": "operator1"})
    assert late.status_code == 409 and late.get_json()["by"] == WATER_USER
    moved = operator.post(f"/api/v1/alerts/{alert_id}/assign",
                          {"user": "operator1", "expected": WATER_USER})
    assert moved.status_code == 200 and moved.get_json()["assignee"] == "operator1"
    assert medic.post(f"/api/v1/alerts/{alert_id}/resolve", {}).status_code == 200
    again = operator.post(f"/api/v1/alerts/{alert_id}/resolve", {"note": "done"})
    assert again.status_code == 409 and again.get_json()["by"] == WATER_USER
    timeline = operator.get(f"/api/v1/alerts/{alert_id}").get_json()["timeline"]
    assert [(e["action"], e["actor"]) for e in timeline] == [
        ("raised", alerts.SYSTEM_ACTOR), ("ack", "operator1"), ("assign", WATER_USER),
        ("assign", "operator1"), ("resolve", WATER_USER)]


LONG = "x" * 5000


@pytest.mark.parametrize(("body", "message"), [
    ({k: v for k, v in NEW_ALERT.items() if k != "title"}, "'title' is required"),
    (dict(NEW_ALERT, title=123), "'title' must be a string"),
    (dict(NEW_ALERT, title="   "), "'title' must not be empty"),
    (dict(NEW_ALERT, title="t" * 201), "'title' is longer than 200"),
    (dict(NEW_ALERT, domain="sea"), "'domain' must be one of"),
    ({k: v for k, v in NEW_ALERT.items() if k != "severity"}, "'severity' is required"),
    (dict(NEW_ALERT, severity=["major"]), "'severity' must be a string"),
    (dict(NEW_ALERT, severity="apocalyptic"), "'severity' must be one of"),
    ({k: v for k, v in NEW_ALERT.items() if k != "lon"}, "both 'lat' and 'lon'"),
    (dict(NEW_ALERT, lat="28.5"), "'lat' must be a number"),
    (dict(NEW_ALERT, lat=True), "'lat' must be a number"),
    (dict(NEW_ALERT, lat=95.0), "within -90..90"),
    (dict(NEW_ALERT, description=LONG), "'description' is longer than 2000"),
    (dict(NEW_ALERT, priority="high"), "unknown field 'priority'"),
    (["not", "an", "object"], "send a JSON object"),
])
def test_raise_validates_every_field(web_app: Any, r: redis.Redis, people: dict[str, str],
                                     body: Any, message: str) -> None:
    """Missing, mistyped, over-long or unknown fields: 400 with a message naming the field."""
    response = _session(web_app, people["operator"]).post("/api/v1/alerts", body)
    assert response.status_code == 400 and message in response.get_json()["error"]
    assert alerts.list_alerts(r) == []


def test_actions_validate_their_fields(web_app: Any, r: redis.Redis,
                                       people: dict[str, str]) -> None:
    """Notes, users and ids are checked before anything changes."""
    operator = _session(web_app, people["operator"])
    alert_id = _water_alert(r, "z")
    cases = [
        ("ack", {"note": LONG}, 400, "'note' is longer than 1000"),
        ("ack", {"note": 5}, 400, "'note' must be a string"),
        ("ack", {"comment": "hi"}, 400, "unknown field 'comment'"),
        ("note", {}, 400, "'text' is required"),
        ("note", {"text": " "}, 400, "'text' must not be empty"),
        ("assign", {}, 400, "'user' is required"),
        ("assign", {"user": "nobody"}, 400, "no user 'nobody'"),
        ("assign", {"user": "Not A Name!"}, 400, "'user':"),
        ("assign", {"user": "operator1", "expected": 7}, 400, "'expected' must be a string"),
        ("escalate", {}, 404, "no action 'escalate'"),
    ]
    for action, body, status, message in cases:
        response = operator.post(f"/api/v1/alerts/{alert_id}/{action}", body)
        assert response.status_code == status, (action, body, response.data)
        assert message in response.get_json()["error"], (action, body)
    raw = operator.post(f"/api/v1/alerts/{alert_id}/ack", data="note=hi",
                        content_type="application/x-www-form-urlencoded")
    assert raw.status_code == 400
    assert alerts.get_alert(r, alert_id)["version"] == 1  # type: ignore[index]
    missing = operator.post("/api/v1/alerts/al-0123456789abcdef/ack", {})
    assert missing.status_code == 404
    assert operator.get("/api/v1/alerts/not-an-id").status_code == 404
    for query, message in (("state=open", "unknown state 'open'"), ("domain=sea", "unknown domain"),
                           ("severity=x", "unknown severity"), ("limit=0", "'limit'"),
                           ("limit=abc", "'limit'")):
        response = operator.get(f"/api/v1/alerts?{query}")
        assert response.status_code == 400 and message in response.get_json()["error"], query


def test_list_filters_and_fields(web_app: Any, r: redis.Redis, people: dict[str, str]) -> None:
    """?state=&domain=&severity= filter; every alert has the fields the issue names."""
    official = _session(web_app, people["official"])
    water = _water_alert(r, "w")
    medical = _water_alert(r, "m", domain="medical")
    alerts.acknowledge(r, medical, "ada")
    rows = official.get("/api/v1/alerts?state=active_unack,active_ack&domain=water,medical"
                        "&severity=major").get_json()["alerts"]
    assert [a["id"] for a in rows] == [water, medical]
    assert {"id", "state", "severity", "domain", "title", "count", "first_seen", "last_seen",
            "acked_by", "assignee", "escalated", "group"} <= set(rows[0])
    assert official.get("/api/v1/alerts?state=active_ack").get_json()["alerts"][0]["id"] == medical


def test_audit_for_admins(web_app: Any, r: redis.Redis, people: dict[str, str]) -> None:
    """Admins read who did what, when and from where."""
    operator = _session(web_app, people["operator"])
    alert_id = _water_alert(r, "audited")
    operator.post(f"/api/v1/alerts/{alert_id}/ack", {"note": "ok"})
    entries = _session(web_app, people["admin"]).get("/api/v1/audit?count=50").get_json()["audit"]
    ack = next(e for e in entries if e["action"] == "alert_ack")
    assert (ack["actor"], ack["target"], ack["addr"], ack["outcome"], ack["detail"]) == (
        "operator1", alert_id, "127.0.0.1", "ok", "ok")
    assert ack["at"] > 0


# -- CAP 1.2 export round trip -------------------------------------------------------------------------
def _read_back(caller: Caller, alert_id: str) -> tuple[Event, list[Removed]]:
    response = caller.get(f"/api/v1/alerts/{alert_id}/cap")
    assert response.status_code == 200 and response.mimetype == "application/cap+xml"
    items = list(parse_cap(response.data, "cityops-export", T0))
    events = [i for i in items if isinstance(i, Event)]
    assert len(events) == 1, items
    return events[0], [i for i in items if isinstance(i, Removed)]


def test_cap_export_reads_back_to_the_same_fields(web_app: Any, r: redis.Redis,
                                                  people: dict[str, str]) -> None:
    """Alert, then Update after the ack, then Cancel once resolved; our CAP import reads each
    back to the alert's title, severity, description, position and state."""
    operator = _session(web_app, people["operator"])
    body = dict(NEW_ALERT, title='Burst main <b>"Kangfu" & Co</b>',
                description="Water & mud; </description><x>")
    created = operator.post("/api/v1/alerts", body).get_json()
    event, removed = _read_back(operator, created["id"])
    attrs = event.attrs
    assert (event.title, event.severity, attrs["description"]) == (body["title"], "major",
                                                                  body["description"])
    first = f"{created['id']}.v1"
    assert (attrs["msgType"], attrs["identifier"], attrs["sender"]) == ("Alert", first, "cityops")
    assert attrs["circles"] == [{"lat": 28.56, "lon": 112.35, "radius_km": 0.0}]
    assert event.starts_at == pytest.approx(created["opened_at"], abs=1)
    assert removed == []
    operator.post(f"/api/v1/alerts/{created['id']}/ack", {})
    update, replaced = _read_back(operator, created["id"])
    assert update.attrs["msgType"] == "Update" and update.severity == "major"
    assert replaced == [Removed("city", cap_id("cityops-export", first, "cityops"))]
    operator.post(f"/api/v1/alerts/{created['id']}/resolve", {})
    cancel, cancelled = _read_back(operator, created["id"])
    assert (cancel.attrs["msgType"], cancel.attrs["urgency"]) == ("Cancel", "Past")
    # The Cancel closes the whole chain it ends: the Alert and the Update that were issued.
    assert cancelled == replaced + [Removed("city", cap_id("cityops-export",
                                                           update.attrs["identifier"], "cityops"))]


@pytest.mark.parametrize("severity", SEVERITIES)
def test_cap_export_severity_round_trip(web_app: Any, r: redis.Redis, people: dict[str, str],
                                        severity: str) -> None:
    """Each of our severities leaves as CAP and comes back as itself; an area stays an area."""
    square = {"type": "Polygon", "coordinates": [[[112.2, 28.4], [112.5, 28.4], [112.5, 28.7],
                                                  [112.2, 28.7], [112.2, 28.4]]]}
    alert_id = alerts.raise_alert(r, fingerprint=f"cap:{severity}", title="Storm",
                                  severity=severity, domain="city", source="cap", area=square,
                                  lat=28.55, lon=112.35).alert_id
    event, _ = _read_back(_session(web_app, people["official"]), alert_id)
    assert event.severity == severity
    assert event.area is not None and event.area["type"] == "Polygon"
    assert [[pytest.approx(x), pytest.approx(y)] for x, y in event.area["coordinates"][0]] == \
        square["coordinates"][0]


# -- the Dash callbacks check roles on the server too ----------------------------------------------
def _output_key(web_app: Any, prefix: str) -> str:
    """The callback map key of the callback whose outputs start with ``prefix``."""
    return next(key for key in web_app.callback_map if key.lstrip(".").startswith(prefix))


def _callback(caller: Caller, key: str, inputs: list[Any], state: list[dict[str, Any]],
              trigger: str) -> Any:
    """POST /_dash-update-component as Dash's renderer does; ``trigger`` is the changed prop."""
    outputs = key.strip(".").split("...")
    shaped: Any = [{"id": o.rsplit(".", 1)[0], "property": o.rsplit(".", 1)[1]} for o in outputs]
    return caller.post("/_dash-update-component", {
        "output": key, "outputs": shaped if key.startswith("..") else shaped[0],
        "inputs": inputs, "changedPropIds": [trigger], "state": state})


def _sheet_callback(web_app: Any, caller: Caller, alert_id: str, button: str,
                    user: str | None = None, seen_assignee: str | None = None) -> Any:
    """The sheet's action callback as a crafted POST: ``button`` pressed on ``alert_id``."""
    pressed, changed = sheet_inputs(button)
    return _callback(caller, _output_key(web_app, "alert-result.children...alert-note.value"), [
        {"id": cid, "property": prop, "value": value} for cid, prop, value in pressed],
        [{"id": "alert-selected", "property": "data", "value": {"id": alert_id, "mode": "ack"}},
         {"id": "alert-note", "property": "value", "value": "via a crafted POST"},
         {"id": "alert-assign-user", "property": "value", "value": user},
         {"id": "alert-seen-assignee", "property": "data", "value": seen_assignee}],
        changed)


def _ack_callback(web_app: Any, caller: Caller, alert_id: str) -> Any:
    return _sheet_callback(web_app, caller, alert_id, "alert-ack")


def test_assign_callback_checks_the_assignee_the_sheet_showed(web_app: Any, r: redis.Redis,
                                                              people: dict[str, str]) -> None:
    """The desk assigns to a user; a reassignment based on a stale sheet is refused with who."""
    operator = _session(web_app, people["operator"])
    alert_id = _water_alert(r, "cb-assign")
    done = _sheet_callback(web_app, operator, alert_id, "alert-assign", user=WATER_USER)
    assert b"Assigned to medic-water." in done.data
    stale = _sheet_callback(web_app, operator, alert_id, "alert-assign", user="admin1",
                            seen_assignee="")
    assert b"assigned to medic-water meanwhile by operator1" in stale.data
    moved = _sheet_callback(web_app, operator, alert_id, "alert-assign", user="admin1",
                            seen_assignee=WATER_USER)
    assert b"Assigned to admin1." in moved.data
    nobody = _sheet_callback(web_app, operator, alert_id, "alert-assign", user="ghost",
                             seen_assignee="admin1")
    assert b"Pick a user" in nobody.data
    assert alerts.get_alert(r, alert_id)["assignee"] == "admin1"  # type: ignore[index]


def test_callbacks_refuse_roles_that_may_not_act(web_app: Any, r: redis.Redis,
                                                 people: dict[str, str]) -> None:
    """A crafted callback POST meets the same rules as the API: officials 403, emergency staff
    only on their domains, operators on all."""
    water, medical = _water_alert(r, "cb-water"), _water_alert(r, "cb-medical", domain="medical")
    official = _session(web_app, people["official"])
    assert _ack_callback(web_app, official, water).status_code == 403
    medic = _session(web_app, WATER_USER)
    refused = _ack_callback(web_app, medic, medical)
    assert refused.status_code == 200 and b"may not act on medical" in refused.data
    assert alerts.get_alert(r, medical)["state"] == "active_unack"  # type: ignore[index]
    done = _ack_callback(web_app, medic, water)
    assert done.status_code == 200 and b"Acknowledged." in done.data
    assert alerts.get_alert(r, water)["acked_by"] == WATER_USER  # type: ignore[index]
    again = _ack_callback(web_app, _session(web_app, people["operator"]), water)
    assert b"already acknowledged by medic-water" in again.data


def test_raise_callback_is_for_operators(web_app: Any, r: redis.Redis,
                                         people: dict[str, str]) -> None:
    """Only operators and admins raise incidents from the page; the form's values are checked."""
    key = _output_key(web_app, "alert-new-result.children")

    def form(caller: Caller, title: str, lat: Any = 28.5, lon: Any = 112.3) -> Any:
        return _callback(caller, key, [{"id": "alert-new-raise", "property": "n_clicks", "value": 1}], [
            {"id": "alert-new-title", "property": "value", "value": title},
            {"id": "alert-new-domain", "property": "value", "value": "city"},
            {"id": "alert-new-severity", "property": "value", "value": "minor"},
            {"id": "alert-new-lat", "property": "value", "value": lat},
            {"id": "alert-new-lon", "property": "value", "value": lon},
            {"id": "alert-new-description", "property": "value", "value": "phone call"}],
            "alert-new-raise.n_clicks")

    assert form(_session(web_app, WATER_USER), "Tree down").status_code == 403
    operator = _session(web_app, people["operator"])
    assert b"Give both latitude" in form(operator, "Tree down", lon=None).data
    assert b"A title of 1 to 200" in form(operator, "t" * 201).data
    assert b"Raised: Tree down" in form(operator, "Tree down").data
    raised = alerts.list_alerts(r)
    assert [(a["title"], a["source"], a["created_by"]) for a in raised] == [
        ("Tree down", "manual", "operator1")]


def test_sound_switches_are_for_operators(web_app: Any, r: redis.Redis,
                                          people: dict[str, str]) -> None:
    """Operators mute a severity for every screen; emergency staff and wall tokens may not."""
    key = _output_key(web_app, "alert-panel-shown.data@")
    toggle = [{"id": {"type": "alert-sound-toggle", "index": "critical"}, "property": "n_clicks",
               "value": 1}]

    def press(caller: Caller) -> Any:
        return _callback(caller, key, [toggle], [],
                         '{"index":"critical","type":"alert-sound-toggle"}.n_clicks')

    assert press(_session(web_app, WATER_USER)).status_code == 403
    assert press(_bearer(web_app, r, "wall")).status_code == 403
    assert store.alerts.read_settings(r).get("sound:critical") is None
    assert press(_session(web_app, people["operator"])).status_code == 200
    assert store.alerts.read_settings(r)["sound:critical"] == "off"
    panel = _callback(_session(web_app, people["official"]),
                      _output_key(web_app, "alert-panel-counts.children"),
                      [{"id": ids.pulse_part(ids.ALERT_PANEL_LIST, ids.PULSE), "property": "data",
                        "value": {"n": 3}}],
                      [{"id": "alert-panel-shown", "property": "data", "value": None},
                       {"id": "alert-panel", "property": "className", "value": "alert-panel"}],
                      ids.prop_id(ids.pulse_part(ids.ALERT_PANEL_LIST, ids.PULSE), "data"))
    assert panel.status_code == 200
    sound = panel.get_json()["response"]["alert-sound"]["data"]
    assert sound["enabled"]["critical"] is False and sound["enabled"]["major"] is True
