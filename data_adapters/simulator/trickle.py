"""The demo city's trickle: an ordinary incident every few minutes, each over by itself later.

Not a storm: a water main break (the pressure of a few loggers of one zone falls below 2 bar,
then recovers), a bus breakdown (one bus stands still and falls behind; a GTFS-rt service alert
says so until it moves again), a hospital near capacity (one hospital's wards fill to 97.5-99 %,
then ease) and a flooded underpass (an Open311 street-flooding report at an underpass by a bus
stop near the river, and a GTFS-rt detour of a route through it, until the report is closed).
Kinds come in that rotation; the first event starts 30-120 s after ``start`` and the next ones
follow at intervals of 0.5-1.5 times the mean. Like every model of the simulator the schedule
is a pure function of (seed, start, mean, time): any process, restart or polling order sees
the same events. With a scenario, no event starts from ``LONGEST_S`` before the scenario's
start to its end (one story at a time; the scenario's alerts stay its own).
"""

from __future__ import annotations

import bisect
import math
import threading
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from google.transit import gtfs_realtime_pb2 as rt

from data_adapters.simulator.patterns import smooth_noise, smoothstep, unit
from data_adapters.simulator.scenario import RAINSTORM_EFFECTS, Scenario

KINDS: tuple[str, ...] = ("bus_breakdown", "main_break", "flooded_underpass", "hospital_full")
FIRST_S = (30.0, 120.0)        # the first event starts this long after the trickle's start
SPREAD = 0.5                   # intervals are uniform in mean * (1 - SPREAD .. 1 + SPREAD)
MIN_MEAN_MIN = 1.0
# Water main break: the pressure falls over FALL_S, stays low, recovers over RISE_S.
BREAK_FALL_S, BREAK_RISE_S, BREAK_HOLD_MIN = 120.0, 300.0, (10.0, 20.0)
BREAK_LOW_BAR = (1.6, 1.85)    # at the break: below the rules' 2 bar, above the 1.5 bar bad limit
BREAK_RADIUS_M = 1500.0        # loggers of the zone this close feel it (less the farther away)
# Bus breakdown: stuck this long, reported after REPORT_S, then catching up (transit/delays.py).
BREAKDOWN_STUCK_MIN, BREAKDOWN_REPORT_S = (8.0, 15.0), 60.0
BREAKDOWN_TAIL_S = 4 * 3600.0  # the delay is made up well within this
# Hospital near capacity: wards fill over RISE_S to the peak, hold, ease over EASE_S.
HOSPITAL_RISE_S, HOSPITAL_EASE_S, HOSPITAL_HOLD_MIN = 300.0, 600.0, (15.0, 25.0)
HOSPITAL_PEAK = (0.975, 0.99)
# Flooded underpass: the detour is announced DETOUR_AFTER_S after the report; both end when the
# report is closed (the water pumped out), OPEN_MIN after it was filed.
UNDERPASS_DETOUR_AFTER_S, UNDERPASS_OPEN_MIN, UNDERPASS_ACK_S = 240.0, (30.0, 50.0), (300.0, 600.0)
UNDERPASS_RIVER_M = 700.0      # underpasses near the river flood first
REQUEST_KEY_BASE = 8 * 10**12  # the reports' own Open311 id space (storm reports use 9 * 10**12)
LONGEST_S = 60.0 * max(UNDERPASS_OPEN_MIN[1], BREAKDOWN_STUCK_MIN[1],
                       (BREAK_FALL_S + BREAK_RISE_S) / 60.0 + BREAK_HOLD_MIN[1],
                       (HOSPITAL_RISE_S + HOSPITAL_EASE_S) / 60.0 + HOSPITAL_HOLD_MIN[1])
SCENARIO_SPAN_S = 60.0 * max(effect[3] for effect in RAINSTORM_EFFECTS.values())


@dataclass(frozen=True)
class TrickleEvent:
    """One incident of the trickle: its number in the schedule, kind and time span.

    ``end`` is when its condition is gone (the alert clears); ``hold_s`` the length of its main
    phase (low pressure, stuck, full, open); ``pick`` chooses the subject, ``size`` the strength.
    """

    number: int
    kind: str
    start: float
    hold_s: float
    pick: float
    size: float

    @property
    def end(self) -> float:
        """When the event's condition is over."""
        if self.kind == "main_break":
            return self.start + BREAK_FALL_S + self.hold_s + BREAK_RISE_S
        if self.kind == "hospital_full":
            return self.start + HOSPITAL_RISE_S + self.hold_s + HOSPITAL_EASE_S
        return self.start + self.hold_s

    def level(self, t: Any) -> np.ndarray:
        """How strongly a main break or a full hospital applies at ``t``: 0 calm, 1 full."""
        rise, fall = ((BREAK_FALL_S, BREAK_RISE_S) if self.kind == "main_break"
                      else (HOSPITAL_RISE_S, HOSPITAL_EASE_S))
        top = self.start + rise + self.hold_s
        return np.minimum(smoothstep(t, self.start, self.start + rise),
                          1.0 - smoothstep(t, top, top + fall))


class Trickle:
    """The schedule of ordinary incidents from ``start`` (POSIX seconds), ``mean_min`` apart on average."""

    def __init__(self, seed: int, start: float, mean_min: float, scenario: Scenario | None = None,
                 network: Any = None) -> None:
        if not mean_min > 0:
            raise ValueError("the trickle's mean interval must be positive")
        self.seed, self.start, self.scenario = seed, float(start), scenario
        self.network = network  # the TransitNetwork: where buses break down, underpasses flood
        self.mean_s = 60.0 * max(float(mean_min), MIN_MEAN_MIN)
        first = FIRST_S[0] + (FIRST_S[1] - FIRST_S[0]) * unit(seed, 130, 0)
        self._starts: list[float] = [self.start + first]
        self._lock = threading.Lock()
        self._memo: dict[tuple[str, int], Any] = {}
        self._subjects: dict[tuple[str, int], dict[int, int]] = {}

    # -- the schedule ---------------------------------------------------------------------------
    def _extend(self, until: float) -> None:
        with self._lock:
            starts = self._starts
            while starts[-1] <= until:
                n = len(starts) - 1
                spread = 1.0 - SPREAD + 2 * SPREAD * unit(self.seed, 131, n)
                starts.append(starts[-1] + self.mean_s * spread)

    def event(self, n: int) -> TrickleEvent:
        """The ``n``-th event of the schedule (counted from 0), whether or not it is suppressed."""
        return self._once("event", n, lambda: self._event(n))

    def _event(self, n: int) -> TrickleEvent:
        while n >= len(self._starts):
            self._extend(self._starts[-1])
        kind = KINDS[n % len(KINDS)]
        low, high = {"main_break": BREAK_HOLD_MIN, "bus_breakdown": BREAKDOWN_STUCK_MIN,
                     "hospital_full": HOSPITAL_HOLD_MIN, "flooded_underpass": UNDERPASS_OPEN_MIN}[kind]
        hold = 60.0 * (low + (high - low) * unit(self.seed, 132, n))
        return TrickleEvent(n, kind, self._starts[n], hold, unit(self.seed, 133, n), unit(self.seed, 134, n))

    def suppressed(self, event: TrickleEvent) -> bool:
        """True for an event that would overlap the scenario (none is played then)."""
        s = self.scenario
        return s is not None and s.start - LONGEST_S <= event.start <= s.start + SCENARIO_SPAN_S

    def events(self, t_from: float, t_to: float, kind: str | None = None) -> list[TrickleEvent]:
        """The events (of ``kind``) whose span from start to end meets [t_from, t_to], in order."""
        self._extend(t_to)
        first = bisect.bisect_left(self._starts, t_from - max(LONGEST_S, BREAKDOWN_TAIL_S))
        found = []
        for n in range(first, len(self._starts)):
            if self._starts[n] > t_to:
                break
            event = self.event(n)
            if ((kind is None or event.kind == kind) and event.end >= t_from
                    and not self.suppressed(event)):
                found.append(event)
        return found

    def subject(self, event: TrickleEvent, count: int) -> int:
        """Which of ``count`` subjects (zones, buses, hospitals, underpasses) ``event`` strikes:
        its own draw, moved on past those that earlier events of its kind still hold.

        Exact and pure: computed forward from the last event of its kind that overlapped none
        before it (whose subject is its own draw), iteratively, each answer kept.
        """
        if count <= 1:
            return 0
        memo = self._subjects.setdefault((event.kind, count), {})
        if event.number in memo:
            return memo[event.number]
        step = len(KINDS)
        # A broken-down bus is not taken again while it is still making up its delay.
        tail = BREAKDOWN_TAIL_S if event.kind == "bus_breakdown" else 0.0

        def holders(m: int) -> list[int]:
            """Earlier events of m's kind still holding their subject when m starts."""
            start, found = self.event(m).start, []
            for k in range(m - step, -1, -step):
                other = self.event(k)
                if other.start < start - LONGEST_S - tail:
                    break
                if other.end + tail > start and not self.suppressed(other):
                    found.append(k)
            return found

        chain, m = [], event.number
        while m >= 0 and m not in memo:
            chain.append(m)
            if not holders(m):
                break
            m -= step
        for m in reversed(chain):
            held = {memo[k] for k in holders(m) if k in memo}
            base = int(self.event(m).pick * count)
            memo[m] = next(((base + k) % count for k in range(count) if (base + k) % count not in held),
                           base)
        return memo[event.number]

    def _once(self, what: str, n: int, make: Callable[[], Any]) -> Any:
        """A pure derived value of event ``n`` (its place, its bus's stop), computed once."""
        key = (what, n)
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    # -- water: main breaks ---------------------------------------------------------------------
    def main_break_site(self, water: Any, event: TrickleEvent) -> tuple[dict[int, float], float] | None:
        """{sensor index: weight} of the pressure loggers that feel ``event`` and its low pressure."""
        def make() -> tuple[dict[int, float], float] | None:
            loggers = [s for s in water.sensors if s.kind == "pressure"]
            zones = sorted({s.zone for s in loggers})
            if not loggers:
                return None
            zone = zones[self.subject(event, len(zones))]
            in_zone = [s for s in loggers if s.zone == zone]
            site = in_zone[int(unit(self.seed, 136, event.number) * len(in_zone))]
            city = water.city
            x0, y0 = city.to_xy(site.lon, site.lat)
            weights = {}
            for s in loggers:
                if s.zone != site.zone:
                    continue
                x, y = city.to_xy(s.lon, s.lat)
                d = math.hypot(float(x) - float(x0), float(y) - float(y0))
                if d <= BREAK_RADIUS_M:
                    weights[s.index] = 1.0 - 0.5 * d / BREAK_RADIUS_M
            return weights, BREAK_LOW_BAR[0] + (BREAK_LOW_BAR[1] - BREAK_LOW_BAR[0]) * event.size
        return self._once("site", event.number, make)

    def pressure(self, water: Any, sensor: np.ndarray, t: np.ndarray, p: np.ndarray) -> np.ndarray:
        """Pressures ``p`` of loggers ``sensor`` at times ``t`` with the main breaks applied."""
        if not len(t):
            return p
        for event in self.events(float(t.min()), float(t.max()), "main_break"):
            site = self.main_break_site(water, event)
            if site is None:
                continue
            weights, low = site
            weight = np.array([weights.get(int(k), 0.0) for k in sensor.tolist()])
            if not weight.any():
                continue
            drop = weight * event.level(t)
            floor = low + 0.05 * smooth_noise(self.seed, 135, sensor, t, 300.0)
            p = (1.0 - drop) * p + drop * np.maximum(floor, low - 0.05)
        return p

    # -- hospitals ------------------------------------------------------------------------------
    def occupancy(self, hospitals: int, index: np.ndarray, when: float, occupancy: np.ndarray) -> np.ndarray:
        """Ward occupancy shares of hospitals ``index`` at ``when``, with full hospitals applied."""
        for event in self.events(when, when, "hospital_full"):
            level = float(event.level(when))
            peak = HOSPITAL_PEAK[0] + (HOSPITAL_PEAK[1] - HOSPITAL_PEAK[0]) * event.size
            full = index == self.subject(event, hospitals)
            occupancy = np.where(full, np.maximum(occupancy, (1.0 - level) * occupancy + level * peak),
                                 occupancy)
        return occupancy

    # -- buses ----------------------------------------------------------------------------------
    def breakdowns(self, t: float, vehicles: int) -> list[tuple[int, float, float]]:
        """(vehicle, start, stuck seconds) of the breakdowns whose delay may still show at ``t``."""
        if not vehicles:
            return []
        return [(self.subject(e, vehicles), e.start, e.hold_s)
                for e in self.events(t - BREAKDOWN_TAIL_S, t, "bus_breakdown") if e.start <= t]

    def notices(self, fleet: Any, now: float) -> list[dict[str, Any]]:
        """GTFS-rt alerts of the breakdowns and flooded underpasses listed at ``now``."""
        found: list[dict[str, Any]] = []
        for event in self.events(now, now):
            if event.kind == "bus_breakdown" and event.start + BREAKDOWN_REPORT_S <= now < event.end:
                found.append(self._breakdown_notice(fleet, event))
            elif (event.kind == "flooded_underpass"
                  and event.start + UNDERPASS_DETOUR_AFTER_S <= now < event.end):
                found.append(self._underpass_notice(fleet, event))
        return found

    def _breakdown_notice(self, fleet: Any, event: TrickleEvent) -> dict[str, Any]:
        vehicle = self.subject(event, len(fleet))
        route, stop = self._once("bus", event.number, lambda: fleet.where(vehicle, event.start))
        place = stop.name.split(" (")[0]
        label = fleet.labels[vehicle]
        return {"id": f"breakdown-{event.number}", "route": route, "stop_id": stop.stop_id,
                "start": int(event.start + BREAKDOWN_REPORT_S), "end": int(event.end),
                "cause": rt.Alert.TECHNICAL_PROBLEM, "effect": rt.Alert.SIGNIFICANT_DELAYS,
                "header_en": f"Route {route.short_name}: bus broken down",
                "header_zh": f"{route.short_name}路公交车辆故障",
                "description_en": f"Bus {label} has broken down near {place}; buses of route "
                                  f"{route.short_name} behind it are delayed until it is moved.",
                "description_zh": f"{route.short_name}路公交{label}号车在{place}附近发生故障，"
                                  "后续车辆晚点，待故障车移走后恢复。"}

    def _underpass_notice(self, fleet: Any, event: TrickleEvent) -> dict[str, Any]:
        route, stop, place = self.underpass(event)
        return {"id": f"underpass-{event.number}", "route": route, "stop_id": stop.stop_id,
                "start": int(event.start + UNDERPASS_DETOUR_AFTER_S), "end": int(event.end),
                "cause": rt.Alert.WEATHER, "effect": rt.Alert.DETOUR,
                "header_en": f"Route {route.short_name} detour: flooded underpass",
                "header_zh": f"{route.short_name}路公交绕行：下穿通道积水",
                "description_en": f"The underpass at {place} is flooded and closed; route "
                                  f"{route.short_name} is diverted and does not serve this stop.",
                "description_zh": f"{place}下穿通道积水封闭，{route.short_name}路公交临时绕行，"
                                  "该站暂停服务。"}

    # -- flooded underpasses --------------------------------------------------------------------
    def _underpass_stops(self) -> list[tuple[str, int]]:
        """(stop id, route index) of the stops where an underpass may flood: near the river."""
        def make() -> list[tuple[str, int]]:
            network = self.network
            routes = network.active_routes
            served = sorted({(stop_id, r.index) for r in routes for stop_id in r.stop_ids[1:-1]}
                            or {(stop_id, r.index) for r in routes for stop_id in r.stop_ids})
            river = np.array(network.city.river)
            rx, ry = network.city.to_xy(river[:, 0], river[:, 1])
            near = []
            for stop_id, route_index in served:
                stop = network.stop(stop_id)
                sx, sy = network.city.to_xy(stop.lon, stop.lat)
                if float(np.min(np.hypot(rx - float(sx), ry - float(sy)))) <= UNDERPASS_RIVER_M:
                    near.append((stop_id, route_index))
            return near or served
        return self._once("underpass stops", 0, make)

    def underpass(self, event: TrickleEvent) -> tuple[Any, Any, str]:
        """(route, stop, place name) of the underpass flooded by ``event``."""
        stops = self._underpass_stops()
        stop_id, route_index = stops[self.subject(event, len(stops))]
        route = next(r for r in self.network.active_routes if r.index == route_index)
        stop = self.network.stop(stop_id)
        return route, stop, stop.name.split(" (")[0]

    def requests(self, now: int, horizon_s: float, nodes: np.ndarray, service: int) -> dict[str, np.ndarray]:
        """Open311 columns (key, filed, service, node) of the underpass reports filed by ``now``:
        ``nodes`` are the city's (lon, lat) nodes, ``service`` the street-flooding service's index."""
        events = [e for e in self.events(now - horizon_s, now, "flooded_underpass")
                  if e.start <= now] if self.network is not None else []
        node = []
        for event in events:
            _route, stop, _place = self.underpass(event)
            node.append(int(np.argmin((nodes[:, 0] - stop.lon) ** 2 + (nodes[:, 1] - stop.lat) ** 2)))
        return {"key": np.array([REQUEST_KEY_BASE + e.number for e in events], dtype=np.int64),
                "filed": np.array([int(e.start) for e in events], dtype=np.int64),
                "service": np.full(len(events), service, dtype=np.int64),
                "node": np.array(node, dtype=np.int64)}

    def settle_requests(self, columns: dict[str, np.ndarray]) -> None:
        """Closing and acknowledging times of the underpass reports among ``columns`` (in place)."""
        for k in np.flatnonzero(is_underpass_report(columns["key"])).tolist():
            event = self.event(int(columns["key"][k] - REQUEST_KEY_BASE))
            columns["closed"][k] = int(event.end)
            ack = UNDERPASS_ACK_S[0] + (UNDERPASS_ACK_S[1] - UNDERPASS_ACK_S[0]) * event.size
            columns["acked"][k] = int(event.start + ack)
            columns["style"][k] = 0.5  # located, one plain line

    def underpass_report(self, key: int) -> tuple[str, str]:
        """(description, address) of the underpass report with Open311 id ``key``."""
        _route, _stop, place = self.underpass(self.event(key - REQUEST_KEY_BASE))
        return ("Underpass flooded: water over the kerb, a car stalled inside. Please close it "
                "and pump it out.", f"Underpass at {place}")


def is_underpass_report(key: Any) -> Any:
    """True for the Open311 id of a trickle's underpass report (numpy arrays too)."""
    return key // 10**12 == REQUEST_KEY_BASE // 10**12
