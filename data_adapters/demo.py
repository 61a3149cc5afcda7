"""The demo city's feeds: the real adapters pointed at the simulator on loopback."""

from __future__ import annotations

from typing import Any


def demo_feeds(base_url: str) -> list[dict[str, Any]]:
    """Feed configurations that poll the simulator at ``base_url`` like any real city's feeds."""
    base = base_url.rstrip("/")
    # One prefix for the whole demo transit system, so trip delays meet their vehicles.
    return [dict(feed, id_prefix="demo") for feed in [
        {"name": "demo-gtfs", "adapter": "gtfs_static", "url": f"{base}/gtfs/static.zip",
         "interval_s": 3600},
        {"name": "demo-vehicles", "adapter": "gtfs_rt", "kind": "vehicle_positions",
         "url": f"{base}/gtfs-rt/vehicle-positions.pb", "interval_s": 2},
        {"name": "demo-trips", "adapter": "gtfs_rt", "kind": "trip_updates",
         "url": f"{base}/gtfs-rt/trip-updates.pb", "interval_s": 5},
        {"name": "demo-alerts", "adapter": "gtfs_rt", "kind": "alerts",
         "url": f"{base}/gtfs-rt/alerts.pb", "interval_s": 30},
    ]]
