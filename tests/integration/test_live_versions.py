"""What a page's live parts follow (app/web/live_versions.py): one small answer that moves when,
and only when, what a part shows may have changed."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from app import accounts, alerts, store
from app.web.live_versions import PATH
from tests.support.web import login

pytestmark = pytest.mark.integration


def _read(client: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    resp = client.get(PATH, headers=headers or {})
    assert resp.status_code == 200, resp.data[:200]
    assert resp.headers["Cache-Control"] == "no-store"
    return resp.get_json()


def test_each_part_moves_with_its_own_change_only(client: Any, users: dict[str, str],
                                                  r: redis.Redis) -> None:
    """An alert moves ``alerts``, a domain's new data moves ``status``; nothing else moves with
    them."""
    login(client, users["operator"])
    first = _read(client)
    assert set(first) == {"status", "alerts", "incidents"}
    assert _read(client) == first  # nothing changed, nothing moves
    alerts.raise_alert(r, fingerprint="lv:1", title="Main burst", severity="major",
                       domain="water", source="test")
    after_alert = _read(client)
    assert after_alert["alerts"] != first["alerts"]
    assert after_alert["status"] == first["status"]
    assert after_alert["incidents"] == first["incidents"]
    store.status.bump_domain_version(r, "medical", time.time())
    after_data = _read(client)
    assert after_data["status"] != after_alert["status"]
    assert after_data["alerts"] == after_alert["alerts"]


def test_a_wall_may_ask_and_nobody_unsigned(web_app: Any, r: redis.Redis) -> None:
    """A wall's token reads it; a caller without a session or token gets a 401 in JSON."""
    anonymous = web_app.server.test_client()
    resp = anonymous.get(PATH)
    assert resp.status_code == 401 and resp.is_json
    token = accounts.create_token(r, "lv-wall", "wall")
    answer = _read(web_app.server.test_client(), {"Authorization": f"Bearer {token}"})
    assert isinstance(answer["status"], list) and isinstance(answer["incidents"], int)
