"""A city for the situation-report tests: every domain, alerts and a CAP area, with hostile text."""

from __future__ import annotations

import redis

from app import alerts, store
from app.model.records import Entity

HOSTILE = "<img src=x onerror=alert(1)>`${alert(2)}`\\"


# -- the situation from the store ----------------------------------------------------------------------
def seed_city(r: redis.Redis, now: float) -> dict[str, str]:
    """Transport fine, water with a long-stale feed and a bad zone, a critical medical alert."""
    store.entities.write_batch(r, "transport", "buses", entities=[
        Entity("transport", "vehicle", "t:vehicle:1", 28.55, 112.36, "in_transit", now, "buses"),
        Entity("transport", "stop", "t:stop:1", 28.551, 112.361, "", now, "gtfs")])
    store.entities.write_batch(r, "medical", "fhir", entities=[
        Entity("medical", "hospital", "fhir:hospital:h1", 28.56, 112.37, "active", now, "fhir",
               {"name": HOSTILE})])
    store.entities.write_batch(r, "water", "senml", entities=[
        Entity("water", "sensor", "senml:p1", 28.54, 112.35, "ok", now, "senml", {"name": "P1"})])
    store.kpis.write(r, "transport", [
        kpi("on_time_performance", "ok", 91.0, domain="transport", unit="%", target=">= 85 %",
            title="On-time performance", computed_at=now),
        kpi("mean_delay", "ok", -35.0, domain="transport", unit="s", target="<= 120 s",
            title="Mean delay", computed_at=now, rank=1)])
    store.kpis.write(r, "water", [
        kpi("min_pressure", "ok", 2.4, title="Min pressure", computed_at=now),
        kpi("min_pressure:=cmd|' /C calc'!A0", "bad", 1.2, title="Min pressure",
            subject="=cmd|' /C calc'!A0", group="min_pressure", computed_at=now, rank=1)])
    store.feeds.write_health(r, "buses", {"domain": "transport", "adapter": "gtfs_rt",
                                         "last_success": now - 5, "freshness_budget_s": 120})
    store.feeds.write_health(r, "senml", {"domain": "water", "adapter": "senml",
                                         "last_success": now - 3600, "freshness_budget_s": 300})
    critical = alerts.raise_alert(r, fingerprint="test:icu", title=HOSTILE, severity="critical",
                                  domain="medical", source="test", rule="test", entity="h1",
                                  lat=28.56, lon=112.37, description=HOSTILE, now=now - 60)
    formula = alerts.raise_alert(r, fingerprint="test:formula", title="@SUM(1+1)*cmd",
                                 severity="minor", domain="city", source="test", rule="test",
                                 now=now - 30)
    return {"critical": critical.alert_id, "formula": formula.alert_id}


def kpi(name: str, status: str, value: float | None = 1.0, **extra: object) -> dict[str, object]:
    """A stored KPI row."""
    return {"name": name, "domain": extra.pop("domain", "water"), "title": extra.pop("title", name),
            "value": value, "unit": extra.pop("unit", "bar"), "target": extra.pop("target", ">= 2 bar"),
            "status": status, "computed_at": extra.pop("computed_at", 1_700_000_000.0),
            "rank": extra.pop("rank", 0), **extra}
