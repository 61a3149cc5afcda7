"""A city for the /official page tests: hostile feed text, alerts, KPIs and the page request."""

from __future__ import annotations

from typing import Any

import redis

from app import alerts, store
from app.model.records import Entity
from tests.support.web import callback_body

HOSTILE = "<img src=x onerror=alert(1)>`${alert(2)}`"


def seed(r: redis.Redis, now: float) -> str:
    """Water stale (feed silent for an hour), transport fine, a critical medical alert."""
    store.entities.write_batch(r, "medical", "fhir", entities=[
        Entity("medical", "hospital", "fhir:hospital:h1", 28.56, 112.37, "active", now, "fhir",
               {"name": HOSTILE})])
    store.kpis.write(r, "transport", [
        {"name": "on_time_performance", "domain": "transport", "title": "On-time performance",
         "value": 91.5, "unit": "%", "target": ">= 85 %", "status": "ok", "computed_at": now,
         "rank": 0}])
    store.kpis.write(r, "water", [
        {"name": "min_pressure", "domain": "water", "title": "Min pressure", "value": 2.5,
         "unit": "bar", "target": ">= 2 bar", "status": "ok", "computed_at": now, "rank": 0},
        {"name": "min_pressure:Zone 3", "domain": "water", "title": "Min pressure",
         "subject": "Zone 3", "group": "min_pressure", "value": 1.7, "unit": "bar",
         "target": ">= 2 bar", "status": "warn", "computed_at": now, "rank": 1}])
    store.feeds.write_health(r, "buses", {"domain": "transport", "adapter": "gtfs_rt",
                                         "last_success": now - 5, "freshness_budget_s": 120})
    store.feeds.write_health(r, "senml", {"domain": "water", "adapter": "senml",
                                         "last_success": now - 3600, "freshness_budget_s": 300})
    raised = alerts.raise_alert(r, fingerprint="test:icu", title=HOSTILE, severity="critical",
                                domain="medical", source="test", rule="test", entity="h1",
                                lat=28.56, lon=112.37, now=now - 120)
    return raised.alert_id


# -- the page --------------------------------------------------------------------------------------
def page_body(path: str = "/official") -> dict[str, Any]:
    """Dash Pages' router callback: what the browser asks for when it moves to ``path`` (the
    page container's store as its State: no page drawn with the layout, so the router draws it)."""
    return callback_body([("_pages_content", "children"), ("_pages_store", "data")],
                         [("_pages_location", "pathname", path), ("_pages_location", "search", "")],
                         [("_pages_store", "data", None)])
