"""The bus network's data: stops, and routes with their timetables and service plan."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Stop:
    """A bus stop: ``stop_id`` is stable for a given city (it names the road segment it is on)."""

    stop_id: str
    name: str
    lat: float
    lon: float


@dataclass
class Route:
    """One bus line: its path, its stops in the outbound direction, its running times and service plan.

    Times are integer seconds from the trip's departure; ``arrivals[d][i]`` and ``departures[d][i]``
    are for the i-th stop of direction d (0 outbound, 1 inbound, the same stops reversed).
    """

    index: int
    route_id: str
    short_name: str
    long_name: str
    color: str
    text_color: str
    shape: np.ndarray            # (n, 2) lon, lat of the outbound path
    shape_dist: np.ndarray       # metres along it
    stop_ids: list[str]          # outbound order
    stop_dist: np.ndarray        # metres along the outbound shape
    cruise_mps: float
    dwell_s: int
    arrivals: tuple[list[int], list[int]]
    departures: tuple[list[int], list[int]]
    headsigns: tuple[str, str]
    vehicles: int = 0
    headway_s: int = 0
    offset_s: int = 0            # first outbound departure of the day, in [0, headway)
    layover_a_s: int = 0         # at the outbound terminal (first stop)
    layover_b_s: int = 0         # at the inbound terminal (last stop)

    @property
    def length_m(self) -> float:
        """Length of the route from first to last stop."""
        return float(self.shape_dist[-1])

    @property
    def run_time_s(self) -> int:
        """Scheduled time from the first stop to the last, dwell included."""
        return self.arrivals[0][-1]

    @property
    def cycle_s(self) -> int:
        """Time for one vehicle to go out and back, layovers included."""
        return self.vehicles * self.headway_s

    def trip_id(self, direction: int) -> str:
        """The template trip of a direction (frequency-based: one per direction)."""
        return f"{self.route_id}-{'out' if direction == 0 else 'in'}"

    def window_start_s(self, direction: int) -> int:
        """Start of the direction's frequency window (seconds after midnight, below one headway)."""
        if direction == 0 or self.headway_s == 0:  # no headway: the route has no vehicles
            return self.offset_s
        return (self.offset_s + self.run_time_s + self.layover_b_s) % self.headway_s

    def stop_ids_of(self, direction: int) -> list[str]:
        """The stop ids in the order a trip of ``direction`` serves them."""
        return self.stop_ids if direction == 0 else self.stop_ids[::-1]

    def stop_dist_of(self, direction: int) -> np.ndarray:
        """Metres along a trip of ``direction`` of each of its stops, in its order."""
        return self.stop_dist if direction == 0 else self.length_m - self.stop_dist[::-1]
