"""Judging a memory series: growth per hour, its tolerances, and the Verdict of bounded or not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, TypeVar

# Bounded: the peak of the last third may exceed the middle third's by this ratio plus this slack,
# and the settled growth per hour may not exceed this share of the series' size (plus the slack):
# a slow leak passes the peaks of a short run but not its slope.
TOLERANCE_RATIO = 0.10
GROWTH_PER_H = 0.10
SLACK = {"MB": 5.0, "keys": 50.0}
# A restarted process warms up again (imports, caches, first datasets): its first minutes are not
# growth. The run's own start gets its first third.
RESTART_WARMUP_S = 300.0
# Growth per hour is judged only from this much settled time on: a minute's wobble, multiplied by
# sixty, is not a trend.
MIN_SLOPE_SPAN_S = 600.0

T = TypeVar("T")
Point = tuple[float, float]  # (seconds into the soak, value)


@dataclass(frozen=True)
class Verdict:
    """A memory series judged: start, peak, end, growth per hour, and whether it stayed bounded."""

    name: str
    unit: str
    samples: int
    start: float
    peak: float
    end: float
    middle_peak: float | None
    last_peak: float | None
    slope_per_h: float | None
    bounded: bool | None  # None: too few samples in the middle or last third to judge
    why: str = ""  # what failed: the last third's peak, or the growth per hour


def _thinned(items: list[T], max_items: int) -> list[T]:
    """At most ``max_items`` of ``items``, picked evenly."""
    if len(items) <= max_items:
        return items
    step = len(items) / max_items
    return [items[int(i * step)] for i in range(max_items)]


def _median(ordered: Sequence[float]) -> float:
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def slope_per_hour(points: Sequence[Point], groups: Sequence[object] | None = None,
                   max_points: int = 400) -> float | None:
    """Growth of ``points`` (seconds, value) in value per hour: the median of the slopes between
    two points (Theil-Sen), so one dip or one cache flush does not swing it as it would a
    least-squares line. With ``groups`` only points of one group pair up (one process's life:
    a restart's drop is not negative growth). Long series are thinned evenly to ``max_points``."""
    labels = list(groups) if groups is not None else [None] * len(points)
    pairs = _thinned(list(zip(points, labels, strict=True)), max_points)
    slopes = sorted((v2 - v1) / (t2 - t1) for i, ((t1, v1), g1) in enumerate(pairs)
                    for (t2, v2), g2 in pairs[i + 1:] if t2 > t1 and g1 == g2)
    return _median(slopes) * 3600 if slopes else None


def _settled(points: Sequence[Point], born: Sequence[float], duration_s: float) -> list[tuple[Point, float]]:
    """The points past the run's warm-up (its first third) and past their own process's warm-up,
    each with when its process started."""
    warm = min(duration_s / 3, RESTART_WARMUP_S)
    return [((t, v), b) for (t, v), b in zip(points, born, strict=True)
            if t >= duration_s / 3 and (b <= 0 or t >= b + warm)]


def _why_not_bounded(middle: Sequence[float], last: Sequence[float], slope: float | None, span_s: float,
                     ratio: float, growth: float, slack: float) -> str:
    """What broke the bound ("" when nothing did): the last third's peak, or the growth per hour."""
    peak_ok = max(last) <= max(middle) * (1 + ratio) + slack
    slope_ok = slope is None or span_s < MIN_SLOPE_SPAN_S or slope <= max(middle) * growth + slack
    return "" if peak_ok and slope_ok else "last-third peak" if not peak_ok else "growth per hour"


def judge(name: str, unit: str, points: Sequence[Point], duration_s: float,
          born: Sequence[float] | None = None, ratio: float = TOLERANCE_RATIO,
          growth: float = GROWTH_PER_H, slack: float | None = None) -> Verdict:
    """Bounded when the last third's peak stays within ``ratio`` (plus ``slack``) of the middle
    third's, and the settled growth per hour within ``growth`` of the middle peak (plus ``slack``).
    The first third is warm-up (imports, caches, the first full datasets); ``born`` (when each
    point's process started) leaves out a restarted process's own warm-up and keeps its restart
    out of the slope."""
    slack = SLACK.get(unit, 0.0) if slack is None else slack
    born = list(born) if born is not None else [0.0] * len(points)
    values = [v for _, v in points]
    middle = [v for t, v in points if duration_s / 3 <= t < 2 * duration_s / 3]
    last = [v for t, v in points if t >= 2 * duration_s / 3]
    settled = _settled(points, born, duration_s)
    slope = slope_per_hour([p for p, _ in settled], [b for _, b in settled])
    bounded: bool | None = None
    why = ""
    if len(middle) >= 2 and len(last) >= 2:
        span = settled[-1][0][0] - settled[0][0][0] if settled else 0.0
        why = _why_not_bounded(middle, last, slope, span, ratio, growth, slack)
        bounded = not why
    return Verdict(
        name, unit, len(points), values[0] if values else 0.0, max(values, default=0.0),
        values[-1] if values else 0.0, max(middle) if middle else None, max(last) if last else None,
        slope, bounded, why)
