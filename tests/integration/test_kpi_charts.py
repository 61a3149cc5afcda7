"""KPI trend charts on /water and /official (issue 19): city time, one unit per axis, honest ranges,
target lines and gaps, drawn from history written into a real Redis and read through the callbacks."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import redis

from app import store
from layouts import kpi_charts
from tests.support.seeds.kpi_history import UNITS, seed_history
from tests.support.web import callback_body, csrf_header, login

SHANGHAI = timedelta(hours=8)  # the test app's city zone (Asia/Shanghai, no daylight saving)


def shanghai(ts: float) -> str:
    """The Shanghai wall time of Unix time ``ts`` as a naive ISO string, computed by hand."""
    return (datetime.fromtimestamp(ts, timezone.utc) + SHANGHAI).replace(tzinfo=None).isoformat()


def figures(node: Any) -> list[dict[str, Any]]:
    """The figures of every dcc.Graph in a Dash component tree (as JSON)."""
    if isinstance(node, list):
        return [f for child in node for f in figures(child)]
    if not isinstance(node, dict):
        return []
    props = node.get("props", {})
    found = [props["figure"]] if node.get("type") == "Graph" and "figure" in props else []
    return found + figures(props.get("children"))


def axis_key(ref: str) -> str:
    """"y2" -> "yaxis2"."""
    return "yaxis" + ref[1:]


def water_page_figure(client: Any, r: redis.Redis) -> dict[str, Any]:
    """The trend figure of /water as the page's refresh callback draws it."""
    version = store.status.domain_versions(r)["water"][0]
    seen = [["water", version, time.time()], True, []]
    body = callback_body([("domain-body-water", "children"), ("domain-shown-water", "data")],
                         [("live-seen", "data", seen)], [("domain-shown-water", "data", None)])
    response = client.post("/_dash-update-component", json=body, headers=csrf_header(client))
    assert response.status_code == 200, response.text[:300]
    found = figures(response.get_json()["response"]["domain-body-water"]["children"])
    assert len(found) == 1
    return found[0]


def official_water_figure(client: Any) -> dict[str, Any]:
    """The water trend figure of /official (24 h) as its callback draws it."""
    body = callback_body([("official-trends", "children")],
                         [("official-window", "value", "24h"),
                          ("official-trends-tick", "n_intervals", None)])
    response = client.post("/_dash-update-component", json=body, headers=csrf_header(client))
    assert response.status_code == 200, response.text[:300]
    sections = response.get_json()["response"]["official-trends"]["children"]
    found = [f for s in sections for f in figures(s)]
    assert len(found) == 4  # one per domain
    return found[1]


def trace_by_name(figure: dict[str, Any], name: str) -> dict[str, Any]:
    """The trace of KPI ``name`` (traces are named by their translated titles)."""
    from app import i18n

    title = i18n.kpi_title({"name": name, "title": name})
    hits = [t for t in figure["data"] if t["name"] in (title, name)]
    assert len(hits) == 1, [t["name"] for t in figure["data"]]
    return hits[0]


@pytest.fixture
def water_figures(client, users, r: redis.Redis) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Seeded history; the /water figure (minute buckets) and /official's (5 min buckets)."""
    known, before, after = seed_history(r, time.time())
    login(client, users["official"])
    return {"page": water_page_figure(client, r), "official": official_water_figure(client),
            "known": known, "before": before, "after": after}


@pytest.mark.parametrize("page,bucket", [("page", 60), ("official", 300)])
def test_times_are_city_wall_times(water_figures: dict[str, Any], page: str, bucket: int) -> None:
    """A known UTC instant appears as its Shanghai wall time (no offset, no epoch numbers)."""
    figure = water_figures[page]
    xs = trace_by_name(figure, "min_pressure")["x"]
    known = water_figures["known"]
    middle = (known // bucket + 0.5) * bucket
    assert shanghai(middle) in xs
    assert all(x is None or (isinstance(x, str) and "+" not in x and not x.endswith("Z")) for x in xs)
    assert "%{x|" in trace_by_name(figure, "min_pressure")["hovertemplate"]


@pytest.mark.parametrize("page", ["page", "official"])
def test_no_axis_mixes_units_and_units_are_words(water_figures: dict[str, Any], page: str) -> None:
    """Every y axis carries one unit; row titles and hover say the unit in words, never {zone}."""
    figure = water_figures[page]
    units_on: dict[str, set[str]] = {}
    for name, unit in UNITS.items():
        trace = trace_by_name(figure, name)
        units_on.setdefault(trace.get("yaxis", "y"), set()).add(unit)
        assert kpi_charts.unit_words(unit) in trace["hovertemplate"]
    assert len(units_on) == len(set(UNITS.values()))
    assert all(len(units) == 1 for units in units_on.values())
    titles = [a["text"] for a in figure["layout"]["annotations"]]
    assert "Zones" in titles and "Pressure (bar)" in titles and "Per cent" in titles
    assert "{zone}" not in json.dumps(figure)


@pytest.mark.parametrize("page", ["page", "official"])
def test_share_range_includes_target_and_is_wide(water_figures: dict[str, Any], page: str) -> None:
    """A share of 99.45-99.65 % is drawn with its 95 % target, at least 5 points wide, within 0-100."""
    figure = water_figures[page]
    trace = trace_by_name(figure, "water_quality_compliance")
    low, high = figure["layout"][axis_key(trace.get("yaxis", "y"))]["range"]
    assert high - low >= kpi_charts.PCT_MIN_SPAN
    assert low <= 95.0 and 99.65 <= high <= 100.0 and low >= 0.0


@pytest.mark.parametrize("page", ["page", "official"])
def test_counts_and_measures_start_at_zero(water_figures: dict[str, Any], page: str) -> None:
    """Counts, pressures and flows never show below zero, and start at zero."""
    figure = water_figures[page]
    for name in ("suspected_leaks", "min_pressure", "total_flow"):
        trace = trace_by_name(figure, name)
        axis = figure["layout"][axis_key(trace.get("yaxis", "y"))]
        assert axis["range"][0] == 0.0 and axis["range"][1] > max(y for y in trace["y"] if y is not None)


@pytest.mark.parametrize("page", ["page", "official"])
def test_a_dashed_target_line_per_kpi_with_a_target(water_figures: dict[str, Any], page: str) -> None:
    """Targets of 95 %, 2 bar and 0 zones are dashed lines on their own rows; the flow has none."""
    figure = water_figures[page]
    lines = [(s["yref"], s["y0"]) for s in figure["layout"]["shapes"]
             if s["type"] == "line" and s["line"]["dash"] == "dash" and s["y0"] == s["y1"]]
    expected = {(trace_by_name(figure, name).get("yaxis", "y"), value)
                for name, value in (("water_quality_compliance", 95.0), ("min_pressure", 2.0),
                                    ("suspected_leaks", 0.0))}
    assert sorted(lines) == sorted(expected)
    bands = [s for s in figure["layout"]["shapes"] if s["type"] == "rect"]
    assert {(s["yref"], s["y1"]) for s in bands} >= {
        (trace_by_name(figure, "min_pressure").get("yaxis", "y"), 2.0)}


@pytest.mark.parametrize("page,bucket", [("page", 60), ("official", 300)])
def test_a_missing_hour_is_a_gap(water_figures: dict[str, Any], page: str, bucket: int) -> None:
    """The hour with no history is one None between the last point before it and the first after."""
    figure = water_figures[page]
    trace = trace_by_name(figure, "min_pressure")
    assert trace["connectgaps"] is False
    xs, ys = trace["x"], trace["y"]
    assert xs.count(None) == 1 and ys.count(None) == 1
    gap = xs.index(None)
    before, after = water_figures["before"], water_figures["after"]
    assert xs[gap - 1] == shanghai((before // bucket + 0.5) * bucket)
    assert xs[gap + 1] == shanghai((after // bucket + 0.5) * bucket)


def test_a_late_minute_is_not_a_gap() -> None:
    """Points a little more than a minute apart (the runner's jitter) stay one line."""
    history = [(1_700_000_000.0 + i * 61.5, "a", 1.0) for i in range(60)]
    xs, _ys = kpi_charts.bucket_series(history, ["a"], 60, "Asia/Shanghai")["a"]
    assert None not in xs and len(xs) == 60


def test_share_range_cases() -> None:
    """Shares: at least PCT_MIN_SPAN wide, inside 0-100 when the data is; over 100 left as is."""
    low, high = kpi_charts.y_range("%", [99.5, 99.6], [])
    assert high == 100.0 and high - low >= kpi_charts.PCT_MIN_SPAN
    low, high = kpi_charts.y_range("%", [0.1, 0.2], [3.0])
    assert low == 0.0 and high >= 3.0 and high - low >= kpi_charts.PCT_MIN_SPAN
    low, high = kpi_charts.y_range("%", [110.0, 130.0], [85.0])
    assert low <= 85.0 and high >= 130.0
    assert kpi_charts.y_range("{vehicle}", [0.0, 0.0], []) == [0.0, 1.0]


def rects_on(figure: dict[str, Any], axis: str) -> dict[str, tuple[float, float]]:
    """The shaded bands of one row: colour -> (low, high)."""
    return {s["fillcolor"]: (s["y0"], s["y1"]) for s in figure["layout"]["shapes"]
            if s["type"] == "rect" and s["yref"] == axis}


@pytest.mark.parametrize("page", ["page", "official"])
def test_warning_and_critical_bands_follow_the_judged_limits(water_figures: dict[str, Any],
                                                             page: str) -> None:
    """The pressure row: warning from the critical limit up to the target, critical below it, in
    the severity colours of the map and alerts, each named in the legend in words."""
    from app.config.kpis import KpiSettings
    from app.kpis.status import limits
    from app.model.alerts import SEVERITY_COLOURS

    figure = water_figures[page]
    judged = limits({"name": "min_pressure"}, KpiSettings())
    assert judged is not None and judged.op == ">=" and judged.bad < judged.target == 2.0
    bands = rects_on(figure, trace_by_name(figure, "min_pressure").get("yaxis", "y"))
    assert bands[SEVERITY_COLOURS["major"]] == (judged.bad, judged.target)
    assert bands[SEVERITY_COLOURS["critical"]] == (0.0, judged.bad)
    names = {t["name"] for t in figure["data"] if t.get("legendgroup") == "bands"}
    assert names == {"Warning: past the target", "Critical: past the critical limit"}
    # The flow has no target: no band on its row.
    assert not rects_on(figure, trace_by_name(figure, "total_flow").get("yaxis", "y"))


def test_bands_read_the_configured_limits_and_speak_chinese() -> None:
    """Another critical limit in [kpis] moves the band; the legend follows the reader's language."""
    from app import i18n
    from app.config.kpis import KpiSettings
    from app.model.alerts import SEVERITY_COLOURS

    kpis = [{"name": "ed_occupancy", "unit": "%", "target": "<= 100 %"}]
    series: kpi_charts.Series = {"ed_occupancy": (["2026-12-07T10:00:00", "2026-12-07T10:01:00"],
                                                  [90.0, 104.0])}
    with i18n.use_language("zh"):
        figure = kpi_charts.unit_figure(kpis, series, {"ed_occupancy": "急诊占用率"}, "无",
                                        KpiSettings(ed_occupancy_bad_pct=130.0)).to_plotly_json()
    bands = rects_on(figure, "y")
    assert bands[SEVERITY_COLOURS["major"]] == (100.0, 130.0)
    low, high = bands[SEVERITY_COLOURS["critical"]]
    assert low == 130.0 and high >= 130.0
    names = {t["name"] for t in figure["data"] if t.get("legendgroup") == "bands"}
    assert names == {"预警：未达目标", "严重：超出临界限值"}
