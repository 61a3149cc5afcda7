"""ETags on the API's JSON answers and 304 Not Modified: a poller that is up to date gets a few
hundred bytes; one that is not gets the new answer with a new ETag."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from app import alerts, audit, store
from app.model.records import Observation
from tests.support.api import SENSORS, calls_made, water_city
from tests.support.incidents import person, placed_alert
from tests.support.security import ADMIN, OPERATOR, Caller, session_caller


@pytest.fixture
def operator(web_app: Any, users: dict[str, str]) -> Caller:
    return session_caller(web_app, OPERATOR, users[OPERATOR])


def _get(caller: Caller, path: str, etag: str | None = None) -> Any:
    headers = dict(caller.headers(), **({"If-None-Match": etag} if etag else {}))
    return caller.client.get(path, headers=headers)


def _wire_bytes(response: Any) -> int:
    """What the answer costs on the wire: status line, headers and body."""
    head = sum(len(k) + len(v) + 4 for k, v in response.headers.items())
    return len("HTTP/1.1 304 NOT MODIFIED\r\n") + head + 2 + len(response.get_data())


def test_an_unchanged_list_is_a_304_of_a_few_hundred_bytes(operator: Caller, r: redis.Redis) -> None:
    water_city(r)
    first = _get(operator, "/api/v1/entities/water")
    tag = first.headers["ETag"]
    assert first.status_code == 200 and tag.startswith('W/"')
    again = _get(operator, "/api/v1/entities/water", tag)
    assert again.status_code == 304 and again.get_data() == b""
    assert again.headers["ETag"] == tag
    assert _wire_bytes(again) < 600, dict(again.headers)
    assert len(first.get_data()) > 2000  # the answer it saves
    # Another page, other filters, another ETag.
    assert _get(operator, "/api/v1/entities/water?limit=2").headers["ETag"] != tag
    assert _get(operator, "/api/v1/entities/water?readings=0").headers["ETag"] != tag


def test_a_new_reading_changes_the_etag(operator: Caller, r: redis.Redis) -> None:
    """A reading written (no entity changed): the poller's ETag no longer matches; it gets the
    new reading and a new ETag."""
    water_city(r)
    tag = _get(operator, "/api/v1/entities/water").headers["ETag"]
    store.entities.write_batch(r, "water", "w", observations=[
        Observation(SENSORS[0], "pressure_bar", 9.5, "bar", time.time())])
    fresh = _get(operator, "/api/v1/entities/water", tag)
    assert fresh.status_code == 200 and fresh.headers["ETag"] != tag
    assert fresh.get_json()["entities"][0]["readings"]["pressure_bar"]["value"] == 9.5
    one = _get(operator, f"/api/v1/entities/water/{SENSORS[0]}")
    assert _get(operator, f"/api/v1/entities/water/{SENSORS[0]}", one.headers["ETag"]).status_code == 304


def test_a_304_from_the_version_reads_no_list(operator: Caller, r: redis.Redis) -> None:
    """The entities' ETag comes from the domain's version: answering 304 reads no entity."""
    water_city(r)
    tag = _get(operator, "/api/v1/entities/water").headers["ETag"]
    answer, ran = calls_made(r, lambda: _get(operator, "/api/v1/entities/water", tag))
    assert answer.status_code == 304
    # The session's user and the domains' versions, nothing of the entities.
    assert "hvals" not in ran and sum(ran.values()) <= 8, ran
    _, full = calls_made(r, lambda: _get(operator, "/api/v1/entities/water"))
    assert "hvals" in full  # (what a full answer does read)


def test_alerts_etag_follows_the_alerts(operator: Caller, r: redis.Redis) -> None:
    """The list and an alert answer 304 until an alert changes; an acknowledgement changes both."""
    alert_id = placed_alert(r, "etag")
    listed = _get(operator, "/api/v1/alerts")
    one = _get(operator, f"/api/v1/alerts/{alert_id}")
    assert _get(operator, "/api/v1/alerts", listed.headers["ETag"]).status_code == 304
    assert _get(operator, f"/api/v1/alerts/{alert_id}", one.headers["ETag"]).status_code == 304
    alerts.act(r, person("operator1"), alert_id, "ack")
    changed = _get(operator, "/api/v1/alerts", listed.headers["ETag"])
    assert changed.status_code == 200 and changed.get_json()["alerts"][0]["state"] == "active_ack"
    assert _get(operator, f"/api/v1/alerts/{alert_id}", one.headers["ETag"]).status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/me", "/api/v1/kpis", "/api/v1/feeds", "/api/v1/tasks",
                                  "/api/v1/incidents", "/api/v1/sop", "/api/v1/openapi.json",
                                  "/api/v1/audit"])
def test_every_json_answer_has_an_etag(web_app: Any, users: dict[str, str], path: str) -> None:
    """Answers without a version of their own carry a hash of their body: same body, 304."""
    admin = session_caller(web_app, ADMIN, users[ADMIN])
    first = _get(admin, path)
    assert first.status_code == 200 and first.headers.get("ETag"), path
    assert _get(admin, path, first.headers["ETag"]).status_code == 304


def test_a_changed_body_gets_a_new_hash(web_app: Any, users: dict[str, str], r: redis.Redis) -> None:
    """The audit log's ETag is a hash of its body: a new entry, a new ETag."""
    admin = session_caller(web_app, ADMIN, users[ADMIN])
    tag = _get(admin, "/api/v1/audit").headers["ETag"]
    audit.record(r, "someone", "probe")
    assert _get(admin, "/api/v1/audit", tag).status_code == 200


def test_other_users_answers_differ(web_app: Any, users: dict[str, str]) -> None:
    """/me's ETag is its body's: one user's ETag is no 304 for another."""
    admin = session_caller(web_app, ADMIN, users[ADMIN])
    operator = session_caller(web_app, OPERATOR, users[OPERATOR])
    tag = _get(admin, "/api/v1/me").headers["ETag"]
    assert _get(operator, "/api/v1/me", tag).status_code == 200


def test_a_refusal_has_no_etag(operator: Caller) -> None:
    """Errors are never 304: a 404 or 400 carries no ETag."""
    assert "ETag" not in _get(operator, "/api/v1/entities/spaceports").headers
    assert "ETag" not in _get(operator, "/api/v1/alerts?limit=0").headers
