"""Observations counted on their fixed periods: the 24-hour window, and a page of readings never stored."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from data_adapters.simulator.water import WaterNetwork

RETENTION_S = 24 * 3600


def window(now: float) -> tuple[int, int]:
    """The inclusive whole-second span of existing readings at ``now``."""
    return math.ceil(now - RETENTION_S), math.floor(now)


class Readings:
    """The readings of a water network's datastreams: each reports every ``period`` s at its ``offset``."""

    def __init__(self, network: WaterNetwork) -> None:
        self.network = network

    def counts(self, ds: np.ndarray, low: int, high: int) -> np.ndarray:
        """Readings of each datastream in [low, high] (inclusive, whole seconds)."""
        period, offset = self.network.ds_period[ds], self.network.ds_offset[ds]
        last = (high - offset) // period
        first = -((offset - low) // period)
        return np.maximum(last - first + 1, 0)

    def between(self, ds: np.ndarray, low: int, high: int) -> tuple[np.ndarray, np.ndarray]:
        """(datastream, time) of every reading in [low, high], ordered by time then datastream."""
        period, offset = self.network.ds_period[ds], self.network.ds_offset[ds]
        m = self.counts(ds, low, high)
        first = low + np.mod(offset - low, period)
        total = int(m.sum())
        rep_ds = np.repeat(ds, m)
        k = np.arange(total) - np.repeat(np.cumsum(m) - m, m)
        times = np.repeat(first, m) + k * np.repeat(period, m)
        order = np.lexsort((rep_ds, times))
        return rep_ds[order], times[order]

    def page(self, ds: np.ndarray, low: int, high: int, skip: int, top: int,
             descending: bool) -> tuple[np.ndarray, np.ndarray, int]:
        """(datastreams, times, total) of the readings ranked skip..skip+top in [low, high]."""
        total = int(self.counts(ds, low, high).sum()) if high >= low else 0
        if skip >= total or top == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), total
        end = min(skip + top, total)
        if descending:
            # Rank from the newest end: newer(t) readings lie in [t, high], fewer as t grows.
            def newer(t: int) -> int:
                return int(self.counts(ds, t, high).sum())
            stop_t = _search(low, high, lambda t: newer(t) >= skip + 1, last_true=True)
            start_t = _search(low, high, lambda t: newer(t) >= end, last_true=True)
            before = int(self.counts(ds, stop_t + 1, high).sum())
            got_ds, got_t = self.between(ds, start_t, stop_t)
            got_ds, got_t = got_ds[::-1], got_t[::-1]
        else:
            def older(t: int) -> int:
                return int(self.counts(ds, low, t).sum())
            start_t = _search(low, high, lambda t: older(t) >= skip + 1, last_true=False)
            stop_t = _search(low, high, lambda t: older(t) >= end, last_true=False)
            before = int(self.counts(ds, low, start_t - 1).sum())
            got_ds, got_t = self.between(ds, start_t, stop_t)
        cut = skip - before
        return got_ds[cut:cut + end - skip], got_t[cut:cut + end - skip], total


def _search(low: int, high: int, test: Callable[[int], bool], last_true: bool) -> int:
    """The first t in [low, high] where the monotone ``test`` holds (or the last one, ``last_true``)."""
    lo, hi = low, high
    if last_true:  # test holds on [low, x], fails after: find x
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if test(mid):
                lo = mid
            else:
                hi = mid - 1
        return lo
    while lo < hi:  # test fails on [low, x), holds after: find x
        mid = (lo + hi) // 2
        if test(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo
