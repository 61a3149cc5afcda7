"""Tokens on /admin (issue 19) through the web app on a real Redis: an admin creates one (its text
shown once, never listed again), the listing says whose and until when, revoking signs its user
out; every other role is refused and nothing is written."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

from app import accounts, audit, store
from app.model import roles
from layouts import ids
from tests.support.security import Snapshot, callback_key, callback_request, session_caller


def _create(web_app: Any, caller: Any, name: object, role: object = roles.WALL,
            days: object = 90) -> tuple[Any, str]:
    key = callback_key(web_app, "layouts.admin_tokens.create")
    body = callback_request(key, web_app.callback_map[key], {
        f"{ids.ADMIN_TOKEN_CREATE}.n_clicks": 1, f"{ids.ADMIN_TOKEN_NAME}.value": name,
        f"{ids.ADMIN_TOKEN_ROLE}.value": role, f"{ids.ADMIN_TOKEN_DAYS}.value": days},
        f"{ids.ADMIN_TOKEN_CREATE}.n_clicks")
    response = caller.call("POST", "/_dash-update-component", body)
    return response, response.get_data(as_text=True)


def _revoke(web_app: Any, caller: Any, token_id: str) -> Any:
    key = callback_key(web_app, "layouts.admin_tokens.revoke")
    spec = web_app.callback_map[key]
    pattern = next(i for i in spec["inputs"] if i["id"].startswith("{"))
    match = {"id": {"type": ids.ADMIN_TOKEN_REVOKE, "token": token_id},
             "property": "submit_n_clicks", "value": 1}
    trigger = json.dumps(match["id"], sort_keys=True, separators=(",", ":")) + ".submit_n_clicks"
    return caller.call("POST", "/_dash-update-component", callback_request(
        key, spec, {f"{pattern['id']}.submit_n_clicks": [match]}, trigger))


def _listing(web_app: Any, caller: Any) -> str:
    key = callback_key(web_app, "layouts.admin_tokens.refresh")
    response = caller.call("POST", "/_dash-update-component",
                           callback_request(key, web_app.callback_map[key],
                                            {f"{ids.ADMIN_REFRESH}.data": 1}))
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_an_admin_creates_lists_and_revokes_a_token(web_app: Any, r: redis.Redis,
                                                     users: dict[str, str]) -> None:
    caller = session_caller(web_app, roles.ADMIN, users["admin"])
    response, text = _create(web_app, caller, "Lobby-Wall", roles.WALL, 30)
    assert response.status_code == 200 and '"ok' in text
    shown = [c for c in response.get_json()["response"][ids.ADMIN_TOKEN_RESULT]["children"]["props"]
             ["children"] if c["props"].get("className") == "admin-token-secret"][0]["props"]["children"]
    principal = accounts.token_principal(r, shown)
    assert principal is not None and (principal.name, principal.role) == ("token:lobby-wall", roles.WALL)
    entry = audit.recent(r, 1)[0]
    assert (entry.actor, entry.action, entry.target) == (users["admin"], "token_create", "lobby-wall")
    listing = _listing(web_app, caller)
    secret = shown.split("_", 2)[2]
    assert "lobby-wall" in listing and users["admin"] in listing and secret not in listing
    assert principal.token_id not in listing.replace(f'"token":"{principal.token_id}"', "")
    # A second live token of that name is refused, with the reason.
    again, text = _create(web_app, caller, "lobby-wall")
    assert '"error' in text and "exists already" in text
    assert _revoke(web_app, caller, principal.token_id).status_code == 200
    assert accounts.token_principal(r, shown) is None
    entry = audit.recent(r, 1)[0]
    assert (entry.action, entry.target) == ("token_revoke", principal.token_id)
    # Revoked: the row offers no revoke button any more, and a stale press says so.
    assert ids.ADMIN_TOKEN_REVOKE not in _listing(web_app, caller)
    stale = _revoke(web_app, caller, principal.token_id).get_data(as_text=True)
    assert '"error' in stale


@pytest.mark.parametrize("values", [
    {"name": None}, {"name": " "}, {"name": "Bad Name"}, {"name": "x" * 65}, {"name": ["x"]},
    {"role": "root"}, {"role": None}, {"days": 0}, {"days": 3651}, {"days": 1.5},
    {"days": "30"}, {"days": True},
])
def test_the_token_form_refuses_bad_values(web_app: Any, raw: redis.Redis, users: dict[str, str],
                                           values: dict[str, Any]) -> None:
    caller = session_caller(web_app, roles.ADMIN, users["admin"])
    sent = dict({"name": "kiosk", "role": roles.WALL, "days": 90}, **values)
    before = Snapshot(raw)
    response, text = _create(web_app, caller, sent["name"], sent["role"], sent["days"])
    assert response.status_code == 200 and '"error' in text, text[:200]
    assert before.written() == []


def test_a_token_without_expiry(web_app: Any, r: redis.Redis, users: dict[str, str]) -> None:
    caller = session_caller(web_app, roles.ADMIN, users["admin"])
    _, text = _create(web_app, caller, "nightly-export", roles.OFFICIAL, None)
    assert '"ok' in text
    assert [t["expires_at"] for t in store.auth.list_tokens(r)] == [""]
    assert "never" in _listing(web_app, caller)


@pytest.mark.parametrize("role", [roles.OPERATOR, roles.EMERGENCY, roles.OFFICIAL])
def test_other_roles_cannot_create_or_revoke_tokens(web_app: Any, r: redis.Redis, raw: redis.Redis,
                                                    users: dict[str, str], role: str) -> None:
    text = accounts.create_token(r, "lobby", roles.WALL)
    caller = session_caller(web_app, role, users[role])
    before = Snapshot(raw)
    assert _create(web_app, caller, "sneaky", roles.ADMIN)[0].status_code == 403
    assert _revoke(web_app, caller, text.split("_")[1]).status_code == 403
    key = callback_key(web_app, "layouts.admin_tokens.refresh")
    assert caller.call("POST", "/_dash-update-component", callback_request(
        key, web_app.callback_map[key], {f"{ids.ADMIN_REFRESH}.data": 1})).status_code == 403
    assert before.written() == []
    assert accounts.token_principal(r, text) is not None
