"""Scripted scenarios of the demo city: a timeline of effects relative to a start time.

``rainstorm``: a CAP rainstorm warning over one district (the flooded district), then the river
and the reservoirs rise, the water pressure of the district's supply zone drops below 2 bar, its
buses fall behind, flooding and blocked-drain requests pour in and the hospitals fill up; the
warning is raised, then cancelled, and the city slowly returns to calm. Every model asks
:meth:`Scenario.level` how strongly an effect applies at a time, so the whole timeline is a pure
function of (start, time) like the rest of the simulator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from data_adapters.simulator.city import CityModel, District
from data_adapters.simulator.patterns import smoothstep

SCENARIOS: tuple[str, ...] = ("rainstorm",)
FLOODED_DISTRICT = "Heshan"  # low-lying, on the south bank of the Zi River

# Minutes after the start: (rise begins, full, fall begins, back to calm). Effects are S-curves.
RAINSTORM_EFFECTS: dict[str, tuple[float, float, float, float]] = {
    "river": (5.0, 35.0, 90.0, 420.0),
    "reservoir": (5.0, 35.0, 120.0, 600.0),
    "pressure_drop": (20.0, 30.0, 120.0, 150.0),
    "turbidity": (15.0, 45.0, 120.0, 300.0),
    "requests": (10.0, 30.0, 120.0, 240.0),
    "hospital_load": (20.0, 140.0, 240.0, 600.0),
}
# The CAP messages: (minutes after the start, message type).
RAINSTORM_WARNINGS: tuple[tuple[float, str], ...] = ((0.0, "Alert"), (20.0, "Update"), (60.0, "Cancel"))
# The Cancel stays listed this long, then the feed is calm again.
CANCEL_LISTED_MIN = 30.0
# Bus delay in the flooded district (see Fleet.add_delay_area: ramps respect the slope bounds).
# The ambulances' storm calls start 10-100 minutes in (ambulances.py).
BUS_DELAY_START_MIN = 10.0
BUS_DELAY_PEAK_S = 420.0
BUS_DELAY_HOLD_MIN = 30.0


@dataclass(frozen=True)
class Scenario:
    """A named scenario started at ``start`` (POSIX seconds), flooding ``district``."""

    name: str
    start: float
    district: District

    def level(self, effect: str, t: Any) -> np.ndarray:
        """How strongly ``effect`` applies at ``t`` (scalar or array): 0 calm, 1 full."""
        rise_begin, rise_end, fall_begin, fall_end = RAINSTORM_EFFECTS[effect]
        s = self.start
        up = smoothstep(t, s + 60.0 * rise_begin, s + 60.0 * rise_end)
        down = 1.0 - smoothstep(t, s + 60.0 * fall_begin, s + 60.0 * fall_end)
        return np.minimum(up, down)

    def warnings(self) -> list[tuple[float, str]]:
        """(time, CAP msgType) of each warning message, in order."""
        return [(self.start + 60.0 * minute, kind) for minute, kind in RAINSTORM_WARNINGS]

    @property
    def warnings_end(self) -> float:
        """When the last warning message leaves the feed."""
        return self.start + 60.0 * (RAINSTORM_WARNINGS[-1][0] + CANCEL_LISTED_MIN)


def make_scenario(name: str | None, city: CityModel, start: float) -> Scenario | None:
    """The scenario ``name`` on ``city`` from ``start``; None for the calm city; ValueError if unknown."""
    if name is None or name == "":
        return None
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}: known are {', '.join(SCENARIOS)}")
    district = next((d for d in city.districts if d.name == FLOODED_DISTRICT), city.districts[0])
    return Scenario(name, float(start), district)
