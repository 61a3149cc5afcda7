"""Alerts grouped under the active CAP warning whose area holds them."""

from __future__ import annotations

from typing import Any

from app.model.alerts import ACTIVE, most_urgent_first
from app.model.geo import point_in_area


def assign_groups(alerts: list[dict[str, Any]]) -> None:
    """Set ``group`` on every alert located inside an active CAP warning's area (the warning's
    id; the most severe, then newest, warning when areas overlap) and ``group_size`` on warnings."""
    warnings = sorted((a for a in alerts if a["source"] == "cap" and a["state"] in ACTIVE
                       and a.get("area")), key=most_urgent_first)
    for warning in warnings:
        warning["group_size"] = 0
    if not warnings:
        return
    by_id = {w["id"]: w for w in warnings}
    for alert in alerts:
        if alert["source"] == "cap" or alert.get("lat") is None or alert.get("lon") is None:
            continue
        for warning in warnings:
            try:
                inside = point_in_area(alert["lat"], alert["lon"], warning["area"])
            except (TypeError, ValueError, IndexError, KeyError, AttributeError):
                inside = False  # a malformed area groups nothing; it never breaks a screen
            if inside:
                alert["group"] = warning["id"]
                by_id[warning["id"]]["group_size"] += 1
                break
