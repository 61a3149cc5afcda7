"""Time series of readings and KPIs: eight bytes a point, one string per series and UTC day.

A series (an entity's metric, or a domain's KPI) keeps each day's points in one Redis string,
appended as they come: a point is a little-endian uint32 (seconds since the day began) and a
float32 value. A day's key expires with the series' retention, so keeping 7 or 90 days costs no
pruning pass. Reading a window is one MGET of its days' strings, decoded by numpy.

Why strings: a sorted set costs ~70 bytes a point and a stream more; eight bytes and one key per
day (~100 bytes of key overhead spread over its points) measure under 24 bytes a point
(`cityops bench`: history_bytes_per_point).
"""

from __future__ import annotations

import math
import struct
import time
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
import redis
from redis.client import NEVER_DECODE

from app.store.keys import Keys

DAY_S = 86_400
POINT = struct.Struct("<If")
POINT_DTYPE = np.dtype([("t", "<u4"), ("v", "<f4")])


@dataclass(frozen=True)
class Point:
    """One point to append: which series, when (Unix seconds) and its value."""

    key: str  # a series' day key (Keys.reading_series / Keys.kpi_series of the point's day)
    at: float
    value: float


def day_of(at: float) -> int:
    """The UTC day number of a Unix time (days since 1970-01-01)."""
    return int(at // DAY_S)


def append(pipe: redis.client.Pipeline, points: Iterable[Point], keep_days: float) -> int:
    """Queue the points' appends (and each day key's expiry) on ``pipe``; returns how many.

    Non-finite values are not kept (a gap says "no reading" better than a NaN would).
    """
    grouped: dict[str, list[bytes]] = {}
    expiry: dict[str, int] = {}
    now = time.time()
    for point in points:
        if not math.isfinite(point.value):
            continue
        day = day_of(point.at)
        if (day + 1) * DAY_S + keep_days * DAY_S <= now:
            continue  # already past its retention (a replayed old file): it would expire at once
        grouped.setdefault(point.key, []).append(
            POINT.pack(int(point.at - day * DAY_S), float(point.value)))
        expiry[point.key] = int((day + 1) * DAY_S + keep_days * DAY_S)
    for key, packed in grouped.items():
        pipe.append(key, b"".join(packed))
        pipe.expireat(key, expiry[key])
    return sum(len(p) for p in grouped.values())


# No series is kept longer (app/config/sections.py bounds every retention below it): a window reaching
# further back reads no day that cannot exist.
MAX_DAYS = 3_660


def days(since: float, until: float) -> list[int]:
    """The UTC day numbers a window touches (at most MAX_DAYS back from ``until``)."""
    last = day_of(max(until, since))
    return list(range(max(day_of(since), last - MAX_DAYS), last + 1))


def _decode(day_keys: Sequence[tuple[int, str]], blobs: Sequence[bytes | None], since: float,
            until: float) -> tuple[np.ndarray, np.ndarray]:
    times, values = [], []
    for (day, _), blob in zip(day_keys, blobs, strict=True):
        if not blob:
            continue
        usable = len(blob) - len(blob) % POINT_DTYPE.itemsize  # a torn tail is not a point
        rows = np.frombuffer(blob[:usable], dtype=POINT_DTYPE)
        times.append(rows["t"].astype(np.float64) + day * DAY_S)
        values.append(rows["v"])
    if not times:
        return np.zeros(0), np.zeros(0, dtype=np.float32)
    t, v = np.concatenate(times), np.concatenate(values)
    order = np.argsort(t, kind="stable")
    t, v = t[order], v[order]
    keep = (t >= since) & (t <= until)
    return t[keep], v[keep]


def read_many(r: redis.Redis, wanted: Mapping[str, Sequence[tuple[int, str]]], since: float,
              until: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (times, float32 values) of several series over [since, until], in one MGET."""
    keys = [key for day_keys in wanted.values() for _, key in day_keys]
    if not keys:
        return {name: (np.zeros(0), np.zeros(0, dtype=np.float32)) for name in wanted}
    blobs = r.execute_command("MGET", *keys, **{NEVER_DECODE: True})
    out, at = {}, 0
    for name, day_keys in wanted.items():
        out[name] = _decode(day_keys, blobs[at:at + len(day_keys)], since, until)
        at += len(day_keys)
    return out


def read(r: redis.Redis, day_keys: Sequence[tuple[int, str]], since: float,
         until: float) -> tuple[np.ndarray, np.ndarray]:
    """(times, float32 values) of one series over [since, until] from its (day, key) strings."""
    return read_many(r, {"": day_keys}, since, until)[""]


def as_numbers(values: np.ndarray) -> list[float]:
    """float32 values as the numbers they were written as (99.45, not 99.44999694824219)."""
    return [float(str(v)) for v in values.astype(np.float32)]


def reading_keys(domain: str, metric: str, entity_id: str, since: float,
                 until: float) -> list[tuple[int, str]]:
    """The (day, key) pairs of an entity's metric over a window."""
    return [(day, Keys.reading_series(domain, metric, entity_id, day)) for day in days(since, until)]


def kpi_keys(domain: str, name: str, since: float, until: float) -> list[tuple[int, str]]:
    """The (day, key) pairs of a domain's KPI over a window."""
    return [(day, Keys.kpi_series(domain, name, day)) for day in days(since, until)]
