"""The bus delay model: per-bus bias, rush hours, smooth noise, incidents and delay areas, pure in time."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from data_adapters.simulator.city import points_in_polygon
from data_adapters.simulator.patterns import DAY_S, uniform, utc_offset
from data_adapters.simulator.transit.model import Route

# Delay model (seconds). Slopes are bounded so that a bus never drives backwards (the delay grows
# slower than time) and never catches up faster than 1.25x its cruise speed.
DELAY_MIN_S, DELAY_MAX_S = -120.0, 900.0
NOISE_PERIOD_S, NOISE_AMPLITUDE_S = 1200.0, 45.0
INCIDENT_BUCKET_S = 7200.0
INCIDENT_PROBABILITY = 0.2
INCIDENT_RAMP = 0.75      # delay gained per second while stuck
INCIDENT_RECOVERY = 0.1   # delay recovered per second afterwards
INCIDENT_MINUTES = (2.0, 12.0)
RUSH_AMPLITUDE_S = 150.0
# Delay areas (a flooded district) add delay on top of all that. The calm delay's slope already
# reaches about +0.92 s/s (incident + noise) and -0.22 s/s (recovery + noise), so an area's extra
# delay may rise at most 0.07 s/s and fall at most 0.025 s/s: a bus still never drives backwards
# and never catches up faster than 25 % above its cruise speed.
AREA_MAX_RISE = 0.07
AREA_MAX_FALL = 0.025
AREA_SAMPLE_M = 50.0
# A breakdown (the demo's trickle): the bus stands still (the delay grows 1 s/s), then makes the
# time up at this rate until it is back on its planned delay (within the catching-up bound).
BREAKDOWN_RECOVERY = 0.2
# (vehicle, start, stuck seconds) of the breakdowns that may still show at a time.
Breakdowns = Callable[[float], list[tuple[int, float, float]]]


@dataclass(frozen=True)
class DelayArea:
    """Extra delay for the buses of routes through an area (a flooded district) for a while.

    The extra delay rises linearly from ``start`` over ``rise_s``, holds for ``hold_s`` and falls
    linearly over ``fall_s``; a route wholly inside the area gets up to ``peak_s``.
    """

    polygon: tuple[tuple[float, float], ...]
    start: float
    peak_s: float
    rise_s: float
    hold_s: float
    fall_s: float

    @classmethod
    def within_bounds(cls, polygon: Sequence[tuple[float, float]], start: float, peak_s: float,
                      rise_s: float, hold_s: float, fall_s: float) -> DelayArea:
        """The area with its ramps lengthened where they are steeper than the slope bounds allow."""
        if peak_s < 0:
            raise ValueError("peak_s must not be negative")
        return cls(tuple((float(x), float(y)) for x, y in polygon), float(start), float(peak_s),
                   max(rise_s, peak_s / AREA_MAX_RISE, 1.0), max(hold_s, 0.0),
                   max(fall_s, peak_s / AREA_MAX_FALL, 1.0))

    def profile(self, now: float) -> float:
        """How much of the peak applies at ``now`` (0 to 1)."""
        up = (now - self.start) / self.rise_s
        down = 1.0 - (now - self.start - self.rise_s - self.hold_s) / self.fall_s
        return min(1.0, max(0.0, min(up, down)))


def route_shares(routes: Sequence[Route], polygon: Sequence[tuple[float, float]]) -> np.ndarray:
    """Share of each route's length (indexed by route index) that lies inside ``polygon``."""
    shares = np.zeros(len(routes))
    for route in routes:
        along = np.arange(0.0, route.length_m + AREA_SAMPLE_M, AREA_SAMPLE_M)
        lon = np.interp(along, route.shape_dist, route.shape[:, 0])
        lat = np.interp(along, route.shape_dist, route.shape[:, 1])
        shares[route.index] = float(points_in_polygon(lon, lat, polygon).mean())
    return shares


class DelayModel:
    """Each bus's delay in seconds as a pure function of (seed, bus, time), positive when late."""

    def __init__(self, seed: int, route: np.ndarray, tz: dt.tzinfo) -> None:
        self.seed = seed
        self._tz = tz
        self._ids = np.arange(len(route))
        self._base = -20.0 + 100.0 * uniform(seed, 1, self._ids, 0)
        self._rush_factor = (0.4 + uniform(seed, 2, route, 0))
        self._areas: list[tuple[DelayArea, np.ndarray]] = []
        self._breakdowns: Breakdowns | None = None
        self._before: dict[tuple[int, float], float] = {}

    def add_area(self, area: DelayArea, route_share: np.ndarray) -> None:
        """Apply ``area`` to each bus by its route's share inside it (doubled, at most 1), varied per bus."""
        jitter = 0.7 + 0.3 * uniform(self.seed, 40 + len(self._areas), self._ids, 0)
        self._areas.append((area, np.minimum(1.0, 2.0 * route_share) * jitter))

    def add_breakdowns(self, breakdowns: Breakdowns) -> None:
        """Let ``breakdowns(t)`` stop buses: each stands still while stuck, then catches up."""
        self._breakdowns = breakdowns

    def at(self, now: float) -> np.ndarray:
        """Every bus's delay at ``now``: the calm delay plus that of the delay areas and breakdowns."""
        t = float(now)
        delay = self._planned(t)
        if self._breakdowns is not None:
            for vehicle, start, stuck_s in self._breakdowns(t):
                key = (vehicle, start)
                if key not in self._before:
                    self._before[key] = float(self._planned(start)[vehicle])
                before = self._before[key]
                if t <= start + stuck_s:
                    delay[vehicle] = before + max(t - start, 0.0)
                else:
                    delay[vehicle] = max(float(delay[vehicle]), before + stuck_s
                                         - BREAKDOWN_RECOVERY * (t - start - stuck_s))
        return delay

    def _planned(self, t: float) -> np.ndarray:
        """The calm delay plus that of the delay areas."""
        delay = self.calm(t)
        for area, weight in self._areas:
            share = area.profile(t)
            if share > 0.0:
                delay = delay + area.peak_s * share * weight
        return delay

    def calm(self, t: float) -> np.ndarray:
        """Bias, rush hours, noise and incidents, clipped to DELAY_MIN_S..DELAY_MAX_S."""
        hours = ((t + utc_offset(t, self._tz)) % DAY_S) / 3600.0
        return np.clip(self._base + self._rush(hours) + self._noise(t) + self._incidents(t),
                       DELAY_MIN_S, DELAY_MAX_S)

    def _noise(self, t: float) -> np.ndarray:
        """Smooth noise: random values every NOISE_PERIOD_S, eased together with a cosine."""
        knot = math.floor(t / NOISE_PERIOD_S)
        frac = t / NOISE_PERIOD_S - knot
        a = 2.0 * uniform(self.seed, 10, self._ids, knot) - 1.0
        b = 2.0 * uniform(self.seed, 10, self._ids, knot + 1) - 1.0
        return NOISE_AMPLITUDE_S * (a + (b - a) * (1.0 - math.cos(math.pi * frac)) / 2.0)

    def _incidents(self, t: float) -> np.ndarray:
        """At most one incident per bus per bucket: stuck, then catching up, over before the bucket ends.

        Two never overlap, which would break the slope bounds.
        """
        ids, seed = self._ids, self.seed
        bucket = math.floor(t / INCIDENT_BUCKET_S)
        happens = uniform(seed, 11, ids, bucket) < INCIDENT_PROBABILITY
        stuck = 60.0 * (INCIDENT_MINUTES[0] + (INCIDENT_MINUTES[1] - INCIDENT_MINUTES[0])
                        * uniform(seed, 12, ids, bucket))
        peak = INCIDENT_RAMP * stuck
        total = stuck + peak / INCIDENT_RECOVERY
        begin = uniform(seed, 13, ids, bucket) * (INCIDENT_BUCKET_S - total)
        x = t - bucket * INCIDENT_BUCKET_S - begin
        incident = np.where(x < stuck, INCIDENT_RAMP * x, peak - INCIDENT_RECOVERY * (x - stuck))
        return np.where(happens & (x > 0) & (x < total), incident, 0.0)

    def _rush(self, hours: float) -> np.ndarray:
        """Rush hours make every bus on a route a little later, more on busy routes."""
        return RUSH_AMPLITUDE_S * self._rush_factor * (
            math.exp(-((hours - 8.0) ** 2) / 2.0) + 0.8 * math.exp(-((hours - 17.75) ** 2) / 2.4))
