"""Retention of the command center's own records ([retention]): closed alerts and incidents,
settled proposals, shift log entries and handover sheets, dead letters and notices leave the store
once kept long enough; open ones and recent ones stay, whatever their age."""

from __future__ import annotations

import time

import redis

from app import alerts, incidents, retention, store
from app.config import load_settings, updated
from app.model import roles
from app.model.principal import Principal
from app.shifts import duty, handover
from app.store.keys import Keys
from tests.support.incidents import DRILL, person, placed_alert

DAY = 86_400.0


def settings(tmp_path):  # type: ignore[no-untyped-def]
    return updated(load_settings(environ={"CITYOPS_DATA_DIR": str(tmp_path)}),
                   {"retention.alerts_days": 10.0, "retention.incidents_days": 10.0,
                    "retention.shifts_days": 10.0, "retention.dead_letters_days": 2.0,
                    "retention.notices_days": 2.0})


def test_closed_alerts_go_after_their_retention_open_ones_stay(r: redis.Redis, tmp_path) -> None:  # type: ignore[no-untyped-def]
    now = time.time()
    old_closed = placed_alert(r, "old-closed", now=now - 30 * DAY)
    alerts.resolve(r, old_closed, "operator1", now=now - 20 * DAY)
    old_open = placed_alert(r, "old-open", now=now - 30 * DAY)
    recent_closed = placed_alert(r, "recent-closed", now=now - 3 * DAY)
    alerts.resolve(r, recent_closed, "operator1", now=now - 2 * DAY)
    removed = retention.enforce(r, settings(tmp_path), now=now)
    assert removed["alerts"] == 1
    assert alerts.get_alert(r, old_closed) is None
    assert not r.exists(Keys.alert_timeline(old_closed))
    assert alerts.get_alert(r, old_open) is not None and alerts.get_alert(r, recent_closed)
    assert old_closed not in store.alerts.ids(r, limit=100)
    assert retention.enforce(r, settings(tmp_path), now=now)["alerts"] == 0  # nothing more


def test_closed_incidents_go_with_their_tasks_and_timelines(r: redis.Redis, tmp_path) -> None:  # type: ignore[no-untyped-def]
    now = time.time()
    admin = person("ada", roles.ADMIN)
    old = incidents.declare(r, admin, DRILL, title="Old drill", kind="drill", level="IV",
                            lat=28.55, lon=112.36, now=now - 30 * DAY)
    tasks = [t["id"] for t in incidents.incident_tasks(r, old["id"])]
    incidents.change(r, admin, DRILL, old["id"], "status", status="closed", now=now - 20 * DAY)
    open_old = incidents.declare(r, admin, DRILL, title="Still open", kind="drill", level="IV",
                                 lat=28.55, lon=112.36, now=now - 30 * DAY)
    removed = retention.enforce(r, settings(tmp_path), now=now)
    assert removed["incidents"] == 1
    assert incidents.get_incident(r, old["id"]) is None
    assert tasks and all(incidents.get_task(r, t) is None for t in tasks)
    assert not r.exists(Keys.incident_timeline(old["id"]))
    assert incidents.get_incident(r, open_old["id"]) is not None


def test_shift_records_dead_letters_and_notices_are_trimmed(r: redis.Redis, tmp_path) -> None:  # type: ignore[no-untyped-def]
    now = time.time()
    operator = Principal(name="operator1", role="operator")
    # An entry appended "long ago" (a stream id carries the time an entry was added).
    r.xadd(Keys.shifts_log, {"at": f"{now - 20 * DAY}", "actor": "operator1", "kind": "note",
                             "text": "old", "notable": "0"}, id=f"{int((now - 20 * DAY) * 1000)}-0")
    duty.sign_on(r, operator)
    sheet = handover.write(r, operator, now=now - 20 * DAY)["id"]
    duty.write_note(r, operator, "today")
    store.feeds.write_health(r, "buses", {"domain": "transport"})
    r.xadd(Keys.dead_letters("buses"), {"at": "0", "reason": "old", "excerpt": ""},
           id=f"{int((now - 5 * DAY) * 1000)}-0")
    store.feeds.dead_letter(r, "buses", [("today", "")])
    r.xadd(Keys.department_notices("water_bureau"), {"at": "0"},
           id=f"{int((now - 5 * DAY) * 1000)}-0")
    removed = retention.enforce(r, settings(tmp_path), now=now)
    assert removed["shifts"] >= 2 and removed["dead_letters"] == 1 and removed["notices"] == 1
    assert [e["text"] for e in duty.read_log(r) if e["kind"] == "note"] == ["today"]
    assert r.zscore(Keys.shifts_handovers, sheet) is None
    assert [d["reason"] for d in store.feeds.read_dead_letters(r, "buses")] == ["today"]


def test_one_runner_does_the_pass(r: redis.Redis, tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = settings(tmp_path)
    assert retention.tick(r, s, "runner-a") is not None
    assert retention.tick(r, s, "runner-b") is None  # the lease is runner-a's
    assert retention.tick(r, s, "runner-a") is not None
