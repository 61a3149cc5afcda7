"""The API as its clients see it: a small live city to read, pages walked to the end, answers checked
against the OpenAPI document's shapes, and the ids an operation's URL needs."""

from __future__ import annotations

import time
from typing import Any, Callable, Iterator, Mapping
from urllib.parse import urlencode

import jsonschema
import redis

from app import store
from app.config import HistorySettings
from app.model.records import Entity, Observation
from tests.support.security import Caller

DAY = 86_400.0
# Sensors of the water domain, each with pressure readings (and their history) every 10 minutes
# over the last two hours.
SENSORS = [f"w:sensor:s{i:02d}" for i in range(7)]
READING_EVERY_S = 600.0


def sensor(entity_id: str, at: float, zone: str = "Z1") -> Entity:
    return Entity("water", "sensor", entity_id, 28.55, 112.36, "active", at, "w",
                  {"name": entity_id.rpartition(":")[2], "zone": zone})


def water_city(r: redis.Redis, now: float | None = None) -> dict[str, list[tuple[float, float]]]:
    """SENSORS with pressure readings kept as history; returns entity id -> [(time, value)]."""
    # Whole seconds: the history keeps a reading's time to the second (app/store/series.py).
    now = float(int(time.time() if now is None else now))
    start = now - 2 * 3600
    written: dict[str, list[tuple[float, float]]] = {}
    for n, entity_id in enumerate(SENSORS):
        points = [(start + k * READING_EVERY_S, round(2.0 + 0.1 * n + 0.01 * k, 2))
                  for k in range(13)]
        written[entity_id] = points
        store.entities.write_batch(
            r, "water", "w", entities=[sensor(entity_id, points[-1][0])],
            observations=[Observation(entity_id, "pressure_bar", v, "bar", t) for t, v in points],
            history=HistorySettings())
    return written


def readings_sample(r: redis.Redis) -> dict[str, str]:
    """A water city with readings and their history, and a transport KPI (the examples of the
    history parameters name them): the URL variables of an entity in it."""
    water_city(r)
    store.kpis.write(r, "transport", [{"name": "on_time_performance", "domain": "transport",
                                       "title": "On-time performance", "value": 91.0, "unit": "%",
                                       "target": ">= 85 %", "status": "ok",
                                       "computed_at": time.time(), "subject": None,
                                       "group": "on_time_performance"}])
    return {"domain": "water", "entity_id": SENSORS[1]}


def for_rule(rule: Any, sample: Mapping[str, str]) -> dict[str, str]:
    """The sample's URL values a rule may take: the sample entity's domain only where the rule
    names an entity (elsewhere a sweep's own domain stands)."""
    return {k: v for k, v in sample.items() if k != "domain" or "entity_id" in rule.arguments}


def required_query(view: Any) -> str:
    """The query string of a view's required parameters, each at its declared example."""
    pairs = [(f.name, f.example) for f in getattr(view, "input_query", ()) if f.required]
    return "?" + urlencode(pairs) if pairs else ""


def walk(caller: Caller, path: str, key: str, limit: int, cursor: str = "") -> Iterator[list[Any]]:
    """Every page of a list, first to last (from ``cursor`` on), ``limit`` items at a time."""
    joiner = "&" if "?" in path else "?"
    url = f"{path}{joiner}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
    for _ in range(10_000):
        response = caller.call("GET", url)
        assert response.status_code == 200, (url, response.get_data(as_text=True)[:300])
        body = response.get_json()
        yield body[key]
        if "next" not in body:
            return
        assert body["next"], url
        url = f"{path}{joiner}limit={limit}&cursor={body['next']}"
    raise AssertionError(f"{path}: no last page")


def shape_validator(document: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Validator:
    """A JSON Schema 2020-12 validator of ``schema`` with the document's components in reach."""
    rooted = dict(schema, components=document["components"])
    return jsonschema.Draft202012Validator(rooted, format_checker=jsonschema.FormatChecker())


def problems(document: dict[str, Any], schema: dict[str, Any], value: Any) -> list[str]:
    """What makes ``value`` not match ``schema`` (empty when it matches)."""
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"[:300]
            for e in shape_validator(document, schema).iter_errors(value)]


def commandstats(r: redis.Redis) -> dict[str, int]:
    """How many times Redis ran each command so far (INFO commandstats)."""
    return {name.removeprefix("cmdstat_"): int(stats["calls"])
            for name, stats in r.info("commandstats").items()}


def calls_made(r: redis.Redis, step: Callable[[], Any]) -> tuple[Any, dict[str, int]]:
    """``step()``'s result and the Redis commands it ran (by name, how many times)."""
    before = commandstats(r)
    result = step()
    after = commandstats(r)
    return result, {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}
