"""The demo city's feeds: the real adapters pointed at the simulator on loopback."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from data_adapters.registry import ADAPTERS
from data_adapters.simulator.medical import SANER_MEASURE
from data_adapters.simulator.water import zone_prefixes


def demo_feeds(base_url: str) -> list[dict[str, Any]]:
    """Feed configurations that poll the simulator at ``base_url`` like any real city's feeds."""
    base = base_url.rstrip("/")
    # One prefix for the whole demo, so trip delays meet their vehicles and capacity reports
    # meet their hospitals.
    return [dict(feed, id_prefix="demo") for feed in [
        {"name": "demo-gtfs", "adapter": "gtfs_static", "url": f"{base}/gtfs/static.zip",
         "interval_s": 3600},
        {"name": "demo-vehicles", "adapter": "gtfs_rt", "kind": "vehicle_positions",
         "url": f"{base}/gtfs-rt/vehicle-positions.pb", "interval_s": 2},
        {"name": "demo-trips", "adapter": "gtfs_rt", "kind": "trip_updates",
         "url": f"{base}/gtfs-rt/trip-updates.pb", "interval_s": 5},
        {"name": "demo-alerts", "adapter": "gtfs_rt", "kind": "alerts",
         "url": f"{base}/gtfs-rt/alerts.pb", "interval_s": 30},
        water_feed(base),
        {"name": "demo-hospitals", "adapter": "fhir",
         "url": f"{base}/fhir/Location?type=HOSP&_include=Location:organization&_count=100",
         "interval_s": 600, "max_pages": 50},
        {"name": "demo-capacity", "adapter": "fhir",
         "url": f"{base}/fhir/MeasureReport?measure={quote(SANER_MEASURE, safe='')}&_count=100",
         "interval_s": 60, "max_pages": 50},
        ambulance_feed(base),
        {"name": "demo-requests", "adapter": "open311", "base_url": f"{base}/open311/v2",
         "interval_s": 30},
        {"name": "demo-warnings", "adapter": "cap", "url": f"{base}/cap/alerts.xml", "interval_s": 30},
    ]]


def water_feed(base: str) -> dict[str, Any]:
    """The water network: SensorThings when that adapter is registered, else the same readings as SenML."""
    if "sensorthings" in ADAPTERS:
        # An hour back is enough for a demo: a day of readings would take many polls to catch up.
        return {"name": "demo-water", "adapter": "sensorthings", "url": f"{base}/sta/v1.1/Observations",
                "interval_s": 30, "zones": zone_prefixes(), "lookback_hours": 1, "top": 1000}
    # Until then the SenML pack carries the same sensors, so the demo never runs without water.
    return {"name": "demo-water", "adapter": "senml_http", "url": f"{base}/water/senml.json",
            "interval_s": 30, "zones": zone_prefixes()}


def ambulance_feed(base: str) -> dict[str, Any]:
    """The ambulance service's AVL export (GTFS-rt VehiclePositions) as medical ambulances."""
    return {"name": "demo-ambulances", "adapter": "ambulance_avl",
            "url": f"{base}/gtfs-rt/ambulances.pb", "interval_s": 5}
