"""The store on a real Redis: key names with hash tags, versions, audit, throttling windows."""

from __future__ import annotations

import time

import redis

from app import store
from app.store.keys import Keys
from tests.support.paths import REPO


def test_every_key_carries_a_hash_tag(r: redis.Redis) -> None:
    """Keys the store writes all have a {tag}, so each operation stays in one cluster slot."""
    store.auth.create_user(r, "u", {"role": "operator"})
    store.auth.create_token(r, "abcdefabcdef", {"name": "t", "role": "wall"})
    store.audit.append(r, "tester", "test")
    store.status.bump_domain_version(r, "transport")
    store.auth.record_login_failure(r, [("user", "u"), ("addr", "127.0.0.1")], 60)
    store.status.write_runner_heartbeat(r, {"pid": 1}, ttl_s=5)
    keys = list(r.scan_iter())
    assert keys and all(k.startswith("co:{") and "}:" in k for k in keys)


def test_domain_versions(r: redis.Redis) -> None:
    """Versions count up per domain and carry the time of the change."""
    assert store.status.domain_versions(r)["water"] == (0, None)
    store.status.bump_domain_version(r, "water", updated_at=1000.0)
    assert store.status.bump_domain_version(r, "water", updated_at=2000.0) == 2
    versions = store.status.domain_versions(r)
    assert versions["water"] == (2, 2000.0) and versions["transport"] == (0, None)


def test_audit_is_append_only_and_newest_first(r: redis.Redis) -> None:
    """Entries come back newest first with every field, and are never trimmed."""
    for i in range(3):
        store.audit.append(r, "alice", f"act{i}", target="t", addr="10.0.0.1")
    entries = store.audit.read(r)
    assert [e.action for e in entries] == ["act2", "act1", "act0"]
    assert entries[0].actor == "alice" and entries[0].addr == "10.0.0.1"
    assert abs(entries[0].at - time.time()) < 5
    assert r.xlen(Keys.audit) == 3


def test_login_failure_window(r: redis.Redis) -> None:
    """Failures count within one window that starts at the first failure."""
    subjects = [("user", "bob")]
    for _ in range(3):
        store.auth.record_login_failure(r, subjects, 300)
    (count, ttl), = store.auth.login_failures(r, subjects)
    assert count == 3 and 290 <= ttl <= 300
    store.auth.clear_login_failures(r, "user", "bob")
    assert store.auth.login_failures(r, subjects) == [(0, 0)]


def test_runner_heartbeat_expires(r: redis.Redis) -> None:
    """A heartbeat disappears when the runner stops beating."""
    store.status.write_runner_heartbeat(r, {"pid": 42}, ttl_s=1)
    assert store.status.read_runner_heartbeat(r) == {"pid": "42"}
    deadline = time.monotonic() + 5
    while store.status.read_runner_heartbeat(r) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert store.status.read_runner_heartbeat(r) is None


def test_only_the_store_names_keys() -> None:
    """No module outside app/store/ spells a Redis key."""

    root = REPO
    offenders = [str(p.relative_to(root)) for folder in ("app", "layouts", "data_adapters")
                 for p in (root / folder).rglob("*.py")
                 if "store" not in p.relative_to(root).parts and '"co:' in p.read_text(encoding="utf-8")]
    assert offenders == []


def test_live_status_in_one_round_trip(r: redis.Redis) -> None:
    """live_status agrees with domain_versions and sees the runner's heartbeat."""
    store.status.bump_domain_version(r, "city", updated_at=123.0)
    status = store.status.live_status(r)
    assert status.versions == store.status.domain_versions(r) and status.versions["city"] == (1, 123.0)
    assert status.runner_alive is False and status.feeds == {}
    store.status.write_runner_heartbeat(r, {"pid": 7}, ttl_s=5)
    store.feeds.write_health(r, "f", {"domain": "city", "last_success": "99",
                                     "freshness_budget_s": "30"})
    store.feeds.write_health(r, "f", {"last_error": "boom"}, incr_failures=True)
    status = store.status.live_status(r)
    assert status.runner_alive is True
    assert status.feeds["f"]["last_success"] == "99"
    assert status.feeds["f"]["consecutive_failures"] == "1"
