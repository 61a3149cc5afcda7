"""CityOps on a real 3-master Redis Cluster: the URL setting, slot routing, whole-cluster flushes,
atomic steps that race, the runner's rules and KPIs, and the web app (tests/support/redis_cluster.py)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
import redis
from redis.cluster import RedisCluster

from app import accounts, alerts, kpis, store
from app.alerts import evaluation, rules
from app.config import load_settings
from app.model.alerts import alert_id_for
from app.model.domains import DOMAINS
from app.model.records import Entity, Observation
from app.store.embedded import free_port
from app.store.link import RedisUnavailable, connect, is_cluster_url
from tests.support.redis_cluster import SLOTS, RedisClusterServer, free_cluster_port
from tests.support.web import LIVE_BODY, PASSWORD, csrf_header, login

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC


@pytest.fixture
def cr(redis_cluster: RedisClusterServer) -> Iterator[redis.Redis]:
    """A CityOps client of the test cluster, every master emptied first."""
    client = connect(redis_cluster.url)
    redis_cluster.flushall()
    yield client
    client.close()


def keys_per_master(cluster: RedisClusterServer) -> dict[int, list[str]]:
    """port -> every key on that master (SCAN on each node, not through the cluster client)."""
    out: dict[int, list[str]] = {}
    for port in cluster.ports:
        node = cluster.node_client(port)
        try:
            out[port] = list(node.scan_iter(count=1000))
        finally:
            node.close()
    return out


def test_three_masters_share_every_slot(redis_cluster: RedisClusterServer) -> None:
    """Each node is ok and sees three masters whose slot ranges cover 0..16383 exactly once."""
    for port in redis_cluster.ports:
        node = redis_cluster.node_client(port)
        try:
            info = str(node.execute_command("CLUSTER", "INFO")).splitlines()
            ranges = node.execute_command("CLUSTER", "SLOTS")  # [[first, last, [host, port, id]]]
        finally:
            node.close()
        assert "cluster_state:ok" in info and "cluster_known_nodes:3" in info
        owners: dict[int, int] = {}
        for first, last, master, *_replicas in ranges:
            for slot in range(int(first), int(last) + 1):
                assert slot not in owners
                owners[slot] = int(master[1])
        assert len(owners) == SLOTS
        assert set(owners.values()) == set(redis_cluster.ports)


def test_cluster_url_is_a_setting_and_connect_makes_a_cluster_client(
        redis_cluster: RedisClusterServer, tmp_path: Path) -> None:
    """CITYOPS_REDIS_URL=redis+cluster://... is accepted and gives a RedisCluster of 3 masters;
    a seed list whose first node is down still reaches the cluster through the next one."""
    url = redis_cluster.url
    settings = load_settings(environ={"CITYOPS_DATA_DIR": str(tmp_path), "CITYOPS_REDIS_URL": url})
    assert settings.redis.url == url and is_cluster_url(url) and not is_cluster_url("redis://x:1")
    client = connect(url)
    try:
        assert isinstance(client, RedisCluster)
        assert client.ping()
        assert sorted(n.port for n in client.get_primaries()) == sorted(redis_cluster.ports)
    finally:
        client.close()
    dead = free_cluster_port()
    fallback = connect(f"redis+cluster://127.0.0.1:{dead},127.0.0.1:{redis_cluster.ports[1]}/0")
    try:
        fallback.set("co:{system}:probe", "1")
        assert fallback.get("co:{system}:probe") == "1"
    finally:
        fallback.close()


def test_unreachable_cluster_names_the_url_without_its_password() -> None:
    """No node answers: one clear error naming the URL, never the password."""
    port = free_port()
    with pytest.raises(RedisUnavailable) as caught:
        connect(f"redis+cluster://:s3cret-pw@127.0.0.1:{port}/0")
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message and "s3cret-pw" not in message
    with pytest.raises(RedisUnavailable, match="host:port"):
        connect(f"redis+cluster://127.0.0.1:{port},nonsense/0")


def test_flushall_empties_every_master(cr: redis.Redis, redis_cluster: RedisClusterServer) -> None:
    """The tests' flush goes to every master, not only the one the client happens to ask."""
    for tag in ("auth", "audit", "transport", "water", "medical", "city", "feeds", "alerts",
                "system"):
        cr.set(f"co:{{{tag}}}:probe", "1")
    before = keys_per_master(redis_cluster)
    assert all(before.values()), before  # the tags really land on all three masters
    cr.flushall()
    assert keys_per_master(redis_cluster) == {port: [] for port in redis_cluster.ports}


def _city_batch(r: redis.Redis, now: float) -> None:
    """One small batch per domain, with readings, through the store."""
    store.entities.write_batch(r, "transport", "t", entities=[
        Entity("transport", "vehicle", "t:vehicle:1", 28.55, 112.36, "in_service", now, "t"),
        Entity("transport", "stop", "t:stop:1", 28.56, 112.37, "active", now, "t")],
        observations=[Observation("t:vehicle:1", "delay_s", 30.0, "s", now)], replaces=("vehicle",))
    store.entities.write_batch(r, "water", "w", entities=[
        Entity("water", "sensor", "w:sensor:1", 28.54, 112.35, "ok", now, "w", {"zone": "north"})],
        observations=[Observation("w:sensor:1", "pressure_bar", 1.2, "bar", now)])
    store.entities.write_batch(r, "medical", "m", entities=[
        Entity("medical", "hospital", "m:hospital:1", 28.53, 112.34, "active", now, "m",
               {"name": "City Hospital"})],
        observations=[Observation("m:hospital:1", "icu_beds_available", 1.0, "{beds}", now)])
    store.entities.write_batch(r, "city", "c", entities=[
        Entity("city", "request", "c:request:1", 28.52, 112.33, "open", now, "c")])


def test_store_keys_spread_over_the_masters_and_each_carries_a_tag(
        cr: redis.Redis, redis_cluster: RedisClusterServer) -> None:
    """Every kind of write the store makes works on the cluster (no CROSSSLOT), its keys carry a
    hash tag, and they are spread over all three masters."""
    store.auth.create_user(cr, "ada", {"role": "operator"})
    store.auth.create_token(cr, "abcdefabcdef", {"name": "wall", "role": "wall"})
    store.auth.record_login_failure(cr, [("user", "bob"), ("addr", "10.0.0.1")], 60)
    store.status.write_runner_heartbeat(cr, {"pid": 1}, ttl_s=30)
    _city_batch(cr, T0)
    store.feeds.write_health(cr, "t", {"domain": "transport", "last_success": T0})
    store.feeds.dead_letter(cr, "t", [("bad row", "excerpt")])
    assert store.feeds.acquire_lease(cr, "t", "runner-1", 5000)
    raised = alerts.raise_alert(cr, fingerprint="f:1", title="T", severity="minor",
                                domain="city", source="rule", now=T0)
    alerts.acknowledge(cr, raised.alert_id, "ada", now=T0 + 1)
    placed = keys_per_master(redis_cluster)
    every = [key for keys in placed.values() for key in keys]
    assert every and all(k.startswith("co:{") and "}:" in k for k in every), every
    assert all(placed.values()), placed
    assert len(every) == len(set(every))
    status = store.status.live_status(cr)
    assert status.runner_alive and status.feeds["t"]["domain"] == "transport"
    assert all(version >= 1 for version, _ in status.versions.values())


def test_ten_signups_of_one_name_at_once_one_wins(redis_cluster: RedisClusterServer,
                                                  cr: redis.Redis) -> None:
    """WATCH/MULTI inside one slot on the cluster: the same name is created exactly once."""
    barrier = threading.Barrier(10)
    outcomes: list[str] = []
    lock = threading.Lock()

    def create(role: str) -> None:
        client = connect(redis_cluster.url)
        try:
            barrier.wait(timeout=20)
            store.auth.create_user(client, "carol", {"role": role})
            outcome = role
        except store.AlreadyExists:
            outcome = "exists"
        finally:
            client.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=create, args=(f"role{i}",)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    winners = [o for o in outcomes if o != "exists"]
    assert len(outcomes) == 10 and len(winners) == 1, outcomes
    assert store.auth.get_user(cr, "carol") == {"name": "carol", "role": winners[0]}
    assert store.auth.count_users(cr) == 1


PRESSURE_RULE = """
[[threshold]]
id = "zone_pressure_low"
title = "Low pressure in zone {subject}: {value} {unit}"
domain = "water"
kpi = "min_pressure"
scope = "each"
below = 2.0
for = "0s"
severity = "major"
"""


def test_kpis_and_rules_run_on_the_cluster(cr: redis.Redis) -> None:
    """The runner's timer work reads all domains' slots in one pipeline: KPIs of every domain
    are computed and stored, and a threshold rule raises its alert."""
    now = time.time()
    _city_batch(cr, now)
    for domain in DOMAINS:
        kpis.refresh(cr, domain, now=now)
    assert {domain: bool(store.kpis.read(cr, domain)) for domain in DOMAINS} == {
        "transport": True, "water": True, "medical": True, "city": True}
    store.kpis.write(cr, "water", [{
        "name": "min_pressure:north", "domain": "water", "title": "p", "value": 1.2,
        "unit": "bar", "target": "", "status": "bad", "computed_at": now, "subject": "north",
        "group": "min_pressure"}])
    result = evaluation.evaluate(cr, now, rules.parse_rules(PRESSURE_RULE, "test"))
    alert = alerts.get_alert(cr, alert_id_for("rule:zone_pressure_low:north"))
    assert alert is not None and result.raised == [alert["id"]]
    assert alert["title"] == "Low pressure in zone north: 1.2 bar"
    assert [a["id"] for a in alerts.list_alerts(cr, open_only=True)] == [alert["id"]]


def test_the_web_app_on_the_cluster(redis_cluster: RedisClusterServer, cr: redis.Redis,
                                    tmp_path: Path) -> None:
    """Login (throttle, session epoch), the API and the live status callback over the cluster."""
    from app.web.server import create_app

    app = create_app(load_settings(environ={"CITYOPS_DATA_DIR": str(tmp_path),
                                            "CITYOPS_REDIS_URL": redis_cluster.url}))
    accounts.add_user(cr, "opal", "operator", PASSWORD)
    client = app.server.test_client()
    assert login(client, "opal", "wrong password").status_code == 401
    assert login(client, "opal").status_code == 302
    _city_batch(cr, time.time())
    vehicles = client.get("/api/v1/entities/transport?kind=vehicle")
    assert vehicles.status_code == 200
    assert [e["id"] for e in vehicles.get_json()["entities"]] == ["t:vehicle:1"]
    live = client.post("/_dash-update-component", json=LIVE_BODY, headers=csrf_header(client))
    assert live.status_code == 200
    seen = live.get_json()["response"]["live-seen"]["data"]
    assert ["transport", store.status.domain_versions(cr)["transport"][0]] == seen[0][:2]
    assert [e.action for e in store.audit.read(cr, 10)][:2] == ["login", "login_failed"]
    assert client.post("/logout", headers=csrf_header(client)).status_code == 302
    assert client.get("/api/v1/me").status_code == 401
