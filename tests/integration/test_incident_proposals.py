"""Proposals from clustered alerts and the auto-link job on a real redis-server (and a Redis Cluster),
the runner's incident jobs under their lease, and the demo city's rainstorm proposing an incident."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import redis

from app import accounts, alerts, audit, incidents, kpis, store
from app.alerts import evaluation, rules
from app.incidents import jobs, proposals, sop
from app.model import roles
from app.model.domains import DOMAINS
from app.pipeline.ingest import ingest
from app.store.link import connect
from data_adapters import registry
from data_adapters.demo import demo_feeds
from data_adapters.simulator import SimulatorServer
from tests.support.incidents import CATALOGUE, CENTRE, SQUARE, T0, person, placed_alert
from tests.support.redis_server import RedisServer
from tests.support.web import PASSWORD

ADA = person("ada")
LAT, LON = CENTRE
# About 100 m north and east of the centre, and about 2 km away (outside every 500 m cluster).
NEAR = (LAT + 0.0009, LON + 0.001)
FAR = (LAT + 0.018, LON)


@pytest.fixture
def people(r: redis.Redis) -> None:
    accounts.add_user(r, "ada", roles.OPERATOR, PASSWORD)
    accounts.add_user(r, "bob", roles.OPERATOR, PASSWORD)


def _pending(r: redis.Redis) -> list[dict[str, Any]]:
    return incidents.list_proposals(r)


def _three_close(r: redis.Redis, now: float = T0) -> list[str]:
    """Three alerts of two domains within 150 m, raised within ten minutes."""
    return [placed_alert(r, "pipe", now=now - 600),
            placed_alert(r, "hydrant", lat=NEAR[0], lon=NEAR[1], now=now - 300),
            placed_alert(r, "road", domain="transport", severity="critical", title="Road flooded by rain",
                         lat=LAT, lon=NEAR[1], now=now)]


def test_clustered_alerts_are_proposed_never_declared(r: redis.Redis, people: None) -> None:
    """Three alerts of two domains within 500 m in 15 minutes: one pending proposal (no incident),
    with their domains, the level of the gravest, a suggested type; running again adds nothing."""
    ids = _three_close(r)
    created = incidents.propose(r, CATALOGUE, now=T0 + 1)
    assert len(created) == 1 and store.incidents.ids(r) == []
    proposal = incidents.get_proposal(r, created[0])
    assert proposal is not None and proposal["state"] == "pending"
    assert sorted(proposal["alerts"]) == sorted(ids)
    assert proposal["domains"] == ["transport", "water"] and proposal["level"] == "I"
    assert proposal["title"] == "Road flooded by rain"  # the gravest alert's
    assert proposal["suggested_type"] == "urban_flooding"  # "flood" and "rain" in a title
    assert incidents.propose(r, CATALOGUE, now=T0 + 2) == []
    assert [p["id"] for p in _pending(r)] == created
    assert ("system:incidents", "proposal_create", "ok") in [
        (e.actor, e.action, e.outcome) for e in audit.recent(r, 50)]


# (domain, position, minutes before now) of each alert, for clusters that fall short of the rule.
SHORT: dict[str, list[tuple[str, tuple[float, float], float]]] = {
    "one domain": [("water", CENTRE, 10), ("water", NEAR, 5), ("water", (LAT, NEAR[1]), 0)],
    "two alerts": [("water", CENTRE, 10), ("transport", NEAR, 0)],
    "too far apart": [("water", CENTRE, 10), ("water", NEAR, 5), ("transport", FAR, 0)],
    "too long ago": [("water", CENTRE, 20), ("water", NEAR, 16), ("transport", NEAR, 0)],
}


@pytest.mark.parametrize("case", [*SHORT, "one cleared"])
def test_what_does_not_cluster(r: redis.Redis, people: None, case: str) -> None:
    """Fewer alerts or domains than the rule asks, alerts too far apart, raised too long ago, or
    no longer active: no proposal."""
    if case == "one cleared":
        alerts.clear(r, _three_close(r)[2], now=T0)
    for i, (domain, (lat, lon), minutes) in enumerate(SHORT.get(case, [])):
        placed_alert(r, f"{case}:{i}", domain=domain, lat=lat, lon=lon, now=T0 - 60 * minutes)
    assert incidents.propose(r, CATALOGUE, now=T0 + 1) == []
    assert _pending(r) == []


def test_alerts_in_a_warnings_area_cluster_with_it(r: redis.Redis, people: None) -> None:
    """Alerts far apart (over 500 m) but inside an active CAP warning's area cluster with the
    warning, however long ago the warning came: the proposal takes the warning's area."""
    placed_alert(r, "warning", domain="city", severity="major", source="cap", area=SQUARE,
                 title="Rainstorm orange warning", now=T0 - 3600)
    placed_alert(r, "west", lat=LAT, lon=LON - 0.008, now=T0 - 60)
    placed_alert(r, "east", lat=LAT, lon=LON + 0.008, now=T0)
    created = incidents.propose(r, CATALOGUE, now=T0 + 1)
    proposal = incidents.get_proposal(r, created[0])
    assert proposal is not None and proposal["area"] == SQUARE
    assert proposal["domains"] == ["city", "water"] and len(proposal["alerts"]) == 3
    assert proposal["suggested_type"] == "urban_flooding"
    flat = sop.parse_catalogue(sop.default_text().replace("warning_areas = true",
                                                          "warning_areas = false"))
    r.delete(store.keys.Keys.incident_proposed, store.keys.Keys.incident_proposals)
    assert incidents.propose(r, flat, now=T0 + 1) == []


def test_a_pending_proposal_grows_then_is_judged_once(r: redis.Redis, people: None) -> None:
    """A new alert joining the cluster joins its pending proposal; the first to judge it wins
    (the second is told who and when); accepting declares the incident from its alerts."""
    _three_close(r)
    proposal_id = incidents.propose(r, CATALOGUE, now=T0 + 1)[0]
    fourth = placed_alert(r, "fourth", domain="medical", lat=NEAR[0], lon=LON, now=T0 + 30)
    assert incidents.propose(r, CATALOGUE, now=T0 + 31) == [proposal_id]
    grown = incidents.get_proposal(r, proposal_id)
    assert grown is not None and fourth in grown["alerts"] and "medical" in grown["domains"]
    incident = incidents.accept(r, ADA, CATALOGUE, proposal_id, title="Flooded underpass",
                                now=T0 + 40)
    assert sorted(incident["alerts"]) == sorted(grown["alerts"])
    assert (incident["type"], incident["source"], incident["proposal"]) == (
        "urban_flooding", "proposal", proposal_id)
    judged = incidents.get_proposal(r, proposal_id)
    assert judged is not None and (judged["state"], judged["judged_by"], judged["incident"]) == (
        "accepted", "ada", incident["id"])
    with pytest.raises(incidents.Conflict) as late:
        incidents.dismiss(r, person("bob"), proposal_id, "a drill", now=T0 + 41)
    assert (late.value.reason, late.value.by, late.value.at) == ("proposal_accepted", "ada",
                                                                 pytest.approx(T0 + 40))
    assert _pending(r) == []
    with pytest.raises(incidents.NotPermitted):
        incidents.dismiss(r, person("eve", roles.EMERGENCY), proposal_id)


def test_a_dismissed_proposal_is_not_made_again(r: redis.Redis, people: None) -> None:
    """Dismissed: its alerts are never proposed again, and a second dismissal is a Conflict."""
    _three_close(r)
    proposal_id = incidents.propose(r, CATALOGUE, now=T0 + 1)[0]
    dismissed = incidents.dismiss(r, ADA, proposal_id, "a drill", now=T0 + 2)
    assert (dismissed["state"], dismissed["reason"]) == ("dismissed", "a drill")
    assert incidents.propose(r, CATALOGUE, now=T0 + 3) == []
    with pytest.raises(incidents.Conflict) as again:
        incidents.dismiss(r, person("bob"), proposal_id, now=T0 + 4)
    assert (again.value.reason, again.value.by) == ("proposal_dismissed", "ada")
    assert [p["id"] for p in incidents.list_proposals(r, pending_only=False)] == [proposal_id]


# -- auto-link ------------------------------------------------------------------------------------------
def test_new_alerts_inside_an_open_incident_are_linked(r: redis.Redis, people: None) -> None:
    """While an incident is open, a new active alert inside its area and of a domain its type
    names is linked automatically (both timelines say so); an alert outside the area, of another
    domain, raised before the declaration, or unlinked by hand is not; a closed incident links
    nothing."""
    before = placed_alert(r, "before", now=T0 - 10)
    incident = incidents.declare(r, ADA, CATALOGUE, title="Burst main", kind="water_main_burst",
                                 lat=LAT, lon=LON, radius_m=300.0, now=T0)
    inside = placed_alert(r, "inside", lat=NEAR[0], lon=NEAR[1], now=T0 + 5)
    outside = placed_alert(r, "outside", lat=FAR[0], lon=FAR[1], now=T0 + 5)
    medical = placed_alert(r, "medical", domain="medical", now=T0 + 5)  # not a domain of the type
    unlinked = placed_alert(r, "unlinked", now=T0 + 5)
    incidents.link(r, ADA, incident["id"], unlinked, now=T0 + 6)
    incidents.link(r, ADA, incident["id"], unlinked, unlink=True, now=T0 + 7)
    assert incidents.auto_link(r, now=T0 + 10) == [(incident["id"], inside)]
    assert incidents.auto_link(r, now=T0 + 11) == []
    linked = incidents.get_incident(r, incident["id"])
    assert linked is not None and linked["alerts"] == [inside]
    entry = incidents.timeline(r, incident["id"])[-1]
    assert (entry["action"], entry["alert"], entry["actor"]) == ("autolinked", inside, "system:incidents")
    assert alerts.timeline(r, inside)[-1]["action"] == "incident_linked"
    assert all(alerts.timeline(r, a)[-1]["action"] == "raised" for a in (before, outside, medical))
    incidents.change(r, ADA, CATALOGUE, incident["id"], "status", status="closed", now=T0 + 20)
    placed_alert(r, "after-close", lat=NEAR[0], lon=NEAR[1], now=T0 + 30)
    assert incidents.auto_link(r, now=T0 + 31) == []


# -- the runner's jobs ---------------------------------------------------------------------------------
def test_one_runner_at_a_time_does_the_jobs(r: redis.Redis, people: None, tmp_path: Path) -> None:
    """The jobs run for the runner holding their lease only; the catalogue's status is kept for
    the screens; a catalogue that does not validate is refused and the one before stays."""
    _three_close(r, now=time.time())
    assert jobs.propose(r, None, "runner-a") is not None
    assert jobs.propose(r, None, "runner-b") is None
    assert jobs.link_alerts(r, None, "runner-b") is None and jobs.due_steps(r, None, "runner-b") is None
    assert len(_pending(r)) == 1
    status = store.incidents.read_meta(r)["sop_status"]
    assert '"error":""' in status and "default_sops.toml" in status
    broken = tmp_path / "sops.toml"
    broken.write_text(sop.default_text().replace('due = "30m"', 'due = "soon"', 1), encoding="utf-8")
    found = jobs.catalogue(r, broken)
    assert found.source == "default_sops.toml"  # the catalogue in force stays
    kept = store.incidents.read_meta(r)["sop_status"]
    assert "step 'isolate'" in kept and "key 'due'" in kept and str(broken) in kept


# -- the demo city's rainstorm ----------------------------------------------------------------------------
def test_the_rainstorm_proposes_an_incident(redis_server: RedisServer, people: None,
                                            r: redis.Redis) -> None:
    """The demo city 40 minutes into its rainstorm, through the real feeds, KPIs and the shipped
    rules: the storm's alerts in the warning's area are proposed as an urban-flooding incident;
    accepting it gives the demo departments their tasks."""
    client = connect(redis_server.url)
    start = time.time() - 40 * 60
    with SimulatorServer(vehicles=30, seed=1, scenario="rainstorm", scenario_start=start,
                         sensors=120, hospitals=5, ambulances=6, requests=80) as server:
        for config in demo_feeds(server.url):
            adapter = registry.build(config)
            ingest(client, adapter, adapter.fetch())
    now = time.time()
    for domain in DOMAINS:
        kpis.refresh(client, domain, now=now)
    shipped = rules.load_rules()
    evaluation.evaluate(client, now, shipped)
    raised = evaluation.evaluate(client, now + 6 * 60, shipped).raised  # past every rule's "for"
    assert raised, "the storm raised no alert"
    created = proposals.propose(client, CATALOGUE, now=now + 6 * 60 + 1)
    assert len(created) == 1, [a["title"] for a in alerts.list_alerts(client)]
    proposal = incidents.get_proposal(client, created[0])
    assert proposal is not None
    assert {"city", "water"} <= set(proposal["domains"]) and len(proposal["alerts"]) >= 3
    assert proposal["suggested_type"] == "urban_flooding" and proposal["area"] is not None
    incident = incidents.accept(client, ADA, CATALOGUE, created[0], now=now + 400)
    departments = {t["department"] for t in incidents.incident_tasks(client, incident["id"])}
    assert departments <= set(CATALOGUE.departments) and {"city_management", "traffic_police",
                                                          "water_bureau"} <= departments
    client.close()
