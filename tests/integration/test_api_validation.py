"""Bad input on the web: every API field and every form field missing, of the wrong type or too long.

The API's fields come from the tables each endpoint declares with ``app.web.api.schema.inputs``, found through
Flask's URL map; the login form's from ``app.web.auth.LOGIN_FIELDS``; the Dash forms' from their
callbacks' State in Dash's callback map, with the limits the page layouts give the browser
(maxLength, options, min/max). A new endpoint, field or form input is swept at once, or fails here
until it is described. Every refusal must name the field and write nothing to Redis.
"""

from __future__ import annotations

import itertools
import json
import math
from typing import Any, Iterator
from urllib.parse import quote, urlencode

import pytest
import redis

from app import i18n, store
from app.model.alerts import MAX_TITLE
from app.web import csrf
from app.web.api import schema as api
from app.web.api.alerts import RAISE_BODY
from app.web.api.schema import Field
from app.web.login import LANG_PATH, LOGIN_FIELDS
from layouts import ids
from tests.support.api import for_rule, readings_sample
from tests.support.incidents import (
    SQUARE_TEXT,
    fill,
    forget_created,
    incident_sample,
    key_names,
    sample_parts,
)
from tests.support.security import (
    ADMIN,
    NEW_ALERT,
    OPERATOR,
    Caller,
    Snapshot,
    callback_key,
    callback_request,
    rule_path,
    rules,
    session_caller,
    water_alert,
)
from tests.support.shifts import shift_sample, sign_on_the_room
from tests.support.web import PASSWORD, csrf_header, login

# Values of the wrong type for a field, by what they are.
NOT_TEXT: dict[str, Any] = {"number": 5, "fraction": 1.5, "list": ["a"], "object": {"a": "b"},
                            "bool": True}
NOT_NUMBER: dict[str, Any] = {"text": "28.5", "list": [28.5], "object": {"v": 28.5}, "bool": True,
                              "NaN": math.nan, "infinity": math.inf}
# Fields that only make sense together: one without the other is refused, naming both.
PAIRED = {"lat": "lon", "lon": "lat"}


def valid_bodies(users: dict[str, str]) -> dict[tuple[str, str], dict[str, Any]]:
    """A body that each (endpoint, variant) accepts, with every field of its table."""
    return {
        ("api_alerts.raise_alert", ""): dict(NEW_ALERT),
        ("api_alerts.act", "ack"): {"note": "seen"},
        ("api_alerts.act", "assign"): {"user": users[OPERATOR], "expected": ""},
        ("api_alerts.act", "note"): {"text": "valve closed"},
        # acting explicitly (issue 18): claim, take over, several at once
        ("api_alerts.act", "claim"): {},
        ("api_alerts.act", "takeover"): {"expected": ""},
        ("api_alerts.acknowledge_many", ""): {"ids": ["al-0123456789abcdef"], "note": "outage"},
        ("api_alerts.act", "resolve"): {"note": "fixed"},
        # the audit archive and sign-in back-off (issue 17): "<audit_id>" is the newest entry
        ("api_admin.confirm_archive", ""): {"through": "<audit_id>"},
        ("api_admin.unlock_user", ""): {},
        # incidents (issue 15): "<alert_id>" is the sweep's fresh alert, "<linked_alert>" the one
        # linked to the sample incident (tests/support/incidents.py: incident_sample, fill)
        ("api_incidents.declare", ""): {
            "title": "Burst main", "type": "water_main_burst", "level": "III",
            "commander": users[OPERATOR], "alerts": "<alert_id>", "lat": 28.56, "lon": 112.35,
            "radius_m": 300.0, "area": SQUARE_TEXT, "description": "Reported by phone"},
        ("api_incidents.act", "status"): {"status": "responding", "note": "crews out", "version": 1},
        ("api_incidents.act", "level"): {"level": "II", "note": "spreading", "version": 1},
        ("api_incidents.act", "commander"): {"commander": users[OPERATOR], "version": 1},
        ("api_incidents.act", "area"): {"lat": 28.56, "lon": 112.35, "radius_m": 300.0,
                                        "area": SQUARE_TEXT, "version": 1},
        ("api_incidents.act", "public"): {"public": "yes", "version": 1},
        ("api_incidents.act", "link"): {"alert": "<alert_id>", "note": "same street"},
        ("api_incidents.act", "unlink"): {"alert": "<linked_alert>", "note": "not ours"},
        ("api_incidents.act", "step"): {"title": "Sandbags", "title_zh": "沙袋",
                                        "department": "city_management", "due_minutes": 30,
                                        "required": "yes"},
        ("api_incidents.act", "note"): {"text": "crews on site"},
        ("api_incidents.proposal_act", "accept"): {
            "title": "Storm", "type": "urban_flooding", "level": "II",
            "commander": users[OPERATOR], "description": "from the wall"},
        ("api_incidents.proposal_act", "dismiss"): {"reason": "a drill"},
        ("api_incidents.task_act", "take"): {"note": "on my way"},
        ("api_incidents.task_act", "finish"): {"note": "done"},
        ("api_incidents.task_act", "cannot"): {"reason": "no crew free"},
        ("api_incidents.task_act", "note"): {"text": "valve 7 stuck"},
        ("api_incidents.task_act", "reassign"): {"department": "fire_rescue",
                                                 "owner": users[OPERATOR], "expected": "",
                                                 "note": "theirs"},
        # shifts (issue 15): the sample puts the admin on duty with someone else's sheet to take over
        ("api_shifts.write_note", ""): {"text": "pump 3 noisy", "notable": "yes"},
        ("api_shifts.write_handover", ""): {"note": "storm after midnight"},
        ("api_shifts.acknowledge", ""): {"note": "taken over"},
        ("api_shifts.sign", ""): {"duty": "on"},
    }


def needs_sample(rule: Any) -> bool:
    """Whether ``rule`` acts on an incident, a task or a proposal, or on shifts (the sweep makes
    real ones)."""
    return bool({"incident_id", "task_id", "proposal_id"} & set(rule.arguments)) or is_shifts(rule)


def is_shifts(rule: Any) -> bool:
    return str(rule.rule).startswith("/api/v1/shifts/")


def make_sample(r: redis.Redis, admin_name: str, tag: str, rule: Any) -> dict[str, str]:
    """The incident sample the rule needs, and for shifts the admin on duty with a sheet to take over."""
    sample = incident_sample(r, admin_name, tag, sample_parts(rule.arguments))
    if is_shifts(rule):
        sample.update(shift_sample(r, admin_name))
    return sample


def variant_arg(rule: Any, variant: str) -> dict[str, str]:
    """The URL variable that picks the body's variant ("action", "incident_action", ...)."""
    if not variant:
        return {}
    return {next(a for a in rule.arguments if a == "action" or a.endswith("_action")): variant}


@pytest.fixture
def admin(web_app: Any, users: dict[str, str]) -> Caller:
    """An admin's signed-in session: every endpoint and form is theirs to use."""
    return session_caller(web_app, ADMIN, users[ADMIN])


def api_rules(web_app: Any) -> Iterator[Any]:
    for rule in rules(web_app):
        if rule.rule.startswith("/api/"):
            yield rule


def view(web_app: Any, rule: Any) -> Any:
    return web_app.server.view_functions[rule.endpoint]


def body_cases(table: tuple[Field, ...], valid: dict[str, Any]) -> Iterator[tuple[str, Any, bool]]:
    """(what, body, accepted) for every field of ``table``: missing, null, each wrong type, too
    long; ``accepted`` says whether the body is still a valid one."""
    for field in table:
        rest = {k: v for k, v in valid.items() if k != field.name}
        refused_if_absent = field.required or field.name in PAIRED
        yield f"{field.name} missing", rest, not refused_if_absent
        yield f"{field.name} null", dict(rest, **{field.name: None}), not refused_if_absent
        wrong = NOT_NUMBER if field.kind == "number" else NOT_TEXT
        for what, value in wrong.items():
            yield f"{field.name} {what}", dict(rest, **{field.name: value}), False
        too_long: Any = (field.high + 1 if field.kind == "number" else "x" * (field.max_length + 1))
        yield f"{field.name} too long", dict(rest, **{field.name: too_long}), False
    yield "unexpected field", dict(valid, unexpected="x"), False
    for what, value in (("a list", [valid]), ("a string", "text"), ("null", None), ("a number", 3)):
        yield f"the body is {what}", value, False


def newest_audit_id(r: redis.Redis) -> str:
    """The id of the newest audit entry (an archive may be confirmed through it)."""
    return store.audit.read(r, 1)[0].id


def _post(caller: Caller, path: str, body: Any) -> Any:
    # json.dumps writes NaN and Infinity as JSON's common extension; Flask reads them as floats.
    return caller.client.post(path, data=json.dumps(body), content_type="application/json",
                              headers=caller.headers())


def test_every_api_endpoint_declares_its_inputs(web_app: Any) -> None:
    """Each API route declares its query parameters, and each POST its body, per variant."""
    missing = []
    for rule in api_rules(web_app):
        declared = view(web_app, rule)
        if not hasattr(declared, "input_query"):
            missing.append(rule.rule)
        elif "POST" in (rule.methods or ()) and not declared.input_body:
            missing.append(f"POST {rule.rule}")
    assert missing == []


def test_every_body_field_missing_mistyped_or_too_long(web_app: Any, r: redis.Redis,
                                                       raw: redis.Redis,
                                                       users: dict[str, str],
                                                       admin: Caller) -> None:
    """Every field of every POST body: each bad value is a 400 naming the field and writes nothing;
    leaving out an optional field is accepted."""
    valid = valid_bodies(users)
    offenders, swept = [], set()
    for rule in api_rules(web_app):
        bodies = view(web_app, rule).input_body
        for variant, table in (bodies or {}).items():
            assert (rule.endpoint, variant) in valid, f"add a valid body for {rule.endpoint} {variant}"
            assert set(valid[rule.endpoint, variant]) == {f.name for f in table}, (rule.endpoint, variant)
            swept.add((rule.endpoint, variant))
            sample: dict[str, str] = {}
            keys_before = key_names(raw)
            # A fresh alert where the route or the body names one (each key makes snapshots slower).
            fresh = "alert_id" in rule.arguments or "<alert_id>" in valid[rule.endpoint, variant].values()
            for what, body, accepted in body_cases(table, valid[rule.endpoint, variant]):
                alert_id = water_alert(r, f"{rule.endpoint}:{variant}:{what}") if fresh else ""
                if needs_sample(rule) and not sample:
                    sample = make_sample(r, users[ADMIN], f"{rule.endpoint}:{variant}", rule)
                path = rule_path(rule, alert_id=alert_id, **sample, **variant_arg(rule, variant))
                body = fill(body, dict(sample, alert_id=alert_id, audit_id=newest_audit_id(r)))
                before = Snapshot(raw)
                response = _post(admin, path, body)
                if accepted and (sample or rule.endpoint.startswith("api_incidents")):
                    sample = {}  # it changed the sample: the next case gets a fresh one
                    forget_created(raw, keys_before)  # and what it made is no longer needed
                error = (response.get_json(silent=True) or {}).get("error", "")
                if accepted:
                    if response.status_code >= 400:
                        offenders.append((path, what, response.status_code, error))
                    continue
                name = what.split(" ", 1)[0]
                named = name == "unexpected" or any(f.name == name for f in table)
                names_it = f"'{name}'" in error if named else bool(error)
                if response.status_code != 400 or not names_it or before.written():
                    offenders.append((path, what, response.status_code, error, before.written()))
    assert offenders == []
    assert swept == set(valid)


def test_the_good_bodies_are_accepted(web_app: Any, r: redis.Redis, users: dict[str, str],
                                      admin: Caller) -> None:
    """The valid bodies the sweep starts from do work (so its refusals are about the bad field)."""
    for (endpoint, variant), body in valid_bodies(users).items():
        rule = next(rule for rule in api_rules(web_app) if rule.endpoint == endpoint
                    and "POST" in (rule.methods or ()))
        alert_id = water_alert(r, f"good:{endpoint}:{variant}")
        sample = make_sample(r, users[ADMIN], "good", rule) if needs_sample(rule) else {}
        path = rule_path(rule, alert_id=alert_id, **sample, **variant_arg(rule, variant))
        body = fill(body, dict(sample, alert_id=alert_id, audit_id=newest_audit_id(r)))
        assert _post(admin, path, body).status_code in (200, 201), (path, body)


def query_cases(field: Field) -> Iterator[tuple[str, str]]:
    """(what, bad value) for one query parameter."""
    limit = field.max_length if field.kind in ("text", "cursor") else api.MAX_QUERY_VALUE
    yield "too long", "x" * (limit + 1)
    if field.kind == "int":
        for value in ("abc", "-1", "1.5", str(int(field.low) - 1), str(int(field.high) + 1), "1e3"):
            yield f"not a whole number in range ({value})", value
    elif field.kind in ("choice", "choices"):
        yield "not one of the choices", "nonsense"
        yield "a list of anything", "nonsense,more"
    elif field.kind == "time":  # issue 16: ISO 8601 with a zone, or Unix seconds
        for value in ("yesterday", "2026-01-01T08:00:00", "2026-13-01T00:00:00Z", "-5",
                      "99999999999", "1e9", "0001-01-01T00:00:00+14:00"):
            yield f"not a time ({value})", value
    elif field.kind == "duration":
        for value in ("P", "PT", "P1M", "P1DT", "fast", "-60", str(field.high * 2)):
            yield f"not a duration ({value})", value
    elif field.kind == "cursor":
        yield "not a cursor", "nonsense"


# issue 16: what a parameter's declared example lacks, a good value of its kind
GOOD_BY_KIND = {"int": "1", "text": "stop", "time": "2026-01-01T00:00:00Z", "duration": "PT1H"}


def good_value(field: Field) -> str | None:
    """A value the parameter accepts (None for a cursor: only a real page gives one)."""
    if field.kind == "cursor":
        return None
    if field.example is not None:
        return ",".join(field.example) if isinstance(field.example, list) else str(field.example)
    if field.kind in ("choice", "choices"):
        return ",".join(field.choices[:1 if field.kind == "choice" else 2])
    return GOOD_BY_KIND[field.kind]


def test_every_query_parameter_is_checked(web_app: Any, r: redis.Redis, users: dict[str, str],
                                          admin: Caller) -> None:
    """Every API route: an unknown or repeated parameter, a required one left out, and each
    declared parameter's bad values, are a 400 naming the parameter; the required ones alone are
    accepted."""
    alert_id = water_alert(r, "query")
    sample = incident_sample(r, users[ADMIN], "query")
    sample.update(shift_sample(r, users[ADMIN]))  # a handover sheet to read
    sample.update(readings_sample(r))  # issue 16: a sensor with readings, a KPI with a history
    offenders = []
    for rule in api_rules(web_app):
        if "GET" not in (rule.methods or ()):
            continue
        path = rule_path(rule, alert_id=alert_id, **for_rule(rule, sample))
        fields = view(web_app, rule).input_query
        base = [(f.name, good_value(f)) for f in fields if f.required]

        def url(*pairs: tuple[str, Any], leave_out: str = "", base: Any = base,
                path: str = path) -> str:
            asked = [(k, v) for k, v in base if k != leave_out and k not in dict(pairs)]
            query = urlencode([*asked, *pairs])
            return f"{path}?{query}" if query else path

        assert admin.call("GET", url()).status_code == 200, path
        cases = [("unknown", url(("unexpected", "1")), "unexpected")]
        for field in fields:
            good = good_value(field)
            if field.required:
                cases.append(("missing", url(leave_out=field.name), field.name))
            if good is not None:
                assert admin.call("GET", url((field.name, good))).status_code == 200, (path, field)
                cases.append(("twice", url((field.name, good)) + f"&{field.name}={quote(good)}",
                              field.name))
            cases += [(what, url((field.name, value)), field.name)
                      for what, value in query_cases(field)]
        for what, asked, name in cases:
            response = admin.call("GET", asked)
            error = (response.get_json(silent=True) or {}).get("error", "")
            if response.status_code != 400 or name not in error:
                offenders.append((asked[:80], what, response.status_code, error))
    assert offenders == []


def test_url_variables_that_match_nothing(web_app: Any, admin: Caller) -> None:
    """An unknown or over-long domain, alert id or action: 404 with a short message, never a 500."""
    offenders = []
    for rule in api_rules(web_app):
        for arg in sorted(rule.arguments):
            for value in ("nonsense", "x" * 5000, "%00", "al-" + "f" * 16):
                path = rule_path(rule, **{arg: value})
                for method in ("GET", "POST"):
                    if method not in (rule.methods or ()):
                        continue
                    response = admin.call(method, path, {"note": "x"} if method == "POST" else None)
                    ok = response.status_code in (400, 404) and len(response.data) < 500
                    if not ok:
                        offenders.append((rule.rule, arg, value[:20], method, response.status_code))
    assert offenders == []


# -- the login form ------------------------------------------------------------------------------------
def _login_form(client: Any, users: dict[str, str]) -> dict[str, str]:
    client.get("/login")
    return {"username": users[ADMIN], "password": PASSWORD,
            "csrf_token": client.get_cookie(csrf.CSRF_COOKIE).value, "next": "/alerts"}


def test_login_form_fields(client: Any, r: redis.Redis, users: dict[str, str]) -> None:
    """Each field of the login form missing, sent twice or too long: 400 naming the field, no
    attempt counted, nobody signed in. The complete form signs in."""
    offenders = []
    labels = {"username": i18n.t("login.user", lang="en"), "password": i18n.t("login.password", lang="en"),
              "csrf_token": i18n.t("login.expired", lang="en"), "next": "next"}
    assert {name for name, _, _ in LOGIN_FIELDS} == set(labels)
    for name, longest, required in LOGIN_FIELDS:
        form = _login_form(client, users)
        cases: list[tuple[str, Any]] = [("twice", dict(form, **{name: [form[name], form[name]]})),
                                        ("too long", dict(form, **{name: "x" * (longest + 1)}))]
        if required:
            cases += [("missing", {k: v for k, v in form.items() if k != name}),
                      ("empty", dict(form, **{name: ""}))]
        for what, data in cases:
            response = client.post("/login", data=data)
            text = response.get_data(as_text=True)
            if response.status_code != 400 or labels[name] not in text:
                offenders.append((name, what, response.status_code))
            if client.get("/api/v1/me").status_code != 401:
                offenders.append((name, what, "signed in"))
    assert offenders == []
    assert store.auth.login_failures(r, [("user", users[ADMIN]), ("addr", "127.0.0.1")]) == [(0, 0), (0, 0)]
    assert store.audit.read(r) == []
    signed_in = client.post("/login", data=_login_form(client, users))
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/alerts"


def test_language_form(client: Any, r: redis.Redis, users: dict[str, str]) -> None:
    """The language switch: missing, twice, too long or unknown: 400, the stored choice unchanged."""
    login(client, users[OPERATOR])
    for data in ({}, {"lang": ["zh", "en"]}, {"lang": "zh" * 100}, {"lang": "klingon"}, {"lang": ""}):
        response = client.post(LANG_PATH, data=data, headers=csrf_header(client))
        assert response.status_code == 400, data
        assert "language" in response.get_data(as_text=True), data
    assert store.auth.get_user(r, users[OPERATOR]).get("language", "") == ""
    assert client.post(LANG_PATH, data={"lang": "zh"},
                       headers=csrf_header(client)).status_code == 303


# -- the Dash forms ------------------------------------------------------------------------------------
# Each state-changing form: the callback, the button that sends it, and for every State of the
# callback either "required" (None is refused), "optional" or "context" (app state, not typed).
FORMS: dict[str, dict[str, Any]] = {
    "add user": {"callback": "layouts.admin.add_user", "page": "/admin", "button": ids.ADMIN_ADD_USER,
                 "fields": {ids.ADMIN_NEW_NAME: "required", ids.ADMIN_NEW_ROLE: "required",
                            ids.ADMIN_NEW_PASSWORD: "required"}},
    "disable user": {"callback": "layouts.admin.disable_user", "page": "/admin",
                     "button": ids.ADMIN_DISABLE_USER,
                     "fields": {ids.ADMIN_DISABLE_NAME: "required"}},
    "raise incident": {"callback": "layouts.alerts.raise_incident", "page": "/alerts",
                       "button": ids.ALERT_NEW_RAISE,
                       "fields": {ids.ALERT_NEW_TITLE: "required", ids.ALERT_NEW_DOMAIN: "required",
                                  ids.ALERT_NEW_SEVERITY: "required", ids.ALERT_NEW_LAT: "required",
                                  ids.ALERT_NEW_LON: "required",
                                  ids.ALERT_NEW_DESCRIPTION: "optional"}},
    "note on an alert": {"callback": "layouts.alerts.act", "page": "/alerts",
                         "button": ids.ALERT_ADD_NOTE,
                         "fields": {ids.ALERT_NOTE: "required", ids.ALERT_ASSIGN_USER: "context",
                                    ids.ALERT_SELECTED: "context", ids.ALERT_SEEN_ASSIGNEE: "context"}},
    "acknowledge an alert": {"callback": "layouts.alerts.act", "page": "/alerts",
                             "button": ids.ALERT_ACK,
                             "fields": {ids.ALERT_NOTE: "optional", ids.ALERT_ASSIGN_USER: "context",
                                        ids.ALERT_SELECTED: "context",
                                        ids.ALERT_SEEN_ASSIGNEE: "context"}},
    "assign an alert": {"callback": "layouts.alerts.act", "page": "/alerts", "button": ids.ALERT_ASSIGN,
                        "fields": {ids.ALERT_ASSIGN_USER: "required", ids.ALERT_NOTE: "optional",
                                   ids.ALERT_SELECTED: "context", ids.ALERT_SEEN_ASSIGNEE: "context"}},
    # shifts (issue 15): the operator is on duty (the test signs the room on)
    "write in the shift log": {"callback": "layouts.shifts.write_note", "page": "/shifts",
                               "button": ids.SHIFTS_NOTE_WRITE,
                               "fields": {ids.SHIFTS_NOTE_TEXT: "required",
                                          ids.SHIFTS_NOTE_NOTABLE: "context",
                                          ids.SHIFTS_CHANGED: "context"}},
    "hand over": {"callback": "layouts.shifts.hand_over", "page": "/shifts",
                  "button": ids.SHIFTS_HANDOVER_WRITE,
                  "fields": {ids.SHIFTS_HANDOVER_NOTE: "optional", ids.SHIFTS_CHANGED: "context"}},
    # /admin's user form (issue 19): the role and domains of the picked user
    "manage a user": {"callback": "layouts.admin_users.act", "page": "/admin",
                      "button": ids.ADMIN_USER_SAVE,
                      "fields": {ids.ADMIN_USER_PICK: "required", ids.ADMIN_USER_ROLE: "required",
                                 ids.ADMIN_USER_DOMAINS: "optional"}},
    "create a token": {"callback": "layouts.admin_tokens.create", "page": "/admin",
                       "button": ids.ADMIN_TOKEN_CREATE,
                       "fields": {ids.ADMIN_TOKEN_NAME: "required", ids.ADMIN_TOKEN_ROLE: "required",
                                  ids.ADMIN_TOKEN_DAYS: "optional"}},
}
# The lat/lon fields are optional as a pair: one without the other is refused (the base has both).


def good_values(form: str, users: dict[str, str], alert_id: str) -> dict[str, Any]:
    """Values with which ``form`` succeeds."""
    return {
        "add user": {ids.ADMIN_NEW_NAME: "newcomer", ids.ADMIN_NEW_ROLE: OPERATOR,
                     ids.ADMIN_NEW_PASSWORD: "a long enough password"},
        "disable user": {ids.ADMIN_DISABLE_NAME: users["official"]},
        "raise incident": {ids.ALERT_NEW_TITLE: "Tree down", ids.ALERT_NEW_DOMAIN: "city",
                           ids.ALERT_NEW_SEVERITY: "minor", ids.ALERT_NEW_LAT: 28.5,
                           ids.ALERT_NEW_LON: 112.3, ids.ALERT_NEW_DESCRIPTION: "phone call"},
        "write in the shift log": {ids.SHIFTS_NOTE_TEXT: "valve 7 closed",
                                   ids.SHIFTS_NOTE_NOTABLE: ["yes"], ids.SHIFTS_CHANGED: 0},
        "hand over": {ids.SHIFTS_HANDOVER_NOTE: "storm after midnight", ids.SHIFTS_CHANGED: 0},
        "manage a user": {ids.ADMIN_USER_PICK: users["official"], ids.ADMIN_USER_ROLE: "emergency",
                          ids.ADMIN_USER_DOMAINS: ["water"]},
        "create a token": {ids.ADMIN_TOKEN_NAME: "lobby-wall", ids.ADMIN_TOKEN_ROLE: "wall",
                           ids.ADMIN_TOKEN_DAYS: 90},
    }.get(form, {ids.ALERT_NOTE: "valve closed", ids.ALERT_ASSIGN_USER: users[OPERATOR],
                 ids.ALERT_SELECTED: {"id": alert_id, "mode": "view"},
                 ids.ALERT_SEEN_ASSIGNEE: None})


def _components(node: Any) -> Iterator[dict[str, Any]]:
    """Every component of a serialized Dash layout."""
    if isinstance(node, list):
        for item in node:
            yield from _components(item)
    elif isinstance(node, dict):
        if "props" in node and "type" in node:
            yield node
            yield from _components(node["props"].get("children"))
            for value in node["props"].values():
                if isinstance(value, (dict, list)):
                    yield from _components(value)


def page_components(web_app: Any, caller: Caller, path: str) -> dict[str, dict[str, Any]]:
    """Component id -> its props (and "_kind", the component's type) on a page as the router
    renders it for ``caller``."""
    key = callback_key(web_app, "dash.dash.Dash.enable_pages.<locals>.router_sync.<locals>.update")
    spec = web_app.callback_map[key]
    values = {f"{i['id']}.{i['property']}": path if i["property"] == "pathname" else ""
              for i in spec["inputs"]}
    response = caller.call("POST", "/_dash-update-component", callback_request(key, spec, values))
    assert response.status_code == 200, path
    layout = response.get_json()["response"]["_pages_content"]["children"]
    return {c["props"]["id"]: dict(c["props"], _kind=c["type"]) for c in _components(layout)
            if isinstance(c["props"].get("id"), str)}


# Dropdowns drawn empty whose options a callback fills for what is opened (issue 19: the assign
# list holds who may act on the alert opened, layouts/alert_assign.py).
OPTIONS_BY_CALLBACK = frozenset({ids.ALERT_ASSIGN_USER})


def bad_values(component: dict[str, Any]) -> dict[str, Any]:
    """What a crafted POST could send instead of this input's value, beyond what the browser allows."""
    kind = component["_kind"]
    if kind == "Dropdown":
        assert component.get("options") or component["id"] in OPTIONS_BY_CALLBACK, component["id"]
        return dict(NOT_TEXT, **{"not an option": "x" * 65})
    if kind == "Checklist":
        assert component.get("options"), component["id"]
        return {"text": "water", "number": 5, "object": {"a": "b"}, "not an option": ["x" * 65],
                "not text": [5]}
    if kind == "Input" and component.get("type") == "number":
        return {"text": "28.5", "list": [28.5], "object": {"v": 1}, "bool": True,
                "out of range": component["max"] + 1}
    if kind in ("Input", "Textarea"):
        return dict(NOT_TEXT, **{"too long": "x" * (component["maxLength"] + 1)})
    raise AssertionError(f"no bad values for a {kind}")


class FormSender:
    """Sends one Dash form as a crafted callback POST: its good values, some replaced."""

    def __init__(self, web_app: Any, r: redis.Redis, raw_client: redis.Redis,
                 users: dict[str, str], caller: Caller, form: str) -> None:
        self.r, self.raw, self.users, self.caller, self.form = r, raw_client, users, caller, form
        self.spec = FORMS[form]
        self.key = callback_key(web_app, self.spec["callback"])
        self.callback = web_app.callback_map[self.key]
        self.props = {s["id"]: s["property"] for s in self.callback["state"]}
        self.sent = itertools.count()

    def send(self, values: dict[str, Any]) -> tuple[Any, list[str]]:
        """The response, and what it wrote to Redis."""
        alert_id = water_alert(self.r, f"form:{self.form}:{next(self.sent)}")
        full = dict(good_values(self.form, self.users, alert_id), **values)
        button = self.spec["button"]
        fields = {f"{i['id']}.{i['property']}": (1 if i["id"] == button else None)
                  for i in self.callback["inputs"]}
        fields.update({f"{field}.{self.props[field]}": value for field, value in full.items()})
        body = callback_request(self.key, self.callback, fields, f"{button}.n_clicks")
        before = Snapshot(self.raw)
        return self.caller.call("POST", "/_dash-update-component", body), before.written()


def test_dash_forms_refuse_bad_values_with_a_message(web_app: Any, r: redis.Redis,
                                                     raw: redis.Redis,
                                                     users: dict[str, str]) -> None:
    """Every input of every state-changing form, as a crafted callback POST: left empty (when
    required), of the wrong type, or beyond what the browser allows: the form shows an error and
    nothing is written. The good values do write (so the refusals are about the bad field)."""
    operator = session_caller(web_app, OPERATOR, users[OPERATOR])
    admin = session_caller(web_app, ADMIN, users[ADMIN])
    pages = {path: page_components(web_app, admin, path) for path in ("/admin", "/alerts", "/shifts")}
    sign_on_the_room(r)  # the shift forms write only for someone on duty
    offenders = []
    for form, spec in FORMS.items():
        sender = FormSender(web_app, r, raw, users, admin if spec["page"] == "/admin" else operator,
                            form)
        assert set(sender.props) == set(spec["fields"]), f"describe every State of {form} in FORMS"
        for field, role in spec["fields"].items():
            if role == "context":
                continue
            cases = bad_values(pages[spec["page"]][field])
            if role == "required":
                cases.update({"missing": None, "empty": ""})
            for what, value in cases.items():
                response, written = sender.send({field: value})
                text = response.get_data(as_text=True)
                if response.status_code != 200 or '"error' not in text or written:
                    offenders.append((form, field, what, response.status_code, written, text[:160]))
        response, written = sender.send({})
        assert response.status_code == 200 and '"ok' in response.get_data(as_text=True), (form, response.data)
        assert written, form
    assert offenders == []


def test_numbers_accepted_by_the_api_match_the_form(web_app: Any, users: dict[str, str]) -> None:
    """The raise form's number inputs have the same range as the API's lat/lon fields."""
    admin = session_caller(web_app, ADMIN, users[ADMIN])
    components = page_components(web_app, admin, "/alerts")
    for field in RAISE_BODY:
        if field.kind == "number":
            component = components[{"lat": ids.ALERT_NEW_LAT, "lon": ids.ALERT_NEW_LON}[field.name]]
            assert (component["min"], component["max"]) == (field.low, field.high), field.name
    assert MAX_TITLE == components[ids.ALERT_NEW_TITLE]["maxLength"]
