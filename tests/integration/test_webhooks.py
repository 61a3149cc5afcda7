"""Webhooks against real receivers on loopback: Alertmanager bodies, signatures, filters, retries
after a receiver comes back, a full queue, a hung receiver, feeds going down and up."""

from __future__ import annotations

import threading
import time
from typing import Iterator

import pytest
import redis

from app import store
from app.alerts import lifecycle
from app.config import Settings, load_settings, updated
from app.model.outbound import ReceiverError
from app.outbound import receivers
from app.outbound.dispatcher import Dispatcher
from tests.support.waiting import wait_for
from tests.support.webhook_receiver import WebhookReceiver

ALERT_EVENTS = ["alert.raised", "alert.acknowledged", "alert.escalated", "alert.cleared"]
HOSTILE = "<script>alert(1)</script> \"quoted\" & 水管爆裂"


@pytest.fixture
def settings(tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    """Quick retries, and a receiver failing half a second is down."""
    base = load_settings(environ={"CITYOPS_DATA_DIR": str(tmp_path)})
    return updated(base, {"outbound.max_backoff_s": 1.0, "outbound.down_after_s": 0.5,
                          "outbound.timeout_s": 2.0, "outbound.public_url": "https://ops.example.org"})


@pytest.fixture
def hooks() -> Iterator[list[WebhookReceiver]]:
    """Receivers made by the test (closed at the end)."""
    made: list[WebhookReceiver] = []
    yield made
    for receiver in made:
        receiver.close()


def receiver(hooks: list[WebhookReceiver]) -> WebhookReceiver:
    made = WebhookReceiver()
    hooks.append(made)
    return made


@pytest.fixture
def dispatch(settings: Settings, redis_url: str) -> Iterator[Dispatcher]:
    """A dispatcher running in a thread of the test against the test Redis."""
    dispatcher = Dispatcher(settings, redis_url, feed_check_s=0.2)
    thread = threading.Thread(target=dispatcher.run, daemon=True)
    thread.start()
    # Started: it holds the lease and has taken its place in the change stream.
    assert dispatcher.ready.wait(10)
    yield dispatcher
    dispatcher.stop()
    thread.join(timeout=20)
    assert not thread.is_alive()


def add(r: redis.Redis, url: str, **fields: object):  # type: ignore[no-untyped-def]
    return receivers.add(r, {"name": fields.pop("name", "ops-bridge"), "url": url,
                             "events": fields.pop("events", ALERT_EVENTS), **fields}, actor="admin1")


def raise_one(r: redis.Redis, key: str, severity: str = "major", domain: str = "water",
              title: str = "Pressure low in zone 3") -> str:
    return lifecycle.raise_alert(r, fingerprint=f"test|{key}", title=title, severity=severity,
                                 domain=domain, source="test", rule="pressure_low",
                                 entity=f"sensor-{key}", description=HOSTILE).alert_id


def wait_synced(dispatcher: Dispatcher, count: int) -> None:
    """The dispatcher runs a sending thread for each of ``count`` receivers."""
    assert wait_for(lambda: len(dispatcher.workers) == count)


def test_alert_steps_arrive_signed_in_the_alertmanager_format(
        r: redis.Redis, dispatch: Dispatcher, hooks: list[WebhookReceiver]) -> None:
    """Raise, acknowledge, escalate (of another alert) and clear: four deliveries in order, each
    signed with the receiver's secret, bodies as Alertmanager sends them, feed text intact."""
    hook = receiver(hooks)
    rc = add(r, hook.url)
    wait_synced(dispatch, 1)
    first = raise_one(r, "a", title=HOSTILE)
    lifecycle.acknowledge(r, first, "operator1")
    second = raise_one(r, "b", severity="critical")
    assert lifecycle.escalate(r, second, deadline_s=0, now=time.time() + 1)
    lifecycle.add_note(r, first, "operator1", "not an event outside the room")
    lifecycle.clear(r, first)
    got = hook.wait_deliveries(5)
    assert all(d.signed_by(rc.secret) for d in got)
    assert not any(d.signed_by(rc.secret + "x") for d in got)
    kinds = [(d.headers["X-Cityops-Event"], d.json["alerts"][0]["fingerprint"]) for d in got]
    assert kinds == [("alert.raised", first[3:]), ("alert.acknowledged", first[3:]),
                     ("alert.raised", second[3:]), ("alert.escalated", second[3:]),
                     ("alert.cleared", first[3:])]
    body = got[0].json
    assert body["version"] == "4" and body["receiver"] == "ops-bridge"
    assert body["status"] == "firing" and body["externalURL"] == "https://ops.example.org"
    one = body["alerts"][0]
    assert one["labels"] == {"alertname": "pressure_low", "severity": "major", "domain": "water",
                             "source": "test", "entity": "sensor-a"}
    assert one["annotations"]["summary"] == HOSTILE and one["annotations"]["description"] == HOSTILE
    assert one["startsAt"].endswith("Z") and one["endsAt"] == "0001-01-01T00:00:00Z"
    assert one["generatorURL"] == f"https://ops.example.org/alerts?alert={first}"
    cleared = got[4].json
    assert cleared["status"] == "resolved" and cleared["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"
    # Every delivery has its own id, kept across retries.
    assert len({d.headers["X-Cityops-Delivery"] for d in got}) == 5
    status = receivers.listing(r)[0]["status"]
    assert status["state"] == "ok" and status["delivered"] == 5 and status["queued"] == 0


def test_receivers_get_only_what_they_asked_for(r: redis.Redis, dispatch: Dispatcher,
                                                hooks: list[WebhookReceiver]) -> None:
    """Events, domains and severities filter; a disabled receiver gets nothing."""
    everything, critical_water, acks, off = (receiver(hooks) for _ in range(4))
    add(r, everything.url, name="all")
    add(r, critical_water.url, name="water duty", domains=["water"], severities=["critical"])
    add(r, acks.url, name="acks", events=["alert.acknowledged"])
    add(r, off.url, name="off", enabled=False)
    wait_synced(dispatch, 3)
    transport = raise_one(r, "t", severity="critical", domain="transport")
    water_minor = raise_one(r, "m", severity="minor")
    water_critical = raise_one(r, "c", severity="critical")
    lifecycle.acknowledge(r, water_minor, "operator1")
    everything.wait_deliveries(4)
    acks.wait_deliveries(1)
    critical_water.wait_deliveries(1)
    # The catch-all got the last step, so the fan-out is past every step: nothing more comes.
    assert [d.json["alerts"][0]["fingerprint"] for d in critical_water.deliveries] == [water_critical[3:]]
    assert [d.json["alerts"][0]["fingerprint"] for d in acks.deliveries] == [water_minor[3:]]
    assert off.attempts == [] and transport


def test_a_failing_receiver_is_marked_down_and_gets_everything_in_order_when_back(
        r: redis.Redis, dispatch: Dispatcher, hooks: list[WebhookReceiver]) -> None:
    hook = receiver(hooks)
    hook.status = 503
    rc = add(r, hook.url)
    wait_synced(dispatch, 1)
    ids = [raise_one(r, str(i)) for i in range(3)]
    assert wait_for(lambda: receivers.listing(r)[0]["status"]["state"] == "down", timeout=15)
    status = receivers.listing(r)[0]["status"]
    assert status["last_status"] == "503" and status["failures"] >= 2 and status["queued"] == 3
    assert len(hook.attempts) >= 2 and hook.deliveries == []
    hook.status = 200
    got = hook.wait_deliveries(3)
    assert [d.json["alerts"][0]["fingerprint"] for d in got] == [i[3:] for i in ids]
    assert all(d.signed_by(rc.secret) for d in got)
    assert wait_for(lambda: receivers.listing(r)[0]["status"]["state"] == "ok")
    status = receivers.listing(r)[0]["status"]
    assert status["failures"] == 0 and status["delivered"] == 3 and status["failing_since"] is None


def test_a_refused_delivery_is_not_retried(r: redis.Redis, dispatch: Dispatcher,
                                           hooks: list[WebhookReceiver]) -> None:
    """A 4xx other than 408/425/429 says the receiver will never take it: the next goes on."""
    hook = receiver(hooks)
    hook.status = 422
    add(r, hook.url)
    wait_synced(dispatch, 1)
    raise_one(r, "refused")
    assert wait_for(lambda: receivers.listing(r)[0]["status"]["refused"] == 1)
    hook.status = 200
    second = raise_one(r, "taken")
    got = hook.wait_deliveries(1)
    assert got[0].json["alerts"][0]["fingerprint"] == second[3:] and len(hook.attempts) == 2


def test_a_full_queue_keeps_the_oldest_and_counts_the_rest(
        r: redis.Redis, settings: Settings, redis_url: str, hooks: list[WebhookReceiver]) -> None:
    """A receiver that never answers: its queue holds queue_limit deliveries, the rest are
    counted as dropped, and nothing else is disturbed."""
    small = updated(settings, {"outbound.queue_limit": 10})
    hook = receiver(hooks)
    hook.status = 500
    add(r, hook.url)
    dispatcher = Dispatcher(small, redis_url)
    thread = threading.Thread(target=dispatcher.run, daemon=True)
    thread.start()
    try:
        assert dispatcher.ready.wait(10) and wait_for(lambda: len(dispatcher.workers) == 1)
        for i in range(14):
            raise_one(r, f"q{i}")
        assert wait_for(lambda: receivers.listing(r)[0]["status"]["dropped"] == 4)
        assert receivers.listing(r)[0]["status"]["queued"] == 10
    finally:
        dispatcher.stop()
        thread.join(timeout=20)


def test_a_hung_receiver_holds_up_nobody_else(r: redis.Redis, dispatch: Dispatcher,
                                              hooks: list[WebhookReceiver]) -> None:
    """While one receiver holds its request open, another gets its deliveries and alerts go on
    being raised and acknowledged without waiting."""
    hung, healthy = receiver(hooks), receiver(hooks)
    hung.hang()
    add(r, hung.url, name="hung")
    add(r, healthy.url, name="healthy")
    wait_synced(dispatch, 2)
    first = raise_one(r, "h1")
    assert wait_for(lambda: len(hung.attempts) == 1)  # the hung receiver holds it now
    started = time.perf_counter()
    second = raise_one(r, "h2")
    lifecycle.acknowledge(r, second, "operator1")
    assert time.perf_counter() - started < 1.0  # the alert steps never wait for a receiver
    got = healthy.wait_deliveries(3)
    assert [d.json["alerts"][0]["fingerprint"] for d in got] == [first[3:], second[3:], second[3:]]
    assert hung.deliveries == [] and len(hung.attempts) == 1
    hung.release()
    assert len(hung.wait_deliveries(3, timeout=20)) == 3


def test_feeds_going_down_and_up_are_announced(r: redis.Redis, dispatch: Dispatcher,
                                              hooks: list[WebhookReceiver]) -> None:
    hook = receiver(hooks)
    add(r, hook.url, events=["feed.down", "feed.up"], domains=["water"])
    wait_synced(dispatch, 1)
    now = time.time()
    store.feeds.write_health(r, "reservoirs", {"domain": "water", "adapter": "sensorthings",
                                              "last_success": now - 3600, "freshness_budget_s": 60,
                                              "last_error": "connection refused"}, incr_failures=True)
    store.feeds.write_health(r, "buses", {"domain": "transport", "adapter": "gtfs_rt",
                                         "last_success": now - 3600, "freshness_budget_s": 60})
    down = hook.wait_deliveries(1, timeout=20)[0]
    assert down.headers["X-Cityops-Event"] == "feed.down"
    assert down.json["type"] == "feed.down" and down.json["data"]["feed"] == "reservoirs"
    assert down.json["data"]["last_error"] == "connection refused"
    store.feeds.write_health(r, "reservoirs", {"last_success": time.time()})
    up = hook.wait_deliveries(2, timeout=20)[1]
    assert up.json["type"] == "feed.up" and up.json["data"]["state"] == "up"
    assert all(d.json["data"]["domain"] == "water" for d in hook.deliveries)


def test_a_test_delivery_and_a_new_secret(r: redis.Redis, settings: Settings, dispatch: Dispatcher,
                                          hooks: list[WebhookReceiver]) -> None:
    hook = receiver(hooks)
    rc = add(r, hook.url)
    wait_synced(dispatch, 1)
    rotated = receivers.rotate_secret(r, rc.id, actor="admin1")
    assert rotated.secret != rc.secret
    receivers.send_test(r, rc.id, settings, actor="admin1")
    got = hook.wait_deliveries(1)[0]
    assert got.json["type"] == "test" and got.signed_by(rotated.secret)
    assert not got.signed_by(rc.secret)


@pytest.mark.parametrize(("fields", "says"), [
    ({"url": "ftp://x.org/h"}, "url"), ({"url": "http://user:pw@x.org/"}, "url"),
    ({"events": ["alert.exploded"]}, "events"), ({"events": []}, "events"),
    ({"domains": ["space"]}, "domains"), ({"severities": ["apocalyptic"]}, "severities"),
    ({"name": ""}, "name"), ({"colour": "red"}, "unknown field"), ({"enabled": "yes"}, "enabled"),
])
def test_bad_receivers_are_refused_with_the_field_named(r: redis.Redis, fields: dict[str, object],
                                                        says: str) -> None:
    data = {"name": "x", "url": "https://receiver.example.org/hook", "events": ["alert.raised"],
            **fields}
    with pytest.raises(ReceiverError, match=says):
        receivers.add(r, data, actor="admin1")
    assert store.outbound.read_receivers(r) == []


def test_receiver_changes_are_audited_without_the_secret(r: redis.Redis) -> None:
    from app import audit

    rc = receivers.add(r, {"name": "bridge", "url": "https://receiver.example.org/hook",
                           "events": ["alert.raised"]}, actor="admin1", addr="10.0.0.9")
    receivers.change(r, rc.id, {"severities": ["critical"]}, actor="admin1")
    receivers.remove(r, rc.id, actor="admin1")
    entries = [e for e in audit.recent(r) if e.action.startswith("webhook_")]
    assert [e.action for e in entries] == ["webhook_remove", "webhook_change", "webhook_add"]
    assert all(rc.secret not in (e.detail or "") for e in entries)
    assert "severities=critical" in entries[1].detail


def test_incident_and_task_changes_reach_receivers(r: redis.Redis, dispatch: Dispatcher,
                                                   hooks: list[WebhookReceiver]) -> None:
    """Declaring an incident, and a department's staff taking and finishing its task: an
    incident.changed and two task.changed events, signed, with what the receiver needs."""
    from app import accounts, incidents
    from app.model import roles
    from tests.support.incidents import DRILL, person, placed_alert
    from tests.support.web import PASSWORD

    hook, fire_only = receiver(hooks), receiver(hooks)
    rc = add(r, hook.url, events=["incident.changed", "task.changed"], domains=["water"])
    add(r, fire_only.url, name="transport desk", events=["incident.changed", "task.changed"],
        domains=["transport"])
    wait_synced(dispatch, 2)
    accounts.add_user(r, "eve", roles.EMERGENCY, PASSWORD, departments=("water_bureau",))
    alert = placed_alert(r, "webhook-incident", title=HOSTILE)
    incident = incidents.declare(r, person("ada", roles.ADMIN), DRILL, title=HOSTILE, kind="drill",
                                 level="III", alert_ids=[alert])
    task = incidents.incident_tasks(r, incident["id"])[0]
    eve = person("eve", roles.EMERGENCY)
    incidents.act_on_task(r, eve, DRILL, task["id"], "take")
    incidents.act_on_task(r, eve, DRILL, task["id"], "finish", text_="valves closed")

    def actions() -> list[tuple[str, str]]:
        return [(d.json["type"], d.json["data"]["change"]["action"]) for d in hook.deliveries]

    assert wait_for(lambda: ("task.changed", "task_done") in actions(), timeout=15)
    assert actions()[0] == ("incident.changed", "declared")
    assert [a for a in actions() if a[0] == "task.changed"] == [
        ("task.changed", "task_taken"), ("task.changed", "task_done")]
    assert all(d.signed_by(rc.secret) for d in hook.deliveries)
    done = next(d.json for d in hook.deliveries if d.json["data"]["change"]["action"] == "task_done")
    assert done["data"]["incident"]["title"] == HOSTILE and done["data"]["incident"]["level"] == "III"
    assert done["data"]["task"]["state"] == "done" and done["data"]["task"]["owner"] == "eve"
    assert done["data"]["change"]["note"] == "valves closed"
    assert len({d.headers["X-Cityops-Delivery"] for d in hook.deliveries}) == len(hook.deliveries)
    assert fire_only.attempts == []  # a water incident is not the transport desk's
