"""Lists in pages: ``limit`` and ``cursor``, ``next`` until the last page, a stable order while
paging, and cursors that cannot be forged or reused for another query."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from app import alerts, audit, store
from app.web.api import paging
from tests.support.api import SENSORS, sensor, walk, water_city
from tests.support.incidents import incident_sample, person, placed_alert
from tests.support.security import ADMIN, OPERATOR, Caller, session_caller


@pytest.fixture
def operator(web_app: Any, users: dict[str, str]) -> Caller:
    return session_caller(web_app, OPERATOR, users[OPERATOR])


@pytest.fixture
def admin(web_app: Any, users: dict[str, str]) -> Caller:
    return session_caller(web_app, ADMIN, users[ADMIN])


def _error(response: Any) -> str:
    return str((response.get_json(silent=True) or {}).get("error", ""))


def test_entities_page_by_id_to_the_last_page(operator: Caller, r: redis.Redis) -> None:
    """limit=3 over 7 sensors: 3, 3, 1, in id order, each once; the last page has no next."""
    water_city(r)
    pages = list(walk(operator, "/api/v1/entities/water?kind=sensor", "entities", 3))
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [row["id"] for page in pages for row in page] == SENSORS
    assert all("readings" in row for page in pages for row in page)
    whole = operator.call("GET", "/api/v1/entities/water?limit=7").get_json()
    assert "next" not in whole and [row["id"] for row in whole["entities"]] == SENSORS


def test_the_default_and_the_most(operator: Caller, r: redis.Redis) -> None:
    """Without a limit a page holds DEFAULT_LIMIT items; more than MAX_LIMIT is a 400."""
    now = time.time()
    store.entities.write_batch(r, "water", "w", entities=[
        sensor(f"w:sensor:n{i:04d}", now) for i in range(paging.DEFAULT_LIMIT + 20)])
    first = operator.call("GET", "/api/v1/entities/water?readings=0").get_json()
    assert len(first["entities"]) == paging.DEFAULT_LIMIT and first["next"]
    rest = operator.call("GET", f"/api/v1/entities/water?readings=0&cursor={first['next']}").get_json()
    assert len(rest["entities"]) == 20 and "next" not in rest
    too_many = operator.call("GET", f"/api/v1/entities/water?limit={paging.MAX_LIMIT + 1}")
    assert too_many.status_code == 400 and "'limit'" in _error(too_many)


def test_the_order_holds_while_entities_come_and_go(operator: Caller, r: redis.Redis) -> None:
    """Between two pages a sensor is added before the cursor, one after it, and one already
    served is removed: the second page starts right after the first page's last id, so nothing
    is served twice and nothing that was there all along is skipped."""
    water_city(r)
    first = operator.call("GET", "/api/v1/entities/water?limit=3").get_json()
    assert [row["id"] for row in first["entities"]] == SENSORS[:3]
    now = time.time()
    store.entities.write_batch(r, "water", "w", entities=[sensor("w:sensor:a-new", now),
                                                          sensor("w:sensor:s99", now)])
    store.entities.write_batch(r, "water", "w", removed=[SENSORS[1]])
    rest = [row["id"] for page in walk(operator, "/api/v1/entities/water", "entities", 2,
                                       first["next"]) for row in page]
    assert rest == [*SENSORS[3:], "w:sensor:s99"]


def test_a_cursor_that_is_not_ours_is_a_400(operator: Caller, r: redis.Redis) -> None:
    """Made up, altered by one character, cut short, sent with other filters or to another list:
    400 naming 'cursor', never a 500 and never someone else's page."""
    water_city(r)
    good = operator.call("GET", "/api/v1/entities/water?kind=sensor&limit=2").get_json()["next"]
    flipped = good[:-3] + ("A" if good[-3] != "A" else "B") + good[-2:]
    payload, _, signature = good.rpartition(".")
    for path in ("/api/v1/entities/water?kind=sensor&cursor=nonsense",
                 f"/api/v1/entities/water?kind=sensor&cursor={flipped}",
                 f"/api/v1/entities/water?kind=sensor&cursor={good[:20]}",
                 f"/api/v1/entities/water?kind=sensor&cursor=e30.{signature}",
                 f"/api/v1/entities/water?kind=hydrant&cursor={good}",
                 f"/api/v1/entities/water?cursor={good}",
                 f"/api/v1/entities/medical?kind=sensor&cursor={good}",
                 f"/api/v1/alerts?cursor={good}"):
        response = operator.call("GET", path)
        assert response.status_code == 400 and "'cursor'" in _error(response), (path, response.data)
    # The same cursor with the same filters (and another page size) does work.
    assert operator.call("GET", f"/api/v1/entities/water?kind=sensor&cursor={good}&limit=5"
                         ).status_code == 200


def test_alerts_page_in_their_order(operator: Caller, r: redis.Redis) -> None:
    """Alerts: unacknowledged first, newest first; pages of 2 give the same list as one page."""
    now = time.time()
    ids = [placed_alert(r, f"page:{i}", now=now - 60 * i) for i in range(7)]
    alerts.act(r, person("operator1"), ids[0], "ack")
    whole = operator.call("GET", "/api/v1/alerts").get_json()
    assert "next" not in whole
    expected = [a["id"] for a in whole["alerts"]]
    assert expected == [*ids[1:], ids[0]]
    paged = [a["id"] for page in walk(operator, "/api/v1/alerts", "alerts", 2) for a in page]
    assert paged == expected
    filtered = [a["id"] for page in walk(operator, "/api/v1/alerts?state=active_unack", "alerts", 4)
                for a in page]
    assert filtered == ids[1:]


def test_audit_pages_newest_first(admin: Caller, r: redis.Redis) -> None:
    """The audit log in pages of 5, newest first, each entry once; ?count= still works alone."""
    for i in range(12):
        audit.record(r, "someone", "probe", target=f"t{i}")
    whole = [e["id"] for e in admin.call("GET", "/api/v1/audit?limit=5000").get_json()["audit"]]
    assert len(whole) >= 12 and whole == sorted(whole, key=store.audit.id_order, reverse=True)
    paged = [e["id"] for page in walk(admin, "/api/v1/audit", "audit", 5) for e in page]
    assert paged == whole
    assert len(admin.call("GET", "/api/v1/audit?count=3").get_json()["audit"]) == 3
    both = admin.call("GET", "/api/v1/audit?count=3&limit=3")
    assert both.status_code == 400 and "'limit'" in _error(both)


def test_incidents_tasks_and_proposals_page(admin: Caller, r: redis.Redis,
                                            users: dict[str, str]) -> None:
    """Each list of the incidents API walked one item at a time is the list given at once."""
    for i in range(3):
        incident_sample(r, users[ADMIN], f"paging:{i}")
    for path, key in (("/api/v1/incidents", "incidents"), ("/api/v1/tasks", "tasks"),
                      ("/api/v1/incidents/proposals", "proposals"),
                      ("/api/v1/incidents/proposals?state=pending,dismissed", "proposals")):
        whole = admin.call("GET", path).get_json()[key]
        assert len(whole) >= 3, path
        paged = [item["id"] for page in walk(admin, path, key, 1) for item in page]
        assert paged == [item["id"] for item in whole], path


def test_events_and_feeds_page(operator: Caller, r: redis.Redis) -> None:
    """Events by id (across domains) and feeds by name come in pages too."""
    water_city(r)
    for i in range(3):
        store.feeds.write_health(r, f"feed-{i}", {"domain": "water", "adapter": "senml_http",
                                                  "freshness_budget_s": 60})
    feeds = [f["feed"] for page in walk(operator, "/api/v1/feeds", "feeds", 2) for f in page]
    assert feeds == ["feed-0", "feed-1", "feed-2"]
    assert list(walk(operator, "/api/v1/events", "events", 2)) == [[]]


def test_sensors_unchanged_by_paging(r: redis.Redis) -> None:
    """(The fixture city itself: seven sensors, each with thirteen readings.)"""
    city = water_city(r)
    assert sorted(city) == SENSORS and all(len(points) == 13 for points in city.values())
