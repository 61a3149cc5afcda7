"""One outage, one alert (issue 18): feeds of one source host that go stale together raise one
grouped alert naming them, acknowledged once; a feed alone on its host, or without a URL, keeps
its own alert; a feed of the host going stale later updates the same alert.

A real redis-server; the feed URL's host comes from a real runner polling a loopback server that
is not there (refused), as the runner records it.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import redis

from app import alerts, store
from app.alerts import evaluation
from app.config import load_settings
from app.model.alerts import alert_id_for
from app.model.feeds import feed_source
from app.ops.runner_process import build_runner
from app.store.embedded import free_port
from data_adapters import registry
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for

BUDGET_S = 60.0


def _health(r: redis.Redis, feed: str, source: str, fresh: bool, now: float,
            domain: str = "transport") -> None:
    store.feeds.write_health(r, feed, {
        "domain": domain, "source": source, "freshness_budget_s": BUDGET_S,
        "first_attempt": now - 3600, "last_success": now - (1 if fresh else 3600)})


def _open_stale(r: redis.Redis) -> list[dict[str, Any]]:
    return [a for a in alerts.list_alerts(r, open_only=True, limit=1000)
            if a["source"] == "staleness" and a["state"] in ("active_unack", "active_ack")]


def test_feed_source_is_the_url_host() -> None:
    assert feed_source("http://Feeds.Example.org:8080/gtfs-rt/vehicles") == "feeds.example.org:8080"
    assert feed_source("https://feeds.example.org/x") == "feeds.example.org"
    assert feed_source(None) == "" and feed_source("not a url") == ""


def test_one_outage_of_a_host_is_one_alert_acknowledged_once(r: redis.Redis) -> None:
    now = time.time()
    for feed in ("vehicles", "trips", "service-alerts"):
        _health(r, feed, "gtfs.city.example:8443", fresh=False, now=now)
    _health(r, "stops", "gtfs.city.example:8443", fresh=True, now=now)
    _health(r, "pressure", "scada.example", fresh=False, now=now, domain="water")  # alone
    _health(r, "buses", "", fresh=False, now=now)  # no URL: its own alert, as before

    evaluation.evaluate(r, now)
    found = {a["fingerprint"]: a for a in _open_stale(r)}
    assert set(found) == {"stale:source:gtfs.city.example:8443", "stale:pressure", "stale:buses"}
    grouped = found["stale:source:gtfs.city.example:8443"]
    assert grouped["title"] == "3 feeds of gtfs.city.example:8443 stale: service-alerts, trips, vehicles"
    assert grouped["domain"] == "transport" and "stops" not in grouped["description"]
    assert found["stale:buses"]["title"] == "Feed buses stale"

    # One acknowledgement covers the outage.
    alerts.acknowledge(r, grouped["id"], "operator")
    assert alerts.get_alert(r, grouped["id"])["state"] == "active_ack"

    # The fourth feed of the host goes stale: the same alert, updated, still acknowledged.
    later = now + 10
    _health(r, "stops", "gtfs.city.example:8443", fresh=False, now=later - 3600 + 1)
    evaluation.evaluate(r, later)
    again = alerts.get_alert(r, grouped["id"])
    assert again["title"].startswith("4 feeds of gtfs.city.example:8443 stale")
    assert again["count"] == 2 and again["state"] == "active_ack"
    assert len(_open_stale(r)) == 3

    # The host answers again: the alert clears.
    for feed in ("vehicles", "trips", "service-alerts", "stops"):
        _health(r, feed, "gtfs.city.example:8443", fresh=True, now=later + 5)
    evaluation.evaluate(r, later + 5)
    assert alerts.get_alert(r, grouped["id"])["state"] == "cleared_ack"


def test_a_stale_alert_of_a_feed_now_grouped_is_cleared(r: redis.Redis) -> None:
    """An alert raised per feed before its host had other feeds is cleared once the feed is
    counted in its host's alert (no alert left that nothing would ever clear)."""
    now = time.time()
    _health(r, "vehicles", "gtfs.city.example", fresh=False, now=now)
    evaluation.evaluate(r, now)
    single = alert_id_for("stale:vehicles")
    assert alerts.get_alert(r, single)["state"] == "active_unack"
    _health(r, "trips", "gtfs.city.example", fresh=False, now=now)
    evaluation.evaluate(r, now + 1)
    assert alerts.get_alert(r, single)["state"] == "cleared_unack"
    assert [a["fingerprint"] for a in _open_stale(r)] == ["stale:source:gtfs.city.example"]


def test_the_runner_records_the_feed_urls_host(r: redis.Redis, redis_server: RedisServer,
                                               tmp_path: Path) -> None:
    """Two feeds of one unreachable loopback host, run by a real runner: their health records
    name the host, and their staleness is one alert."""
    port = free_port()  # nothing listens there: every poll is refused
    adapters = [registry.build({"name": name, "adapter": "gtfs_rt", "kind": "vehicle_positions",
                                "url": f"http://127.0.0.1:{port}/{name}", "interval_s": 0.5,
                                "freshness_budget_s": 2.5, "timeout_s": 1.0})
                for name in ("a", "b")]
    settings = load_settings(environ={"CITYOPS_DATA_DIR": str(tmp_path)})
    runner = build_runner(settings, redis_server.url, adapters, owner="runner-under-test")
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: len(store.feeds.read_health(r)) == 2 and all(
            row.get("source") for row in store.feeds.read_health(r)), timeout=15)
        assert {row["source"] for row in store.feeds.read_health(r)} == {f"127.0.0.1:{port}"}
    finally:
        runner.stop()
        thread.join(timeout=15)
    # Past the budget with no success: both stale, one alert.
    evaluation.evaluate(r, time.time() + 24 * 3600)
    assert [a["fingerprint"] for a in _open_stale(r)] == [f"stale:source:127.0.0.1:{port}"]
