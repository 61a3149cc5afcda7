"""The history of a reading or a KPI over a window, at its own resolution or in steps.

Readings are kept as each feed sent them (app/store/series.py; how long: [history] settings); a
window can be asked for in steps, each step the mean of its points, so a week of 30-second
readings can come back as 7 x 24 hourly values. Times are Unix seconds; values as written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import redis

from app import store
from app.store import series

MAX_POINTS = 20_000  # one answer's points at the most: a longer window must ask in steps
MIN_STEP_S = 1.0


class HistoryError(ValueError):
    """A window or step that cannot be answered; the message says why."""


@dataclass(frozen=True)
class History:
    """Points of one series over a window: ``times[i]`` is the start of the i-th step (or the
    reading's own time without a step), ``values[i]`` its value (a step's mean)."""

    times: list[float]
    values: list[float]
    step_s: float | None
    since: float
    until: float


def _stepped(times: np.ndarray, values: np.ndarray, since: float, step_s: float
             ) -> tuple[list[float], list[float]]:
    """Mean of each step's points; a step without a point is left out (a gap, not a zero)."""
    if not len(times):
        return [], []
    bucket = np.floor((times - since) / step_s).astype(np.int64)
    starts, inverse = np.unique(bucket, return_inverse=True)
    sums = np.bincount(inverse, weights=values.astype(np.float64))
    counts = np.bincount(inverse)
    means = sums / counts
    return [float(since + b * step_s) for b in starts], [float(f"{m:.7g}") for m in means]


def _window(since: float, until: float, step_s: float | None) -> None:
    if not since <= until:
        raise HistoryError("'since' must not be after 'until'")
    if step_s is not None and not step_s >= MIN_STEP_S:
        raise HistoryError(f"'step' must be at least {MIN_STEP_S:g} s")
    if step_s is not None and (until - since) / step_s > MAX_POINTS:
        raise HistoryError(f"at most {MAX_POINTS} steps: choose a longer 'step' or a shorter window")


def _answer(times: np.ndarray, values: np.ndarray, since: float, until: float,
            step_s: float | None) -> History:
    if step_s is None:
        if len(times) > MAX_POINTS:
            raise HistoryError(f"{len(times)} points: ask in steps ('step') for a window this long")
        return History([float(t) for t in times], series.as_numbers(values), None, since, until)
    t, v = _stepped(times, values, since, step_s)
    return History(t, v, step_s, since, until)


def reading_history(r: redis.Redis, domain: str, entity_id: str, metric: str, since: float,
                    until: float, step_s: float | None = None) -> History:
    """The readings of one entity's metric over [since, until] (HistoryError for a bad window)."""
    _window(since, until, step_s)
    times, values = series.read(r, series.reading_keys(domain, metric, entity_id, since, until),
                                since, until)
    return _answer(times, values, since, until, step_s)


def kpi_history(r: redis.Redis, domain: str, name: str, since: float, until: float,
                step_s: float | None = None) -> History:
    """The once-a-minute values of one city-wide KPI over [since, until]."""
    _window(since, until, step_s)
    times, values = store.kpis.read_series(r, domain, name, since, until)
    return _answer(times, values, since, until, step_s)
