"""What every record a parser yields from bad input must still be: plausible, storable, showable."""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

from app.model.records import (
    Entity,
    Event,
    FeedHeader,
    Observation,
    ParseItem,
    Rejected,
    Removed,
)

FEED = "badinput"


FETCHED_AT = 1_767_225_700.0  # 2026-01-01 00:01:40 UTC


# -- what a usable record must be ------------------------------------------------------------------
def plausible_position(lat: Any, lon: Any) -> bool:
    """A drawable WGS84 fix, judged here without data_adapters.base.valid_position."""
    return (isinstance(lat, float) and isinstance(lon, float) and math.isfinite(lat)
            and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180
            and not (abs(lat) < 1e-6 and abs(lon) < 1e-6))


def showable_time(value: Any) -> bool:
    """A finite POSIX time that is a timezone-aware datetime in every zone."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    try:
        return all(datetime.fromtimestamp(value, zone).tzinfo is not None for zone in _ZONES)
    except (OverflowError, OSError, ValueError):
        return False


def storable(value: Any, where: str) -> None:
    """Assert that ``value`` is strict JSON the store and a browser accept: UTF-8 text, finite
    floats, integers within 64 bits, string keys (walked iteratively: attrs may be deep)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise AssertionError(f"{where}: text that is not UTF-8: {item[:60]!r}") from exc
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            assert -2**63 <= item < 2**64, f"{where}: integer beyond 64 bits"
        elif isinstance(item, float):
            assert math.isfinite(item), f"{where}: {item} in a record"
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            assert all(isinstance(k, str) for k in item), f"{where}: non-text key"
            stack.extend(item.keys())
            stack.extend(item.values())
        else:
            raise AssertionError(f"{where}: {type(item).__name__} in a record")


def area_points(area: Any) -> Iterator[Any]:
    """Every [lon, lat] position of a GeoJSON Polygon or MultiPolygon."""
    stack = [area["coordinates"]]
    while stack:
        item = stack.pop()
        if item and isinstance(item, list) and all(isinstance(v, float) for v in item):
            yield item
        elif isinstance(item, list):
            stack.extend(item)


def check_record(item: ParseItem, domain: str, label: str) -> None:
    """Assert what every yielded item must be, whatever the payload was."""
    assert isinstance(item, ITEM_TYPES), f"{label}: {type(item).__name__} yielded"
    where = f"{label}: {item!r:.200}"
    if isinstance(item, Rejected):
        assert isinstance(item.reason, str) and item.reason.strip(), where
        assert isinstance(item.excerpt, str) and len(item.excerpt) <= 2048, where
        storable([item.reason, item.excerpt], where)
        return
    if isinstance(item, FeedHeader):
        assert item.timestamp is None or showable_time(item.timestamp), where
        return
    storable(dataclasses.asdict(item), where)
    if isinstance(item, Observation):
        ident = item.entity_id
        assert math.isfinite(item.value), where
    else:
        ident = item.id
        assert item.domain == domain, where
    # "<feed>:<kind>:<id>": an empty id would merge every nameless record into one.
    assert isinstance(ident, str) and ident.startswith(f"{FEED}:"), where
    _feed, kind, rest = (ident.split(":", 2) + ["", ""])[:3]
    assert kind and rest, where
    if isinstance(item, Removed):
        return
    assert showable_time(item.observed_at), where
    if isinstance(item, Entity):
        assert (item.lat is None and item.lon is None) or plausible_position(item.lat, item.lon), where
    if isinstance(item, Event):
        for bound in (item.starts_at, item.ends_at):
            assert bound is None or showable_time(bound), where
        if item.area is not None:
            points = list(area_points(item.area))
            assert points and all(plausible_position(lat, lon) or (lat, lon) == (0.0, 0.0)
                                  for lon, lat in points), where


RECORD_TYPES = (Entity, Observation, Event, Removed)


ITEM_TYPES = (*RECORD_TYPES, Rejected, FeedHeader)


# Widest offsets in use: a time must be a datetime in every zone to be shown anywhere.
_ZONES = (timezone(timedelta(hours=14)), timezone(timedelta(hours=-12)))
