"""How full and how congested each bus is: occupancy by time of day, route and trip; congestion by delay."""

from __future__ import annotations

import math

import numpy as np
from google.transit import gtfs_realtime_pb2 as rt

from data_adapters.simulator.patterns import DAY_S, uniform

# Upper bounds of the load for EMPTY, MANY_SEATS_AVAILABLE, FEW_SEATS_AVAILABLE, STANDING_ROOM_ONLY,
# CRUSHED_STANDING_ROOM_ONLY; above the last, FULL.
OCCUPANCY_STEPS = (0.2, 0.45, 0.7, 0.9, 1.05)


def route_popularity(seed: int, route: np.ndarray) -> np.ndarray:
    """How busy each bus's route is (0.6-1.2), the same for every bus of a route."""
    return 0.6 + 0.6 * uniform(seed, 3, route, 0)


def demand(local: float) -> float:
    """The city's travel demand at local time ``local`` (peaks 07:45 and 17:30, low at night)."""
    hours = (local % DAY_S) / 3600.0
    value = 0.25 + 0.55 * (math.exp(-((hours - 7.75) ** 2) / 1.5)
                           + math.exp(-((hours - 17.5) ** 2) / 2.0))
    if hours < 6.0 or hours > 22.0:
        value *= 0.4
    return value


def occupancy(seed: int, ids: np.ndarray, popularity: np.ndarray, local: float, trip_start: np.ndarray,
              layover: np.ndarray) -> np.ndarray:
    """OccupancyStatus of each bus: demand times popularity, varied per trip; boarding buses have seats."""
    per_trip = uniform(seed, 20, ids, trip_start.astype(np.int64))
    load = demand(local) * popularity + 0.35 * (per_trip - 0.5)
    status = np.digitize(load, OCCUPANCY_STEPS).astype(np.int64)
    boarding = np.minimum(status, rt.VehiclePosition.MANY_SEATS_AVAILABLE)
    return np.where(layover, boarding, status)


def congestion(slope: np.ndarray) -> np.ndarray:
    """CongestionLevel of each bus from how fast its delay grows (seconds per second)."""
    vp = rt.VehiclePosition
    return np.where(slope > 0.5, vp.CONGESTION, np.where(slope > 0.2, vp.STOP_AND_GO, vp.RUNNING_SMOOTHLY))
