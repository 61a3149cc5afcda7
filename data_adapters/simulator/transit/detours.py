"""Planned detours: a few times a day one route is diverted for 15-45 minutes, announced ten minutes ahead."""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

from google.transit import gtfs_realtime_pb2 as rt

from data_adapters.simulator.patterns import uniform
from data_adapters.simulator.transit.model import Route, Stop

ANNOUNCE_S = 600
# (reason in English, in Chinese, GTFS-rt cause)
REASONS: tuple[tuple[str, str, int], ...] = (
    ("road works", "道路施工", rt.Alert.CONSTRUCTION),
    ("a traffic accident", "交通事故", rt.Alert.ACCIDENT),
    ("a police operation", "警方处置", rt.Alert.POLICE_ACTIVITY),
)


def detours(seed: int, routes: Sequence[Route], stop: Callable[[str], Stop],
            now: float) -> list[dict[str, Any]]:
    """The detours announced at ``now`` on ``routes`` (the active ones); ``stop`` looks stops up by id.

    An hour has a detour with a chance of 0.3, starting in its first half hour; each is a dict with
    ``id``, ``route``, ``start``, ``end``, ``cause``, ``reason_en``, ``reason_zh`` and ``road``.
    """
    found = []
    hour = math.floor(now / 3600.0)
    for bucket in (hour - 1, hour):
        if _draw(seed, 30, bucket) >= 0.3:
            continue
        start = int(bucket * 3600 + 1800 * _draw(seed, 31, bucket))
        end = start + int(900 + 1800 * _draw(seed, 32, bucket))
        # Announced ten minutes ahead, as operators do for planned works.
        if not (start - ANNOUNCE_S <= now < end):
            continue
        route = routes[int(_draw(seed, 33, bucket) * len(routes))]
        reason_en, reason_zh, cause = REASONS[int(_draw(seed, 34, bucket) * len(REASONS))]
        found.append({"id": f"detour-{route.route_id}-{bucket}", "route": route, "start": start,
                      "end": end, "cause": cause, "reason_en": reason_en, "reason_zh": reason_zh,
                      "road": _road_midway(route, stop)})
    return found


def _draw(seed: int, stream: int, bucket: int) -> float:
    return uniform(seed, stream, 0, bucket)[0]


def _road_midway(route: Route, stop: Callable[[str], Stop]) -> str:
    """The road of the route's middle stop ("Kangfu Rd" of "Kangfu Rd / Yingbin Rd")."""
    mid = route.stop_ids[len(route.stop_ids) // 2]
    return stop(mid).name.split(" / ")[0].split(" (")[0]
