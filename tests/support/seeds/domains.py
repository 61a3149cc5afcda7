"""A medical domain with hostile names for the domain-page tests, and the texts a layout shows."""

from __future__ import annotations

from typing import Any

import redis

from app import store
from app.model.records import Entity

HOSTILE = "<img src=x onerror=alert(1)>"


def texts(node: Any) -> list[str]:
    """Every string in a Dash component tree (as JSON), depth first."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [t for child in node for t in texts(child)]
    if isinstance(node, dict):
        return texts(node.get("props", {}).get("children")) if "props" in node else [
            t for v in node.values() for t in texts(v)]
    return []


def seed_medical(r: redis.Redis, now: float) -> None:
    """A hospital with a hostile name, a KPI, and a feed health record that is long stale."""
    hospital = Entity("medical", "hospital", "fhir:hospital:h1", 28.55, 112.35, "active", now,
                      "test", {"name": HOSTILE})
    store.entities.write_batch(r, "medical", "fhir", entities=[hospital])
    store.kpis.write(r, "medical", [
        {"name": "beds_available", "domain": "medical", "title": "Beds available", "value": 42.0,
         "unit": "{bed}", "target": ">= 50", "status": "warn", "computed_at": now, "rank": 0},
        {"name": "beds_available:h1", "domain": "medical", "title": "Beds available per hospital",
         "value": 7.0, "unit": "{bed}", "target": "", "status": "ok", "computed_at": now,
         "subject": "h1", "group": "beds_available", "rank": 1}])
    store.feeds.write_health(r, "fhir", {"domain": "medical", "adapter": "fhir",
                                        "last_success": now - 3600, "freshness_budget_s": 300,
                                        "interval_s": 100})
