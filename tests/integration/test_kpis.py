"""Transport KPIs from the live store on a real Redis, and their storage with history."""

from __future__ import annotations

import redis

from app import kpis, store
from app.kpis.transport import compute_transport
from app.model.records import Entity, Event, Observation

NOW = 1_800_000_000.0


def bus(i: int, observed_at: float) -> Entity:
    """A vehicle of feed 'f' heard at ``observed_at``."""
    return Entity("transport", "vehicle", f"f:vehicle:{i}", 28.55, 112.36, "in_service",
                  observed_at, "f", {"trip_id": f"t{i}", "route_id": "1"})


def test_transport_kpis(r: redis.Redis) -> None:
    """Counts, on-time share, mean delay, active alerts and silent vehicles from stored data."""
    buses = [bus(i, NOW - 10) for i in range(4)] + [bus(9, NOW - 600)]
    delays = [Observation(f"f:vehicle:{i}", "delay_s", d, "s", NOW)
              for i, d in enumerate([0.0, 100.0, 400.0, -90.0])]
    alerts = [Event("transport", "service_alert", "f:alert:1", "Detour", NOW, "f",
                    starts_at=NOW - 60, ends_at=NOW + 60),
              Event("transport", "service_alert", "f:alert:2", "Over", NOW, "f",
                    starts_at=NOW - 600, ends_at=NOW - 300)]
    store.entities.write_batch(r, "transport", "f", entities=buses, observations=delays, events=alerts)
    by_name = {k.name: k for k in compute_transport(r, NOW)}
    assert by_name["vehicles_in_service"].value == 4
    assert by_name["on_time_performance"].value == 50.0
    assert by_name["on_time_performance"].status == "bad"
    assert by_name["mean_delay"].value == (0 + 100 + 400 - 90) / 4
    assert by_name["active_service_alerts"].value == 1
    assert by_name["vehicles_silent"].value == 1 and by_name["vehicles_silent"].status == "bad"


def test_kpis_without_data_are_unknown(r: redis.Redis) -> None:
    """An empty city has no on-time figure rather than a made-up one."""
    by_name = {k.name: k for k in compute_transport(r, NOW)}
    assert by_name["on_time_performance"].value is None
    assert by_name["on_time_performance"].status == "unknown"


def test_refresh_stores_current_values_and_history(r: redis.Redis) -> None:
    """refresh() keeps the current KPIs and appends at most one history row a minute."""
    store.entities.write_batch(r, "transport", "f", entities=[bus(1, NOW)])
    kpis.refresh(r, "transport", NOW)
    kpis.refresh(r, "transport", NOW)
    ordered = store.kpis.read(r, "transport")
    assert [k["name"] for k in ordered] == [k.name for k in compute_transport(r, NOW)]
    current = {k["name"]: k for k in ordered}
    assert current["vehicles_in_service"]["value"] == 1.0
    history = store.kpis.read_history(r, "transport", since=0, until=NOW + 1)
    valued = [k for k in ordered if k["value"] is not None]
    # One point per KPI with a value (an unknown one is a gap), not two: once a minute.
    assert sorted(name for _, name, _ in history) == sorted(k["name"] for k in valued)
    assert {name: value for _, name, value in history} == {k["name"]: k["value"] for k in valued}
    assert kpis.refresh(r, "water") == []
