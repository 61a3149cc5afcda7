"""The default-deny gate, login, CSRF, throttling, roles on pages, callbacks and the API."""

from __future__ import annotations

import contextlib
import re
import time
from typing import Any

import pytest
import redis

from app import accounts, store
from app.accounts import signin
from app.model import roles
from app.model.domains import DOMAINS
from app.web import sessions
from layouts import ids
from tests.support.web import LIVE_BODY, PASSWORD, callback_body, csrf_header, login

DOMAIN_PAGES = {"/transport", "/water", "/medical", "/city"}
PAGES = ["/", "/transport", "/water", "/medical", "/city", "/wall", "/alerts", "/official", "/admin",
         "/incidents", "/tasks",  # incidents (issue 15)
         "/shifts"]  # shifts and handover (issue 15)
MACHINE_GETS = ["/_dash-layout", "/_dash-dependencies", "/assets/theme.css", "/assets/cityops.js",
                "/_dash-component-suites/dash/deps/polyfill.js", "/api/v1/me", "/_reload-hash",
                "/api/v1/anything"]
# The specification of who may open which page (roles.PAGES must agree with it).
PAGE_ACCESS = {
    "admin": {"/", "/wall", "/alerts", "/official", "/admin", "/incidents", "/tasks",
              "/shifts"} | DOMAIN_PAGES,
    "operator": {"/", "/wall", "/alerts", "/official", "/incidents", "/tasks", "/shifts"} | DOMAIN_PAGES,
    "emergency": {"/", "/alerts", "/incidents", "/tasks"} | DOMAIN_PAGES,
    "official": {"/", "/wall", "/alerts", "/official", "/incidents", "/shifts"} | DOMAIN_PAGES,
    "wall": {"/wall"},
}


def add_user_body(name: str) -> dict[str, Any]:
    """The admin page's "Add user" callback, as a crafted POST would send it."""
    return callback_body(
        [("admin-result", "children"), ("admin-refresh", "data")],
        [("admin-add-user", "n_clicks", 1)],
        [("admin-new-name", "value", name), ("admin-new-role", "value", "admin"),
         ("admin-new-password", "value", "a long enough password")])


def script_path(client) -> str:  # type: ignore[no-untyped-def]
    """One real component-suite path from the index page (it carries a version fingerprint)."""
    html = client.get("/").get_data(as_text=True)
    match = re.search(r'src="(/_dash-component-suites/[^"]+)"', html)
    assert match, "the index page lists no component suites"
    return match.group(1)


# -- anonymous ---------------------------------------------------------------------------------
def test_healthz_is_public_and_says_nothing(client) -> None:  # type: ignore[no-untyped-def]
    """/healthz answers 200 to anyone, without data."""
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_data(as_text=True).strip() == "ok"


def test_login_page_and_its_stylesheet_are_public(client) -> None:  # type: ignore[no-untyped-def]
    """The login page and what it needs load without a session, and set the CSRF cookie."""
    page = client.get("/login")
    assert page.status_code == 200
    assert 'name="csrf_token"' in page.get_data(as_text=True)
    assert client.get_cookie("_csrf_token") is not None
    assert client.get("/login/login.css").status_code == 200


@pytest.mark.parametrize("path", PAGES + ["/no-such-page"])
def test_anonymous_pages_redirect_to_login(client, path: str) -> None:  # type: ignore[no-untyped-def]
    """Pages send an anonymous visitor to /login, remembering where they wanted to go."""
    resp = client.get(path)
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("path", MACHINE_GETS)
def test_anonymous_machine_endpoints_answer_401(client, path: str) -> None:  # type: ignore[no-untyped-def]
    """Dash's endpoints, assets and the API answer 401 JSON without a session or token."""
    resp = client.get(path)
    assert resp.status_code == 401
    assert resp.is_json and "login" in resp.json["error"]


def test_anonymous_callback_post_is_refused(client) -> None:  # type: ignore[no-untyped-def]
    """A callback POST without a session gets 401, not data."""
    resp = client.post("/_dash-update-component", json=LIVE_BODY)
    assert resp.status_code == 401


# -- roles -------------------------------------------------------------------------------------
def test_page_table_matches_the_specification() -> None:
    """roles.PAGES grants exactly the access this test file specifies."""
    for role, allowed in PAGE_ACCESS.items():
        assert {p.path for p in roles.pages_for(role)} == allowed


@pytest.mark.parametrize("role", ["admin", "operator", "emergency", "official"])
def test_each_role_opens_exactly_its_pages(client, users, role: str) -> None:  # type: ignore[no-untyped-def]
    """Every person's role gets 200 on its pages and 403 on the others."""
    assert login(client, users[role]).status_code == 302
    for path in PAGES:
        expected = 200 if path in PAGE_ACCESS[role] else 403
        assert client.get(path).status_code == expected, (role, path)
    assert client.get("/_dash-layout").status_code == 200
    assert client.get(script_path(client)).status_code == 200
    # Emergency staff without domains act on every domain, and /me says so (app.alerts.policy).
    domains = list(DOMAINS) if role == "emergency" else []
    assert client.get("/api/v1/me").json == {"name": users[role], "role": role, "kind": "user",
                                             "domains": domains}


@pytest.mark.parametrize("role", ["operator", "emergency", "official"])
def test_crafted_mutating_callback_is_forbidden(client, users, r, role: str) -> None:  # type: ignore[no-untyped-def]
    """A non-admin who crafts the admin page's POST gets 403 and no user is created."""
    login(client, users[role])
    resp = client.post("/_dash-update-component", json=add_user_body("intruder"),
                       headers=csrf_header(client))
    assert resp.status_code == 403
    assert store.auth.get_user(r, "intruder") is None


def test_admin_callback_creates_user_and_audits(client, users, r) -> None:  # type: ignore[no-untyped-def]
    """The same POST from an admin with the CSRF header creates the user and audits it."""
    login(client, users["admin"])
    resp = client.post("/_dash-update-component", json=add_user_body("newadmin"),
                       headers=csrf_header(client))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert store.auth.get_user(r, "newadmin")["role"] == "admin"
    actions = [(e.actor, e.action, e.target) for e in store.audit.read(r)]
    assert (users["admin"], "user_add", "newadmin") in actions


def test_admin_callback_reports_bad_input_without_storing(client, users, r) -> None:  # type: ignore[no-untyped-def]
    """A too-short password is refused with a message, and nothing is stored."""
    login(client, users["admin"])
    body = add_user_body("shorty")
    body["state"][2]["value"] = "short"
    resp = client.post("/_dash-update-component", json=body, headers=csrf_header(client))
    assert resp.status_code == 200
    assert "at least" in resp.get_data(as_text=True)
    assert store.auth.get_user(r, "shorty") is None


# -- CSRF --------------------------------------------------------------------------------------
def test_post_without_csrf_header_is_refused(client, users) -> None:  # type: ignore[no-untyped-def]
    """A session's POST without X-CSRFToken, or with a wrong one, gets 403."""
    login(client, users["operator"])
    assert client.post("/_dash-update-component", json=LIVE_BODY).status_code == 403
    wrong = {"X-CSRFToken": "x" * 43}
    assert client.post("/_dash-update-component", json=LIVE_BODY, headers=wrong).status_code == 403
    ok = client.post("/_dash-update-component", json=LIVE_BODY, headers=csrf_header(client))
    assert ok.status_code == 200


def test_login_form_without_csrf_token_is_refused(client, users) -> None:  # type: ignore[no-untyped-def]
    """A login POST that does not echo the CSRF cookie does not sign in."""
    client.get("/login")
    resp = client.post("/login", data={"username": users["admin"], "password": PASSWORD,
                                       "csrf_token": "forged"})
    assert resp.status_code == 400
    assert client.get("/api/v1/me").status_code == 401


def test_bearer_token_calls_are_exempt_from_csrf(client, r) -> None:  # type: ignore[no-untyped-def]
    """Scripts with a token need no CSRF cookie."""
    token = accounts.create_token(r, "script", "operator")
    resp = client.post("/_dash-update-component", json=LIVE_BODY,
                       headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200


# -- tokens ------------------------------------------------------------------------------------
@pytest.mark.parametrize("header", ["Bearer garbage", "Bearer ", "Basic dXNlcjpwdw==",
                                    "Bearer cot_000000000000_nope", "nonsense"])
def test_bad_authorization_headers_get_401(client, r, header: str) -> None:  # type: ignore[no-untyped-def]
    """Garbage in Authorization is refused with a clear JSON error, on pages too."""
    for path in ("/api/v1/me", "/"):
        resp = client.get(path, headers={"Authorization": header})
        assert resp.status_code == 401
        assert "error" in resp.json


def test_revoked_and_expired_tokens_are_refused(client, r) -> None:  # type: ignore[no-untyped-def]
    """A token works until it is revoked or expires."""
    token = accounts.create_token(r, "ops-script", "operator")
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=auth).json["name"] == "token:ops-script"
    accounts.revoke_token(r, "ops-script")
    assert client.get("/api/v1/me", headers=auth).status_code == 401
    short = accounts.create_token(r, "short-lived", "official", expires_days=1)
    token_id = short.split("_")[1]
    store.auth.update_token(r, token_id, {"expires_at": f"{time.time() - 1:.0f}"})
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {short}"}).status_code == 401


def test_wall_token_only_views_the_wall(client, r) -> None:  # type: ignore[no-untyped-def]
    """A wall token opens /wall and what it needs, nothing else."""
    token = accounts.create_token(r, "wall-1", "wall")
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/wall", headers=auth).status_code == 200
    assert client.get("/_dash-layout", headers=auth).status_code == 200
    for path in ("/", "/admin", "/alerts", "/official", "/api/v1/me"):
        assert client.get(path, headers=auth).status_code == 403, path


def test_wall_display_opens_with_token_in_url(client, r) -> None:  # type: ignore[no-untyped-def]
    """/wall?token=... swaps the token for a display session and drops it from the URL."""
    token = accounts.create_token(r, "wall-2", "wall")
    resp = client.get(f"/wall?token={token}&rotate=30")
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/wall?rotate=30"
    assert client.get("/wall").status_code == 200
    assert client.get("/").status_code == 403
    accounts.revoke_token(r, "wall-2")
    assert client.get("/wall").status_code == 302  # the display session ends with its token
    operator = accounts.create_token(r, "not-a-wall", "operator")
    assert client.get(f"/wall?token={operator}").status_code == 401


# -- login -------------------------------------------------------------------------------------
def test_login_sets_safe_cookies_and_audits(client, users, r) -> None:  # type: ignore[no-untyped-def]
    """The session cookie is HttpOnly and SameSite; login and logout are audited."""
    resp = login(client, users["operator"])
    cookies = resp.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in cookies if c.startswith("cityops_session="))
    assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie
    csrf_cookie = next(c for c in cookies if c.startswith("_csrf_token="))
    assert "SameSite=Strict" in csrf_cookie
    logout = client.post("/logout", data={"csrf_token": client.get_cookie("_csrf_token").value},
                         headers=csrf_header(client))
    assert logout.status_code == 302
    assert client.get("/api/v1/me").status_code == 401
    actions = [e.action for e in store.audit.read(r) if e.actor == users["operator"]]
    assert actions[:2] == ["logout", "login"]


def test_login_rotates_the_csrf_token(client, users) -> None:  # type: ignore[no-untyped-def]
    """The anonymous CSRF token is not the one of the signed-in session (no fixation)."""
    client.get("/login")
    before = client.get_cookie("_csrf_token").value
    login(client, users["operator"])
    assert client.get_cookie("_csrf_token").value != before


def test_failures_do_not_tell_whether_the_user_exists(client, users, r) -> None:  # type: ignore[no-untyped-def]
    """Unknown user, wrong password and disabled account get the same answer."""
    accounts.set_disabled(r, users["official"], True)
    answers = set()
    for name, password in (("nobody", PASSWORD), (users["operator"], "wrong password!"),
                           (users["official"], PASSWORD)):
        resp = login(client, name, password, addr=f"10.0.0.{len(answers) + 1}")
        answers.add((resp.status_code, "Wrong user name or password." in resp.get_data(as_text=True)))
    assert answers == {(401, True)}
    assert [e.action for e in store.audit.read(r)][:3] == ["login_failed"] * 3


def test_login_is_throttled_per_user_and_address(client, users, r) -> None:  # type: ignore[no-untyped-def]
    """After 5 failures in 5 minutes for one user from one address, even the right password waits
    there; the same user elsewhere and other users there are not held."""
    for _ in range(signin.PAIR_LIMIT):
        assert login(client, users["operator"], "wrong password!", addr="10.1.0.1").status_code == 401
    resp = login(client, users["operator"], PASSWORD, addr="10.1.0.1")
    assert resp.status_code == 429
    assert int(resp.headers["Retry-After"]) > 0
    assert "login_throttled" in [e.action for e in store.audit.read(r)]
    assert login(client, users["admin"], PASSWORD, addr="10.1.0.1").status_code == 302
    assert login(client, users["operator"], PASSWORD, addr="10.1.0.99").status_code == 302


def test_login_is_throttled_per_address(client, users) -> None:  # type: ignore[no-untyped-def]
    """THROTTLE_LIMIT failures from one address block that address for every user name."""
    for i in range(signin.THROTTLE_LIMIT):
        login(client, f"guess{i}", "wrong password!", addr="10.2.0.1")
    assert login(client, users["admin"], PASSWORD, addr="10.2.0.1").status_code == 429
    assert login(client, users["admin"], PASSWORD, addr="10.2.0.2").status_code == 302


def test_oversized_login_fields_get_a_clear_answer(client, users, r) -> None:  # type: ignore[no-untyped-def]
    """Over-long fields and bodies are refused with a message, never a traceback."""
    client.get("/login")
    token = client.get_cookie("_csrf_token").value
    resp = client.post("/login", data={"username": "a" * 65, "password": PASSWORD,
                                       "csrf_token": token})
    assert resp.status_code == 400 and "too long" in resp.get_data(as_text=True)
    resp = client.post("/login", data={"username": "admin1", "password": "p" * 20000,
                                       "csrf_token": token})
    assert resp.status_code == 413
    huge = client.post("/login", data={"username": "x", "password": "y" * (3 * 1024 * 1024),
                                       "csrf_token": token})
    assert huge.status_code == 413
    assert "Traceback" not in huge.get_data(as_text=True)
    assert store.audit.read(r) == []  # nothing was tried, so nothing was counted


def test_next_parameter_cannot_leave_the_site(client, users) -> None:  # type: ignore[no-untyped-def]
    """Only same-site paths are followed after login."""
    client.get("/login")
    token = client.get_cookie("_csrf_token").value
    for target, expected in (("//evil.example/x", "/"), ("https://evil.example/", "/"),
                             ("/alerts", "/alerts")):
        resp = client.post("/login", data={"username": users["operator"], "password": PASSWORD,
                                           "csrf_token": client.get_cookie("_csrf_token").value
                                           or token, "next": target})
        assert resp.headers["Location"] == expected
        client.post("/logout", data={"csrf_token": client.get_cookie("_csrf_token").value},
                    headers=csrf_header(client))
        client.get("/login")


def test_disabling_or_new_password_ends_open_sessions(client, users, r) -> None:  # type: ignore[no-untyped-def]
    """A session dies when its account is disabled or its password changes."""
    login(client, users["operator"])
    assert client.get("/api/v1/me").status_code == 200
    accounts.set_password(r, users["operator"], "a brand new password")
    assert client.get("/api/v1/me").status_code == 401
    login(client, users["operator"], "a brand new password")
    assert client.get("/api/v1/me").status_code == 200
    accounts.set_disabled(r, users["operator"], True)
    assert client.get("/api/v1/me").status_code == 401


# -- headers and live status ------------------------------------------------------------------
def test_security_headers(client, users) -> None:  # type: ignore[no-untyped-def]
    """A strict CSP and the usual protective headers are on pages and the login page."""
    for resp in (client.get("/login"), (login(client, users["admin"]), client.get("/"))[1]):
        csp = resp.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-eval" not in csp
        assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["X-Frame-Options"] == "DENY"


def test_live_status_answers_no_update_when_nothing_changed(client, users, r) -> None:  # type: ignore[no-untyped-def]
    """The status callback renders once, then 204 until a domain version moves."""
    login(client, users["official"])
    first = client.post("/_dash-update-component", json=LIVE_BODY, headers=csrf_header(client))
    assert first.status_code == 200
    seen = first.json["response"]["live-seen"]["data"]
    again = dict(LIVE_BODY, state=[{"id": "live-seen", "property": "data", "value": seen}])
    assert client.post("/_dash-update-component", json=again,
                       headers=csrf_header(client)).status_code == 204
    store.status.bump_domain_version(r, "water")
    changed = client.post("/_dash-update-component", json=again, headers=csrf_header(client))
    assert changed.status_code == 200
    assert "Water" in changed.get_data(as_text=True)
    assert changed.json["response"]["link-banner"]["hidden"] is True


@contextlib.contextmanager
def redis_away(web_app):  # type: ignore[no-untyped-def]
    """The web app's Redis replaced by an unreachable one for the block."""
    extension = web_app.server.extensions["cityops"]
    working = extension["redis"]
    extension["redis"] = redis.Redis(port=1, socket_connect_timeout=0.2)
    try:
        yield
    finally:
        extension["redis"] = working


def test_live_status_shows_link_lost_while_redis_is_away(client, users, web_app) -> None:  # type: ignore[no-untyped-def]
    """With Redis unreachable the session still works and the banner is shown."""
    login(client, users["official"])
    with redis_away(web_app):
        resp = client.post("/_dash-update-component", json=LIVE_BODY, headers=csrf_header(client))
        assert resp.status_code == 200
        assert resp.json["response"]["link-banner"]["hidden"] is False
    back = client.post("/_dash-update-component", json=LIVE_BODY, headers=csrf_header(client))
    assert back.json["response"]["link-banner"]["hidden"] is True


def test_api_calls_while_redis_is_away_get_503_not_500(client, users, web_app) -> None:  # type: ignore[no-untyped-def]
    """A signed-in API call that finds Redis unreachable: 503 "data link lost", Retry-After."""
    login(client, users["official"])
    with redis_away(web_app):
        resp = client.get("/api/v1/entities/transport")
        assert resp.status_code == 503, resp.data
        assert resp.headers["Retry-After"] == "2" and "lost" in resp.json["error"]
    assert client.get("/api/v1/entities/transport").status_code == 200


@pytest.mark.parametrize("body", [
    "garbage", "[]", "{}", '{"output": "nope.children", "inputs": [], "state": []}',
    '{"output": "..data-as-of.children...link-banner.hidden...live-seen.data..", "inputs": 5}',
])
def test_malformed_callback_requests_get_400(client, users, body: str) -> None:  # type: ignore[no-untyped-def]
    """A broken callback POST is answered 400 with a clear message, never a 500."""
    login(client, users["admin"])
    resp = client.post("/_dash-update-component", data=body,
                       headers={**csrf_header(client), "Content-Type": "application/json"})
    assert resp.status_code == 400
    assert "error" in resp.json


def test_admin_callback_with_wrong_types_stores_nothing(client, users, r) -> None:  # type: ignore[no-untyped-def]
    """Values of the wrong type in a crafted admin POST are refused with a message."""
    login(client, users["admin"])
    body = add_user_body("ignored")
    body["state"][0]["value"] = ["not", "a", "name"]
    resp = client.post("/_dash-update-component", json=body, headers=csrf_header(client))
    assert resp.status_code == 200
    assert "a name is" in resp.get_data(as_text=True)
    assert store.auth.count_users(r) == len(users)


def test_live_status_names_a_stale_feed_and_dims_its_domain(client, users, r) -> None:  # type: ignore[no-untyped-def]
    """A feed past its freshness budget is shown as stale, and so is its domain's data."""
    login(client, users["official"])
    store.status.bump_domain_version(r, "transport")
    store.feeds.write_health(r, "buses", {"domain": "transport", "freshness_budget_s": "30",
                                         "last_success": f"{time.time() - 10:.3f}"})
    fresh = client.post("/_dash-update-component", json=LIVE_BODY, headers=csrf_header(client))
    assert "1 feeds ok" in fresh.get_data(as_text=True)
    assert "(stale)" not in fresh.get_data(as_text=True)
    store.feeds.write_health(r, "buses", {"last_success": f"{time.time() - 60:.3f}"})
    stale = client.post("/_dash-update-component", json=LIVE_BODY, headers=csrf_header(client))
    text = stale.get_data(as_text=True)
    assert "Feed buses: stale since" in text and "Transport" in text and "(stale)" in text


def test_cards_refresh_with_kpis_and_respect_page_roles(client, users, r) -> None:  # type: ignore[no-untyped-def]
    """The overview's cards show stored KPIs; the wall's cards are refused to emergency staff."""
    store.kpis.write(r, "transport", [{"name": "mean_delay", "title": "Mean delay",
                                       "value": 42.0, "unit": "s", "status": "ok",
                                       "target": "<= 120 s", "domain": "transport"}])
    store.status.bump_domain_version(r, "transport")
    overview = callback_body([("overview-tiles", "children")], [("live-seen", "data", [1])])
    wall = callback_body([("wall-tiles", "children"), (ids.WALL_FEEDS, "children"),
                          (ids.WALL_TILES_DRAWN, "data")],
                         [(ids.pulse_part(ids.WALL_TILES, ids.PULSE), "data", {"n": 1})],
                         [(ids.WALL_TILES_DRAWN, "data", None)])
    login(client, users["emergency"])
    resp = client.post("/_dash-update-component", json=overview, headers=csrf_header(client))
    assert resp.status_code == 200
    assert "Mean delay" in resp.get_data(as_text=True) and "42.0 s" in resp.get_data(as_text=True)
    assert client.post("/_dash-update-component", json=wall,
                       headers=csrf_header(client)).status_code == 403


def test_policy_only_on_documents(client, users) -> None:  # type: ignore[no-untyped-def]
    """JSON and 204 answers carry the protective headers but not the (large) document policy."""
    login(client, users["admin"])
    api = client.get("/api/v1/me")
    assert api.status_code == 200 and api.mimetype == "application/json"
    assert "Content-Security-Policy" not in api.headers
    assert api.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" in client.get("/").headers
    quiet = client.post("/_dash-update-component", json=LIVE_BODY, headers=csrf_header(client))
    seen = quiet.get_json()["response"]["live-seen"]["data"]
    body = dict(LIVE_BODY, state=[{"id": "live-seen", "property": "data", "value": seen}])
    nothing = client.post("/_dash-update-component", json=body, headers=csrf_header(client))
    assert nothing.status_code == 204 and "Content-Security-Policy" not in nothing.headers


def _session_cookie_set(response) -> bool:  # type: ignore[no-untyped-def]
    return any(h.startswith(f"{sessions.SESSION_COOKIE}=") for h in response.headers.getlist("Set-Cookie"))


def test_a_session_in_use_slides_without_a_cookie_on_every_request(
        client, users, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Requests right after sign-in carry no new session cookie; once SESSION_REISSUE_S has
    passed, the next request re-issues it (a fresh expiry), and the re-issued cookie works."""
    login(client, users["operator"])
    for _ in range(3):
        response = client.get("/api/v1/me")
        assert response.status_code == 200 and not _session_cookie_set(response)
    monkeypatch.setattr(sessions, "SESSION_REISSUE_S", 0)
    response = client.get("/api/v1/me")
    assert response.status_code == 200 and _session_cookie_set(response)
    monkeypatch.setattr(sessions, "SESSION_REISSUE_S", 300)
    response = client.get("/api/v1/me")
    assert response.status_code == 200 and not _session_cookie_set(response)
