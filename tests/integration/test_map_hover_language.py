"""The live map's hover labels in the reader's language (issue 19): the runner publishes a label's
words as catalogue keys, each web worker words them per reader, once per published label set and
language. On a real redis-server, through the runner's publish and a worker's figure."""

from __future__ import annotations

import re
import time
from typing import Any, Iterator

import pytest
import redis

from app import alerts, i18n, store
from app.alerts import evaluation, rules
from app.model.domains import DOMAINS
from app.model.records import Entity, Event, Observation
from app.situation import mapdata
from app.situation.mapdata import share as map_share
from layouts import livemap

pytestmark = pytest.mark.integration

LIMITS = mapdata.Thresholds.of()
CENTRE = (28.55, 112.36)
HAN = re.compile(r"[\u4e00-\u9fff]")
# English words of the labels and of the traces' names (the marker classes): none may be left on
# a Chinese map, and an English map has no Chinese. Feed names below avoid these words.
ENGLISH = re.compile(r"\b(?:Vehicle|Route|Sensor|Reservoir|Zone|Hospital|Ambulance|On call|"
                     r"Available|Stop|Warning|Severity|Alert|acknowledged|beds free|grouped|"
                     r"zoom in|on time|very late|late|early|pressure|level|filling|full|free|"
                     r"available|on call|open|past due|major|critical|Vehicles|Stops|Hospitals)\b")
RULES = """
[[threshold]]
id = "zone_pressure_low"
title = "Low pressure in zone {subject}"
title_zh = "供水分区 {subject} 水压偏低"
domain = "water"
kpi = "min_pressure"
scope = "each"
below = 2.0
severity = "major"
"""


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    mapdata.forget_snapshots()
    yield
    mapdata.forget_snapshots()


def _city(r: redis.Redis, now: float) -> None:
    lat, lon = CENTRE
    store.entities.write_batch(r, "transport", "t", entities=[
        Entity("transport", "vehicle", f"t:vehicle:{n}", lat + n * 1e-3, lon, "in_service", now, "t",
               {"label": f"K{n}", "route_id": "7"}) for n in range(3)] + [
        Entity("transport", "stop", "t:stop:1", lat, lon + 1e-3, "active", now, "t",
               {"name": "Wuyi Square"})],
        observations=[Observation("t:vehicle:0", "delay_s", 700.0, "s", now)])
    store.entities.write_batch(r, "water", "w", entities=[
        Entity("water", "sensor", "w:sensor:1", lat - 1e-3, lon, "active", now, "w",
               {"name": "P-17", "zone": "Z3", "metrics": ["pressure_bar"]}),
        Entity("water", "reservoir", "w:reservoir:1", lat - 2e-3, lon, "active", now, "w",
               {"name": "Xiangjiang"})],
        observations=[Observation("w:sensor:1", "pressure_bar", 1.2, "bar", now)])
    store.entities.write_batch(r, "medical", "m", entities=[
        Entity("medical", "hospital", "m:hospital:1", lat, lon - 1e-3, "active", now, "m",
               {"name": "Xiangya No. 1"}),
        Entity("medical", "ambulance", "m:ambulance:1", lat, lon - 2e-3, "on_call", now, "m",
               {"label": "A-12"})],
        observations=[Observation("m:hospital:1", "beds_total", 100.0, "{bed}", now),
                      Observation("m:hospital:1", "beds_available", 40.0, "{bed}", now)])
    square = {"type": "Polygon", "coordinates": [[[lon - 0.01, lat - 0.01], [lon + 0.01, lat - 0.01],
                                                  [lon + 0.01, lat + 0.01], [lon - 0.01, lat - 0.01]]]}
    store.entities.write_batch(r, "city", "c", entities=[
        Entity("city", "request", "c:request:1", lat + 2e-3, lon, "open", now, "c",
               {"address": "No. 5 Furong Road"})],
        events=[Event("city", "cap_warning", "cap:1", "", now, "cap", "major", now, now + 3600,
                      square, {"areaDesc": "Furong"})])
    # A rule's alert at the sensor: its title in both languages.
    store.kpis.write(r, "water", [{
        "name": "min_pressure:Z3", "domain": "water", "title": "Lowest pressure: Z3",
        "value": 1.2, "unit": "bar", "target": "", "status": "ok", "computed_at": now,
        "subject": "Z3", "group": "min_pressure", "lat": lat - 1e-3, "lon": lon}])
    evaluation.evaluate(r, now, rules.parse_rules(RULES, "test"))
    assert alerts.list_alerts(r)


def _hover_words(r: redis.Redis, lang: str) -> tuple[str, list[Any]]:
    """Every hover text, trace name and hover template of the desk map, in ``lang``."""
    cut = mapdata.cut_for(mapdata.view_around(*CENTRE, 13.0))
    with i18n.use_language(lang):
        content, _ = livemap.read_content(r, mapdata.read_versions(r), livemap.ALL_LAYERS, cut,
                                          False, LIMITS)
        fig, _, _ = livemap.figure(livemap.trace_plan(livemap.ALL_LAYERS), content,
                                livemap.ALL_LAYERS)
    labels = [text for trace in fig["data"] for text in trace.get("hovertext", [])]
    words = labels + [trace["name"] for trace in fig["data"]] + [
        re.sub(r"%\{[^}]*\}|<extra>.*?</extra>", " ", trace.get("hovertemplate", ""))
        for trace in fig["data"]]
    return "\n".join(words), labels


def test_hover_labels_follow_the_readers_language(r: redis.Redis) -> None:
    _city(r, time.time())
    for domain in DOMAINS:
        map_share.publish(r, domain, LIMITS)  # what the runner does after each batch
    english, labels = _hover_words(r, "en")
    assert len(labels) >= 8, labels
    assert "Vehicle K0<br>Route 7" in labels and "40 of 100 beds free" in english
    assert "Alert (major): Low pressure in zone Z3" in english
    assert not HAN.search(english), english
    chinese, labels = _hover_words(r, "zh")
    assert "车辆 K0<br>线路 7" in labels and "空床 40 张（共 100 张）" in chinese
    assert "重要告警：供水分区 Z3 水压偏低" in chinese and "预警：CAP 预警" in chinese
    assert HAN.search(chinese) and not ENGLISH.search(chinese), ENGLISH.findall(chinese)
    # Feed text stays the feed's, in either language.
    assert "No. 5 Furong Road" in chinese and "Xiangya No. 1" in chinese


def test_labels_are_worded_once_per_published_label_set_and_language(r: redis.Redis) -> None:
    """A new version that only moved a vehicle reuses the labels worded for the one before."""
    now = time.time()
    _city(r, now)
    map_share.publish(r, "transport", LIMITS)
    version = mapdata.read_versions(r)["transport"]
    first = map_share.domain_snapshot(r, "transport", version, LIMITS).points["vehicles"]
    assert sorted(first.hover_in("zh")) == ["车辆 K0<br>线路 7", "车辆 K1<br>线路 7", "车辆 K2<br>线路 7"]
    store.entities.write_batch(r, "transport", "t", entities=[
        Entity("transport", "vehicle", "t:vehicle:1", CENTRE[0] + 0.01, CENTRE[1], "in_service",
               now + 1, "t", {"label": "K1", "route_id": "7"})])
    map_share.publish(r, "transport", LIMITS)
    later = mapdata.read_versions(r)["transport"]
    assert later > version
    moved = map_share.domain_snapshot(r, "transport", later, LIMITS).points["vehicles"]
    assert moved is not first and moved.worded is first.worded  # the labels worded before
    assert None not in moved.worded["zh"].tolist()  # all three worded already
    assert "Vehicle K1<br>Route 7" in moved.hover_in("en")
