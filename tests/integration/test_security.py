"""The security sweep, derived from the app itself: every route, page and callback against every kind
of caller (nobody, each role, a wall token, a revoked token, a missing or forged CSRF token).

Routes come from Flask's URL map, pages from Dash's page registry, callbacks from Dash's callback map,
and the roles a view or callback admits from its ``require_roles`` guard. The tables below state the
policy those must agree with, so a new route, page or callback fails here until it is classified.
Hand-written cases live in tests/integration/test_gate.py and tests/integration/test_api_alerts.py;
this file does not repeat them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from html.parser import HTMLParser
from typing import Any

import dash
import pytest
import redis
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from werkzeug.routing import Rule

from app import accounts, alerts, i18n, store
from app.accounts import signin
from app.config import ConfigError, load_settings, updated, weak_secret_reason
from app.model import roles
from app.model.principal import Principal
from app.shifts import duty
from app.web import auth, csrf, sessions
from app.web.login import LANG_PATH
from app.web.server import create_app
from layouts import ids
from tests.support.admin_feeds import ADMIN_FEED_CALLBACKS, admin_feed_requests
from tests.support.admin_users import ADMIN_USER_CALLBACKS, admin_user_requests
from tests.support.api import for_rule, readings_sample, required_query
from tests.support.incident_pages import INCIDENT_CALLBACKS, incident_requests
from tests.support.incidents import incident_sample
from tests.support.public import render_public
from tests.support.redis_server import RedisServer
from tests.support.security import (
    ADMIN,
    EMERGENCY,
    NEW_ALERT,
    NEW_INCIDENT,
    OFFICIAL,
    OPERATOR,
    WALL,
    Caller,
    Snapshot,
    callback_key,
    callback_request,
    guard_roles,
    rule_path,
    rules,
    server_callbacks,
    session_caller,
    water_alert,
)
from tests.support.shifts import shift_sample, sign_on_the_room
from tests.support.waiting import wait_for
from tests.support.web import PASSWORD, csrf_header, login

PEOPLE = (ADMIN, OPERATOR, EMERGENCY, OFFICIAL)
CALLERS = PEOPLE + (WALL,)
EVERYONE = frozenset(PEOPLE)
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

# -- the policy ----------------------------------------------------------------------------------------
PUBLIC_ROUTES: dict[str, str] = {
    "/login": "the sign-in form (GET) and its submission (POST: CSRF-checked, throttled)",
    "/login/login.css": "the sign-in form's stylesheet (/assets is behind the gate)",
    "/healthz": "the load balancer's liveness probe: says 'ok' and nothing else",
    # The public status page and its CAP feed (issue 16): bytes the runner rendered, no form.
    "/public": "the public status page: what citizens may see, no ids, no form, no script",
    "/public/cap.atom": "the published warnings as CAP 1.2 in Atom, for the national platform",
    # The installable app (issue 20): a browser installing it fetches these without cookies.
    "/manifest.webmanifest": "the web app manifest: the app's name, colours and icons, no data",
    "/app-icon.svg": "the app's icon (drawn, no data)",
    "/app-icon-192.png": "the app's icon (drawn, no data)",
    "/app-icon-512.png": "the app's icon (drawn, no data)",
    # Pairing a wall display (issue 19): a display without a session asks for a short code; it
    # is signed in only once an admin confirmed that code (tests/integration/test_display_pairing.py).
    "/pair": "a display's pairing code (rate-limited per address); shows no data",
    # The Chinese font (issue 18, app/web/fonts.py): the login and public pages need it.
    "/fonts/cityops-cjk.woff2": "a subset of the installed CJK font (glyphs only, no data)",
    "/fonts/cityops-cjk.css": "its @font-face and the font stack (fixed text, no data)",
    "/fonts/cityops-cjk.js": "has text shaped again once the font arrived (fixed text, no data)",
}
# Flask views without a role guard of their own, and why that is safe.
UNGUARDED_VIEWS: dict[str, str] = {
    "login": "public",
    "login_css": "public",
    "healthz": "public",
    "public.public_page": "public (issue 16): serves the rendered page, reads nothing a visitor sends",
    "public.public_feed": "public (issue 16): serves the rendered CAP feed",
    "install.manifest_view": "public (issue 20): the web manifest, reads nothing a visitor sends",
    "install.svg_icon_view": "public (issue 20): a fixed icon",
    "install.png_icon_192": "public (issue 20): a fixed icon",
    "install.png_icon_512": "public (issue 20): a fixed icon",
    "pairing.pair": "public (issue 19): a display's own pairing code; signs in only after an "
                    "admin's confirmation, and only the display holding the request's secret",
    "fonts.font_view": "public (issue 18): the served CJK font, reads nothing a visitor sends",
    "fonts.css_view": "public (issue 18): the font's stylesheet",
    "fonts.script_view": "public (issue 18): the font's script (fixed text)",
    "logout": "any signed-in caller may end their own session (CSRF-checked by the gate)",
    "language": "any signed-in caller may choose their language (CSRF-checked by the gate)",
    "_dash_assets.static": "stylesheets, scripts and the basemap: no live data; behind the gate",
    "/_dash-component-suites/<string:package_name>/<path:fingerprinted_path>":
        "Dash's own scripts, behind the gate",
    "/_dash-layout": "the shell (navigation per role); pages come from the router callback, "
                     "whose layouts check the role",
    "/_dash-dependencies": "the callback graph (component ids), behind the gate",
    "/_dash-update-component": "each callback checks the role itself (swept below)",
    "/_reload-hash": "Dash's hot-reload probe, behind the gate",
    "/_favicon.ico": "an icon, behind the gate",
    "/": "Dash's index page: the gate checks the page's roles (roles.may_open)",
    "/<path:path>": "Dash's index page for every other path: the gate checks the page's roles",
}
# Who may use each guarded Flask view.
OFFICIAL_READERS = frozenset({ADMIN, OPERATOR, OFFICIAL})
VIEW_ROLES: dict[str, frozenset[str]] = {
    "api.me": EVERYONE, "api.entities": EVERYONE, "api.events": EVERYONE, "api.kpis": EVERYONE,
    "api.feeds": EVERYONE, "api_alerts.list_alerts": EVERYONE, "api_alerts.get_alert": EVERYONE,
    "api_alerts.alert_cap": EVERYONE, "api_alerts.audit": frozenset({ADMIN}),
    "api_alerts.raise_alert": frozenset({ADMIN, OPERATOR}),
    "api_alerts.act": frozenset({ADMIN, OPERATOR, EMERGENCY}),
    "api_alerts.acknowledge_many": frozenset({ADMIN, OPERATOR, EMERGENCY}),  # issue 18
    "official.report_html": OFFICIAL_READERS, "official.kpis_download": OFFICIAL_READERS,
    "official.alerts_download": OFFICIAL_READERS,
    # the KPI history CSV (issue 19): every domain's for OFFICIAL_READERS, one domain's also for
    # whoever may open that domain's page (the view checks that again per domain)
    "official.trends_download": frozenset({ADMIN, OPERATOR, EMERGENCY, OFFICIAL}),
    "api_admin.audit_archive": frozenset({ADMIN}), "api_admin.confirm_archive": frozenset({ADMIN}),
    "api_admin.unlock_user": frozenset({ADMIN}),
    # incidents (issue 15): everyone reads; operators and admins declare and judge proposals; the
    # commander and department staff (emergency) act, the service checking whose it is.
    **{f"api_incidents.{name}": EVERYONE for name in (
        "list_incidents", "get_incident", "incident_cap", "list_proposals", "list_tasks",
        "get_task", "catalogue", "notices")},
    "api_incidents.declare": frozenset({ADMIN, OPERATOR}),
    "api_incidents.proposal_act": frozenset({ADMIN, OPERATOR}),
    "api_incidents.act": frozenset({ADMIN, OPERATOR, EMERGENCY}),
    "api_incidents.task_act": frozenset({ADMIN, OPERATOR, EMERGENCY}),
    # shifts (issue 15): operators, admins and officials read; operators and admins act.
    **{f"api_shifts.{name}": OFFICIAL_READERS for name in (
        "read_log", "preview", "list_handovers", "get_handover", "sheet_document",
        "sheet_download", "on_duty")},
    **{f"api_shifts.{name}": frozenset({ADMIN, OPERATOR}) for name in (
        "write_note", "write_handover", "acknowledge", "sign")},
    # after-action records (issue 15): whoever reads /official.
    **{f"after_action.{name}": OFFICIAL_READERS for name in (
        "report_html", "report_json", "report_csv")},
    # the API of issue 16: one entity, histories and the OpenAPI document, for every reader
    "api.one_entity": EVERYONE, "api_history.entity_history": EVERYONE,
    "api_history.kpi_trend": EVERYONE, "api_document.openapi_json": EVERYONE,
    # what a page's live parts follow (issue 20): every live screen, the wall's included
    "live_versions.live_versions": EVERYONE | {WALL},
    # the wall maps' frames (issue 20): whoever may open /wall
    "wall_map.frame": OFFICIAL_READERS | {WALL},
}
# What a wall display may reach besides the /wall page; every other route answers it 403.
WALL_RULES = frozenset({
    "/_dash-layout", "/_dash-dependencies", "/_dash-update-component", "/_favicon.ico",
    "/_dash-component-suites/<string:package_name>/<path:fingerprinted_path>",
    "/assets/<path:filename>", LANG_PATH, "/_live-versions", "/_wall-map/<map_id>",
})
# Callbacks without a role guard, and why that is safe.
UNGUARDED_CALLBACKS: dict[str, str] = {
    "dash.dash.Dash.enable_pages.<locals>.router_sync.<locals>.update":
        "Dash Pages' router: it renders the page asked for, whose layout checks the role "
        "(components.page_layout; test_page_layouts_refuse_roles_that_may_not_open_them)",
}
# Callbacks that change state, and who may use them.
MUTATING_CALLBACKS: dict[str, frozenset[str]] = {
    "layouts.admin.add_user": frozenset({ADMIN}),
    "layouts.admin.disable_user": frozenset({ADMIN}),
    # /admin's user and token forms (issue 19): role and domains, enable, disable, password
    # reset, delete; creating and revoking tokens
    **ADMIN_USER_CALLBACKS,
    # /admin's feeds (issue 19): pausing (confirmed) and resuming a feed
    **ADMIN_FEED_CALLBACKS,
    "layouts.alert_panel.toggle_sound": frozenset({ADMIN, OPERATOR}),
    "layouts.alerts.act": frozenset({ADMIN, OPERATOR, EMERGENCY}),
    "layouts.alerts.raise_incident": frozenset({ADMIN, OPERATOR}),
    "layouts.alert_bulk.acknowledge_selected": frozenset({ADMIN, OPERATOR, EMERGENCY}),  # issue 18
    # incident screens (issue 15): the detail's changes and tasks, declaring, proposals, /tasks
    **INCIDENT_CALLBACKS,
    # shifts (issue 15)
    "layouts.shifts.sign": frozenset({ADMIN, OPERATOR}),
    "layouts.shifts.write_note": frozenset({ADMIN, OPERATOR}),
    "layouts.shifts.hand_over": frozenset({ADMIN, OPERATOR}),
    "layouts.shifts.acknowledge": frozenset({ADMIN, OPERATOR}),
}
# Bodies that would change something if the caller were allowed to (per endpoint); a function
# makes its body from the store at the time of the request.
POST_BODIES: dict[str, Any] = {
    "api_alerts.raise_alert": NEW_ALERT,
    "api_alerts.act": {"note": "sweep"},
    "api_alerts.acknowledge_many": lambda r: {"ids": [water_alert(r, "sweep-bulk")]},  # issue 18
    "api_admin.confirm_archive": lambda r: {"through": store.audit.read(r, 1)[0].id},
    "api_incidents.declare": NEW_INCIDENT,
    "api_incidents.act": {"text": "sweep"},  # ARG_SAMPLES' incident_action: note
    "api_incidents.task_act": {"text": "sweep"},  # task_action: note
    "api_incidents.proposal_act": {"reason": "sweep"},  # proposal_action: dismiss
    # shifts (issue 15): the room on duty first, so that the allowed caller's request does write
    # (signing off does, once on duty).
    "api_shifts.write_note": lambda r: _on_duty(r, {"text": "sweep", "notable": "yes"}),
    "api_shifts.write_handover": lambda r: _on_duty(r, {"note": "sweep"}),
    "api_shifts.acknowledge": lambda r: _on_duty(r, {"note": "sweep"}),
    "api_shifts.sign": lambda r: _on_duty(r, {"duty": "off"}),
}


def _on_duty(r: redis.Redis, body: dict[str, Any]) -> dict[str, Any]:
    """``body``, once every operator and admin is on duty."""
    sign_on_the_room(r)
    return body


def post_body(endpoint: str, r: redis.Redis) -> Any:
    """The sweep's body for ``endpoint`` (None: none needed)."""
    body = POST_BODIES.get(endpoint)
    return body(r) if callable(body) else body


def methods(rule: Rule) -> list[str]:
    """The methods a caller could use on ``rule`` (HEAD is GET without a body)."""
    return sorted(m for m in rule.methods or () if m != "HEAD")


def page_paths() -> list[str]:
    """Every page registered with Dash Pages."""
    return sorted(page["path"] for page in dash.page_registry.values())


@pytest.fixture
def callers(web_app: Any, r: redis.Redis, users: dict[str, str]) -> dict[str, Caller]:
    """A signed-in session per person's role, and a wall display token."""
    found = {role: session_caller(web_app, role, users[role]) for role in PEOPLE}
    wall = accounts.create_token(r, "sweep-wall", WALL)
    found[WALL] = Caller(WALL, web_app.server.test_client(), wall)
    return found


def refused_anonymously(response: Any, path: str) -> bool:
    """401 JSON (scripts and the API) or a redirect to the login page (people)."""
    if response.status_code == 401:
        return response.is_json and "error" in response.get_json()
    return (response.status_code == 302 and response.headers["Location"].startswith("/login")
            and not path.startswith("/api/"))


# -- no session, no token ----------------------------------------------------------------------------
def test_every_route_and_page_refuses_anonymous_callers(web_app: Any, client: Any,
                                                     r: redis.Redis) -> None:
    """Every rule of the URL map, with every method, and every Dash page: refused without a session
    or token, except the routes listed as public (which answer)."""
    render_public(web_app, r)  # the public page answers once the runner's job has rendered it
    offenders = []
    for rule in rules(web_app):
        path = rule_path(rule)
        for method in methods(rule):
            response = client.open(path, method=method)
            if rule.rule in PUBLIC_ROUTES:
                continue
            if not refused_anonymously(response, path):
                offenders.append((method, path, response.status_code))
    for path in page_paths():
        response = client.get(path)
        if not refused_anonymously(response, path):
            offenders.append(("GET", path, response.status_code))
    assert offenders == []
    for path in PUBLIC_ROUTES:
        assert client.get(path).status_code == 200, path
    assert set(PUBLIC_ROUTES) <= {rule.rule for rule in rules(web_app)}


def test_a_bearer_header_is_never_downgraded_to_anonymous(web_app: Any, client: Any) -> None:
    """A malformed or unknown token is refused on every route, even where no token is needed."""
    offenders = []
    for rule in rules(web_app):
        if rule.rule in PUBLIC_ROUTES:
            continue
        path = rule_path(rule)
        for method in methods(rule):
            response = client.open(path, method=method,
                                   headers={"Authorization": "Bearer cot_0123456789ab_forged"})
            if response.status_code != 401:
                offenders.append((method, path, response.status_code))
    assert offenders == []


# -- roles on routes ---------------------------------------------------------------------------------
def test_every_view_is_classified_and_guarded_as_the_policy_says(web_app: Any) -> None:
    """Each Flask endpoint is either listed as unguarded (with why) or guarded by require_roles
    with exactly the roles of the policy table."""
    unclassified, wrong = [], []
    for endpoint, view in web_app.server.view_functions.items():
        if endpoint in UNGUARDED_VIEWS:
            continue
        if endpoint not in VIEW_ROLES:
            unclassified.append(endpoint)
        elif guard_roles(view) != VIEW_ROLES[endpoint]:
            wrong.append((endpoint, guard_roles(view)))
    assert unclassified == [], "add these endpoints to VIEW_ROLES or UNGUARDED_VIEWS"
    assert wrong == []
    assert set(VIEW_ROLES) <= set(web_app.server.view_functions)


def test_each_role_is_refused_every_route_it_may_not_use(web_app: Any, r: redis.Redis,
                                                         raw: redis.Redis,
                                                         callers: dict[str, Caller],
                                                         users: dict[str, str]) -> None:
    """Every guarded route, with every method, as every role outside its policy: 403, and nothing
    is written. One allowed role gets through (so the refusals are not an accident)."""
    alert_id = water_alert(r, "sweep")
    sample = incident_sample(r, users[ADMIN], "sweep")  # a real incident, task and proposal
    sample.update(shift_sample(r, users[ADMIN]))  # and a handover sheet to take over
    sample.update(readings_sample(r))  # and an entity with readings, a KPI with a history
    offenders, controls = [], []
    for rule in rules(web_app):
        if rule.endpoint not in VIEW_ROLES:
            continue
        path = rule_path(rule, alert_id=alert_id, **for_rule(rule, sample))
        path += required_query(web_app.server.view_functions[rule.endpoint])
        allowed = VIEW_ROLES[rule.endpoint]
        for method in (m for m in methods(rule) if m != "OPTIONS"):
            body = post_body(rule.endpoint, r)
            for role in CALLERS:
                if role in allowed:
                    continue
                before = Snapshot(raw)
                response = callers[role].call(method, path, body)
                if response.status_code != 403:
                    offenders.append((role, method, path, response.status_code))
                if before.written():
                    offenders.append((role, method, path, "wrote", before.written()))
            before = Snapshot(raw)
            response = callers[sorted(allowed)[0]].call(method, path, body)
            controls.append((method, path, response.status_code < 400,
                             method == "GET" or bool(before.written())))
    assert offenders == []
    assert controls and all(ok and wrote for _, _, ok, wrote in controls), controls


def test_wall_token_reaches_nothing_but_the_wall(web_app: Any, callers: dict[str, Caller]) -> None:
    """A wall token: 403 on every route and page but /wall and what the wall page needs."""
    wall = callers[WALL]
    offenders = []
    for rule in rules(web_app):
        if rule.rule in PUBLIC_ROUTES or rule.rule in WALL_RULES:
            continue
        path = rule_path(rule)
        for method in methods(rule):
            response = wall.call(method, path, {})
            if response.status_code != 403:
                offenders.append((method, path, response.status_code))
    for path in page_paths():
        expected = 200 if roles.may_open(WALL, path) else 403
        if wall.call("GET", path).status_code != expected:
            offenders.append(("GET", path, expected))
    assert offenders == []
    assert [p for p in page_paths() if roles.may_open(WALL, p)] == ["/wall"]


# -- roles on callbacks ------------------------------------------------------------------------------
def test_every_callback_is_classified_and_guarded(web_app: Any) -> None:
    """Each server callback carries a require_roles guard (the router excepted, with why); the
    callbacks that change state admit exactly the roles of the policy table."""
    unguarded, wrong = [], []
    found = {name for name, _ in server_callbacks(web_app).values()}
    for name, spec in server_callbacks(web_app).values():
        allowed = guard_roles(spec["callback"])
        if allowed is None and name not in UNGUARDED_CALLBACKS:
            unguarded.append(name)
        if name in MUTATING_CALLBACKS and allowed != MUTATING_CALLBACKS[name]:
            wrong.append((name, allowed))
    assert unguarded == []
    assert wrong == []
    assert set(MUTATING_CALLBACKS) | set(UNGUARDED_CALLBACKS) <= found


def mutating_requests(web_app: Any, r: redis.Redis, users: dict[str, str],
                      name: str) -> list[dict[str, Any]]:
    """Requests that change state when an allowed role sends them (each on its own alert)."""
    key = callback_key(web_app, name)
    spec = web_app.callback_map[key]
    if name == "layouts.admin.add_user":
        cases = [({f"{ids.ADMIN_ADD_USER}.n_clicks": 1, f"{ids.ADMIN_NEW_NAME}.value": "swept",
                   f"{ids.ADMIN_NEW_ROLE}.value": ADMIN,
                   f"{ids.ADMIN_NEW_PASSWORD}.value": "a long enough password"},
                  f"{ids.ADMIN_ADD_USER}.n_clicks")]
    elif name == "layouts.admin.disable_user":
        cases = [({f"{ids.ADMIN_DISABLE_USER}.n_clicks": 1,
                   f"{ids.ADMIN_DISABLE_NAME}.value": users[OFFICIAL]},
                  f"{ids.ADMIN_DISABLE_USER}.n_clicks")]
    elif name in ADMIN_USER_CALLBACKS:
        cases = admin_user_requests(r, name, spec)
    elif name in ADMIN_FEED_CALLBACKS:
        cases = admin_feed_requests(r, name, spec)
    elif name == "layouts.alert_panel.toggle_sound":
        pattern = next(i for i in spec["inputs"] if i["id"].startswith("{"))
        match = {"id": {"type": ids.ALERT_SOUND_TOGGLE, "index": "critical"},
                 "property": "n_clicks", "value": 1}
        cases = [({f"{pattern['id']}.n_clicks": [match]},
                  json.dumps(match["id"], sort_keys=True, separators=(",", ":")) + ".n_clicks")]
    elif name == "layouts.alerts.act":
        cases = []
        # Resolve and Take over are heard once confirmed in their dialogs (issue 18).
        for button in (f"{ids.ALERT_ACK}.n_clicks", f"{ids.ALERT_CLAIM}.n_clicks",
                       f"{ids.ALERT_ADD_NOTE}.n_clicks", f"{ids.ALERT_RESOLVE_CONFIRM}.submit_n_clicks",
                       f"{ids.ALERT_ASSIGN}.n_clicks", f"{ids.ALERT_TAKEOVER_CONFIRM}.submit_n_clicks"):
            alert_id = water_alert(r, f"sweep:{button}")
            cases.append(({button: 1,
                           f"{ids.ALERT_SELECTED}.data": {"id": alert_id, "mode": "ack"},
                           f"{ids.ALERT_NOTE}.value": "sweep note",
                           f"{ids.ALERT_ASSIGN_USER}.value": users[OPERATOR]},
                          button))
    elif name == "layouts.alert_bulk.acknowledge_selected":  # issue 18: the ticked cards
        pattern = next(s for s in spec["state"] if s["id"].startswith("{"))
        alert_id = water_alert(r, "sweep:bulk")
        ticked = {"id": {"type": ids.ALERT_SELECT, "index": alert_id}, "property": "value",
                  "value": [alert_id]}
        cases = [({f"{ids.ALERTS_ACK_SELECTED}.n_clicks": 1, f"{pattern['id']}.value": [ticked]},
                  f"{ids.ALERTS_ACK_SELECTED}.n_clicks")]
    elif name == "layouts.alerts.raise_incident":
        cases = [({f"{ids.ALERT_NEW_RAISE}.n_clicks": 1, f"{ids.ALERT_NEW_TITLE}.value": "Tree down",
                   f"{ids.ALERT_NEW_DOMAIN}.value": "city", f"{ids.ALERT_NEW_SEVERITY}.value": "minor",
                   f"{ids.ALERT_NEW_LAT}.value": 28.5, f"{ids.ALERT_NEW_LON}.value": 112.3,
                   f"{ids.ALERT_NEW_DESCRIPTION}.value": "phone call"},
                  f"{ids.ALERT_NEW_RAISE}.n_clicks")]
    elif name in SHIFT_CALLBACKS:
        cases = shift_requests(r, users, name, spec)
    elif name in INCIDENT_CALLBACKS:
        cases = incident_requests(r, users, name, spec)
    else:
        raise AssertionError(f"no sample request for the state-changing callback {name}")
    return [callback_request(key, spec, values, trigger) for values, trigger in cases]


SHIFT_CALLBACKS = ("layouts.shifts.sign", "layouts.shifts.write_note", "layouts.shifts.hand_over",
                   "layouts.shifts.acknowledge")


def shift_requests(r: redis.Redis, users: dict[str, str], name: str,
                   spec: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """(values, trigger) of a /shifts request that writes when the operator sends it: signing on
    (from off duty), a log entry and a handover (on duty), taking over someone else's sheet."""
    operator = Principal(name=users[OPERATOR], role=OPERATOR)

    def pressed(kind: str, index: str) -> tuple[dict[str, Any], str]:
        pattern = next(i for i in spec["inputs"] if i["id"].startswith("{"))
        match = {"id": {"type": kind, "index": index}, "property": "n_clicks", "value": 1}
        return ({f"{pattern['id']}.n_clicks": [match]},
                json.dumps(match["id"], sort_keys=True, separators=(",", ":")) + ".n_clicks")

    if name == "layouts.shifts.sign":
        duty.sign_off(r, operator)
        return [pressed(ids.SHIFTS_DUTY, "on")]
    duty.sign_on(r, operator)
    if name == "layouts.shifts.write_note":
        return [({f"{ids.SHIFTS_NOTE_WRITE}.n_clicks": 1, f"{ids.SHIFTS_NOTE_TEXT}.value": "sweep",
                  f"{ids.SHIFTS_NOTE_NOTABLE}.value": ["yes"]}, f"{ids.SHIFTS_NOTE_WRITE}.n_clicks")]
    if name == "layouts.shifts.hand_over":
        return [({f"{ids.SHIFTS_HANDOVER_WRITE}.n_clicks": 1,
                  f"{ids.SHIFTS_HANDOVER_NOTE}.value": "sweep"}, f"{ids.SHIFTS_HANDOVER_WRITE}.n_clicks")]
    values, trigger = pressed(ids.SHIFTS_ACK, shift_sample(r, users[OPERATOR], OPERATOR)["handover_id"])
    return [(dict(values, **{f"{ids.SHIFTS_ACK_NOTE}.value": "sweep"}), trigger)]


def test_each_role_is_refused_every_callback_it_may_not_use(web_app: Any, r: redis.Redis,
                                                            raw: redis.Redis, users: dict[str, str],
                                                            callers: dict[str, Caller]) -> None:
    """Every callback as every role (and the wall token) outside its guard: 403 and nothing written;
    state-changing callbacks get requests that would write, and do write for an allowed role."""
    offenders = []
    for key, (name, spec) in server_callbacks(web_app).items():
        allowed = guard_roles(spec["callback"])
        if allowed is None:
            continue
        bodies = (mutating_requests(web_app, r, users, name) if name in MUTATING_CALLBACKS
                  else [callback_request(key, spec)])
        for role in CALLERS:
            if role in allowed:
                continue
            for body in bodies:
                before = Snapshot(raw)
                response = callers[role].call("POST", "/_dash-update-component", body)
                if response.status_code != 403 or before.written():
                    offenders.append((name, role, response.status_code, before.written()))
    assert offenders == []
    for name, allowed in MUTATING_CALLBACKS.items():
        caller = callers[OPERATOR if OPERATOR in allowed else ADMIN]
        for body in mutating_requests(web_app, r, users, name):
            before = Snapshot(raw)
            response = caller.call("POST", "/_dash-update-component", body)
            assert response.status_code == 200, (name, response.data)
            assert before.written(), (name, response.data)


def test_read_only_callbacks_write_nothing(web_app: Any, raw: redis.Redis,
                                           callers: dict[str, Caller]) -> None:
    """Every callback not listed as state-changing, sent as each role it admits: nothing written,
    and never a server error."""
    offenders = []
    for key, (name, spec) in server_callbacks(web_app).items():
        allowed = guard_roles(spec["callback"])
        if name in MUTATING_CALLBACKS or allowed is None:
            continue
        for role in sorted(allowed):
            before = Snapshot(raw)
            response = callers[role].call("POST", "/_dash-update-component",
                                          callback_request(key, spec))
            if response.status_code >= 500 or before.written():
                offenders.append((name, role, response.status_code, before.written()))
    assert offenders == []


def test_page_layouts_refuse_roles_that_may_not_open_them(web_app: Any,
                                                         callers: dict[str, Caller]) -> None:
    """The router callback (reachable by anyone signed in) renders each page only for the roles
    the page table admits; the others get the "not permitted" card, never the page."""
    key = callback_key(web_app, next(iter(UNGUARDED_CALLBACKS)))
    spec = web_app.callback_map[key]
    refusal = i18n.t("forbidden.title", lang="en")
    offenders = []
    for path in page_paths():
        for role in CALLERS:
            values = {f"{i['id']}.{i['property']}": path if i["property"] == "pathname" else ""
                      for i in spec["inputs"]}
            response = callers[role].call("POST", "/_dash-update-component",
                                          callback_request(key, spec, values))
            refused = refusal in response.get_data(as_text=True)
            if response.status_code != 200 or refused == roles.may_open(role, path):
                offenders.append((role, path, response.status_code, refused))
    assert offenders == []


# -- CSRF ----------------------------------------------------------------------------------------------
def test_csrf_missing_or_wrong_is_refused_on_every_state_change(web_app: Any, r: redis.Redis,
                                                                 raw: redis.Redis,
                                                                 users: dict[str, str]) -> None:
    """Every non-GET route and every state-changing callback, from an admin's session: no token,
    a wrong token, or a cookie and header that agree but are not the session's: 403, nothing
    written, and the session still signed in. With the right token, they work."""
    admin = session_caller(web_app, ADMIN, users[ADMIN])
    client = admin.client
    real = client.get_cookie(csrf.CSRF_COOKIE).value
    forged = secrets.token_urlsafe(32)
    attempts: list[tuple[str, dict[str, str], str | None]] = [
        ("none", {}, None), ("wrong", {csrf.CSRF_HEADER: forged}, None),
        ("planted pair", {csrf.CSRF_HEADER: forged}, forged)]
    requests: list[tuple[str, Any]] = []
    alert_id = water_alert(r, "csrf")
    for rule in rules(web_app):
        if rule.rule in PUBLIC_ROUTES:
            continue
        if all(m in SAFE_METHODS for m in methods(rule)):
            continue
        path = rule_path(rule, alert_id=alert_id)
        if rule.rule == "/_dash-update-component":
            requests += [(path, body) for name in MUTATING_CALLBACKS
                         for body in mutating_requests(web_app, r, users, name)]
        elif rule.rule == LANG_PATH:
            requests.append((path, {"lang": "zh"}))
        else:
            requests.append((path, post_body(rule.endpoint, r) or {}))
    assert {p for p, _ in requests} >= {"/logout", LANG_PATH, "/_dash-update-component",
                                        "/api/v1/alerts"}
    offenders = []
    for path, body in requests:
        for what, headers, cookie in attempts:
            client.set_cookie(csrf.CSRF_COOKIE, cookie or real)
            before = Snapshot(raw)
            if path == LANG_PATH:
                response = client.post(path, data=body, headers=headers)
            else:
                response = client.post(path, json=body, headers=headers)
            client.set_cookie(csrf.CSRF_COOKIE, real)
            if response.status_code not in (400, 403) or before.written():
                offenders.append((what, path, response.status_code, before.written()))
    assert offenders == []
    assert client.get("/api/v1/me").status_code == 200  # /logout without a token did nothing
    before = Snapshot(raw)
    done = client.post("/api/v1/alerts", json=NEW_ALERT, headers=csrf_header(client))
    assert done.status_code == 201 and before.written()


def test_login_form_needs_its_csrf_token(client: Any, users: dict[str, str], r: redis.Redis) -> None:
    """The login form without its token, or with another one: 400, not signed in, nothing counted."""
    client.get("/login")
    for token in (None, "", secrets.token_urlsafe(32)):
        form = {"username": users[ADMIN], "password": PASSWORD}
        if token is not None:
            form["csrf_token"] = token
        response = client.post("/login", data=form)
        assert response.status_code == 400
        assert client.get("/api/v1/me").status_code == 401
    assert store.auth.login_failures(r, [("user", users[ADMIN])]) == [(0, 0)]


# -- revoked tokens ------------------------------------------------------------------------------------
def test_revoked_api_token_is_refused_at_once_everywhere(web_app: Any, r: redis.Redis) -> None:
    """An operator's API token works, then after revocation every route and method answers 401."""
    token = accounts.create_token(r, "ops-script", OPERATOR)
    caller = Caller(OPERATOR, web_app.server.test_client(), token)
    assert caller.call("GET", "/api/v1/me").status_code == 200
    assert caller.call("POST", "/api/v1/alerts", NEW_ALERT).status_code == 201
    accounts.revoke_token(r, "ops-script")
    offenders = []
    for rule in rules(web_app):
        if rule.rule in PUBLIC_ROUTES:
            continue
        path = rule_path(rule)
        for method in methods(rule):
            response = caller.call(method, path, NEW_ALERT if method == "POST" else None)
            if response.status_code != 401:
                offenders.append((method, path, response.status_code))
    assert offenders == []
    assert len(alerts.list_alerts(r)) == 1


def _wall_paths(web_app: Any) -> list[tuple[str, str]]:
    """(method, path) of everything a wall display uses."""
    found = [("GET", "/wall")]
    for rule in rules(web_app):
        if rule.rule in WALL_RULES:
            found += [(m, rule_path(rule)) for m in methods(rule) if m != "OPTIONS"]
    return found


def test_revoked_wall_token_is_refused_at_once_everywhere(web_app: Any, r: redis.Redis) -> None:
    """A wall token, used as a bearer token and as the display session it opened: after revocation
    every route the wall could reach refuses it, and it cannot open a new session."""
    token = accounts.create_token(r, "lobby", WALL)
    bearer = Caller(WALL, web_app.server.test_client(), token)
    display = web_app.server.test_client()
    assert display.get(f"/wall?token={token}").status_code == 302
    assert display.get("/wall").status_code == 200
    assert bearer.call("GET", "/wall").status_code == 200
    live = callback_key(web_app, "layouts.status_strip.refresh")
    body = callback_request(live, web_app.callback_map[live])
    assert display.post("/_dash-update-component", json=body,
                        headers=csrf_header(display)).status_code == 200
    accounts.revoke_token(r, "lobby")
    offenders = []
    for method, path in _wall_paths(web_app):
        as_bearer = bearer.call(method, path, body)
        if as_bearer.status_code != 401:
            offenders.append(("bearer", method, path, as_bearer.status_code))
        as_display = display.open(path, method=method, json=body if method == "POST" else None,
                                  headers=csrf_header(display))
        if not refused_anonymously(as_display, path):
            offenders.append(("display", method, path, as_display.status_code))
    assert offenders == []
    assert web_app.server.test_client().get(f"/wall?token={token}").status_code == 401


# -- sessions ------------------------------------------------------------------------------------------
def _sign(key: str | bytes, payload: dict[str, Any]) -> str:
    """A session cookie for ``payload`` signed with ``key`` the way Flask signs sessions."""
    forger = Flask("forger")
    forger.secret_key = key
    serializer = SecureCookieSessionInterface().get_signing_serializer(forger)
    assert serializer is not None
    return serializer.dumps(payload)


def test_a_planted_session_is_replaced_at_login(web_app: Any, users: dict[str, str]) -> None:
    """Session fixation: a session cookie and CSRF token planted before login (validly signed, as
    an attacker's own visit would give) are replaced at login, and the planted ones do not sign
    anyone in or authorize anything."""
    planted_csrf = secrets.token_urlsafe(32)
    planted = _sign(web_app.server.secret_key, {"csrf": planted_csrf})
    victim = web_app.server.test_client()
    victim.set_cookie(sessions.SESSION_COOKIE, planted)
    victim.set_cookie(csrf.CSRF_COOKIE, planted_csrf)
    assert login(victim, users[ADMIN]).status_code == 302
    after = victim.get_cookie(sessions.SESSION_COOKIE).value
    assert after != planted
    assert victim.get_cookie(csrf.CSRF_COOKIE).value != planted_csrf
    attacker = web_app.server.test_client()
    attacker.set_cookie(sessions.SESSION_COOKIE, planted)
    assert attacker.get("/api/v1/me").status_code == 401
    victim.set_cookie(csrf.CSRF_COOKIE, planted_csrf)
    refused = victim.post("/api/v1/alerts", json=NEW_ALERT,
                          headers={csrf.CSRF_HEADER: planted_csrf})
    assert refused.status_code == 403


def test_an_attackers_session_planted_before_login_stays_theirs(web_app: Any,
                                                                users: dict[str, str]) -> None:
    """An official's own session cookie planted in an admin's browser: after the admin signs in,
    the official's copy is still only the official."""
    attacker = web_app.server.test_client()
    login(attacker, users[OFFICIAL])
    planted = attacker.get_cookie(sessions.SESSION_COOKIE).value
    victim = web_app.server.test_client()
    victim.set_cookie(sessions.SESSION_COOKIE, planted)
    # The planted session is signed in, so the victim's browser skips the form page: it posts.
    form_token = secrets.token_urlsafe(32)
    victim.set_cookie(csrf.CSRF_COOKIE, form_token)
    assert victim.post("/login", data={"username": users[ADMIN], "password": PASSWORD,
                                       "csrf_token": form_token}).status_code == 302
    assert victim.get("/api/v1/me").get_json()["role"] == ADMIN
    assert victim.get_cookie(sessions.SESSION_COOKIE).value != planted
    assert attacker.get("/api/v1/me").get_json()["role"] == OFFICIAL


def test_a_copied_session_dies_at_logout(web_app: Any, users: dict[str, str]) -> None:
    """The session cookie copied while signed in (a shared machine, a proxy log) stops working
    once its owner signs out."""
    owner = web_app.server.test_client()
    login(owner, users[OPERATOR])
    copy = owner.get_cookie(sessions.SESSION_COOKIE).value
    thief = web_app.server.test_client()
    thief.set_cookie(sessions.SESSION_COOKIE, copy)
    assert thief.get("/api/v1/me").status_code == 200
    assert owner.post("/logout", headers=csrf_header(owner)).status_code == 302
    assert thief.get("/api/v1/me").status_code == 401
    assert login(owner, users[OPERATOR]).status_code == 302
    assert owner.get("/api/v1/me").status_code == 200


# -- login throttling ----------------------------------------------------------------------------------
THROTTLE_TEST_WINDOW_S = 10


def test_throttle_holds_for_the_window_then_lifts(client: Any, users: dict[str, str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Failures against one user from one address (in any spelling of the name) block that pair,
    not the user elsewhere; failures from one address against many names block the address;
    once the window (shortened here) ends, the right password works again."""
    monkeypatch.setattr(signin, "THROTTLE_WINDOW_S", THROTTLE_TEST_WINDOW_S)
    # Few guesses: each is a scrypt check, and all must fall within the shortened window.
    monkeypatch.setattr(signin, "THROTTLE_LIMIT", signin.PAIR_LIMIT)
    name = users[OPERATOR]
    for i in range(signin.THROTTLE_LIMIT):
        login(client, f"guess{i}", "wrong password!", addr="10.9.0.1")
    assert login(client, users[ADMIN], PASSWORD, addr="10.9.0.1").status_code == 429
    for spelling in [name, name.upper(), f" {name} ", name, name.title()][:signin.PAIR_LIMIT]:
        assert login(client, spelling, "wrong password!", addr="10.8.0.1").status_code == 401
    by_pair = login(client, name, PASSWORD, addr="10.8.0.1")
    assert by_pair.status_code == 429 and int(by_pair.headers["Retry-After"]) >= 1
    assert client.get("/api/v1/me").status_code == 401
    elsewhere = client.application.test_client()
    assert login(elsewhere, name, PASSWORD, addr="10.8.1.1").status_code == 302
    other = client.application.test_client()
    assert login(other, users[OFFICIAL], PASSWORD, addr="10.9.0.2").status_code == 302
    assert wait_for(lambda: login(client, name, PASSWORD, addr="10.8.0.1").status_code == 302,
                    timeout=THROTTLE_TEST_WINDOW_S + 10)
    assert client.get("/api/v1/me").get_json()["name"] == name
    assert wait_for(lambda: login(client, users[ADMIN], PASSWORD, addr="10.9.0.1").status_code == 302,
                    timeout=THROTTLE_TEST_WINDOW_S + 10)


# -- the secret key ------------------------------------------------------------------------------------
def test_without_a_configured_key_a_random_one_is_generated_and_kept(web_app: Any) -> None:
    """No CITYOPS_SECRET_KEY (as in the test app): the key is the one generated into the data
    directory, long, random-looking, and passes the weak-key check."""
    settings = web_app.server.extensions["cityops"]["settings"]
    assert settings.web.secret_key is None
    stored = (settings.data_dir / "secret_key").read_text(encoding="utf-8").strip()
    assert web_app.server.secret_key == stored
    assert len(stored) >= 32 and weak_secret_reason(stored) is None


@pytest.mark.parametrize("key", ["dev", "secret", "changeme", b'_5#y2L"F4Q8z\n\xec]/', "k" * 40,
                                 "change-me-to-a-long-random-string-please"])
def test_sessions_signed_with_well_known_keys_are_refused(web_app: Any, users: dict[str, str],
                                                         key: str | bytes) -> None:
    """A session forged with a key from documentation or templates signs nobody in; the same
    session signed with the app's key would (the forgery is well formed)."""
    payload = {"_user_id": f"{users[ADMIN]}:1", "_fresh": True, "csrf": "x" * 43}
    for signer, expected in ((key, 401), (web_app.server.secret_key, 200)):
        forged = web_app.server.test_client()
        forged.set_cookie(sessions.SESSION_COOKIE, _sign(signer, payload))
        assert forged.get("/api/v1/me").status_code == expected


@pytest.mark.parametrize("key", ["k" * 40, "ab" * 20, "changeme" * 5,
                                 "django-insecure-" + "q8Zr2Lx0Vb7Nw4Ty6Pm1",
                                 "0123456789" * 4, "the-default-secret-key-for-cityops-demo"])
def test_a_weak_configured_key_is_refused_without_showing_it(redis_server: RedisServer, r: redis.Redis,
                                                             tmp_path: Any, key: str) -> None:
    """Long enough but guessable keys stop the app from starting; the error names the setting,
    says why, and never prints the key."""
    environ = {"CITYOPS_DATA_DIR": str(tmp_path), "CITYOPS_REDIS_URL": redis_server.url,
               "CITYOPS_SECRET_KEY": key}
    # Refused when the settings are read (so `cityops up` stops at once) ...
    with pytest.raises(ConfigError) as refused:
        load_settings(environ=environ)
    assert "CITYOPS_SECRET_KEY" in str(refused.value) and key not in str(refused.value)
    # ... and by the web app itself, should settings come from elsewhere.
    settings = load_settings(environ={k: v for k, v in environ.items() if k != "CITYOPS_SECRET_KEY"})
    settings = updated(settings, {"web.secret_key": key})
    with pytest.raises(ConfigError) as refused:
        create_app(settings, client=r)
    assert "CITYOPS_SECRET_KEY" in str(refused.value) and key not in str(refused.value)


def test_a_random_key_is_accepted() -> None:
    """Keys as `secrets` makes them pass the weak-key check (hex and URL-safe alike)."""
    for _ in range(200):
        for key in (secrets.token_urlsafe(32), secrets.token_hex(16), secrets.token_hex(32)):
            auth.check_secret_key(key)


# -- headers and cookies -------------------------------------------------------------------------------
class _InlineScripts(HTMLParser):
    """Collects the text of inline scripts that a browser would run (not JSON data blocks)."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        kind = (attributes.get("type") or "text/javascript").lower()
        self._inside = tag == "script" and "src" not in attributes and "json" not in kind
        if self._inside:
            self.scripts.append("")

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.scripts[-1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._inside = False


def _directives(policy: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def _html_pages(web_app: Any, callers: dict[str, Caller]) -> list[tuple[str, Any]]:
    """Every HTML document the app serves: login, every page as a role that may open it, the
    refusal page, and the situation report."""
    documents = [("/login", web_app.server.test_client().get("/login"))]
    for path in page_paths():
        role = next(role for role in CALLERS if roles.may_open(role, path))
        documents.append((path, callers[role].call("GET", path)))
    documents.append(("403 page", callers[OFFICIAL].call("GET", "/admin")))
    documents.append(("/official/report.html", callers[OFFICIAL].call("GET", "/official/report.html")))
    return documents


def test_security_headers_on_every_html_page(web_app: Any, callers: dict[str, Caller]) -> None:
    """Every HTML answer: a CSP with no inline or eval'd script and no framing, nosniff, DENY and
    a referrer policy; every inline script of a page is allowed by its own hash."""
    inline = 0
    for name, response in _html_pages(web_app, callers):
        assert response.mimetype == "text/html", name
        policy = _directives(response.headers["Content-Security-Policy"])
        scripts = policy["script-src"]
        assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts, name
        assert policy["frame-ancestors"] == ["'none'"] and policy["object-src"] == ["'none'"], name
        assert policy["default-src"] == ["'self'"] and policy["base-uri"] == ["'self'"], name
        assert response.headers["X-Content-Type-Options"] == "nosniff", name
        assert response.headers["X-Frame-Options"] == "DENY", name
        assert response.headers["Referrer-Policy"] in ("same-origin", "no-referrer",
                                                       "strict-origin-when-cross-origin"), name
        if name == "/official/report.html":
            # A download meant to be opened from disk, where it runs its own inlined Leaflet; served
            # here, the policy above keeps a browser from running it in the app's origin.
            assert response.headers["Content-Disposition"].startswith("attachment;")
            continue
        parser = _InlineScripts()
        parser.feed(response.get_data(as_text=True))
        inline += len(parser.scripts)
        for script in parser.scripts:
            digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
            assert f"'sha256-{digest}'" in scripts, (name, script[:80])
    assert inline > 0  # Dash's pages do run inline scripts: the hash check above was exercised


def test_protective_headers_on_every_other_answer(web_app: Any, callers: dict[str, Caller]) -> None:
    """JSON, CSV, scripts and stylesheets: nosniff and DENY too; live answers are not cached."""
    admin = callers[ADMIN]
    answers = {path: admin.call("GET", path) for path in (
        "/api/v1/me", "/api/v1/alerts", "/official/kpis.csv", "/assets/theme.css", "/_dash-layout")}
    answers["/healthz"] = web_app.server.test_client().get("/healthz")
    for path, response in answers.items():
        assert response.status_code == 200, path
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert response.headers["X-Frame-Options"] == "DENY", path
    for path in ("/api/v1/me", "/api/v1/alerts", "/official/kpis.csv", "/_dash-layout"):
        assert "no-store" in answers[path].headers["Cache-Control"], path


def _cookie(response: Any, name: str) -> str:
    return next(c for c in response.headers.getlist("Set-Cookie") if c.startswith(f"{name}="))


def _flags(header: str) -> set[str]:
    return {part.strip().lower() for part in header.split(";")[1:]}


def test_cookie_flags_without_tls(client: Any, users: dict[str, str]) -> None:
    """Session: HttpOnly, SameSite=Lax. CSRF: SameSite=Strict, readable by Dash's script. Language:
    HttpOnly. None Secure when secure cookies are off (plain HTTP would drop them); no HSTS."""
    signed_in = login(client, users[OPERATOR])
    session_flags = _flags(_cookie(signed_in, sessions.SESSION_COOKIE))
    csrf_flags = _flags(_cookie(signed_in, csrf.CSRF_COOKIE))
    chosen = client.post(LANG_PATH, data={"lang": "zh"}, headers=csrf_header(client))
    lang_flags = _flags(_cookie(chosen, i18n.COOKIE))
    assert {"httponly", "samesite=lax"} <= session_flags
    assert "samesite=strict" in csrf_flags and "httponly" not in csrf_flags
    assert {"httponly", "samesite=lax"} <= lang_flags
    assert not any("secure" in flags for flags in (session_flags, csrf_flags, lang_flags))
    assert "Strict-Transport-Security" not in signed_in.headers


@pytest.fixture(scope="module")
def tls_app(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The app as configured behind TLS (CITYOPS_SECURE_COOKIES=true)."""
    settings = load_settings(environ={"CITYOPS_DATA_DIR": str(tmp_path_factory.mktemp("tls")),
                                      "CITYOPS_REDIS_URL": redis_server.url,
                                      "CITYOPS_SECURE_COOKIES": "true"})
    return create_app(settings)


def test_cookie_flags_behind_tls(tls_app: Any, r: redis.Redis, users: dict[str, str]) -> None:
    """With secure cookies on, every cookie is Secure and browsers are told to stay on HTTPS."""
    client = tls_app.server.test_client()
    client.get("/login", base_url="https://localhost")
    token = client.get_cookie(csrf.CSRF_COOKIE).value
    signed_in = client.post("/login", base_url="https://localhost",
                            data={"username": users[OPERATOR], "password": PASSWORD,
                                  "csrf_token": token})
    assert signed_in.status_code == 302
    chosen = client.post(LANG_PATH, base_url="https://localhost", data={"lang": "zh"},
                         headers=csrf_header(client))
    for response, name in ((signed_in, sessions.SESSION_COOKIE), (signed_in, csrf.CSRF_COOKIE),
                           (chosen, i18n.COOKIE)):
        assert "secure" in _flags(_cookie(response, name)), name
    assert signed_in.headers["Strict-Transport-Security"].startswith("max-age=")
