"""Pairing a wall display by a short code (issue 19) through the web app on a real Redis: the display
opens /pair and shows a code, an admin confirms it on /admin, the display alone is signed in to
/wall, once; codes expire, are rate-limited per address, and only admins may confirm them."""

from __future__ import annotations

import re
from typing import Any

import pytest
import redis

from app import audit, store
from app.accounts import pairing
from app.model import roles
from app.store import pairing as pairing_store
from app.store.keys import Keys
from layouts import ids
from tests.support.security import Snapshot, callback_key, callback_request, session_caller
from tests.support.waiting import wait_for

KIOSK = "198.51.100.7"


def _code_of(response: Any) -> str:
    """The code a /pair page shows (ABCD-EFGH)."""
    found = re.search(r'id="pair-code"[^>]*>([A-Z0-9-]+)<', response.get_data(as_text=True))
    assert found, response.get_data(as_text=True)[:300]
    return found.group(1)


def _kiosk(web_app: Any, addr: str = KIOSK) -> Any:
    client = web_app.server.test_client()
    client.environ_base["REMOTE_ADDR"] = addr
    return client


def _confirm(web_app: Any, caller: Any, code: object, name: object = "lobby-wall",
             days: object = 90) -> tuple[Any, str]:
    key = callback_key(web_app, "layouts.admin_tokens.pair")
    response = caller.call("POST", "/_dash-update-component", callback_request(
        key, web_app.callback_map[key], {
            f"{ids.ADMIN_PAIR}.n_clicks": 1, f"{ids.ADMIN_PAIR_CODE}.value": code,
            f"{ids.ADMIN_PAIR_NAME}.value": name, f"{ids.ADMIN_PAIR_DAYS}.value": days},
        f"{ids.ADMIN_PAIR}.n_clicks"))
    return response, response.get_data(as_text=True)


def test_a_display_is_paired_by_the_code_it_shows(web_app: Any, r: redis.Redis,
                                                  users: dict[str, str]) -> None:
    kiosk = _kiosk(web_app)
    first = kiosk.get("/pair")
    assert first.status_code == 200 and 'http-equiv="refresh"' in first.get_data(as_text=True)
    cookie = first.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/pair" in cookie
    code = _code_of(first)
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}", code)
    assert _code_of(kiosk.get("/pair")) == code  # waiting: the same code again
    assert kiosk.get("/wall").status_code == 302  # not signed in yet
    admin = session_caller(web_app, roles.ADMIN, users["admin"])
    # Typed as a person might: lower case, a space instead of the hyphen.
    response, text = _confirm(web_app, admin, f" {code.lower().replace('-', ' ')} ")
    assert response.status_code == 200 and '"ok' in text and "lobby-wall" in text
    signed_in = kiosk.get("/pair")
    assert signed_in.status_code == 302 and signed_in.headers["Location"].endswith("/wall")
    assert kiosk.get("/wall").status_code == 200
    assert kiosk.get("/api/v1/me").status_code == 403  # a wall display: the wall page only
    actions = [(e.actor, e.action, e.outcome) for e in audit.recent(r, 5)]
    assert ("token:lobby-wall", "display_login", "ok") in actions
    assert (users["admin"], "display_pair", "ok") in actions
    assert (users["admin"], "token_create", "ok") in actions
    # Used up: the same code cannot pair a second display, and no other token is made.
    again, text = _confirm(web_app, admin, code, "second-wall")
    assert '"error' in text
    assert [t["name"] for t in store.auth.list_tokens(r)] == ["lobby-wall"]


def test_only_the_display_that_opened_the_code_is_signed_in(web_app: Any, r: redis.Redis,
                                                            users: dict[str, str]) -> None:
    kiosk, thief = _kiosk(web_app), _kiosk(web_app, "203.0.113.9")
    code = _code_of(kiosk.get("/pair"))
    _confirm(web_app, session_caller(web_app, roles.ADMIN, users["admin"]), code)
    # Someone who read the code off the wall plants it with a secret of their own.
    thief.set_cookie("cityops_pair", f"{code.replace('-', '')}.{'x' * 43}", path="/pair")
    answer = thief.get("/pair")
    assert answer.status_code == 200 and _code_of(answer) != code
    assert thief.get("/wall").status_code == 302
    assert kiosk.get("/pair").status_code == 302 and kiosk.get("/wall").status_code == 200


def test_a_code_expires(web_app: Any, r: redis.Redis, users: dict[str, str]) -> None:
    kiosk = _kiosk(web_app)
    code = _code_of(kiosk.get("/pair")).replace("-", "")
    key = Keys.pairing(code)
    assert 0 < r.ttl(key) <= pairing.PAIRING_TTL_S
    r.pexpire(key, 1)  # as if the ten minutes were over
    assert wait_for(lambda: not r.exists(key))
    response, text = _confirm(web_app, session_caller(web_app, roles.ADMIN, users["admin"]), code)
    assert '"error' in text and store.auth.list_tokens(r) == []
    assert _code_of(kiosk.get("/pair")).replace("-", "") != code  # the display shows a new one


def test_opening_codes_is_rate_limited_per_address(web_app: Any, r: redis.Redis) -> None:
    for _ in range(pairing.OPENS_PER_WINDOW):
        assert _kiosk(web_app).get("/pair").status_code == 200
    refused = _kiosk(web_app).get("/pair")
    assert refused.status_code == 429 and "cityops_pair" not in refused.headers.get("Set-Cookie", "")
    assert _kiosk(web_app, "198.51.100.8").get("/pair").status_code == 200
    entry = audit.recent(r, 1)[0]
    assert (entry.action, entry.addr) != ("display_pair_throttled", "198.51.100.8")
    assert any(e.action == "display_pair_throttled" and e.addr == KIOSK for e in audit.recent(r, 20))


def test_a_person_signed_in_is_not_replaced_by_a_display(web_app: Any, users: dict[str, str]) -> None:
    person = session_caller(web_app, roles.OPERATOR, users["operator"])
    assert person.client.get("/pair").status_code == 409
    assert person.client.get("/api/v1/me").get_json()["name"] == users["operator"]


@pytest.mark.parametrize("values", [
    {"code": None}, {"code": ""}, {"code": "ABCD"}, {"code": "ABCD-EFG0"}, {"code": ["ABCDEFGH"]},
    {"code": "x" * 41}, {"name": None}, {"name": "Bad Name"}, {"name": 5}, {"days": 0},
    {"days": "30"}, {"days": True},
])
def test_the_pairing_form_refuses_bad_values(web_app: Any, r: redis.Redis, raw: redis.Redis,
                                             users: dict[str, str], values: dict[str, Any]) -> None:
    opened = pairing.open_request(r, KIOSK)
    assert opened is not None
    sent = dict({"code": opened.code, "name": "lobby-wall", "days": 90}, **values)
    admin = session_caller(web_app, roles.ADMIN, users["admin"])
    before = Snapshot(raw)
    response, text = _confirm(web_app, admin, sent["code"], sent["name"], sent["days"])
    assert response.status_code == 200 and '"error' in text, text[:200]
    assert [k for k in before.written() if not k.startswith("co:{audit}")] == []
    assert store.auth.list_tokens(r) == []


@pytest.mark.parametrize("role", [roles.OPERATOR, roles.EMERGENCY, roles.OFFICIAL])
def test_only_admins_confirm_codes(web_app: Any, r: redis.Redis, raw: redis.Redis,
                                   users: dict[str, str], role: str) -> None:
    opened = pairing.open_request(r, KIOSK)
    assert opened is not None
    caller = session_caller(web_app, role, users[role])
    before = Snapshot(raw)
    response, _ = _confirm(web_app, caller, opened.code)
    assert response.status_code == 403 and before.written() == []
    with pytest.raises(pairing.admin.NotPermitted):
        pairing.confirm(r, pairing.Principal(name=users[role], role=role), opened.code, "x")
    assert store.auth.list_tokens(r) == [] and pairing_store.get_request(r, opened.code) is not None
