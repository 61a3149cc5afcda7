"""The demo city's trickle of ordinary incidents (issue 19) through the real feeds, adapters, store,
KPIs and the shipped alert rules, on a real redis-server and a compressed clock: each kind of
incident raises its alert and clears it by itself once the incident is over.

The simulator answers for the test's clock (``SimulatorServer(clock=...)``, like the rainstorm
test starting its scenario in the past); the clock only moves forward, from now, so every feed's
record is newer than the last and nothing is past its retention. No sleeps: each step polls
every feed once at the step's instant and evaluates the rules at that instant.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import redis

from app import alerts, kpis, store
from app.alerts import evaluation, rules
from app.live.entities import transport_entities
from app.model.domains import DOMAINS
from app.pipeline.ingest import ingest
from data_adapters import registry
from data_adapters.demo import demo_feeds
from data_adapters.simulator import SimulatorServer
from data_adapters.simulator.trickle import REQUEST_KEY_BASE, UNDERPASS_DETOUR_AFTER_S, TrickleEvent
from data_adapters.simulator.water import zone_prefixes

SKIPPED = {"demo-ambulances", "demo-warnings"}  # neither takes part in the trickle


def _feeds(base: str) -> list[dict[str, Any]]:
    """The demo's feeds, water as its SenML pack (the newest readings: one small poll a step)."""
    configs = [c for c in demo_feeds(base) if c["name"] not in SKIPPED | {"demo-water"}]
    return configs + [{"name": "demo-water", "adapter": "senml_http", "url": f"{base}water/senml.json",
                       "interval_s": 30, "zones": zone_prefixes()}]


def _open_alerts(r: redis.Redis, match: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    return [a for a in alerts.list_alerts(r, open_only=True) if match(a)]


def _alert(r: redis.Redis, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
    found = [a for a in alerts.list_alerts(r) if match(a)]
    return found[0] if found else None


def test_every_kind_of_trickle_incident_raises_its_alert_and_clears(r: redis.Redis) -> None:
    start = time.time()
    clock = [start]
    shipped = rules.load_rules()
    with SimulatorServer(vehicles=30, seed=1, sensors=60, hospitals=6, ambulances=0, requests=40,
                         clock=lambda: clock[0], cache_s=0.0, trickle_minutes=5.0,
                         trickle_start=start) as server:
        trickle = server.trickle
        assert trickle is not None
        events = trickle.events(start, start + 2 * 3600)
        first: dict[str, TrickleEvent] = {}
        for event in events:
            first.setdefault(event.kind, event)
        assert set(first) == {"bus_breakdown", "main_break", "flooded_underpass", "hospital_full"}
        assert events[0].start - start <= 120.0
        configs = _feeds(server.url)

        def step(at: float) -> None:
            """Every feed polled once at ``at``, the KPIs refreshed and the rules evaluated then."""
            clock[0] = at
            for config in configs:
                adapter = registry.build(config)
                ingest(r, adapter, adapter.fetch())
            for domain in DOMAINS:
                kpis.refresh(r, domain, now=at)
            evaluation.evaluate(r, at, shipped)

        bus = first["bus_breakdown"]
        water = first["main_break"]
        underpass = first["flooded_underpass"]
        hospital = first["hospital_full"]
        broken = trickle.subject(bus, len(server.fleet))
        vehicle_id = f"demo:vehicle:{server.fleet.vehicle_ids[broken]}"
        site = trickle.main_break_site(server.water, water)
        assert site is not None
        zone = server.water.zones[server.water.sensors[max(site[0], key=site[0].get)].zone].name
        full = server.hospitals.hospitals[trickle.subject(hospital, 6)].id
        report = f"demo:request:{REQUEST_KEY_BASE + underpass.number}"

        def is_breakdown(a: dict[str, Any]) -> bool:
            return a["fingerprint"].endswith(f":alert:breakdown-{bus.number}")

        def is_detour(a: dict[str, Any]) -> bool:
            return a["fingerprint"].endswith(f":alert:underpass-{underpass.number}")

        def is_low_pressure(a: dict[str, Any]) -> bool:
            return a["fingerprint"] == f"rule:zone_pressure_low:{zone}"

        def is_full(a: dict[str, Any]) -> bool:
            return (a["fingerprint"].startswith("rule:hospital_near_capacity:")
                    and a["fingerprint"].endswith(f":{full}"))

        def vehicle() -> dict[str, Any]:
            return next(v for v in transport_entities(r, kind="vehicle") if v["id"] == vehicle_id)

        seen: dict[str, Any] = {}

        def nothing_yet() -> None:
            assert not any(_open_alerts(r, f) for f in (is_breakdown, is_detour, is_low_pressure,
                                                       is_full))

        def bus_stops() -> None:
            seen["vehicle"] = vehicle()
            raised = _alert(r, is_breakdown)
            assert raised is not None and raised["state"] == "active_unack", raised
            assert (raised["domain"], raised["severity"]) == ("transport", "warning")
            assert "broken down" in raised["title"] and raised["lat"] is not None

        def bus_stays() -> None:
            later = vehicle()
            assert (later["lat"], later["lon"]) == (seen["vehicle"]["lat"], seen["vehicle"]["lon"])
            assert later["delay_s"] - seen["vehicle"]["delay_s"] >= 200

        def pressure_falls() -> None:
            assert not _open_alerts(r, is_low_pressure)  # not for 2 minutes yet

        def pressure_low() -> None:
            raised = _alert(r, is_low_pressure)
            assert raised is not None and raised["state"] == "active_unack", raised
            assert (raised["domain"], raised["severity"]) == ("water", "major")
            assert raised["lat"] is not None

        def underpass_floods() -> None:
            raised = _alert(r, is_detour)
            assert raised is not None and raised["state"] == "active_unack", raised
            assert "flooded underpass" in raised["title"]
            request = next(e for e in store.entities.read_entities(r, "city") if e["id"] == report)
            assert request["status"] == "open" and "Underpass" in (request["attrs"].get("address") or "")

        def hospital_fills() -> None:
            assert not _open_alerts(r, is_full)  # one report above 97 %: not for 5 minutes yet

        def hospital_full() -> None:
            raised = _alert(r, is_full)
            assert raised is not None and raised["state"] == "active_unack", raised
            assert (raised["domain"], raised["severity"]) == ("medical", "major")
            assert raised["lat"] is not None

        def report_closed() -> None:
            assert_cleared(_alert(r, is_detour))
            request = next(e for e in store.entities.read_entities(r, "city") if e["id"] == report)
            assert request["status"] == "closed"

        # The hospital eases; no later incident strikes it again before its next report.
        settled = hospital.end + 330
        assert all(trickle.subject(e, 6) != trickle.subject(hospital, 6)
                   for e in trickle.events(settled - 600, settled, "hospital_full")
                   if e.number != hospital.number)
        pressure_rule = next(rule for rule in shipped.thresholds if rule.id == "zone_pressure_low")
        full_rule = next(rule for rule in shipped.thresholds if rule.id == "hospital_near_capacity")
        timeline: list[tuple[float, Callable[[], None]]] = [
            (start + 10, nothing_yet),
            # The bus breaks down: a service alert; it keeps its place and falls behind.
            (bus.start + 90, bus_stops),
            (bus.start + 300, bus_stays),
            (bus.end + 60, lambda: assert_cleared(_alert(r, is_breakdown))),
            # The main breaks: the zone's pressure is below 2 bar; 2 minutes later the rule fires.
            (water.start + 200, pressure_falls),
            (water.start + 200 + pressure_rule.for_s + 5, pressure_low),
            (water.end + 90, lambda: assert_cleared(_alert(r, is_low_pressure))),
            # The underpass floods: the report, then the detour; both end when it is closed.
            (underpass.start + UNDERPASS_DETOUR_AFTER_S + 30, underpass_floods),
            (underpass.end + 60, report_closed),
            # The hospital reports above 97 % for 5 minutes: the rule fires; it eases, it clears.
            (hospital.start + 600, hospital_fills),
            (hospital.start + 600 + full_rule.for_s + 10, hospital_full),
            (settled, lambda: assert_cleared(_alert(r, is_full))),
        ]
        for at, check in sorted(timeline, key=lambda item: item[0]):
            step(at)
            check()


def assert_cleared(alert: dict[str, Any] | None) -> None:
    """The alert was raised and has cleared by itself."""
    assert alert is not None and alert["state"].startswith("cleared"), alert


def test_the_trickle_keeps_out_of_the_rainstorm() -> None:
    """With `--scenario rainstorm` the trickle plays before it and after its end, nothing in
    between: no incident scheduled, no breakdown or underpass notice in the alerts feed and no
    underpass report while the storm runs."""
    from google.transit import gtfs_realtime_pb2 as rt

    from data_adapters.simulator.trickle import SCENARIO_SPAN_S

    storm_start = time.time()
    server = SimulatorServer(vehicles=20, seed=1, sensors=30, hospitals=3, ambulances=0, requests=20,
                             scenario="rainstorm", scenario_start=storm_start, trickle_minutes=5.0,
                             trickle_start=storm_start - 3 * 3600)
    trickle = server.trickle
    assert trickle is not None and trickle.scenario is server.scenario
    assert trickle.events(storm_start - 3 * 3600, storm_start)  # the calm before the storm had some
    assert trickle.events(storm_start - 60, storm_start + SCENARIO_SPAN_S) == []
    for minutes in range(0, 600, 37):
        at = storm_start + 60.0 * minutes
        feed = rt.FeedMessage()
        feed.ParseFromString(server.fleet.alerts(at))
        assert not [e.id for e in feed.entity if e.id.startswith(("breakdown-", "underpass-"))]
    filed = server.requests.generate(storm_start + SCENARIO_SPAN_S)
    reports = filed["filed"][filed["key"] // 10**12 == REQUEST_KEY_BASE // 10**12]
    assert not ((reports >= storm_start - 60) & (reports <= storm_start + SCENARIO_SPAN_S)).any()
