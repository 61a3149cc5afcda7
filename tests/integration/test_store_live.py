"""Live entity batches on a real Redis: atomic upserts, older-never-wins, full datasets, feeds."""

from __future__ import annotations

import time

import redis

from app import store
from app.model.records import Entity, Event, Observation


def vehicle(vid: str, ts: float, lat: float | None = 28.55, lon: float | None = 112.36) -> Entity:
    """A transport vehicle entity of feed 'f'."""
    return Entity(domain="transport", kind="vehicle", id=f"f:vehicle:{vid}", lat=lat, lon=lon,
                  status="in_service", observed_at=ts, source="f", attrs={"route_id": "1"})


def test_batch_upsert_and_read_back(r: redis.Redis) -> None:
    """Entities, latest observations and events land together and bump the domain version."""
    result = store.entities.write_batch(
        r, "transport", "f", entities=[vehicle("a", 100.0), vehicle("b", 100.0, None, None)],
        observations=[Observation("f:vehicle:a", "delay_s", 42.0, "s", 100.0)],
        events=[Event("transport", "service_alert", "f:alert:1", "Detour", 100.0, "f")])
    assert (result.accepted, result.older, result.retired) == (2, 0, 0)
    stored = {e["id"]: e for e in store.entities.read_entities(r, "transport")}
    assert stored["f:vehicle:a"]["attrs"] == {"route_id": "1"} and stored["f:vehicle:a"]["lat"] == 28.55
    assert stored["f:vehicle:b"]["lat"] is None
    assert store.entities.read_latest(r, "transport", "delay_s") == {"f:vehicle:a": (42.0, "s", 100.0)}
    assert [e["title"] for e in store.entities.read_events(r, "transport")] == ["Detour"]
    assert store.status.domain_versions(r)["transport"][0] >= 1
    # Moving vehicles are located from their records; places are in the GEO index.
    assert r.geopos(store.keys.Keys.geo("transport"), "f:vehicle:a") == [None]
    stop = Entity("transport", "stop", "f:stop:1", 28.5, 112.3, "active", 100.0, "f")
    store.entities.write_batch(r, "transport", "f", entities=[stop])
    assert r.geopos(store.keys.Keys.geo("transport"), "f:stop:1")[0] is not None


def test_older_data_never_overwrites_newer(r: redis.Redis) -> None:
    """A batch with an older timestamp for an entity leaves the newer record in place."""
    store.entities.write_batch(r, "transport", "f", entities=[vehicle("a", 200.0, 28.6, 112.4)])
    version = store.status.domain_versions(r)["transport"][0]
    result = store.entities.write_batch(r, "transport", "f", entities=[vehicle("a", 150.0, 28.0, 112.0)])
    assert (result.accepted, result.older) == (0, 1)
    assert store.entities.read_entities(r, "transport")[0]["lat"] == 28.6
    assert store.status.domain_versions(r)["transport"][0] == version  # nothing changed, no new version


def test_full_dataset_retires_what_it_no_longer_lists(r: redis.Redis) -> None:
    """A full dataset removes the feed's vanished entities; other feeds are untouched."""
    store.entities.write_batch(r, "transport", "f", entities=[vehicle("a", 1), vehicle("b", 1)],
                      replaces=("vehicle",))
    other = Entity("transport", "vehicle", "g:vehicle:z", 28.5, 112.3, "in_service", 1, "g")
    store.entities.write_batch(r, "transport", "g", entities=[other], replaces=("vehicle",))
    result = store.entities.write_batch(r, "transport", "f", entities=[vehicle("b", 2)],
                                        replaces=("vehicle",))
    assert result.retired == 1
    assert sorted(e["id"] for e in store.entities.read_entities(r, "transport")) == ["f:vehicle:b",
                                                                            "g:vehicle:z"]
    assert r.geopos(store.keys.Keys.geo("transport"), "f:vehicle:a") == [None]
    store.entities.write_batch(r, "transport", "f", removed=["f:vehicle:b"])
    assert [e["id"] for e in store.entities.read_entities(r, "transport")] == ["g:vehicle:z"]


def test_full_dataset_retires_only_the_kinds_it_replaces(r: redis.Redis) -> None:
    """A routes-only batch of a static feed leaves that feed's stops alone."""
    stop = Entity("transport", "stop", "s:stop:1", 28.5, 112.3, "active", 1, "s")
    route = Entity("transport", "route", "s:route:1", None, None, "active", 1, "s")
    store.entities.write_batch(r, "transport", "s", entities=[stop, route], replaces=("stop", "route"))
    result = store.entities.write_batch(r, "transport", "s", entities=[], replaces=("route",))
    assert result.retired == 1
    assert [e["id"] for e in store.entities.read_entities(r, "transport")] == ["s:stop:1"]


def test_removed_alert_event_is_deleted(r: redis.Redis) -> None:
    """A Removed id that names an event (a deleted GTFS-rt alert) deletes the event."""
    store.entities.write_batch(r, "transport", "f",
                      events=[Event("transport", "service_alert", "f:alert:9", "X", 1, "f")])
    store.entities.write_batch(r, "transport", "f", removed=["f:alert:9"])
    assert store.entities.read_events(r, "transport") == []


def test_polar_positions_are_stored_without_geo_index(r: redis.Redis) -> None:
    """A valid latitude outside Redis GEO's band does not abort the batch."""
    result = store.entities.write_batch(r, "transport", "f", entities=[vehicle("p", 1, 89.0, 10.0),
                                                              vehicle("q", 1)])
    assert result.accepted == 2 and store.entities.count(r, "transport") == 2


def test_event_retirement(r: redis.Redis) -> None:
    """With retire_events, service alerts a feed stopped sending are removed."""
    ev = [Event("transport", "service_alert", f"f:alert:{i}", f"A{i}", 1, "f") for i in range(3)]
    store.entities.write_batch(r, "transport", "f", events=ev, retire_events=True)
    store.entities.write_batch(r, "transport", "f", events=ev[:1], retire_events=True)
    assert [e["id"] for e in store.entities.read_events(r, "transport")] == ["f:alert:0"]


def test_feed_health_dead_letters_and_lease(r: redis.Redis) -> None:
    """Health counts failures, dead letters are capped and kept, a lease has one holder."""
    store.feeds.write_health(r, "f", {"last_error": "timeout"}, incr_failures=True)
    store.feeds.write_health(r, "f", {"last_error": "timeout"}, incr_failures=True)
    assert store.feeds.read_health(r)[0]["consecutive_failures"] == "2"
    store.feeds.write_health(r, "f", {"last_success": time.time()})
    assert store.feeds.read_health(r)[0]["consecutive_failures"] == "0"
    store.feeds.dead_letter(r, "f", [("bad row", "x" * 5000)])
    letter = store.feeds.read_dead_letters(r, "f")[0]
    assert letter["reason"] == "bad row" and len(letter["excerpt"]) == 2048
    assert store.feeds.acquire_lease(r, "f", "runner-1", 1000)
    assert not store.feeds.acquire_lease(r, "f", "runner-2", 1000)
    assert store.feeds.acquire_lease(r, "f", "runner-1", 1000)  # renewal
    store.feeds.release_lease(r, "f", "runner-1")
    assert store.feeds.acquire_lease(r, "f", "runner-2", 1000)


def test_ids_with_control_characters_keep_the_batch_intact(r: redis.Redis) -> None:
    """Control characters a feed puts in an id reach the store as they are, next to the others."""
    odd = Entity("transport", "vehicle", "f:vehicle:a\x1fb\x1ec", 28.5, 112.3, "ok", 1, "f")
    result = store.entities.write_batch(r, "transport", "f", entities=[odd, vehicle("n", 1)])
    assert result.accepted == 2
    assert sorted(e["id"] for e in store.entities.read_entities(r, "transport")) == [
        "f:vehicle:a\x1fb\x1ec", "f:vehicle:n"]


def test_attrs_that_look_like_entity_boundaries_are_packed_alone(r: redis.Redis) -> None:
    """A nested object starting with "domain" defeats the one-call packing, not the data."""
    tricky = Entity("transport", "vehicle", "f:vehicle:t", 28.5, 112.3, "ok", 1, "f",
                    {"stops": [{"domain": "x"}, {"domain": "y"}], "label": '},{"domain":'})
    result = store.entities.write_batch(r, "transport", "f", entities=[tricky, vehicle("n", 1)])
    assert result.accepted == 2
    stored = {e["id"]: e for e in store.entities.read_entities(r, "transport")}
    assert stored["f:vehicle:t"]["attrs"] == {"stops": [{"domain": "x"}, {"domain": "y"}],
                                              "label": '},{"domain":'}
    assert stored["f:vehicle:n"]["kind"] == "vehicle"


def test_repeated_full_listings_still_retire_what_a_differential_added(r: redis.Redis) -> None:
    """The steady-state shortcut (same ids as last time) never hides an entity to retire."""
    def full(*ids: str) -> store.entities.BatchResult:
        return store.entities.write_batch(r, "transport", "f", entities=[vehicle(i, 10) for i in ids],
                                 replaces=["vehicle"])

    assert full("a", "b").retired == 0
    assert full("b", "a").retired == 0  # same set, other order
    store.entities.write_batch(r, "transport", "f", entities=[vehicle("c", 10)])  # a differential
    assert full("a", "b").retired == 1
    assert sorted(e["id"] for e in store.entities.read_entities(r, "transport")) == ["f:vehicle:a",
                                                                              "f:vehicle:b"]
    store.entities.write_batch(r, "transport", "f", entities=[vehicle("a", 11)], removed=["f:vehicle:b"])
    assert full("a").retired == 0
    assert full("a", "d").retired == 0
    assert full("d").retired == 1
    assert [e["id"] for e in store.entities.read_entities(r, "transport")] == ["f:vehicle:d"]


def test_a_store_written_by_an_earlier_version_is_read_and_converted(r: redis.Redis) -> None:
    """Observation times in a hash and feed ids in a set (the earlier layout): the next batch
    still refuses older data and retires what the full listing drops, and converts both keys."""
    store.entities.write_batch(r, "transport", "f", entities=[vehicle("a", 200.0), vehicle("b", 200.0)])
    r.delete(store.keys.Keys.live_times("transport", "f"),
             store.keys.Keys.feed_entities("transport", "f", "vehicle"))
    r.hset(store.keys.Keys.live_times_legacy("transport"),
           mapping={"f:vehicle:a": "200", "f:vehicle:b": "200", "g:vehicle:a": "900"})
    r.sadd(store.keys.Keys.feed_entities("transport", "f", "vehicle"), "f:vehicle:a", "f:vehicle:b")
    result = store.entities.write_batch(r, "transport", "f", entities=[vehicle("a", 100.0)],
                               replaces=["vehicle"])
    assert (result.accepted, result.older, result.retired) == (0, 1, 1)
    assert [e["id"] for e in store.entities.read_entities(r, "transport")] == ["f:vehicle:a"]
    assert r.type(store.keys.Keys.live_times("transport", "f")) == "string"
    # The feed took its own entries (not another feed's); the old map expires within a day.
    ids_in_times = ("local ids = {} for id in pairs(cmsgpack.unpack(redis.call('GET', KEYS[1])))"
                    " do ids[#ids + 1] = id end return ids")
    assert r.eval(ids_in_times, 1, store.keys.Keys.live_times("transport", "f")) == ["f:vehicle:a"]
    assert 0 < r.ttl(store.keys.Keys.live_times_legacy("transport")) <= 86_400
    assert r.type(store.keys.Keys.feed_entities("transport", "f", "vehicle")) == "string"
    result = store.entities.write_batch(r, "transport", "f",
                                        entities=[vehicle("a", 300.0), vehicle("c", 300.0)])
    assert (result.accepted, result.older) == (2, 0)


def test_removed_entities_leave_the_times_and_the_feed_lists(r: redis.Redis) -> None:
    """A removed entity comes back with any time (its old time is forgotten), and a later full
    listing without it has nothing of it left to retire."""
    store.entities.write_batch(r, "transport", "f", entities=[vehicle("a", 500.0), vehicle("b", 500.0)])
    store.entities.write_batch(r, "transport", "f", entities=[vehicle("b", 501.0)], removed=["f:vehicle:a"])
    assert [e["id"] for e in store.entities.read_entities(r, "transport")] == ["f:vehicle:b"]
    result = store.entities.write_batch(r, "transport", "f", entities=[vehicle("a", 100.0)])
    assert (result.accepted, result.older) == (1, 0)
    result = store.entities.write_batch(r, "transport", "f", entities=[vehicle("b", 502.0)],
                               replaces=["vehicle"])
    assert result.retired == 1  # a, listed again by the differential batch above, not b


def test_duplicates_in_one_batch_keep_the_newest(r: redis.Redis) -> None:
    """Two records of one entity in a batch: the newer stays, whatever their order."""
    late = Entity("transport", "vehicle", "f:vehicle:a", 28.6, 112.4, "in_service", 300.0, "f")
    early = Entity("transport", "vehicle", "f:vehicle:a", 28.5, 112.3, "in_service", 200.0, "f")
    store.entities.write_batch(r, "transport", "f", entities=[late, early])
    assert store.entities.read_entity(r, "transport", "f:vehicle:a")["lat"] == 28.6
