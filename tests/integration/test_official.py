"""/official: the page (status, top issues, trends) and its exports, over HTTP with real sessions."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis

from app import accounts, store
from layouts import official
from tests.support.seeds.official import HOSTILE, page_body, seed
from tests.support.web import callback_body, csrf_header, login

EXPORTS = ["/official/report.html", "/official/kpis.csv", "/official/alerts.csv"]
TREND_EXPORTS = [f"/official/kpi-history.csv?window={w}" for w in ("24h", "7d", "30d")]
TZ = "Asia/Shanghai"  # the default setting of the test app


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


def find(node: Any, component_id: str) -> dict[str, Any] | None:
    """The component with ``component_id`` in a Dash component tree (as JSON), if any."""
    if isinstance(node, list):
        return next((hit for child in node if (hit := find(child, component_id))), None)
    if isinstance(node, dict):
        props = node.get("props", {})
        if props.get("id") == component_id:
            return node
        return find(props.get("children"), component_id)
    return None


def hhmm(ts: float) -> str:
    """HH:MM of ``ts`` in the city's zone."""
    return datetime.fromtimestamp(ts, ZoneInfo(TZ)).strftime("%H:%M")


# -- exports: who may take them ------------------------------------------------------------------
@pytest.mark.parametrize("path", EXPORTS)
def test_anonymous_export_goes_to_login(client, path: str) -> None:  # type: ignore[no-untyped-def]
    """No session: the gate sends the visitor to /login, with no data."""
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("role,expected", [("admin", 200), ("operator", 200), ("official", 200),
                                           ("emergency", 403)])
def test_exports_follow_the_official_page_roles(client, users, r: redis.Redis, role: str,
                                                expected: int) -> None:  # type: ignore[no-untyped-def]
    """Whoever may open /official may take its exports, as attachments; emergency staff may not."""
    seed(r, time.time())
    login(client, users[role])
    for path in EXPORTS:
        response = client.get(path)
        assert response.status_code == expected, (role, path, response.text[:200])
        if expected == 200:
            disposition = response.headers["Content-Disposition"]
            suffix = path.rsplit(".", 1)[1]
            assert re.fullmatch(rf'attachment; filename="cityops-[a-z]+-\d{{8}}-\d{{4}}\.{suffix}"',
                                disposition), disposition
            assert response.mimetype == ("text/html" if suffix == "html" else "text/csv")
            assert response.headers["Cache-Control"] == "no-store"
    for path in TREND_EXPORTS:
        response = client.get(path)
        assert response.status_code == expected, (role, path, response.text[:200])
        if expected == 200:
            assert response.mimetype == "text/csv"
            assert re.fullmatch(r'attachment; filename="cityops-kpi-history-\d+[hd]-\d{8}-\d{4}\.csv"',
                                response.headers["Content-Disposition"])


def test_wall_token_may_not_export(client, r: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    """A wall display token sees the wall only."""
    token = accounts.create_token(r, "lobby", "wall")
    response = client.get("/official/kpis.csv", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403


def test_official_token_exports_and_is_audited(client, r: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    """A reporting script with an official's token gets the CSV; the export is in the audit log."""
    seed(r, time.time())
    token = accounts.create_token(r, "reporting", "official")
    response = client.get("/official/alerts.csv?form=machine",
                          headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert [(row["severity"], row["title"]) for row in rows] == [("critical", HOSTILE)]
    entry = store.audit.read(r, count=1)[0]
    assert (entry.actor, entry.action, entry.target, entry.outcome) == (
        "token:reporting", "export", "alerts.csv", "ok")


def test_kpis_csv_over_http(client, users, r: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    """The downloaded CSV holds the stored KPIs, per-subject ones with their subject."""
    seed(r, time.time())
    login(client, users["official"])
    text = client.get("/official/kpis.csv?form=machine").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert sorted((row["domain"], row["name"], row["subject"], row["value"], row["status"])
                  for row in rows) == [
        ("transport", "on_time_performance", "", "91.5", "ok"),
        ("water", "min_pressure", "", "2.5", "ok"),
        ("water", "min_pressure:Zone 3", "Zone 3", "1.7", "warn"),
    ]


def test_report_over_http_is_offline_and_escaped(client, users, r: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    """The downloaded report carries Leaflet inline, the alert marker, and no raw feed text."""
    seed(r, time.time())
    login(client, users["official"])
    document = client.get("/official/report.html").get_data(as_text=True)
    assert "L.map(" in document and "report-alert severity-critical" in document
    assert not re.search(r"<(script|link)\b[^>]*(src|href)\s*=", document, re.I)
    assert "<img src=x" not in document and "${alert(2)}" not in document


STATUS_BODY = callback_body([("official-status", "children"), ("official-issues", "children")],
                            [("live-seen", "data", [["water", 1, 0.0]])])


def trends_body(window: str) -> dict[str, Any]:
    """The trends callback for ``window``."""
    return callback_body([("official-trends", "children")],
                         [("official-window", "value", window),
                          ("official-trends-tick", "n_intervals", None)])


def test_page_shows_status_reasons_issues_and_exports(client, users, r: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    """The page: water amber for its stale feed, medical red for its alert, the exports linked."""
    now = time.time()
    seed(r, now)
    login(client, users["official"])
    response = client.post("/_dash-update-component", json=page_body(),
                           headers=csrf_header(client))
    assert response.status_code == 200, response.text[:300]
    content = response.get_json()["response"]["_pages_content"]["children"]
    cards = {domain: find(content, f"official-status-{domain}") for domain in
             ("transport", "water", "medical", "city")}
    statuses = {domain: card["props"]["data-status"] for domain, card in cards.items() if card}
    assert statuses == {"transport": "green", "water": "amber", "medical": "red", "city": "grey"}
    water = texts(cards["water"])
    assert f"feed senml stale since {hhmm(now - 3600)}" in water
    # issue 19: one zone's KPI is a top issue, never a reason of its domain's status
    assert "Min pressure · Zone 3: 1.7 bar (target >= 2 bar)" not in water
    issues = texts(find(content, "official-issues"))
    assert HOSTILE in issues  # as text (React escapes it), never as HTML
    assert "Min pressure · Zone 3" in issues
    exports = find(content, "official-exports")
    assert exports is not None
    assert [a["props"]["href"] for a in exports["props"]["children"]] == EXPORTS + TREND_EXPORTS
    assert "dangerouslySetInnerHTML" not in json.dumps(content)


def test_status_follows_a_feed_going_stale(client, users, r: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    """The live refresh: a fresh feed shows green, the same feed silent past its budget amber."""
    now = time.time()
    store.kpis.write(r, "transport", [
        {"name": "on_time_performance", "domain": "transport", "title": "On-time performance",
         "value": 91.5, "unit": "%", "target": ">= 85 %", "status": "ok", "computed_at": now}])
    store.feeds.write_health(r, "buses", {"domain": "transport", "last_success": now,
                                         "freshness_budget_s": 120})
    login(client, users["operator"])

    def transport() -> dict[str, Any]:
        response = client.post("/_dash-update-component", json=STATUS_BODY,
                               headers=csrf_header(client))
        assert response.status_code == 200, response.text[:300]
        card = find(response.get_json()["response"]["official-status"]["children"],
                    "official-status-transport")
        assert card is not None
        return card

    assert transport()["props"]["data-status"] == "green"
    store.feeds.write_health(r, "buses", {"last_success": now - 600})
    card = transport()
    assert card["props"]["data-status"] == "amber"
    assert f"feed buses stale since {hhmm(now - 600)}" in texts(card)


@pytest.mark.parametrize("body", [STATUS_BODY, trends_body("24h")], ids=["status", "trends"])
def test_emergency_staff_get_403_from_the_page_callbacks(client, users, body) -> None:  # type: ignore[no-untyped-def]
    """A crafted callback POST meets the same role check as the page."""
    login(client, users["emergency"])
    response = client.post("/_dash-update-component", json=body, headers=csrf_header(client))
    assert response.status_code == 403


def test_emergency_staff_are_not_shown_the_page(client, users, r: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    """Dash's router answers every signed-in person; the page's layout refuses the role."""
    seed(r, time.time())
    login(client, users["emergency"])
    response = client.post("/_dash-update-component", json=page_body(),
                           headers=csrf_header(client))
    assert response.status_code == 200
    words = texts(response.get_json()["response"]["_pages_content"]["children"])
    assert "Not permitted" in words and HOSTILE not in words


@pytest.mark.parametrize("window,label", [("24h", "last 24 hours"), ("7d", "last 7 days")])
def test_trends_callback_draws_stored_history(client, users, r: redis.Redis, window: str,
                                              label: str) -> None:  # type: ignore[no-untyped-def]
    """One chart per domain; the transport chart carries the stored KPI's value."""
    seed(r, time.time())
    login(client, users["official"])
    response = client.post("/_dash-update-component", json=trends_body(window),
                           headers=csrf_header(client))
    assert response.status_code == 200, response.text[:300]
    sections = response.get_json()["response"]["official-trends"]["children"]
    headings = [texts(s["props"]["children"][0])[0] for s in sections]
    assert headings == [f"{t} · {label}" for t in ("Transport", "Water", "Medical", "City management")]
    graph = find(sections, "official-trend-transport")
    assert graph is not None
    traces = graph["props"]["figure"]["data"]
    # Besides the KPI's line, the legend's entries of the warning and critical bands (no data).
    assert [t["y"] for t in traces if t.get("legendgroup") != "bands"] == [[91.5]]
    assert {t["legendgroup"] for t in traces[1:]} == {"bands"}
    empty = find(sections, "official-trend-city")
    assert empty is not None and not empty["props"]["figure"]["data"]


# -- trend downsampling ----------------------------------------------------------------------------
def test_trend_series_bucket_means_and_gaps() -> None:
    """Readings average per bucket; a bucket with no reading between two others is a gap."""
    base = 1_700_000_400.0  # on a 5-minute boundary
    history = [(base + 10, "a", 1.0), (base + 70, "a", 3.0), (base + 80, "b", 5.0),
               (base + 310, "a", 4.0), (base + 960, "a", 6.0), (base + 970, "a", None),
               (base + 975, "a", True)]
    series = official.trend_series(history, ["a", "b", "c"], 300, TZ)
    xs, ys = series["a"]
    assert ys == [2.0, 4.0, None, 6.0]
    zone = ZoneInfo(TZ)
    assert xs[0] == datetime.fromtimestamp(base + 150, zone).replace(tzinfo=None).isoformat()
    assert xs[2] is None
    assert series["b"][1] == [5.0] and series["c"] == ([], [])
