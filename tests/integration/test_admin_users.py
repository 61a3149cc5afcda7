"""Administering users in the browser (issue 19): the services behind /admin's user form (role and
domains, password reset, enable and disable, delete) on a real Redis, their refusals, and the
form's callback through the web app for an admin and for every other role."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from app import accounts, audit, store
from app.accounts import admin
from app.model import roles
from app.model.principal import Principal
from layouts import ids
from tests.support.security import Snapshot, callback_key, callback_request, session_caller
from tests.support.web import PASSWORD

CLI = Principal(name="root", role=roles.ADMIN, kind="cli")


def _actor(name: str, role: str = roles.ADMIN) -> Principal:
    return Principal(name=name, role=role)


def _last(r: redis.Redis) -> audit.AuditEntry:
    return audit.recent(r, 1)[0]


def test_role_change_is_audited_and_takes_effect_on_the_next_request(
        r: redis.Redis, users: dict[str, str]) -> None:
    session = accounts.authenticate(r, users["official"], PASSWORD)
    assert session is not None
    admin.set_role(r, _actor(users["admin"]), users["official"], roles.OPERATOR, addr="10.0.0.9")
    entry = _last(r)
    assert (entry.actor, entry.action, entry.target, entry.outcome, entry.addr) == (
        users["admin"], "user_role", users["official"], "ok", "10.0.0.9")
    loaded = accounts.load_session_user(r, session.get_id())
    assert loaded is not None and loaded.role == roles.OPERATOR


@pytest.mark.parametrize("role", [roles.OPERATOR, roles.EMERGENCY, roles.OFFICIAL])
def test_other_roles_are_refused_and_audited(r: redis.Redis, users: dict[str, str], role: str) -> None:
    target = users["official"] if role != roles.OFFICIAL else users["operator"]
    before = store.auth.get_user(r, target)
    actor = _actor(users[role], role)
    for attempt in (lambda: admin.set_role(r, actor, target, roles.ADMIN),
                    lambda: admin.reset_password(r, actor, target),
                    lambda: admin.delete_user(r, actor, target),
                    lambda: admin.set_disabled(r, actor, target, True)):
        with pytest.raises(admin.NotPermitted):
            attempt()
        assert _last(r).outcome == "denied" and _last(r).actor == users[role]
    assert store.auth.get_user(r, target) == before


def test_nobody_changes_their_own_role_or_deletes_themselves(r: redis.Redis,
                                                             users: dict[str, str]) -> None:
    me = _actor(users["admin"])
    with pytest.raises(accounts.AccountError, match="own role"):
        admin.set_role(r, me, users["admin"], roles.OPERATOR)
    with pytest.raises(accounts.AccountError, match="own account"):
        admin.delete_user(r, me, users["admin"])
    assert store.auth.get_user(r, users["admin"])["role"] == roles.ADMIN  # type: ignore[index]


def test_the_last_enabled_admin_stays(r: redis.Redis, users: dict[str, str]) -> None:
    """The command line (an actor without an account) cannot demote or delete the only admin;
    with a second admin it can."""
    only = users["admin"]
    with pytest.raises(admin.LastAdmin):
        admin.set_role(r, CLI, only, roles.OPERATOR)
    with pytest.raises(admin.LastAdmin):
        admin.delete_user(r, CLI, only)
    assert store.auth.get_user(r, only)["role"] == roles.ADMIN  # type: ignore[index]
    # A disabled admin does not count: it cannot sign in to administer anything.
    accounts.add_user(r, "sleeper", roles.ADMIN, PASSWORD)
    accounts.set_disabled(r, "sleeper", True)
    with pytest.raises(admin.LastAdmin):
        admin.set_role(r, CLI, only, roles.OPERATOR)
    accounts.add_user(r, "second", roles.ADMIN, PASSWORD)
    admin.set_role(r, CLI, only, roles.OPERATOR)
    assert store.auth.get_user(r, only)["role"] == roles.OPERATOR  # type: ignore[index]


def test_an_admin_demoted_meanwhile_can_no_longer_act(r: redis.Redis, users: dict[str, str]) -> None:
    """Two admins demoting each other: the second to act finds they are no admin any more (their
    request still carried the role they had), so one admin always remains."""
    accounts.add_user(r, "other", roles.ADMIN, PASSWORD)
    first, second = _actor(users["admin"]), _actor("other")
    admin.set_role(r, first, "other", roles.OPERATOR)
    with pytest.raises(admin.NotPermitted):
        admin.set_role(r, second, users["admin"], roles.OPERATOR)
    assert store.auth.get_user(r, users["admin"])["role"] == roles.ADMIN  # type: ignore[index]


def test_password_reset_shows_a_new_password_once_and_ends_sessions(
        r: redis.Redis, users: dict[str, str]) -> None:
    target = users["operator"]
    session = accounts.authenticate(r, target, PASSWORD)
    assert session is not None
    password = admin.reset_password(r, _actor(users["admin"]), target)
    assert len(password) >= accounts.MIN_PASSWORD_LENGTH
    assert accounts.authenticate(r, target, PASSWORD) is None
    assert accounts.authenticate(r, target, password) is not None
    assert accounts.load_session_user(r, session.get_id()) is None
    entry = _last(r)
    assert (entry.action, entry.target) == ("user_passwd", target)
    assert password not in repr([e.as_json() for e in audit.recent(r, 100)])


def test_delete_ends_sessions_and_a_new_account_of_that_name_starts_afresh(
        r: redis.Redis, users: dict[str, str]) -> None:
    target = users["official"]
    session = accounts.authenticate(r, target, PASSWORD)
    assert session is not None
    copied = session.get_id()
    assert admin.delete_user(r, _actor(users["admin"]), target) == target
    assert store.auth.get_user(r, target) is None
    assert target not in [u["name"] for u in admin.list_users(r)]
    assert accounts.load_session_user(r, copied) is None
    assert (_last(r).action, _last(r).target) == ("user_delete", target)
    # Someone else gets the name: the deleted person's copied cookie must not open their account.
    accounts.add_user(r, target, roles.ADMIN, "another long password")
    assert accounts.load_session_user(r, copied) is None
    fresh = accounts.authenticate(r, target, "another long password")
    assert fresh is not None and accounts.load_session_user(r, fresh.get_id()) is not None
    with pytest.raises(accounts.AccountError, match="no user"):
        admin.delete_user(r, _actor(users["admin"]), "nobody")


# -- the form on /admin --------------------------------------------------------------------------
NAME = "layouts.admin_users.act"


def _press(web_app: Any, caller: Any, button: str, pick: object, role: object = None,
           domains: object = None) -> tuple[Any, str]:
    """Press one of the form's buttons (confirmed ones by their submit count)."""
    key = callback_key(web_app, NAME)
    spec = web_app.callback_map[key]
    prop = "n_clicks" if button in (ids.ADMIN_USER_SAVE, ids.ADMIN_USER_ENABLE) else "submit_n_clicks"
    body = callback_request(key, spec, {
        f"{button}.{prop}": 1, f"{ids.ADMIN_USER_PICK}.value": pick,
        f"{ids.ADMIN_USER_ROLE}.value": role, f"{ids.ADMIN_USER_DOMAINS}.value": domains or []},
        f"{button}.{prop}")
    response = caller.call("POST", "/_dash-update-component", body)
    return response, response.get_data(as_text=True)


def test_each_button_of_the_form_works_for_an_admin(web_app: Any, r: redis.Redis,
                                                    users: dict[str, str]) -> None:
    caller = session_caller(web_app, roles.ADMIN, users["admin"])
    target = users["official"]
    response, text = _press(web_app, caller, ids.ADMIN_USER_SAVE, target, roles.EMERGENCY,
                            ["water", "medical"])
    assert response.status_code == 200 and '"ok' in text
    stored = store.auth.get_user(r, target) or {}
    assert (stored["role"], stored["domains"]) == (roles.EMERGENCY, "water,medical")
    # Another role keeps no domains: they limit emergency staff only.
    _press(web_app, caller, ids.ADMIN_USER_SAVE, target, roles.OFFICIAL, ["water"])
    stored = store.auth.get_user(r, target) or {}
    assert (stored["role"], stored["domains"]) == (roles.OFFICIAL, "")
    _press(web_app, caller, ids.ADMIN_USER_DISABLE, target)
    assert (store.auth.get_user(r, target) or {})["disabled"] == "1"
    _press(web_app, caller, ids.ADMIN_USER_ENABLE, target)
    assert (store.auth.get_user(r, target) or {})["disabled"] == "0"
    response, text = _press(web_app, caller, ids.ADMIN_USER_RESET, target)
    shown = response.get_json()["response"][ids.ADMIN_USER_RESULT]["children"]
    password = shown["props"]["children"][1]["props"]["children"]
    assert accounts.authenticate(r, target, password) is not None
    _press(web_app, caller, ids.ADMIN_USER_DELETE, target)
    assert store.auth.get_user(r, target) is None
    actions = [e.action for e in audit.recent(r, 8) if e.actor == users["admin"]]
    assert actions[:6] == ["user_delete", "user_passwd", "user_enable", "user_disable",
                           "user_domains", "user_role"]


@pytest.mark.parametrize("button", [ids.ADMIN_USER_SAVE, ids.ADMIN_USER_DISABLE,
                                    ids.ADMIN_USER_RESET, ids.ADMIN_USER_DELETE])
def test_the_form_refuses_ones_own_account(web_app: Any, r: redis.Redis, raw: redis.Redis,
                                           users: dict[str, str], button: str) -> None:
    caller = session_caller(web_app, roles.ADMIN, users["admin"])
    before = Snapshot(raw)
    response, text = _press(web_app, caller, button, users["admin"], roles.OPERATOR)
    assert response.status_code == 200 and '"error' in text
    assert before.written() == []


@pytest.mark.parametrize("values", [
    {"pick": None}, {"pick": ""}, {"pick": ["admin1"]}, {"pick": "nobody"},
    {"role": "wall"}, {"role": ["admin"]}, {"role": None}, {"domains": "water"},
    {"domains": ["fire"]}, {"domains": [{"v": 1}]},
])
def test_the_form_refuses_bad_values_with_a_message(web_app: Any, r: redis.Redis, raw: redis.Redis,
                                                    users: dict[str, str],
                                                    values: dict[str, Any]) -> None:
    caller = session_caller(web_app, roles.ADMIN, users["admin"])
    sent = dict({"pick": users["official"], "role": roles.EMERGENCY, "domains": ["water"]}, **values)
    before = Snapshot(raw)
    response, text = _press(web_app, caller, ids.ADMIN_USER_SAVE, sent["pick"], sent["role"],
                            sent["domains"])
    assert response.status_code == 200 and '"error' in text, text[:200]
    assert before.written() == []


@pytest.mark.parametrize("role", [roles.OPERATOR, roles.EMERGENCY, roles.OFFICIAL])
def test_the_form_refuses_other_roles(web_app: Any, r: redis.Redis, raw: redis.Redis,
                                      users: dict[str, str], role: str) -> None:
    caller = session_caller(web_app, role, users[role])
    target = users["operator"] if role != roles.OPERATOR else users["official"]
    for button in (ids.ADMIN_USER_SAVE, ids.ADMIN_USER_ENABLE, ids.ADMIN_USER_DISABLE,
                   ids.ADMIN_USER_RESET, ids.ADMIN_USER_DELETE):
        before = Snapshot(raw)
        response, _ = _press(web_app, caller, button, target, roles.ADMIN)
        assert response.status_code == 403
        assert before.written() == []
    assert caller.call("GET", "/admin").status_code == 403
