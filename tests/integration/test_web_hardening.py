"""The web's hardening against real-world misuse (issue 17, items 9 to 18), one test per defect
and its kind: the login throttle under a parallel burst and guessing from many addresses, the
audit under an anonymous flood, exact public paths, audited role refusals, 4xx instead of 500,
no static folder, wall tokens and sessions, repeated JSON keys and invisible titles, and the
API's own 404 and 405.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from app import accounts, alerts, audit, store
from app.accounts import signin
from app.model.domains import DOMAINS
from tests.support.web import PASSWORD, csrf_header, login

NEW = {"title": "Burst main", "domain": "water", "severity": "major"}


def session(web_app: Any, r: redis.Redis, name: str, role: str, **extra: Any) -> Any:
    accounts.add_user(r, name, role, PASSWORD, **extra)
    client = web_app.server.test_client()
    assert login(client, name).status_code == 302
    return client


def water_alert(r: redis.Redis, fingerprint: str = "w") -> str:
    return alerts.raise_alert(r, fingerprint=fingerprint, title="Low pressure", severity="major",
                              domain="water", source="rule", lat=28.5, lon=112.3).alert_id


# -- 9: a burst of parallel guesses ------------------------------------------------------------------
def test_a_parallel_burst_checks_no_more_passwords_than_the_budget(r: redis.Redis) -> None:
    """Twenty wrong passwords for one user from one address, sent at once: at most PAIR_LIMIT are
    checked (the rest are refused before the check), because each is counted before it is checked."""
    accounts.add_user(r, "burst", "operator", PASSWORD)
    start = threading.Barrier(20)
    results: list[signin.SignIn] = []

    def guess() -> None:
        start.wait()
        results.append(signin.sign_in(r, "burst", "wrong password!", "10.40.0.1"))

    threads = [threading.Thread(target=guess) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    checked = [s for s in results if not s.wait_s]
    assert len(results) == 20 and len(checked) == signin.PAIR_LIMIT
    assert signin.sign_in(r, "burst", PASSWORD, "10.40.0.1").wait_s > 0


# -- 10: anonymous refusals cannot flood the audit ----------------------------------------------------
def test_a_loop_of_bad_display_tokens_is_one_counted_entry(client: Any, r: redis.Redis) -> None:
    """500 bad display tokens from one address: one audit entry with a count of 500; a real event
    written before is still among the newest entries."""
    audit.record(r, "admin1", "user_add", target="someone")
    for i in range(500):
        assert client.get(f"/wall?token=cot_0123456789ab_nope{i}").status_code == 401
    newest = audit.recent(r, 50)
    refusals = [e for e in newest if e.action == "display_login"]
    assert [(e.count, e.outcome, e.addr) for e in refusals] == [(500, "denied", "127.0.0.1")]
    assert any(e.action == "user_add" for e in newest)
    assert r.xlen(store.keys.Keys.audit) == 2


def test_many_addresses_share_a_bounded_number_of_entries(client: Any, r: redis.Redis,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Bad API tokens from 60 addresses with at most 20 windows a window: 20 entries of their own,
    and the other 40 addresses counted in one entry for many addresses."""
    monkeypatch.setattr(audit, "ANON_WINDOWS_MAX", 20)
    for i in range(60):
        response = client.get("/api/v1/me", headers={"Authorization": "Bearer cot_0_x"},
                              environ_base={"REMOTE_ADDR": f"10.50.0.{i}"})
        assert response.status_code == 401
    entries = [e for e in audit.recent(r, 100) if e.action == "token_refused"]
    assert len(entries) == 21
    assert sum(e.count for e in entries) == 60
    assert [e.count for e in entries if e.addr == "*"] == [40]


def test_the_audit_leaves_only_what_an_archive_confirmed(web_app: Any, r: redis.Redis,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Entries go only after an admin took them in an archive and confirmed it: the export lists
    what is not archived yet; confirming removes those past the retention up to the confirmed
    entry, never the newer ones; without a confirmation nothing goes."""
    admin = session(web_app, r, "archivist", "admin")
    headers = csrf_header(admin)
    for i in range(5):
        audit.record(r, "someone", "marker", target=str(i))
    exported = admin.get("/api/v1/audit/archive")
    assert exported.status_code == 200
    lines = exported.get_data(as_text=True).splitlines()
    through = exported.headers["X-CityOps-Archive-Through"]
    assert len(lines) == r.xlen(store.keys.Keys.audit) - 1  # all but the export's own entry
    # An installation that keeps audit entries no time at all past their archive
    # (retention.audit_days, read by the endpoint from the app's settings).
    from app.config import updated
    from app.web.api import admin as admin_api

    with web_app.server.app_context():
        kept = admin_api.settings()
    monkeypatch.setattr(admin_api, "settings", lambda: updated(kept, {"retention.audit_days": 0.0}))
    later = audit.record(r, "someone", "after the archive")
    assert admin.post("/api/v1/audit/archive", json={"through": "1-0"},
                      headers=headers).status_code == 400
    confirmed = admin.post("/api/v1/audit/archive", json={"through": through}, headers=headers)
    assert confirmed.status_code == 200 and confirmed.get_json()["removed"] == len(lines)
    kept = {e.id for e in audit.recent(r, 100)}
    assert later in kept and not any(line.split('"id":"')[1].split('"')[0] in kept for line in lines)
    again = admin.get("/api/v1/audit/archive").get_data(as_text=True)
    assert later in again and f'"id":"{through}"' not in again


# -- 11: guessing cannot lock a person out -----------------------------------------------------------
def test_guessing_from_many_addresses_does_not_lock_out_the_known_device(
        web_app: Any, r: redis.Redis) -> None:
    """Guesses from many addresses (each under its pair budget) spend the user's slow budget:
    new devices then wait with a growing back-off, but the browser the person signed in from
    before still signs in; an admin can lift the back-off at once."""
    accounts.add_user(r, "target", "operator", PASSWORD)
    own = web_app.server.test_client()
    assert login(own, "target", addr="10.60.0.1").status_code == 302
    attempts = 0
    while attempts < signin.USER_LIMIT:
        login(web_app.server.test_client(), "target", "wrong password!", addr=f"10.61.0.{attempts}")
        attempts += 1
    held = login(web_app.server.test_client(), "target", "wrong password!", addr="10.61.1.1")
    assert held.status_code == 429
    level, remaining = store.auth.backoff(r, "target", time.time())
    assert level == 1 and 0 < remaining <= signin.BACKOFF_BASE_S
    new_device = web_app.server.test_client()
    assert login(new_device, "target", addr="10.62.0.1").status_code == 429
    assert login(own, "target", addr="10.60.0.2").status_code == 302  # the known device
    admin = session(web_app, r, "unlocker", "admin")
    for i in range(signin.USER_LIMIT + 1):
        login(web_app.server.test_client(), "target", "wrong password!", addr=f"10.63.0.{i}")
    level, remaining = store.auth.backoff(r, "target", time.time())
    assert level == 1  # the known device's success ended the first back-off
    lifted = admin.post("/api/v1/users/target/unlock", json={}, headers=csrf_header(admin))
    assert lifted.status_code == 200 and lifted.get_json()["lifted"] is True
    assert login(new_device, "target", addr="10.62.0.1").status_code == 302
    assert [e.action for e in audit.recent(r, 5)].count("login_unlock") == 1


def test_the_back_off_doubles(r: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each spent slow budget backs off twice as long as the one before."""
    monkeypatch.setattr(signin, "USER_LIMIT", 1)
    monkeypatch.setattr(signin, "BACKOFF_BASE_S", 1)
    waits = []
    for round_ in range(3):
        assert signin.sign_in(r, "nobody", "x", f"10.64.{round_}.1").wait_s == 0
        waits.append(signin.sign_in(r, "nobody", "x", f"10.64.{round_}.2").wait_s)
        # End this back-off's hold but keep its level, as time passing would.
        r.hset(store.keys.Keys.login_backoff("nobody"), "until", "0")
    assert waits == [1, 2, 4]


# -- 12: public paths match exactly --------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/login/anything", "/login/x/y", "/login/", "/healthz/x"])
def test_paths_under_public_ones_are_not_public(client: Any, path: str) -> None:
    """Only /login, /login/login.css and /healthz are public; Dash's catch-all under them is not."""
    response = client.get(path)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?")


# -- 13: role refusals are audited ---------------------------------------------------------------------
def test_role_refusals_are_audited(web_app: Any, r: redis.Redis) -> None:
    """An official acknowledging and a wall token posting get 403, and each refusal is in the
    audit log with who and from where."""
    alert_id = water_alert(r)
    official = session(web_app, r, "reader", "official")
    response = official.post(f"/api/v1/alerts/{alert_id}/ack", json={},
                             headers=csrf_header(official))
    assert response.status_code == 403
    token = accounts.create_token(r, "lobby", "wall")
    wall = web_app.server.test_client()
    assert wall.post("/api/v1/alerts", json=NEW,
                     headers={"Authorization": f"Bearer {token}"}).status_code == 403
    denied = [(e.actor, e.action, e.outcome) for e in audit.recent(r, 10) if e.outcome == "denied"]
    assert ("reader", "refused", "denied") in denied
    assert ("token:lobby", "refused", "denied") in denied


# -- 14: 4xx, never 500 ------------------------------------------------------------------------------
def test_a_next_with_cr_lf_neither_fails_nor_half_signs_in(client: Any, r: redis.Redis) -> None:
    """CR/LF in next: the sign-in goes to / (no 500, no header injection)."""
    accounts.add_user(r, "crlf", "operator", PASSWORD)
    client.get("/login")
    token = client.get_cookie("_csrf_token").value
    response = client.post("/login", data={"username": "crlf", "password": PASSWORD,
                                           "csrf_token": token, "next": "/alerts\r\nX-Evil: 1"})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "X-Evil" not in response.headers


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e400", "²"])
def test_wall_rotate_takes_any_value(web_app: Any, r: redis.Redis, value: str) -> None:
    """/wall?rotate=inf (and other non-numbers) renders the wall without rotation."""
    from layouts.wall import rotate_seconds

    assert rotate_seconds(value) == 0


# -- 15: no static folder ------------------------------------------------------------------------------
def test_flask_serves_no_static_folder(web_app: Any, r: redis.Redis, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """No /static route: a file under ./static of the working directory is never served."""
    assert "static" not in web_app.server.view_functions
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "secret.txt").write_text("do not serve")
    monkeypatch.chdir(tmp_path)
    operator = session(web_app, r, "looker", "operator")
    assert b"do not serve" not in operator.get("/static/secret.txt").data


# -- 16: wall tokens and people's sessions ----------------------------------------------------------
def test_a_wall_link_never_replaces_a_persons_session(web_app: Any, r: redis.Redis) -> None:
    """An operator who opens a /wall?token= link stays signed in as themselves (409, audited)."""
    operator = session(web_app, r, "oper", "operator")
    token = accounts.create_token(r, "lobby-2", "wall")
    response = operator.get(f"/wall?token={token}")
    assert response.status_code == 409
    assert operator.get("/api/v1/me").get_json()["name"] == "oper"
    assert any(e.action == "display_login" and e.actor == "oper" for e in audit.recent(r, 5))


def test_a_mistyped_wall_url_keeps_the_token_out_of_the_login_url(client: Any,
                                                                  r: redis.Redis) -> None:
    """/wall/?token= opens the display too; a token on any other path is dropped from next."""
    token = accounts.create_token(r, "lobby-3", "wall")
    opened = client.get(f"/wall/?token={token}&rotate=30")
    assert opened.status_code == 302 and opened.headers["Location"] == "/wall?rotate=30"
    anonymous = client.application.test_client()
    sent = anonymous.get(f"/alerts?token={token}&x=1")
    assert sent.status_code == 302 and token not in sent.headers["Location"]
    assert "x%3D1" in sent.headers["Location"]


def test_emergency_staff_without_domains_act_on_every_domain(web_app: Any, r: redis.Redis) -> None:
    """No domains means all: /me lists every domain and every domain's alert may be acted on."""
    medic = session(web_app, r, "medic", "emergency")
    assert medic.get("/api/v1/me").get_json()["domains"] == list(DOMAINS)
    alert_id = water_alert(r, "any-domain")
    assert medic.post(f"/api/v1/alerts/{alert_id}/ack", json={},
                      headers=csrf_header(medic)).status_code == 200
    limited = session(web_app, r, "medic2", "emergency", domains=("medical",))
    assert limited.get("/api/v1/me").get_json()["domains"] == ["medical"]


# -- 17: repeated keys, invisible and bidirectional text --------------------------------------------
@pytest.mark.parametrize(("body", "field"), [
    (b'{"title":"a","title":"b","domain":"water","severity":"major"}', "title"),
    (b'{"title":"\\u200b\\u200b","domain":"water","severity":"major"}', "title"),
    (b'{"title":"\\u3164","domain":"water","severity":"major"}', "title"),
    (b'{"title":"pay \\u202etxt.exe","domain":"water","severity":"major"}', "title"),
    (b'{"title":"ok","domain":"water","severity":"major","description":"\\u2066x"}', "description"),
])
def test_repeated_keys_and_invisible_or_reordering_text_are_refused(
        web_app: Any, r: redis.Redis, body: bytes, field: str) -> None:
    """400 naming the field, and no alert is raised."""
    operator = session(web_app, r, "typist", "operator")
    response = operator.post("/api/v1/alerts", data=body, content_type="application/json",
                             headers=csrf_header(operator))
    assert response.status_code == 400 and f"'{field}'" in response.get_json()["error"]
    assert alerts.list_alerts(r) == []


# -- 18: the API's own 404 and 405 ------------------------------------------------------------------
@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/api/v1/nothing", 404), ("GET", "/api/v2/alerts", 404), ("GET", "/api/", 404),
    ("POST", "/api/v1/nothing", 404), ("GET", "/api/v1/entities/water/extra", 404),
    ("DELETE", "/api/v1/me", 405), ("PUT", "/api/v1/alerts", 405), ("GET", "/_dash-nothing", 404),
])
def test_unserved_api_paths_are_json_errors(web_app: Any, r: redis.Redis, method: str, path: str,
                                            status: int) -> None:
    """Anything under /api/ (and Dash's own prefixes) that no route serves is a JSON 404, and a
    wrong method on a served path a JSON 405, never Dash's page with 200."""
    operator = session(web_app, r, "poller", "operator")
    response = operator.open(path, method=method, headers=csrf_header(operator))
    assert response.status_code == status and response.is_json and "error" in response.get_json()
