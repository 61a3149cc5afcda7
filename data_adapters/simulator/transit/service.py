"""The service plan: how many buses each route gets, and its headway, layovers and first departure."""

from __future__ import annotations

import math
import random

from data_adapters.simulator.patterns import DAY_S
from data_adapters.simulator.transit.model import Route

DEFAULT_VEHICLES = 200
DEFAULT_ROUTES = 12
MAX_VEHICLES_PER_ROUTE = 60
# Past DEFAULT_ROUTES, one route per this many vehicles: below the cap on average, so the cap only
# binds on short routes, whose extra buses just wait longer at the terminals.
VEHICLES_PER_ROUTE = 48
MIN_LAYOVER_S = 240
MIN_HEADWAY_S = 60
# Headways divide the day exactly, so a vehicle's cycle lines up with every service day.
HEADWAYS_S: tuple[int, ...] = tuple(d for d in range(MIN_HEADWAY_S, DAY_S + 1) if DAY_S % d == 0)


def routes_needed(existing: int, vehicles: int) -> int:
    """How many routes a fleet of ``vehicles`` runs on: never fewer than ``existing``."""
    return max(existing, math.ceil(vehicles / VEHICLES_PER_ROUTE))


def plan_service(routes: list[Route], vehicles: int, seed: int) -> None:
    """Share ``vehicles`` between the first routes (one at least each) and schedule each route."""
    served = routes[:vehicles]
    # Vehicles follow the running time, so every route gets a similar headway.
    shares = allocate(vehicles, [_minimum_cycle(r) for r in served], MAX_VEHICLES_PER_ROUTE)
    for route in routes:
        route.vehicles = 0
    for route, k in zip(served, shares, strict=True):
        schedule_route(route, k, seed)


def schedule_route(route: Route, vehicles: int, seed: int) -> None:
    """The shortest headway that lets ``vehicles`` keep the minimum layovers, spare time split over both."""
    headway = next(h for h in HEADWAYS_S if h * vehicles >= _minimum_cycle(route))
    spare = vehicles * headway - 2 * route.run_time_s
    route.vehicles, route.headway_s = vehicles, headway
    route.layover_b_s = spare // 2
    route.layover_a_s = spare - route.layover_b_s
    route.offset_s = random.Random(f"{seed}/offset/{route.index}").randrange(headway)


def _minimum_cycle(route: Route) -> int:
    return 2 * route.run_time_s + 2 * MIN_LAYOVER_S


def allocate(total: int, weights: list[int], cap: int) -> list[int]:
    """Split ``total`` in proportion to ``weights``: at least 1 and at most ``cap`` each.

    Shares that would pass the cap are pinned to it and the rest is split again among the others;
    the remainders go to the largest fractions (ties to the lowest index, so it is deterministic).
    """
    n = len(weights)
    if total > n * cap:
        raise ValueError(f"{total} vehicles do not fit {n} routes of at most {cap}")
    pinned: dict[int, int] = {}
    while True:
        free = [i for i in range(n) if i not in pinned]
        rest = total - sum(pinned.values())
        weight = sum(weights[i] for i in free)
        raw = {i: rest * weights[i] / weight for i in free}
        over = [i for i in free if raw[i] > cap]
        if not over:
            break
        pinned.update((i, cap) for i in over)
    shares = {i: max(1, min(cap, int(raw[i]))) for i in free}
    shares.update(pinned)
    leftover = total - sum(shares.values())
    order = sorted(free, key=lambda i: (shares[i] - raw[i], i))
    step = 1 if leftover > 0 else -1
    while leftover:
        for i in order if step > 0 else reversed(order):
            if leftover and 1 <= shares[i] + step <= cap:
                shares[i] += step
                leftover -= step
    return [shares[i] for i in range(n)]
