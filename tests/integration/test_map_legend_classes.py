"""The map's legend classes say what they mean (issue 19): a flow, level or quality meter is not a
pressure sensor without a reading, and every class is named in both languages."""

from __future__ import annotations

import time

import pytest
import redis

from app import i18n, store
from app.i18n.catalog import CATALOG
from app.model.records import Entity, Observation
from app.situation import mapdata

LIMITS = mapdata.Thresholds.of()


def _sensor(name: str, metrics: list[str] | None, now: float) -> Entity:
    attrs = {"name": name} if metrics is None else {"name": name, "metrics": metrics}
    return Entity("water", "sensor", f"w:sensor:{name}", 28.55, 112.36, "active", now, "w", attrs)


def test_meters_that_measure_no_pressure_are_their_own_class(r: redis.Redis) -> None:
    now = time.time()
    store.entities.write_batch(r, "water", "w", entities=[
        _sensor("flow", ["flow_m3h"], now), _sensor("quality", ["turbidity_ntu"], now),
        _sensor("silent", ["pressure_bar"], now), _sensor("unsaid", None, now),
        _sensor("fine", ["pressure_bar"], now)],
        observations=[Observation("w:sensor:fine", "pressure_bar", 3.0, "bar", now)])
    store.status.bump_domain_version(r, "water", now)
    version = mapdata.read_versions(r)["water"]
    points = mapdata.build_domain_snapshot(r, "water", version, LIMITS, now=now).points["sensors"]
    layer = mapdata.LAYER_BY_KEY["sensors"]
    keys = {str(i).rsplit(":", 1)[-1]: layer.classes[int(c)].key
            for i, c in zip(points.ids, points.cls, strict=True)}
    assert keys == {"flow": "other", "quality": "other", "silent": "unknown", "unsaid": "unknown",
                    "fine": "ok"}
    other = layer.classes[[c.key for c in layer.classes].index("other")]
    assert "pressure" not in other.label and other.rank == mapdata.OK


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_layer_and_class_is_named_in_both_languages(lang: str) -> None:
    missing = [f"map.layer.{layer.key}" for layer in mapdata.LAYERS
               if f"map.layer.{layer.key}" not in CATALOG]
    missing += [f"map.class.{layer.key}.{c.key}" for layer in mapdata.LAYERS for c in layer.classes
                if f"map.class.{layer.key}.{c.key}" not in CATALOG]
    assert not missing
    with i18n.use_language(lang):
        named = {i18n.t(f"map.class.sensors.{c.key}") for c in mapdata.LAYER_BY_KEY["sensors"].classes}
    assert len(named) == len(mapdata.LAYER_BY_KEY["sensors"].classes)  # no two read the same
