"""One truth on every page (issue 19): /official, the overview (/), the wall and /alerts agree on
each domain's status, by the one rule set of docs/kpis.md ("From a KPI to a status").

The city is the issue's: request categories whose own share is bad on a handful of requests,
a city-wide share a little off target; a transport KPI bad on a small sample; water pressure past
its critical limit; medical on target. The pages are read as a browser reads them, through the
Dash callbacks with the Flask test client; the alerts come from the real rule evaluation.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from app import store
from app.alerts import evaluation
from app.alerts.rules import RulesError, load_rules, parse_rules
from app.config import load_settings
from app.kpis.registry import refresh
from app.model.domains import DOMAINS
from app.model.records import Entity
from layouts import ids
from tests.support.seeds.official import page_body
from tests.support.web import callback_body, csrf_header, login

pytestmark = pytest.mark.integration

WALL_BODY = callback_body(
    [("wall-tiles", "children"), ("wall-feeds", "children"), ("wall-tiles-drawn", "data")],
    [(ids.pulse_part(ids.WALL_TILES, ids.PULSE), "data", {"n": 1})],
    [("wall-tiles-drawn", "data", None)])
OVERVIEW_BODY = callback_body([("overview-status", "children")],
                              [("live-seen", "data", [["city", 1, 0.0]])])


def _request(i: int, category: str, now: float, overdue: bool) -> Entity:
    """An open request with an expected time, past it when ``overdue``."""
    expected = now - 3600 if overdue else now + 86_400
    return Entity("city", "request", f"sr:request:{category}:{i}", 28.55, 112.36, "open", now, "sr",
                  {"service_name": category, "requested_at": now - 7200, "expected_at": expected})


def seed(r: redis.Redis, now: float) -> None:
    """The city of the module docstring; the city's KPIs are computed the runner's way."""
    requests = ([_request(i, "Noise complaint", now, i < 3) for i in range(9)]  # 33 % of nine
                + [_request(i, "Pothole", now, False) for i in range(19)])  # 3 of 28 = 10.7 %
    store.entities.write_batch(r, "city", "sr", entities=requests)
    settings = load_settings(environ={"CITYOPS_CITY_TIMEZONE": "Asia/Shanghai"})
    found = {k.name: k for k in refresh(r, "city", now, settings)}
    assert found["sla_breach"].status == "warn"
    assert found["sla_breach:Noise complaint"].status == "bad"
    stored = {k["name"]: k for k in store.kpis.read(r, "city")}
    # Nine requests with an expected time are a small sample (kpis.min_sample is 10); 28 are not.
    assert stored["sla_breach:Noise complaint"]["small_sample"] is True
    assert stored["sla_breach"]["small_sample"] is False
    base = {"unit": "%", "target": ">= 85 %", "computed_at": now, "subject": None}
    store.kpis.write(r, "transport", [
        dict(base, name="on_time_performance", group="on_time_performance", domain="transport",
             title="On-time performance", value=40.0, status="bad", sample=5, small_sample=True,
             rank=0)])
    store.kpis.write(r, "water", [
        dict(base, name="min_pressure", group="min_pressure", domain="water", title="Lowest pressure",
             value=1.2, unit="bar", target=">= 2 bar", status="bad", rank=0),
        dict(base, name="min_pressure:North", group="min_pressure", domain="water",
             title="Lowest pressure: North", value=1.2, unit="bar", target=">= 2 bar",
             status="bad", subject="North", rank=1)])
    store.kpis.write(r, "medical", [
        dict(base, name="ward_occupancy", group="ward_occupancy", domain="medical",
             title="Ward occupancy", value=70.0, target="<= 85 %", status="ok", rank=0)])


def _walk(node: Any) -> list[dict[str, Any]]:
    """Every component of a Dash tree (as JSON)."""
    if isinstance(node, list):
        return [c for child in node for c in _walk(child)]
    if isinstance(node, dict) and "props" in node:
        return [node, *_walk(node["props"].get("children"))]
    return []


def _badges(tree: Any) -> dict[str, str]:
    """domain -> colour of every domain-status badge in a tree."""
    return {c["props"]["data-domain"]: c["props"]["data-status"] for c in _walk(tree)
            if "domain-status" in str(c["props"].get("className", "")).split()}


def _post(client, body: dict[str, Any]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = client.post("/_dash-update-component", json=body, headers=csrf_header(client))
    assert response.status_code == 200, response.text[:300]
    return response.get_json()["response"]


def read_pages(client) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """What each page says of each domain, and the open alerts as /api/v1/alerts lists them."""
    official = _post(client, page_body())["_pages_content"]["children"]
    cards = {c["props"]["id"].removeprefix("official-status-"): c["props"]["data-status"]
             for c in _walk(official) if str(c["props"].get("id", "")).startswith("official-status-")}
    overview_page = _post(client, page_body("/"))["_pages_content"]["children"]
    wall = _post(client, WALL_BODY)["wall-tiles"]["children"]
    tiles = {c["props"]["data-kpi"]: c["props"]["className"] for c in _walk(wall)
             if "data-kpi" in c["props"]}
    small = {c["props"]["data-kpi"] for c in _walk(wall) if "data-kpi" in c["props"]
             and any(d["props"].get("className") == "tile-small-sample" for d in _walk(c))}
    listed = client.get("/api/v1/alerts?state=active_unack,active_ack")
    assert listed.status_code == 200, listed.text[:300]
    return {"official": cards, "overview": _badges(overview_page),
            "overview_refresh": _badges(_post(client, OVERVIEW_BODY)["overview-status"]["children"]),
            "wall": _badges(wall), "tiles": tiles, "small": small, "alerts": listed.get_json()["alerts"]}


def assert_agree(pages: dict[str, Any]) -> None:
    """Every page gives every domain one status; Critical exactly where a critical alert is open."""
    assert set(pages["official"]) == set(DOMAINS)
    for view in ("overview", "overview_refresh", "wall"):
        assert pages[view] == pages["official"], view
    critical = {a["domain"] for a in pages["alerts"] if a["severity"] == "critical"}
    assert {d for d, colour in pages["official"].items() if colour == "red"} == critical


def test_official_overview_wall_and_alerts_agree(client, users, r: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    """Before the water alert's duration every domain is at most amber; once it fires water is
    red on every page and on /alerts; the noise complaints and the small sample never are."""
    now = time.time()
    seed(r, now)
    login(client, users["operator"])
    rules = load_rules()
    assert evaluation.evaluate(r, now, rules).raised == []

    before = read_pages(client)
    assert_agree(before)
    assert before["official"] == {"transport": "amber", "water": "amber", "medical": "green",
                                  "city": "amber"}
    assert before["alerts"] == []
    # The wall's tiles show the status that counts: the city-wide share warn, the small sample warn.
    assert "kpi-warn" in before["tiles"]["sla_breach"].split()
    assert "kpi-warn" in before["tiles"]["on_time_performance"].split()
    assert before["small"] == {"on_time_performance"}  # marked "small sample" on its tile

    # The zone's own rule (zone_pressure_low, major) fires too: it is evidence, not Critical.
    raised = evaluation.evaluate(r, now + rules.kpi_limit_for_s, rules).raised
    assert len(raised) == 2
    after = read_pages(client)
    assert_agree(after)
    assert after["official"] == {"transport": "amber", "water": "red", "medical": "green",
                                 "city": "amber"}
    [alert] = [a for a in after["alerts"] if a["severity"] == "critical"]
    assert alert["domain"] == "water"
    assert {a["severity"] for a in after["alerts"]} == {"critical", "major"}
    assert alert["title"] == "Lowest pressure: past its critical limit"

    # Back within its limit: the alert clears itself and water leaves Critical everywhere.
    store.kpis.write(r, "water", [dict(
        name="min_pressure", group="min_pressure", domain="water", title="Lowest pressure",
        value=2.4, unit="bar", target=">= 2 bar", status="ok", computed_at=now, subject=None,
        rank=0)])
    assert evaluation.evaluate(r, now + rules.kpi_limit_for_s + 5, rules).cleared == [alert["id"]]
    cleared = read_pages(client)
    assert_agree(cleared)
    # The zone's major alert is still open: Attention, no longer Critical, on every page.
    assert cleared["official"]["water"] == "amber"
    assert [a["severity"] for a in cleared["alerts"]] == ["major"]


def test_kpi_limits_table_is_validated_and_can_be_switched_off() -> None:
    """[kpi_limits]: on by default, critical after 5 minutes; its keys are checked."""
    default = parse_rules("", "empty.toml")
    assert (default.kpi_limits, default.kpi_limit_severity, default.kpi_limit_for_s) == (
        True, "critical", 300.0)
    shipped = load_rules()
    assert (shipped.kpi_limits, shipped.kpi_limit_severity, shipped.kpi_limit_for_s) == (
        True, "critical", 300.0)
    off = parse_rules('[kpi_limits]\nenabled = false\nseverity = "major"\nfor = "1m"\n', "f.toml")
    assert (off.kpi_limits, off.kpi_limit_severity, off.kpi_limit_for_s) == (False, "major", 60.0)
    for text, named in (('[kpi_limits]\nseverity = "dire"\n', "kpi_limits.severity"),
                        ('[kpi_limits]\nfor = "soon"\n', "kpi_limits.for"),
                        ('[kpi_limits]\nwhen = 1\n', "unknown key 'when'")):
        with pytest.raises(RulesError, match=named):
            parse_rules(text, "f.toml")


def test_switched_off_kpi_limits_raise_nothing_and_clear_what_they_raised(r: redis.Redis) -> None:
    """A bad city-wide KPI raises its alert; with [kpi_limits] switched off it clears."""
    now = time.time()
    store.kpis.write(r, "water", [dict(
        name="min_pressure", group="min_pressure", domain="water", title="Lowest pressure",
        value=1.2, unit="bar", target=">= 2 bar", status="bad", computed_at=now, subject=None,
        rank=0)])
    on = parse_rules('[kpi_limits]\nfor = "0s"\n', "on.toml")
    raised = evaluation.evaluate(r, now, on).raised
    assert len(raised) == 1
    off = parse_rules("[kpi_limits]\nenabled = false\n", "off.toml")
    assert evaluation.evaluate(r, now + 1, off).cleared == raised
