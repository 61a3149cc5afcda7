"""The audit log on /admin (issue 19): filtered by who, what and since when, paged back from the
newest without gaps or repeats; actions and outcomes in words in both languages (every action the
code records has its words), times in the city's zone, never epoch seconds; admins only."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from app import audit, i18n
from app.model import roles
from layouts import admin_audit, ids
from tests.support.security import Snapshot, callback_key, callback_request, session_caller

REPO = Path(__file__).resolve().parents[2]
NAME = "layouts.admin_audit.show"


def _fill(r: redis.Redis, count: int) -> None:
    for n in range(count):
        audit.record(r, "alice" if n % 2 else "bob", "user_add" if n % 3 else "token_create",
                     target=f"t{n}")


def test_search_pages_back_without_gaps_or_repeats(r: redis.Redis) -> None:
    _fill(r, 120)
    seen, before, pages = [], "", 0
    while True:
        entries, before = audit.search(r, before=before, limit=50)
        seen += [e.target for e in entries]
        pages += 1
        if not before:
            break
    assert pages == 3 and seen == [f"t{n}" for n in reversed(range(120))]


def test_search_filters_by_actor_action_and_time(r: redis.Redis) -> None:
    _fill(r, 30)
    entries, more = audit.search(r, actor="ALI", action="user_add", limit=100)
    assert more == "" and entries
    assert all(e.actor == "alice" and e.action == "user_add" for e in entries)
    assert len(entries) == len([n for n in range(30) if n % 2 and n % 3])
    assert audit.search(r, since=time.time() + 60)[0] == []
    assert len(audit.search(r, since=time.time() - 3600, limit=100)[0]) == 30


def _show(web_app: Any, caller: Any, actor: object = None, action: object = None,
          window: object = "all", older: bool = False, page: object = None) -> Any:
    key = callback_key(web_app, NAME)
    trigger = f"{ids.ADMIN_AUDIT_OLDER}.n_clicks" if older else f"{ids.ADMIN_AUDIT_ACTOR}.value"
    return caller.call("POST", "/_dash-update-component", callback_request(
        key, web_app.callback_map[key], {
            f"{ids.ADMIN_AUDIT_ACTOR}.value": actor, f"{ids.ADMIN_AUDIT_ACTION}.value": action,
            f"{ids.ADMIN_AUDIT_WINDOW}.value": window,
            f"{ids.ADMIN_AUDIT_OLDER}.n_clicks": 1 if older else None,
            f"{ids.ADMIN_AUDIT_PAGE}.data": page}, trigger))


@pytest.mark.parametrize("lang, signed_in, added, done", [
    ("en", "signed in", "added a user", "done"), ("zh", "登录", "添加用户", "成功")])
def test_the_page_shows_words_and_local_times(web_app: Any, r: redis.Redis, users: dict[str, str],
                                              lang: str, signed_in: str, added: str, done: str) -> None:
    _fill(r, 60)
    caller = session_caller(web_app, roles.ADMIN, users["admin"])
    caller.client.set_cookie(i18n.COOKIE, lang)
    response = _show(web_app, caller)
    assert response.status_code == 200
    body = response.get_json()["response"]
    text = str(body[ids.ADMIN_AUDIT]["children"])
    assert added in text and done in text and "user_add" not in text
    assert not re.search(r"\b1[0-9]{9}\b", text)  # no epoch seconds
    assert body[ids.ADMIN_AUDIT_OLDER]["disabled"] is False
    older = _show(web_app, caller, older=True, page=body[ids.ADMIN_AUDIT_PAGE]["data"])
    second = older.get_json()["response"]
    assert second[ids.ADMIN_AUDIT_PAGE]["data"]["page"] == 2
    assert "t9'" in str(second[ids.ADMIN_AUDIT]["children"]) or "t9\"" in str(
        second[ids.ADMIN_AUDIT]["children"])
    mine = _show(web_app, caller, actor=users["admin"], action="login").get_json()["response"]
    assert signed_in in str(mine[ids.ADMIN_AUDIT]["children"])
    assert "alice" not in str(mine[ids.ADMIN_AUDIT]["children"])


@pytest.mark.parametrize("values", [
    {"actor": "x" * 65}, {"actor": ["alice"]}, {"action": "drop_table"}, {"action": 5},
    {"window": "forever"}, {"window": None},
])
def test_bad_filters_get_a_message(web_app: Any, raw: redis.Redis, users: dict[str, str],
                                   values: dict[str, Any]) -> None:
    caller = session_caller(web_app, roles.ADMIN, users["admin"])
    before = Snapshot(raw)
    response = _show(web_app, caller, **values)
    assert response.status_code == 200 and '"error' in response.get_data(as_text=True)
    assert before.written() == []


@pytest.mark.parametrize("role", [roles.OPERATOR, roles.EMERGENCY, roles.OFFICIAL])
def test_only_admins_read_the_log(web_app: Any, users: dict[str, str], role: str) -> None:
    assert _show(web_app, session_caller(web_app, role, users[role])).status_code == 403


def _recorded_actions() -> set[str]:
    """Every action the code records by name (audit.record, record_quietly, refuse_anonymous and
    the incident service's record), found in the source."""
    pattern = re.compile(r"(?:record(?:_quietly)?|refuse_anonymous|settle)\(\s*r,[^,()]+,\s*\"([a-z_]+)\"")
    found = set()
    for path in (REPO / "app").rglob("*.py"):
        found |= set(pattern.findall(path.read_text(encoding="utf-8")))
    return found


def test_every_recorded_action_has_words_in_both_languages() -> None:
    recorded = _recorded_actions()
    assert {"login", "user_add", "token_create", "display_pair"} <= recorded
    steps = {f"{kind}_{step}" for kind, names in admin_audit.KINDS.items() for step in names}
    for lang in ("en", "zh"):
        with i18n.use_language(lang):
            for code in recorded | steps | set(admin_audit.NAMED_ACTIONS):
                words = admin_audit.action_words(code)
                assert words != code.replace("_", " "), (lang, code)  # not the fallback
                if lang == "zh":  # Chinese words (names such as CAP and Webhook aside)
                    assert not re.search(r"[a-z]{3,}", words.replace("Webhook", "")), (code, words)
    assert recorded <= set(admin_audit.NAMED_ACTIONS) | steps | {"user_disable", "user_enable"}
