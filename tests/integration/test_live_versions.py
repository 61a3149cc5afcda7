"""What a page's live parts follow (app/web/live_versions.py): one small answer that moves when,
and only when, what a part shows may have changed."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from app import accounts, alerts, store
from app.web.live_versions import PATH, app_version
from tests.support.web import login

pytestmark = pytest.mark.integration


def _read(client: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    resp = client.get(PATH, headers=headers or {})
    assert resp.status_code == 200, resp.data[:200]
    assert resp.headers["Cache-Control"] == "no-store"
    return resp.get_json()


def test_each_part_moves_with_its_own_change_only(client: Any, users: dict[str, str],
                                                  r: redis.Redis) -> None:
    """An alert moves ``alerts``; a domain's new data moves ``status`` and its time, and
    ``shown`` (what the strip shows apart from times) only when the domain had no data before;
    new KPIs move ``kpis`` only when they say something new, not when merely recomputed."""
    login(client, users["operator"])
    first = _read(client)
    assert set(first) == {"app", "status", "shown", "kpis", "alerts", "incidents", "times"}
    # The wall's heartbeat: the version a wall compares with the one its page came with.
    assert first["app"] == app_version() and len(first["app"]) == 16
    assert _read(client) == first  # nothing changed, nothing moves
    alerts.raise_alert(r, fingerprint="lv:1", title="Main burst", severity="major",
                       domain="water", source="test")
    after_alert = _read(client)
    assert after_alert["alerts"] != first["alerts"]
    assert {k: v for k, v in after_alert.items() if k != "alerts"} == {
        k: v for k, v in first.items() if k != "alerts"}
    now = time.time()
    store.status.bump_domain_version(r, "medical", now)
    first_data = _read(client)
    assert first_data["status"] != after_alert["status"] and first_data["shown"] != after_alert["shown"]
    assert first_data["times"]["medical"] == pytest.approx(now, abs=0.01)
    assert first_data["alerts"] == after_alert["alerts"] and first_data["kpis"] == after_alert["kpis"]
    store.status.bump_domain_version(r, "medical", now + 1)
    more_data = _read(client)
    assert more_data["status"] != first_data["status"] and more_data["shown"] == first_data["shown"]
    assert more_data["times"]["medical"] == pytest.approx(now + 1, abs=0.01)
    kpi = {"name": "beds_available", "domain": "medical", "value": 12, "status": "ok",
           "computed_at": now, "subject": None}
    store.kpis.write(r, "medical", [kpi], history_days=0)
    with_kpis = _read(client)
    assert with_kpis["kpis"] != more_data["kpis"] and with_kpis["status"] == more_data["status"]
    store.kpis.write(r, "medical", [{**kpi, "computed_at": now + 5}], history_days=0)
    assert _read(client)["kpis"] == with_kpis["kpis"]  # recomputed, saying the same
    store.kpis.write(r, "medical", [{**kpi, "value": 11}], history_days=0)
    assert _read(client)["kpis"] != with_kpis["kpis"]


def test_a_wall_may_ask_and_nobody_unsigned(web_app: Any, r: redis.Redis) -> None:
    """A wall's token reads it; a caller without a session or token gets a 401 in JSON."""
    anonymous = web_app.server.test_client()
    resp = anonymous.get(PATH)
    assert resp.status_code == 401 and resp.is_json
    token = accounts.create_token(r, "lv-wall", "wall")
    answer = _read(web_app.server.test_client(), {"Authorization": f"Bearer {token}"})
    assert isinstance(answer["status"], list) and isinstance(answer["incidents"], int)
