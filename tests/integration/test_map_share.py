"""The map snapshots the runner publishes through Redis: equal to a local build, versioned, pruned."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import redis

from app import store
from app.model.records import Entity, Event, Observation
from app.situation import mapdata
from app.situation.mapdata import share as map_share

LIMITS = mapdata.Thresholds.of()
SQUARE = {"type": "Polygon", "coordinates": [[[112.3, 28.5], [112.4, 28.5], [112.4, 28.6],
                                              [112.3, 28.5]]]}


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    """Snapshots and parts are cached per process: each test starts without them."""
    mapdata.forget_snapshots()
    map_share._parts.clear()
    map_share._quiet_due.clear()
    yield
    mapdata.forget_snapshots()
    map_share._parts.clear()
    map_share._quiet_due.clear()


def fill(r: redis.Redis, n: int = 50, at: float | None = None, label: str = "Bus") -> None:
    """Vehicles with delays, a route, a stop and a CAP warning area."""
    at = time.time() if at is None else at
    store.entities.write_batch(r, "transport", "t", entities=[
        Entity("transport", "vehicle", f"t:vehicle:{i}", 28.5 + i * 1e-3, 112.3 + i * 1e-3,
               "in_service", at, "t", {"label": f"{label} <{i}>", "route_id": "7"})
        for i in range(n)] + [
        Entity("transport", "stop", "t:stop:1", 28.55, 112.35, "active", at, "t", {"name": "Stop"}),
        Entity("transport", "route", "t:route:7", None, None, "active", at, "t",
               {"shape": [[112.3, 28.5], [112.31, 28.51]]})],
        observations=[Observation(f"t:vehicle:{i}", "delay_s", float(i * 30 - 200), "s", at)
                      for i in range(n)],
        events=[Event("transport", "cap_warning", "t:warning:1", "Flood <b>warning</b>", at, "t",
                      severity="major", area=SQUARE)])


def current(r: redis.Redis, domain: str) -> int:
    """The domain's stored version."""
    return store.map_snapshots.versions(r)[0][domain][0]


def test_a_published_snapshot_equals_a_local_build(r: redis.Redis) -> None:
    """Ids, labels, classes, routes and warning areas survive the trip; positions to float32."""
    fill(r)
    assert map_share.publish(r, "transport", LIMITS)
    version = current(r, "transport")
    local = mapdata.build_domain_snapshot(r, "transport", version, LIMITS)
    shared = map_share.load(r, "transport", version, LIMITS)
    assert shared is not None and shared.version == version
    assert set(shared.points) == set(local.points) == {"vehicles", "stops"}
    for name, points in local.points.items():
        got = shared.points[name]
        assert got.ids.tolist() == points.ids.tolist()
        assert got.hover.tolist() == points.hover.tolist()
        assert got.cls.tolist() == points.cls.tolist()
        np.testing.assert_allclose(got.lat, points.lat, atol=1e-5)
        np.testing.assert_allclose(got.lon, points.lon, atol=1e-5)
    assert len(set(local.points["vehicles"].cls.tolist())) > 1  # the delays made several classes
    assert shared.lines is not None and local.lines is not None
    assert shared.lines.lat == local.lines.lat and shared.lines.signature == local.lines.signature
    assert [(w.id, w.severity, w.hover) for w in shared.warnings] == \
        [(w.id, w.severity, w.hover) for w in local.warnings]
    assert "&lt;b&gt;" in shared.warnings[0].hover  # still the escaped text


def test_an_older_snapshot_never_replaces_a_newer_one(r: redis.Redis) -> None:
    """Two publishers racing: the one that read an older version stores nothing."""
    fill(r)
    map_share.publish(r, "transport", LIMITS)
    version = current(r, "transport")
    stored, missing = store.map_snapshots.write(r, "transport", version - 1, b"old", [], {})
    assert (stored, missing) == (False, [])
    assert map_share.load(r, "transport", version, LIMITS) is not None


def test_parts_travel_once_and_old_ones_are_pruned(r: redis.Redis) -> None:
    """Unchanged labels are not sent again; labels two publishes old are deleted."""
    fill(r, label="Bus")
    map_share.publish(r, "transport", LIMITS)
    first = set(r.hkeys(store.keys.Keys.map_parts("transport")))
    fill(r, at=time.time() + 1, label="Bus")  # moved, same labels
    map_share.publish(r, "transport", LIMITS)
    assert set(r.hkeys(store.keys.Keys.map_parts("transport"))) == first
    fill(r, at=time.time() + 2, label="Coach")
    map_share.publish(r, "transport", LIMITS)
    second = set(r.hkeys(store.keys.Keys.map_parts("transport")))
    assert first < second  # the previous publish's parts stay for readers in between
    fill(r, at=time.time() + 3, label="Tram")
    map_share.publish(r, "transport", LIMITS)
    third = set(r.hkeys(store.keys.Keys.map_parts("transport")))
    assert not (first - second) & third  # labels of two publishes ago are gone


def test_parts_lost_by_redis_are_sent_again(r: redis.Redis) -> None:
    """A publisher never assumes a part is stored: Redis answers what it lacks."""
    fill(r)
    map_share.publish(r, "transport", LIMITS)
    r.delete(store.keys.Keys.map_parts("transport"))
    fill(r, at=time.time() + 1)
    map_share.publish(r, "transport", LIMITS)
    assert map_share.load(r, "transport", current(r, "transport"), LIMITS) is not None


def test_the_map_keeps_the_published_version_while_the_runner_catches_up(r: redis.Redis) -> None:
    """Within the grace the published version is shown; past it the worker builds its own."""
    fill(r)
    map_share.publish(r, "transport", LIMITS)
    published = current(r, "transport")
    fill(r, at=time.time() + 1)  # written, not yet published
    now = time.time()
    assert map_share.read_versions(r, now)["transport"] == published
    late = now + map_share.PUBLISH_GRACE_S + 1
    assert map_share.read_versions(r, late)["transport"] == current(r, "transport") > published
    # A domain nobody publishes shows its stored version.
    store.entities.write_batch(r, "water", "w", entities=[
        Entity("water", "sensor", "w:1", 28.5, 112.3, "active", now, "w", {})])
    assert map_share.read_versions(r, now)["water"] == current(r, "water")


def test_workers_build_for_themselves_when_nothing_matches(r: redis.Redis) -> None:
    """Other limits than the publisher's, or no publish at all: a local build, still correct."""
    fill(r)
    version = current(r, "transport")
    unpublished = map_share.domain_snapshot(r, "transport", version, LIMITS)
    assert unpublished.records  # built here: it read the records
    mapdata.forget_snapshots()
    map_share.publish(r, "transport", LIMITS)
    other = dataclasses.replace(mapdata.Thresholds.of(), pressure_low_bar=3.0)
    assert map_share.load(r, "transport", version, other) is None
    shared = map_share.domain_snapshot(r, "transport", version, LIMITS)
    assert not shared.records and shared.points["vehicles"].ids.size == 50


def test_details_of_a_published_entity_are_read_from_the_store(r: redis.Redis) -> None:
    """The side panel finds the record, its readings and a warning without the snapshot's records."""
    fill(r)
    map_share.publish(r, "transport", LIMITS)
    map_share.domain_snapshot(r, "transport", current(r, "transport"), LIMITS)
    details = mapdata.entity_details(r, "vehicles", "t:vehicle:3", LIMITS)
    assert details is not None and details.record["attrs"]["label"] == "Bus <3>"
    assert [(m, v) for m, v, _, _ in details.readings] == [("delay_s", -110.0)]
    warning = mapdata.entity_details(r, "warnings", "t:warning:1", LIMITS)
    assert warning is not None and warning.record["title"] == "Flood <b>warning</b>"
    assert mapdata.entity_details(r, "vehicles", "t:vehicle:999", LIMITS) is None


def test_cityops_ingest_publishes_what_it_stored(r: redis.Redis, redis_server, tmp_path: Path
                                                 ) -> None:  # type: ignore[no-untyped-def]
    """The CLI writes like an adapter: the map's published version follows the store's."""
    from app.bench.ingest import vehicle_positions_feed

    payload = tmp_path / "vp.pb"
    payload.write_bytes(vehicle_positions_feed(30))
    env = {"CITYOPS_REDIS_URL": redis_server.url, "CITYOPS_DATA_DIR": str(tmp_path / "data"),
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "app.ops.cli", "ingest", "transport", "--file",
                           str(payload)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["accepted"] >= 30
    version, _, published = store.map_snapshots.versions(r)[0]["transport"]
    assert published == version > 0
    shared = map_share.load(r, "transport", version, LIMITS)
    assert shared is not None and shared.points["vehicles"].ids.size == 30


def test_an_unusable_published_snapshot_is_built_locally(r: redis.Redis) -> None:
    """A blob or part that publish() did not write: the tick still gets a correct snapshot."""
    fill(r)
    map_share.publish(r, "transport", LIMITS)
    version = current(r, "transport")
    r.hset(store.keys.Keys.map_parts("transport"),
           mapping={key: "not zlib" for key in r.hkeys(store.keys.Keys.map_parts("transport"))})
    assert map_share.load(r, "transport", version, LIMITS) is None
    r.set(store.keys.Keys.map_snapshot("transport"), "not msgpack \xc1")
    assert map_share.load(r, "transport", version, LIMITS) is None
    snapshot = map_share.domain_snapshot(r, "transport", version, LIMITS)
    assert snapshot.records and snapshot.points["vehicles"].ids.size == 50


def test_a_feed_gone_silent_shows_on_the_map_though_no_batch_comes(r: redis.Redis) -> None:
    """Issue 18: the runner publishes the domain again when its things pass their silence limit
    (a version of what the map shows; the data's "as of" time stays), and the map reads them as
    "no recent report" with no new batch stored."""
    budget = 0.5
    store.feeds.write_health(r, "t", {"domain": "transport", "adapter": "gtfs_rt",
                                      "last_success": time.time(), "freshness_budget_s": budget})
    fill(r, n=3)
    assert map_share.publish(r, "transport", LIMITS)
    version, as_of = store.status.domain_versions(r)["transport"]
    quiet = mapdata.quiet_code(mapdata.LAYER_BY_KEY["vehicles"])
    first = map_share.domain_snapshot(r, "transport", version, LIMITS)
    assert quiet not in first.points["vehicles"].cls.tolist()
    assert map_share.publish_quiet(r, LIMITS, now=time.time() - 60) == []  # not yet due
    deadline = time.monotonic() + 30
    while not map_share.publish_quiet(r, LIMITS):  # due 3 budgets after the last report
        assert time.monotonic() < deadline, "never published again"
        time.sleep(0.1)
    again, as_of_again = store.status.domain_versions(r)["transport"]
    assert again == version + 1 and as_of_again == as_of
    shown = map_share.domain_snapshot(r, "transport", again, LIMITS).points["vehicles"].cls.tolist()
    assert shown == [quiet] * 3
    assert map_share.publish_quiet(r, LIMITS) == []  # nothing left to turn silent
