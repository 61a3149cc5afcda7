"""The bad-request corpus (tests/cases/bad_requests/): each request gets its 4xx, never a 500.

Every case file describes one request and the answer it must get (tests/cases/bad_requests/
README.md): the status, a piece of the error, and nothing written but denied audit entries.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import redis

from app import accounts
from tests.support.paths import REPO
from tests.support.security import Snapshot
from tests.support.web import PASSWORD, csrf_header, login

CASES_DIR = REPO / "tests" / "cases" / "bad_requests"
CASES = sorted(CASES_DIR.glob("*.toml"))
ROLES = ("admin", "operator")


def test_the_corpus_has_every_class_of_issue_17() -> None:
    """The corpus covers each class of bad request the issue names (by the case's file name)."""
    names = " ".join(p.stem for p in CASES)
    for kind in ("surrogate", "nested", "duplicate", "digit", "non_ascii", "control", "bidi",
                 "invisible", "callback", "component", "unknown_api"):
        assert kind in names, kind


@pytest.fixture
def senders(web_app: Any, r: redis.Redis) -> dict[str, Any]:
    """A signed-in session per role the cases use, and an anonymous client with the login
    page's CSRF cookie."""
    found = {}
    for role in ROLES:
        accounts.add_user(r, f"{role}1", role, PASSWORD)
        client = web_app.server.test_client()
        assert login(client, f"{role}1").status_code == 302
        found[role] = client
    anonymous = web_app.server.test_client()
    anonymous.get("/login")
    found["anonymous"] = anonymous
    return found


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_a_bad_request_gets_its_4xx(path: Path, senders: dict[str, Any],
                                    raw: redis.Redis) -> None:
    case = tomllib.loads(path.read_text(encoding="utf-8"))
    client = senders[case["as"]]
    headers = csrf_header(client) if case["as"] != "anonymous" else {}
    headers.update(case.get("headers", {}))
    kwargs: dict[str, Any] = {"method": case["method"], "headers": headers}
    if "json" in case:
        body = case["json"]
        if case.get("repeat"):
            body = case["open"] * case["repeat"] + body + case["close"] * case["repeat"]
        kwargs.update(data=body.encode("utf-8"), content_type="application/json")
    if "form" in case:
        form = dict(case["form"])
        form.setdefault("csrf_token", client.get_cookie("_csrf_token").value)
        kwargs.update(data=form)
    before = Snapshot(raw)
    response = client.open(case["path"], **kwargs)
    assert response.status_code == case["status"], response.get_data(as_text=True)[:300]
    assert case.get("error_contains", "") in response.get_data(as_text=True)
    assert before.written() == []
