"""The officials' CSV downloads in both forms (issue 19), over HTTP on a real redis-server: the
people's form in the reader's language with words, rounded numbers and local times; the machine
form unchanged; the KPI history of a window; hostile feed text defused and escaped."""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis

from app import accounts, i18n, store
from app.situation import report
from tests.support.code_scan import PATTERNS
from tests.support.seeds.report import HOSTILE, kpi, seed_city
from tests.support.web import callback_body, csrf_header, login

TZ = "Asia/Shanghai"  # the default setting of the test app
# A KPI title a spreadsheet would run, with a quote, a comma and a line break to escape.
FORMULA_TITLE = '=HYPERLINK("http://x","y"),\n2'
CODES = {kind: PATTERNS[kind] for kind in ("unit code", "snake_case name", "epoch seconds")}


def rows_of(text: str) -> list[list[str]]:
    """A CSV as a spreadsheet program reads it (the BOM is required)."""
    assert text.startswith("\ufeff"), "no BOM: spreadsheet programs would misread UTF-8"
    return list(csv.reader(io.StringIO(text[1:], newline="")))


def seed(r: redis.Redis, now: float) -> dict[str, str]:
    """The report's city plus figures to round, a count unit and a hostile city-wide KPI title."""
    ids = seed_city(r, now)
    store.kpis.write(r, "transport", [
        kpi("on_time_performance", "ok", 91.456, domain="transport", unit="%", target=">= 85 %",
            title="On-time performance", computed_at=now),
        kpi("mean_delay", "ok", -35.04321, domain="transport", unit="s", target="<= 120 s",
            title="Mean delay", computed_at=now, rank=1),
        kpi("vehicles_in_service", "ok", 41.6, domain="transport", unit="{vehicle}", target="",
            title="Vehicles in service", computed_at=now, rank=2),
        kpi("formula", "warn", 2.0, domain="transport", unit="{alert}", target="0",
            title=FORMULA_TITLE, computed_at=now, rank=3)])
    return ids


@pytest.fixture
def official(web_app: Any, r: redis.Redis, users: dict[str, str]) -> Any:
    """A signed-in official's client (English until a test changes the language)."""
    client = web_app.server.test_client()
    assert login(client, users["official"]).status_code == 302
    return client


def get_csv(client: Any, path: str) -> list[list[str]]:
    answer = client.get(path)
    assert answer.status_code == 200, (path, answer.status_code, answer.get_data(as_text=True)[:300])
    assert answer.mimetype == "text/csv" and answer.headers["Content-Disposition"].startswith("attachment;")
    return rows_of(answer.get_data(as_text=True))


def no_codes(rows: list[list[str]]) -> None:
    """No unit code, snake_case state or field name, or epoch number in any cell."""
    for row in rows:
        for cell in row:
            for kind, pattern in CODES.items():
                assert not pattern.search(cell), f"{kind} in {cell!r} of {row}"


@pytest.mark.parametrize(("lang", "kpi_header", "alert_header"), [
    ("en", ["Domain", "Indicator", "Value", "Unit", "Target", "Status", "Computed"],
     ["Severity", "State", "Domain", "Title", "Count", "First seen", "Last seen", "Acknowledged by",
      "Assignee", "Escalated"]),
    ("zh", ["领域", "指标", "数值", "单位", "目标", "状态", "计算时间"],
     ["严重程度", "状态", "领域", "标题", "次数", "首次发生", "最近发生", "确认人", "处理人", "已升级"]),
])
def test_the_peoples_form_speaks_the_readers_language(official: Any, r: redis.Redis,
                                                      users: dict[str, str], lang: str,
                                                      kpi_header: list[str],
                                                      alert_header: list[str]) -> None:
    """Headers and values in the signed-in user's language, words instead of codes."""
    now = time.time()
    seed(r, now)
    accounts.set_language(r, users["official"], lang)
    kpis = get_csv(official, "/official/kpis.csv")
    alerts = get_csv(official, "/official/alerts.csv")
    assert kpis[0] == kpi_header and alerts[0] == alert_header
    no_codes(kpis)
    no_codes(alerts)
    with i18n.use_language(lang):
        by_indicator = {row[1]: row for row in kpis[1:]}
        vehicles = by_indicator[i18n.t_or("kpi.vehicles_in_service", "") if lang == "zh"
                                else "Vehicles in service"]
        assert (vehicles[0], vehicles[3], vehicles[5]) == (
            i18n.t("domain.transport"), i18n.t("unit.{vehicle}"), i18n.t("kpi_status.ok"))
        critical = next(row for row in alerts[1:] if row[3] == HOSTILE)
        assert critical[:3] == [i18n.t("severity.critical"), i18n.t("alert_state.active_unack"),
                                i18n.t("domain.medical")]
        assert critical[9] == i18n.t("export.no")
        # Local date and time in the city's zone, in the reader's locale.
        first = datetime.fromtimestamp(now - 60, ZoneInfo(TZ))
        assert critical[5] == (f"{first.year}年{first.month}月{first.day}日 {first:%H:%M}" if lang == "zh"
                               else f"{first:%Y-%m-%d %H:%M}")
    # ?lang= chooses the other language for one download.
    other = "en" if lang == "zh" else "zh"
    assert get_csv(official, f"/official/kpis.csv?lang={other}")[0] != kpi_header


def test_the_peoples_form_rounds_numbers(official: Any, r: redis.Redis) -> None:
    """Percentages to 1 decimal, counts whole, others to 2 decimals; negative figures stay numbers."""
    seed(r, time.time())
    rows = get_csv(official, "/official/kpis.csv")
    values = {row[1]: (row[2], row[3]) for row in rows[1:]}
    assert values["On-time performance"] == ("91.5", "%")
    assert values["Mean delay"] == ("-35.04", "seconds")
    assert values["Vehicles in service"] == ("42", "vehicles")
    assert values["Min pressure"] == ("2.4", "bar")
    for value, _unit in values.values():
        assert re.fullmatch(r"-?\d+(\.\d{1,2})?", value), value


def test_the_machine_form_is_unchanged(official: Any, r: redis.Redis, users: dict[str, str]) -> None:
    """Column ids and raw values, in Chinese too: a script does not break when its user switches."""
    now = time.time()
    ids = seed(r, now)
    accounts.set_language(r, users["official"], "zh")
    kpis = get_csv(official, "/official/kpis.csv?form=machine")
    alerts = get_csv(official, "/official/alerts.csv?form=machine")
    assert kpis[0] == list(report.KPI_COLUMNS) and alerts[0] == list(report.ALERT_COLUMNS)
    by_name = {row[1]: dict(zip(kpis[0], row, strict=True)) for row in kpis[1:]}
    vehicles = by_name["vehicles_in_service"]
    assert (vehicles["value"], vehicles["unit"]) == ("41.6", "{vehicle}")
    assert by_name["mean_delay"]["value"] == "-35.04321" and by_name["mean_delay"]["domain"] == "transport"
    assert datetime.fromisoformat(by_name["mean_delay"]["computed_at"]).utcoffset() is not None
    critical = next(dict(zip(alerts[0], row, strict=True))
                    for row in alerts[1:] if row[0] == ids["critical"])
    assert (critical["state"], critical["severity"], critical["domain"]) == (
        "active_unack", "critical", "medical")
    # The same bytes as the service's machine form.
    with i18n.use_language("zh"):
        direct = report.kpis_csv(report.read_situation(r, TZ, time.time()), report.MACHINE)
    assert rows_of(direct)[0] == kpis[0]
    bad = official.get("/official/kpis.csv?form=robot")
    assert bad.status_code == 400 and "machine" in bad.get_json()["error"]
    assert official.get("/official/alerts.csv?lang=fr").status_code == 400


def test_hostile_text_is_defused_and_escaped(official: Any, r: redis.Redis) -> None:
    """A cell a spreadsheet would run starts with an apostrophe; quotes, commas and line breaks
    survive as one cell; markup stays text; in both forms."""
    seed(r, time.time())
    for form in ("people", "machine"):
        kpis = get_csv(official, f"/official/kpis.csv?form={form}")
        alerts = get_csv(official, f"/official/alerts.csv?form={form}")
        cells = [cell for row in kpis[1:] + alerts[1:] for cell in row]
        assert "'" + FORMULA_TITLE in cells or form == "machine", form
        assert "'@SUM(1+1)*cmd" in cells and HOSTILE in cells, form
        assert not [c for c in cells if c.startswith(("=", "+", "@", "\t", "\r"))], form
        assert all(len(row) == len(kpis[0]) for row in kpis), form
    people = get_csv(official, "/official/kpis.csv")
    zone = next(row for row in people[1:] if "cmd|" in row[1])
    assert zone[1] == "Min pressure · =cmd|' /C calc'!A0"  # inside the cell: no formula


def _history(r: redis.Redis, now: float) -> list[float]:
    """Once-a-minute history of transport's KPIs: points before, inside and at the end of 24 h."""
    times = [now - 8 * 86400, now - 86400 - 120, now - 86400 + 120, now - 7200, now - 3600, now - 60]
    for i, at in enumerate(times):
        store.kpis.write(r, "transport", [
            kpi("on_time_performance", "ok", 80.0 + i + 0.123, domain="transport", unit="%",
                target=">= 85 %", title="On-time performance", computed_at=at),
            kpi("vehicles_in_service", "ok", 40.0 + i, domain="transport", unit="{vehicle}",
                target="", title="Vehicles in service", computed_at=at, rank=1)], now=at)
    return times


def test_kpi_history_of_a_window_holds_exactly_its_points(official: Any, r: redis.Redis,
                                                          users: dict[str, str]) -> None:
    """24 h: the points within the last day, no older one; both forms; the page links each window."""
    now = time.time()
    times = _history(r, now)
    inside = [at for at in times if at >= now - 86400]
    machine = get_csv(official, "/official/kpi-history.csv?window=24h&domain=transport&form=machine")
    assert machine[0] == list(report.TREND_COLUMNS)
    on_time = [row for row in machine[1:] if row[1] == "on_time_performance"]
    assert [datetime.fromisoformat(row[2]).timestamp() for row in on_time] == \
        pytest.approx(inside, abs=1)
    assert [float(row[3]) for row in on_time] == pytest.approx([80.123 + times.index(at) for at in inside])
    assert {row[4] for row in machine[1:]} == {"%", "{vehicle}"}

    accounts.set_language(r, users["official"], "zh")
    people = get_csv(official, "/official/kpi-history.csv?window=24h&domain=transport")
    assert people[0] == ["领域", "指标", "时间", "数值", "单位"]
    no_codes(people)
    assert len(people) - 1 == 2 * len(inside)
    with i18n.use_language("zh"):
        rate = [row for row in people[1:] if row[1] == i18n.t("kpi.on_time_performance")]
        assert [row[3] for row in rate] == [f"{80.123 + times.index(at):.1f}" for at in inside]
        assert {row[4] for row in people[1:]} == {"%", i18n.t("unit.{vehicle}")}
        last = datetime.fromtimestamp(now - 60, ZoneInfo(TZ))
        assert rate[-1][2] == f"{last.year}年{last.month}月{last.day}日 {last:%H:%M}"

    # 7 days: hourly means, the point of 8 days ago left out; every domain when none is named.
    week = get_csv(official, "/official/kpi-history.csv?window=7d&form=machine")
    assert len([row for row in week[1:] if row[1] == "on_time_performance"]) == len(times) - 1
    assert official.get("/official/kpi-history.csv?window=1y").status_code == 400
    assert official.get("/official/kpi-history.csv?domain=moon").status_code == 400


def test_the_official_page_links_the_history_downloads(official: Any) -> None:
    """/official offers the KPI history of 24 h, 7 d and 30 d beside the other exports."""
    from layouts.trend_exports import trend_export_links

    hrefs = [link.href for link in trend_export_links()]
    assert hrefs == [f"/official/kpi-history.csv?window={w}" for w in ("24h", "7d", "30d")]
    for href in hrefs:
        assert official.get(href).status_code == 200


def _water_history(r: redis.Redis, now: float) -> None:
    """A few minutes of water history beside transport's, to tell one domain's download apart."""
    for at in (now - 600, now - 300, now - 60):
        store.kpis.write(r, "water", [
            kpi("min_pressure", "ok", 2.75, domain="water", unit="bar", target=">= 2 bar",
                title="Lowest pressure", computed_at=at)], now=at)


def _domain_page_links(client: Any, r: redis.Redis, domain: str) -> list[str]:
    """The history download links of ``domain``'s page, as its refresh callback draws the page."""
    version = store.status.domain_versions(r)[domain][0]
    body = callback_body([(f"domain-body-{domain}", "children"), (f"domain-shown-{domain}", "data")],
                         [("live-seen", "data", [[domain, version, time.time()], True, []])],
                         [(f"domain-shown-{domain}", "data", None)])
    answer = client.post("/_dash-update-component", json=body, headers=csrf_header(client))
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    hrefs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for child in node:
                walk(child)
        elif isinstance(node, dict):
            href = node.get("props", {}).get("href")
            if isinstance(href, str) and "kpi-history" in href:
                hrefs.append(href)
            walk(node.get("props", {}).get("children"))

    walk(answer.get_json()["response"][f"domain-body-{domain}"]["children"])
    return hrefs


@pytest.mark.parametrize("domain", ["transport", "water", "medical", "city"])
def test_each_domain_page_offers_its_own_history(web_app: Any, r: redis.Redis,
                                                 users: dict[str, str], domain: str) -> None:
    """The domain page links the three windows of its own KPIs; emergency staff (who may open the
    domain pages, not /official) get that domain's download, and only that domain's rows."""
    now = time.time()
    _history(r, now)
    _water_history(r, now)
    client = web_app.server.test_client()
    assert login(client, users["emergency"]).status_code == 302
    hrefs = _domain_page_links(client, r, domain)
    assert hrefs == [f"/official/kpi-history.csv?window={w}&domain={domain}" for w in ("24h", "7d", "30d")]
    for href in hrefs:
        rows = get_csv(client, href + "&form=machine")
        assert rows[0] == list(report.TREND_COLUMNS)
        assert {row[0] for row in rows[1:]} <= {domain}
        if domain in ("transport", "water"):
            assert len(rows) > 1, href
    # Every domain at once stays /official's: emergency staff may not open it.
    assert client.get("/official/kpi-history.csv?window=24h").status_code == 403


def test_an_unknown_domain_is_refused_clearly(official: Any) -> None:
    """?domain= names one of the domains; anything else is a 400 that lists them, for anyone."""
    for bad in ("moon", "", "WATER", "water%00", "../admin"):
        answer = official.get(f"/official/kpi-history.csv?window=24h&domain={bad}")
        assert answer.status_code == 400, bad
        message = answer.get_json()["error"]
        assert "unknown domain" in message and "transport, water, medical, city" in message, message
