"""Deterministic randomness and daily rhythms shared by the demo city's models.

Every model of the simulator is a pure function of (seed, thing, time): values come from a
counter-based hash rather than a random generator with state, so any instant can be asked for in
any order, by any process, and gives the same answer. The daily curves are in local hours.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

DAY_S = 86_400

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a well-spread 64-bit hash of each element."""
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def uniform(seed: int, stream: int, a: Any, b: Any) -> np.ndarray:
    """A uniform [0, 1) number for each (a, b) pair (broadcast), the same on every run and machine."""
    with np.errstate(over="ignore"):
        key = mix(np.full(1, (seed * 1_000_003 + stream) & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64))
        h = mix(key ^ np.asarray(a, dtype=np.int64).astype(np.uint64))
        h = mix(h ^ np.asarray(b, dtype=np.int64).astype(np.uint64))
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def unit(seed: int, stream: int, a: int, b: int = 0) -> float:
    """One uniform [0, 1) number for the pair (a, b)."""
    return float(uniform(seed, stream, a, b)[0])


def smooth_noise(seed: int, stream: int, key: Any, t: Any, period_s: float) -> np.ndarray:
    """Noise in [-1, 1] that drifts smoothly: random knots every ``period_s``, eased by a cosine."""
    x = np.asarray(t, dtype=np.float64) / period_s
    knot = np.floor(x)
    frac = x - knot
    a = 2.0 * uniform(seed, stream, key, knot.astype(np.int64)) - 1.0
    b = 2.0 * uniform(seed, stream, key, knot.astype(np.int64) + 1) - 1.0
    return a + (b - a) * (1.0 - np.cos(np.pi * frac)) / 2.0


# -- time ---------------------------------------------------------------------------------------------
def zone(name: str) -> dt.tzinfo:
    """The IANA zone ``name``; China's fixed +08:00 when the system has no tz database."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return dt.timezone(dt.timedelta(hours=8))


def utc_offset(t: float, tz: dt.tzinfo) -> int:
    """Seconds the zone's clock is ahead of UTC at ``t``."""
    offset = dt.datetime.fromtimestamp(float(t), dt.timezone.utc).astimezone(tz).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def local_hours(t: Any, tz: dt.tzinfo) -> np.ndarray:
    """Hours after local midnight (0-24) of each time in ``t`` (POSIX seconds)."""
    times = np.asarray(t, dtype=np.float64)
    if times.size == 0:
        return times.copy()
    low, high = utc_offset(float(times.min()), tz), utc_offset(float(times.max()), tz)
    if low == high:  # one offset for the whole span: the common case, and always so in China
        return ((times + low) % DAY_S) / 3600.0
    offsets = np.array([utc_offset(float(x), tz) for x in times.ravel()]).reshape(times.shape)
    return ((times + offsets) % DAY_S) / 3600.0


def local_day(t: float, tz: dt.tzinfo) -> int:
    """Local days since 1970-01-01 of ``t``."""
    return int(math.floor((float(t) + utc_offset(t, tz)) / DAY_S))


def iso_local(t: float, tz: dt.tzinfo) -> str:
    """``t`` as an ISO 8601 date-time with the zone's offset, to the second (2026-01-01T09:00:00+08:00)."""
    return dt.datetime.fromtimestamp(int(t), dt.timezone.utc).astimezone(tz).isoformat(timespec="seconds")


def iso_utc(t: float, millis: bool = False) -> str:
    """``t`` as an ISO 8601 UTC date-time ending in Z."""
    moment = dt.datetime.fromtimestamp(float(t), dt.timezone.utc)
    if millis:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- shapes -------------------------------------------------------------------------------------------
def bump(hours: Any, centre: float, width: float) -> np.ndarray:
    """A Gaussian bump around ``centre`` o'clock, measured around the clock (23:00 is near 01:00)."""
    d = (np.asarray(hours, dtype=np.float64) - centre + 12.0) % 24.0 - 12.0
    return np.exp(-(d * d) / (2.0 * width * width))


def ramp(t: Any, begin: float, end: float) -> np.ndarray:
    """0 before ``begin``, 1 after ``end``, linear in between (vectorised)."""
    x = (np.asarray(t, dtype=np.float64) - begin) / max(end - begin, 1e-9)
    return np.clip(x, 0.0, 1.0)


def smoothstep(t: Any, begin: float, end: float) -> np.ndarray:
    """0 before ``begin``, 1 after ``end``, an S-curve in between (no kinks at either end)."""
    x = ramp(t, begin, end)
    return x * x * (3.0 - 2.0 * x)


def _normalised(curve: Any) -> Any:
    """``curve`` scaled so that its mean over the day is 1."""
    grid = np.linspace(0.0, 24.0, 24 * 60, endpoint=False)
    mean = float(np.mean(curve(grid)))
    return lambda hours: curve(hours) / mean


# Daily rhythms, each with a mean of 1 over the day.
# Water demand: a night low around 02:00-04:00, a sharp morning peak, a broad evening peak.
water_demand = _normalised(lambda h: 0.62 + 0.95 * bump(h, 7.4, 1.1) + 0.35 * bump(h, 12.3, 1.6)
                           + 0.75 * bump(h, 19.6, 1.9) - 0.22 * bump(h, 3.0, 1.4))
# Hospital occupancy drifts up through the day as admissions outpace discharges: evening peak.
hospital_load = _normalised(lambda h: 1.0 + 0.07 * np.cos(2.0 * np.pi * (np.asarray(h) - 20.5) / 24.0))
# Citizens file service requests by day: a late-morning and an afternoon peak, little at night.
request_arrivals = _normalised(lambda h: 0.08 + bump(h, 10.5, 2.2) + 0.85 * bump(h, 15.8, 2.4)
                               + 0.25 * bump(h, 20.5, 1.5))
# Emergency calls: busiest late morning and evening, quietest before dawn.
emergency_calls = _normalised(lambda h: 0.45 + 0.6 * bump(h, 11.0, 3.0) + 0.7 * bump(h, 19.0, 2.5))
