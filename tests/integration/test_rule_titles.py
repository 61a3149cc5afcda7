"""An alert raised by a rule carries the rule's title in both languages (issue 19): a reader of
Chinese sees the Chinese title on /alerts, a reader of English the English one, on a real
redis-server through the page's own callback."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from app import accounts, alerts, store
from app.alerts import evaluation, rules
from app.model.alerts import alert_id_for
from layouts import ids
from tests.support.incident_pages import call, find_all, prop, texts
from tests.support.web import login

pytestmark = pytest.mark.integration

T0 = 1_767_225_600.0
RULES = """
[[threshold]]
id = "zone_pressure_low"
title = "Low pressure in zone {subject}: {value} {unit}"
title_zh = "供水分区 {subject} 水压偏低：{value} {unit}"
domain = "water"
kpi = "min_pressure"
scope = "each"
below = 2.0
severity = "major"
"""


def _raise_by_rule(r: redis.Redis) -> str:
    store.kpis.write(r, "water", [{
        "name": "min_pressure:north", "domain": "water", "title": "Lowest pressure: north",
        "value": 1.5, "unit": "bar", "target": "", "status": "ok", "computed_at": T0,
        "subject": "north", "group": "min_pressure"}])
    evaluation.evaluate(r, T0, rules.parse_rules(RULES, "test"))
    alert_id = alert_id_for("rule:zone_pressure_low:north")
    assert alerts.get_alert(r, alert_id) is not None
    return alert_id


def _card_texts(client: Any, web_app: Any) -> dict[str, list[str]]:
    answer = call(client, web_app, "layouts.alerts.refresh_list", {
        prop(ids.ALERT_PANEL_SHOWN, "data"): 1, prop(ids.ALERTS_ORDER, "value"): None,
        prop(ids.ALERTS_COUNT_PICKED, "data"): None, prop(ids.ALERTS_FILTER_SEVERITY, "value"): [],
        prop(ids.ALERTS_FILTER_STATE, "value"): []}, trigger=prop(ids.ALERT_PANEL_SHOWN, "data"))
    assert answer.status_code == 200, answer.data[:300]
    cards = find_all(answer.get_json()["response"][ids.ALERTS_LIST]["children"],
                     lambda p: "data-alert" in p)
    return {c["props"]["data-alert"]: texts(c) for c in cards}


def test_a_rule_alert_shows_its_title_in_the_readers_language(
        web_app: Any, r: redis.Redis, users: dict[str, str]) -> None:
    alert_id = _raise_by_rule(r)
    stored = alerts.get_alert(r, alert_id)
    assert stored is not None
    assert (stored["title"], stored["title_zh"]) == ("Low pressure in zone north: 1.5 bar",
                                                     "供水分区 north 水压偏低：1.5 bar")
    # An alert with one title (a person's, a feed's, or one raised before rules had two).
    older = alerts.raise_alert(r, fingerprint="older", title="Hydrant leaking", severity="minor",
                               domain="water", source="manual").alert_id
    english = web_app.server.test_client()
    assert login(english, users["operator"]).status_code == 302
    shown = _card_texts(english, web_app)
    assert "Low pressure in zone north: 1.5 bar" in shown[alert_id]
    assert not any("供水分区" in text for text in shown[alert_id])
    accounts.set_language(r, users["admin"], "zh")
    chinese = web_app.server.test_client()
    assert login(chinese, users["admin"]).status_code == 302
    shown = _card_texts(chinese, web_app)
    assert "供水分区 north 水压偏低：1.5 bar" in shown[alert_id]
    assert "Low pressure in zone north: 1.5 bar" not in shown[alert_id]
    assert "Hydrant leaking" in shown[older]


def test_the_built_in_rules_raise_alerts_with_a_chinese_title_too(r: redis.Redis) -> None:
    """A stale feed ([staleness]) and a city-wide KPI past its limit ([kpi_limits])."""
    store.feeds.write_health(r, "buses", {"domain": "transport", "adapter": "gtfs_rt",
                                          "freshness_budget_s": 60, "first_attempt": T0 - 600,
                                          "last_success": T0})
    store.kpis.write(r, "water", [{
        "name": "min_pressure", "domain": "water", "title": "Lowest pressure", "value": 0.5,
        "unit": "bar", "target": ">= 2 bar", "status": "bad", "computed_at": T0, "subject": None,
        "group": "min_pressure"}])
    shipped = rules.parse_rules("", "test")
    evaluation.evaluate(r, T0, shipped)
    evaluation.evaluate(r, T0 + shipped.kpi_limit_for_s, shipped)
    stale = alerts.get_alert(r, alert_id_for("stale:buses"))
    limit = alerts.get_alert(r, alert_id_for("limit:water:min_pressure"))
    assert stale is not None and limit is not None
    assert (stale["title"], stale["title_zh"]) == ("Feed buses stale", "数据源 buses 数据过期")
    assert limit["title"] == "Lowest pressure: past its critical limit"
    assert limit["title_zh"].endswith("：超出临界限值") and "Lowest" not in limit["title_zh"]
    assert alerts.shown_title(limit, "zh") == limit["title_zh"]
