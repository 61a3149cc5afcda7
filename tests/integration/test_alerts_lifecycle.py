"""The alert lifecycle on a real redis-server: dedup, reopen, ack, assign, note, resolve, races."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import redis

from app import alerts, store
from app.model.geo import point_in_area
from app.model.principal import Principal
from app.store.link import connect

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC
SQUARE = {"type": "Polygon", "coordinates": [[[112.0, 28.0], [113.0, 28.0], [113.0, 29.0],
                                              [112.0, 29.0], [112.0, 28.0]]]}


def _raise(r: redis.Redis, fingerprint: str = "rule:zone_pressure_low:north", *,
           severity: str = "major", domain: str = "water", now: float = T0,
           **extra: Any) -> alerts.Raised:
    fields: dict[str, Any] = {"title": "Low pressure in zone north", "source": "rule",
                              "rule": "zone_pressure_low", "entity": "north"} | extra
    return alerts.raise_alert(r, fingerprint=fingerprint, severity=severity, domain=domain,
                              now=now, **fields)


def _alert(r: redis.Redis, alert_id: str) -> dict[str, Any]:
    alert = alerts.get_alert(r, alert_id)
    assert alert is not None
    return alert


def test_raise_creates_then_dedups_by_fingerprint(r: redis.Redis) -> None:
    """The same fingerprint is the same alert: a repeat bumps count and last_seen only."""
    first = _raise(r, now=T0)
    assert (first.outcome, first.state) == ("created", "active_unack")
    again = _raise(r, now=T0 + 30)
    assert again.alert_id == first.alert_id and again.outcome == "repeated"
    alert = _alert(r, first.alert_id)
    assert alert["count"] == 2
    assert alert["first_seen"] == pytest.approx(T0) and alert["last_seen"] == pytest.approx(T0 + 30)
    assert alert["state"] == "active_unack"
    other = _raise(r, "rule:zone_pressure_low:south", now=T0 + 31)
    assert other.alert_id != first.alert_id
    assert [e["action"] for e in alerts.timeline(r, first.alert_id)] == ["raised", "repeated"]


def test_ack_then_second_ack_is_told_who_and_when(r: redis.Redis) -> None:
    """The first acknowledgement wins; the second learns who acknowledged and when."""
    alert_id = _raise(r).alert_id
    acked = alerts.acknowledge(r, alert_id, "ada", note="on my way", addr="10.0.0.5", now=T0 + 60)
    assert acked["state"] == "active_ack"
    assert (acked["acked_by"], acked["ack_note"]) == ("ada", "on my way")
    with pytest.raises(alerts.Conflict) as caught:
        alerts.acknowledge(r, alert_id, "bob", now=T0 + 61)
    assert caught.value.by == "ada" and caught.value.at == pytest.approx(T0 + 60)
    entry = alerts.timeline(r, alert_id)[-1]
    assert entry == {"at": pytest.approx(T0 + 60), "actor": "ada", "action": "ack",
                     "addr": "10.0.0.5", "state": "active_ack", "detail": "on my way"}


def test_cleared_condition_that_returns_reopens_the_same_alert(r: redis.Redis) -> None:
    """active_ack -> cleared_ack on clear; the condition's return reopens it unacknowledged."""
    alert_id = _raise(r, now=T0).alert_id
    alerts.acknowledge(r, alert_id, "ada", now=T0 + 10)
    assert alerts.clear(r, alert_id, now=T0 + 20)
    closed = _alert(r, alert_id)
    assert closed["state"] == "cleared_ack" and closed["closed_by"] == alerts.SYSTEM_ACTOR
    assert alert_id not in store.alerts.ids(r, open_only=True)
    reopened = _raise(r, now=T0 + 30)
    assert (reopened.alert_id, reopened.outcome, reopened.state) == (alert_id, "reopened",
                                                                    "active_unack")
    alert = _alert(r, alert_id)
    assert alert["count"] == 2 and alert["acked_by"] == "" and alert["opened_at"] == pytest.approx(T0 + 30)
    assert alert_id in store.alerts.ids(r, open_only=True)
    actions = [e["action"] for e in alerts.timeline(r, alert_id)]
    assert actions == ["raised", "ack", "clear", "reopened"]


def test_unacknowledged_clear_waits_for_an_ack(r: redis.Redis) -> None:
    """active_unack -> cleared_unack; acknowledging it then closes it (cleared_ack)."""
    alert_id = _raise(r).alert_id
    assert alerts.clear(r, alert_id, now=T0 + 5)
    assert _alert(r, alert_id)["state"] == "cleared_unack"
    assert not alerts.clear(r, alert_id, now=T0 + 6), "clearing twice changes nothing"
    closed = alerts.acknowledge(r, alert_id, "ada", now=T0 + 7)
    assert closed["state"] == "cleared_ack" and closed["closed_by"] == "ada"


def test_assign_claim_conflict_and_reassign(r: redis.Redis) -> None:
    """A claim wins once; a reassignment must name the assignee the caller saw."""
    alert_id = _raise(r).alert_id
    assert alerts.assign(r, alert_id, "ada", "ada", now=T0 + 1)["assignee"] == "ada"
    with pytest.raises(alerts.Conflict) as caught:
        alerts.assign(r, alert_id, "bob", "bob", now=T0 + 2)
    assert caught.value.by == "ada" and caught.value.at == pytest.approx(T0 + 1)
    assert "ada" in caught.value.why
    with pytest.raises(alerts.Conflict):
        alerts.assign(r, alert_id, "bob", "ada", expected="", now=T0 + 3)  # already ada's
    moved = alerts.assign(r, alert_id, "bob", "carol", expected="ada", now=T0 + 4)
    assert (moved["assignee"], moved["assigned_by"]) == ("carol", "bob")
    alerts.resolve(r, alert_id, "carol", now=T0 + 5)
    with pytest.raises(alerts.Conflict) as closed:
        alerts.assign(r, alert_id, "bob", "bob", expected="carol", now=T0 + 6)
    assert closed.value.by == "carol"


def test_notes_resolve_and_the_closed_alert(r: redis.Redis) -> None:
    """Notes land in the timeline; resolve closes once; ack on a closed alert conflicts."""
    alert_id = _raise(r).alert_id
    alerts.add_note(r, alert_id, "ada", "valve 7 closed", addr="10.0.0.9", now=T0 + 1)
    with pytest.raises(alerts.AlertError):
        alerts.add_note(r, alert_id, "ada", "   ")
    resolved = alerts.resolve(r, alert_id, "bob", note="pump restarted", now=T0 + 2)
    assert resolved["state"] == "cleared_ack" and resolved["resolved_by"] == "bob"
    assert resolved["acked_by"] == "bob" and resolved["notes"] == 1
    with pytest.raises(alerts.Conflict) as again:
        alerts.resolve(r, alert_id, "ada", now=T0 + 3)
    assert again.value.by == "bob" and again.value.at == pytest.approx(T0 + 2)
    with pytest.raises(alerts.Conflict):
        alerts.acknowledge(r, alert_id, "ada", now=T0 + 4)
    story = alerts.timeline(r, alert_id)
    assert [(e["action"], e["actor"], e["detail"]) for e in story[1:]] == [
        ("note", "ada", "valve 7 closed"), ("resolve", "bob", "pump restarted")]


def test_unknown_alert(r: redis.Redis) -> None:
    """Acting on an alert that does not exist says so."""
    with pytest.raises(alerts.AlertNotFound):
        alerts.acknowledge(r, "al-0000000000000000", "ada")


def test_escalation_only_past_the_deadline_and_only_unacknowledged(r: redis.Redis) -> None:
    """Escalation is recorded once, never before the deadline and never for an acked alert."""
    alert_id = _raise(r, severity="critical", now=T0).alert_id
    assert not alerts.escalate(r, alert_id, 300, now=T0 + 299)
    assert alerts.escalate(r, alert_id, 300, now=T0 + 300)
    assert not alerts.escalate(r, alert_id, 300, now=T0 + 900), "escalated once"
    alert = _alert(r, alert_id)
    assert alert["escalated"] is True and alert["escalated_at"] == pytest.approx(T0 + 300)
    assert alerts.timeline(r, alert_id)[-1]["action"] == "escalate"
    acked = _raise(r, "rule:x:y", severity="critical", now=T0).alert_id
    alerts.acknowledge(r, acked, "ada", now=T0 + 1)
    assert not alerts.escalate(r, acked, 300, now=T0 + 1000)


def test_every_change_is_audited_with_who_what_when_where(r: redis.Redis) -> None:
    """The installation's audit log mirrors each step, conflicts included."""
    alert_id = _raise(r).alert_id
    alerts.acknowledge(r, alert_id, "ada", addr="10.1.1.1", now=T0 + 1)
    with pytest.raises(alerts.Conflict):
        alerts.acknowledge(r, alert_id, "bob", addr="10.2.2.2", now=T0 + 2)
    entries = [e for e in store.audit.read(r, 10) if e.target == alert_id]
    assert [(e.actor, e.action, e.addr, e.outcome) for e in entries] == [
        ("bob", "alert_ack", "10.2.2.2", "conflict"), ("ada", "alert_ack", "10.1.1.1", "ok"),
        (alerts.SYSTEM_ACTOR, "alert_created", alerts.SYSTEM_ADDR, "ok")]
    assert all(e.at > 0 for e in entries)


def test_alerts_and_timelines_are_durable(r: redis.Redis) -> None:
    """No expiry on an alert, its timeline or the indexes; the timeline keeps every entry."""
    alert_id = _raise(r).alert_id
    for i in range(1200):
        alerts.add_note(r, alert_id, "ada", f"note {i}", now=T0 + i)
    assert len(alerts.timeline(r, alert_id)) == 1201
    for key in (store.keys.Keys.alert(alert_id), store.keys.Keys.alert_timeline(alert_id),
                store.keys.Keys.alerts_index, store.keys.Keys.alerts_open, store.keys.Keys.audit):
        assert r.ttl(key) == -1, key


@pytest.mark.parametrize("action", ["ack", "resolve", "claim", "claim_only", "takeover"])
def test_twenty_at_once_exactly_one_wins(r: redis.Redis, redis_url: str, action: str) -> None:
    """20 threads act on one alert at the same moment: one wins, 19 are told who and when
    (claim_only: the page's Claim; takeover: 20 take it from the same holder at once)."""
    alert_id = _raise(r).alert_id
    if action == "takeover":
        alerts.claim(r, alert_id, "holder")
    barrier = threading.Barrier(20)
    results: dict[str, Any] = {}

    def act(name: str) -> None:
        client = connect(redis_url)
        try:
            barrier.wait(timeout=10)
            if action == "ack":
                alerts.acknowledge(client, alert_id, name, note=f"by {name}")
            elif action == "resolve":
                alerts.resolve(client, alert_id, name)
            elif action == "claim_only":
                alerts.claim(client, alert_id, name)
            elif action == "takeover":
                alerts.take_over(client, alert_id, name, "holder")
            else:
                alerts.assign(client, alert_id, name, name)
            results[name] = "won"
        except alerts.Conflict as exc:
            results[name] = (exc.by, exc.at)
        finally:
            client.close()

    threads = [threading.Thread(target=act, args=(f"user{i:02d}",)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    winners = [name for name, outcome in results.items() if outcome == "won"]
    assert len(results) == 20 and len(winners) == 1, results
    alert = _alert(r, alert_id)
    by = {"ack": alert["acked_by"], "resolve": alert["resolved_by"]}.get(action,
                                                                         alert["assigned_by"])
    at = {"ack": alert["acked_at"], "resolve": alert["resolved_at"]}.get(action,
                                                                         alert["assigned_at"])
    assert by == winners[0]
    losers = [outcome for name, outcome in results.items() if name != winners[0]]
    assert losers == [(winners[0], pytest.approx(at))] * 19
    step = {"claim": "assign", "claim_only": "claim"}.get(action, action)
    assert sum(e["action"] == step for e in alerts.timeline(r, alert_id)) == 1


def test_list_filters_and_newest_unacknowledged_first(r: redis.Redis) -> None:
    """Filters by state, domain and severity; unacknowledged first, newest first within."""
    old = _raise(r, "a", severity="critical", now=T0).alert_id
    acked = _raise(r, "b", severity="minor", domain="transport", now=T0 + 50).alert_id
    alerts.acknowledge(r, acked, "ada", now=T0 + 51)
    new = _raise(r, "c", severity="warning", domain="city", now=T0 + 100).alert_id
    closed = _raise(r, "d", now=T0 + 200).alert_id
    alerts.resolve(r, closed, "ada", now=T0 + 201)
    assert [a["id"] for a in alerts.list_alerts(r)] == [new, old, closed, acked]
    assert [a["id"] for a in alerts.list_alerts(r, open_only=True)] == [new, old, acked]
    assert [a["id"] for a in alerts.list_alerts(r, states=["active_ack"])] == [acked]
    assert [a["id"] for a in alerts.list_alerts(r, domains=["city", "transport"])] == [new, acked]
    assert [a["id"] for a in alerts.list_alerts(r, severities=["critical"])] == [old]
    assert [a["id"] for a in alerts.list_alerts(r, states=["cleared_ack"])] == [closed]
    table = alerts.counts(alerts.list_alerts(r))
    assert table["critical"]["active_unack"] == 1 and table["minor"]["active_ack"] == 1
    assert table["major"]["cleared_ack"] == 1 and table["info"]["active_unack"] == 0


def test_alerts_inside_an_active_cap_warning_are_grouped_under_it(r: redis.Redis) -> None:
    """Located alerts inside the warning's polygon (not in its hole) carry the warning's id."""
    holed = {"type": "Polygon", "coordinates": SQUARE["coordinates"] + [
        [[112.4, 28.4], [112.6, 28.4], [112.6, 28.6], [112.4, 28.6], [112.4, 28.4]]]}
    warning = _raise(r, "event:city:cap1", severity="major", domain="city", source="cap",
                     area=holed, lat=28.5, lon=112.5).alert_id
    inside = _raise(r, "in", lat=28.2, lon=112.2).alert_id
    in_hole = _raise(r, "hole", lat=28.5, lon=112.5).alert_id
    outside = _raise(r, "out", lat=30.0, lon=112.5).alert_id
    unlocated = _raise(r, "nowhere").alert_id
    groups = {a["id"]: a["group"] for a in alerts.list_alerts(r)}
    assert groups == {warning: None, inside: warning, in_hole: None, outside: None,
                      unlocated: None}
    assert next(a for a in alerts.list_alerts(r) if a["id"] == warning)["group_size"] == 1
    alerts.clear(r, warning)
    assert all(a["group"] is None for a in alerts.list_alerts(r)), "a cleared warning groups nothing"


@pytest.mark.parametrize(("role", "domains", "domain", "allowed"), [
    ("admin", (), "water", True), ("operator", (), "medical", True),
    ("emergency", ("water",), "water", True), ("emergency", ("water",), "medical", False),
    ("emergency", (), "water", True), ("official", (), "water", False),
    ("wall", (), "water", False)])
def test_who_may_act(role: str, domains: tuple[str, ...], domain: str, allowed: bool) -> None:
    """Operators and admins act on all; emergency staff on their domains (all when none is set:
    docs/security.md); others only read."""
    principal = Principal(name="p", role=role, domains=domains)
    assert alerts.may_act(principal, {"domain": domain}) is allowed
    assert alerts.may_act(None, {"domain": domain}) is False


def test_point_in_multipolygon() -> None:
    """MultiPolygon areas (several CAP polygons or circles) group like one area."""
    far = [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]]
    multi = {"type": "MultiPolygon", "coordinates": [far, SQUARE["coordinates"]]}
    assert point_in_area(28.5, 112.5, multi)
    assert not point_in_area(50.0, 112.5, multi)
    assert not point_in_area(28.5, 112.5, None)
