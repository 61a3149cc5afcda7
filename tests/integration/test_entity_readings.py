"""Entities with their newest readings: what the API's lists and one-entity answers carry."""

from __future__ import annotations

import time

import redis

from app import store
from app.live import entities
from app.model.records import Entity, Observation


def test_rows_carry_each_entitys_newest_readings(r: redis.Redis) -> None:
    """A hospital shows its beds, a sensor its pressure; a metric the entity lacks is absent."""
    now = time.time()
    store.entities.write_batch(r, "medical", "m", entities=[
        Entity("medical", "hospital", "m:h1", 28.5, 112.3, "open", now, "m", {"name": "H1"}),
        Entity("medical", "hospital", "m:h2", 28.6, 112.4, "open", now, "m", {"name": "H2"})],
        observations=[Observation("m:h1", "beds_occupied", 39, "1", now - 60),
                      Observation("m:h1", "beds_occupied", 41, "1", now),
                      Observation("m:h1", "beds_total", 120, "1", now),
                      Observation("m:h2", "beds_total", 80, "1", now)])
    rows = entities.with_readings(r, "medical", entities.domain_entities(r, "medical"))
    by_id = {row["id"]: row for row in rows}
    assert by_id["m:h1"]["readings"] == {
        "beds_occupied": {"value": 41, "unit": "1", "observed_at": now},
        "beds_total": {"value": 120, "unit": "1", "observed_at": now}}
    assert by_id["m:h2"]["readings"] == {"beds_total": {"value": 80, "unit": "1", "observed_at": now}}
    one = entities.entity(r, "medical", "m:h1")
    assert one is not None and one["readings"]["beds_occupied"]["value"] == 41
    assert entities.entity(r, "medical", "m:nowhere") is None
    assert "readings" not in entities.entity(r, "medical", "m:h2", readings=False)
    assert store.entities.metric_names(r, "medical") == ["beds_occupied", "beds_total"]
