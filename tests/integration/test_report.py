"""The situation (status per domain), the CSV exports and the offline HTML situation report."""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis

from app import alerts, store
from app.model.feeds import FeedHealth
from app.model.records import Entity, Event
from app.situation import report
from data_adapters.cap.parse import parse_cap
from tests.support.paths import SAMPLES
from tests.support.seeds.report import HOSTILE, kpi, seed_city

TZ = "Asia/Shanghai"
CAP_SAMPLES = SAMPLES / "cap"


def feed(name: str, state: str, last_success: float | None, domain: str = "water") -> FeedHealth:
    """A feed health record as app.live.feeds reads it."""
    return FeedHealth(feed=name, domain=domain, adapter="test", state=state,
                      last_success=last_success, last_attempt=last_success, last_error="",
                      last_error_at=None, consecutive_failures=0, accepted=1, rejected=0,
                      lag_s=None, interval_s=30, freshness_budget_s=120, owner="")


def hhmm(ts: float) -> str:
    """HH:MM of ``ts`` in the city's zone, computed independently of app.situation.report."""
    return datetime.fromtimestamp(ts, ZoneInfo(TZ)).strftime("%H:%M")


# -- escaping and CSV cells --------------------------------------------------------------------------
def test_escape_feed_leaves_no_markup_and_no_template_literal_syntax() -> None:
    """Markup, quotes, and what would break a JavaScript template literal all become entities."""
    escaped = report.escape_feed(HOSTILE + "'\"&")
    for raw in ("<", ">", "`", "$", "\\", "'", '"'):
        assert raw not in escaped, raw
    assert escaped.startswith("&lt;img src=x onerror=alert(1)&gt;&#96;&#36;{alert(2)}&#96;&#92;")
    assert report.escape_feed(None) == ""


@pytest.mark.parametrize("text", ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx",
                                  "=HYPERLINK(\"http://x\",\"y\")"])
def test_csv_cell_defuses_formulas(text: str) -> None:
    """A cell that a spreadsheet would run as a formula gets a leading apostrophe."""
    assert report.csv_cell(text) == "'" + text


def test_csv_cell_keeps_text_and_numbers() -> None:
    """Plain text is unchanged; our own negative numbers stay numbers; None is empty."""
    assert report.csv_cell("Zone 3") == "Zone 3"
    assert report.csv_cell(-35.0) == -35.0
    assert report.csv_cell(None) == ""
    assert report.csv_cell(True) == "yes"


# -- status per domain ---------------------------------------------------------------------------------
def test_stale_feed_is_never_green() -> None:
    """Every KPI ok but the feed is stale: amber, and the reason names the feed and since when."""
    last = 1_700_000_000.0
    status = report.judge_domain("water", kpis=[kpi("min_pressure", "ok")],
                                 feeds=[feed("senml", "stale", last)], alerts=[],
                                 updated_at=last, tz=TZ)
    assert status.colour == report.AMBER
    assert status.reasons == (f"feed senml stale since {hhmm(last)}",)


def test_down_feed_bad_kpi_and_critical_alert_are_red() -> None:
    """Red reasons come first, then the amber ones; a per-subject KPI does not judge its domain
    (issue 19: it is a top issue, not a reason), and a bad city-wide KPI is amber until its alert."""
    last = 1_700_000_000.0
    status = report.judge_domain(
        "water",
        kpis=[kpi("min_pressure:Zone 3", "bad", 1.4, subject="Zone 3", title="Min pressure"),
              kpi("turbidity", "warn", 1.3, unit="[NTU]", target="<= 1 [NTU]", rank=1),
              kpi("min_pressure", "bad", 1.6, title="Min pressure", rank=2)],
        feeds=[feed("senml", "down", last), feed("sta", "ok", last)],
        alerts=[{"state": "active_unack", "severity": "critical"},
                {"state": "active_ack", "severity": "major"},
                # Cleared alerts and lesser severities do not colour the domain.
                {"state": "cleared_unack", "severity": "critical"},
                {"state": "active_unack", "severity": "minor"}],
        updated_at=last, tz=TZ)
    assert status.colour == report.RED
    assert status.reasons == (
        f"feed senml down since {hhmm(last)}",
        "1 critical alert open",
        "Min pressure: 1.6 bar (target >= 2 bar)",
        "turbidity: 1.3 [NTU] (target <= 1 [NTU])",
        "1 major alert open",
    )


def test_warn_kpi_is_amber_and_all_ok_is_green() -> None:
    """A KPI a little off target is amber; all judged KPIs on target with fresh feeds is green."""
    now = time.time()
    amber = report.judge_domain("transport", kpis=[kpi("on_time", "warn", 80.0, unit="%",
                                                       target=">= 85 %")],
                                feeds=[], alerts=[], updated_at=now, tz=TZ)
    assert (amber.colour, amber.reasons) == (report.AMBER, ("on_time: 80.0 % (target >= 85 %)",))
    green = report.judge_domain("transport", kpis=[kpi("a", "ok"), kpi("b", "ok"),
                                                   kpi("c", "unknown", None)],
                                feeds=[feed("buses", "ok", now)], alerts=[], updated_at=now, tz=TZ)
    assert green.colour == report.GREEN
    assert green.reasons == ("2 indicators on target and its feeds are fresh",)


def test_nothing_to_judge_is_grey() -> None:
    """No data, waiting for a first poll, or only unknown KPIs: grey, never green."""
    none = report.judge_domain("city", kpis=[], feeds=[], alerts=[], updated_at=None, tz=TZ)
    assert (none.colour, none.reasons) == (report.GREY, ("no data yet",))
    waiting = report.judge_domain("city", kpis=[], feeds=[feed("311", "waiting", None, "city")],
                                  alerts=[], updated_at=None, tz=TZ)
    assert (waiting.colour, waiting.reasons) == (report.GREY, ("waiting for the first data",))
    unknown = report.judge_domain("city", kpis=[kpi("x", "unknown", None)], feeds=[], alerts=[],
                                  updated_at=time.time(), tz=TZ)
    assert (unknown.colour, unknown.reasons) == (report.GREY, ("no indicator can be judged yet",))


def test_read_situation_from_the_store(r: redis.Redis) -> None:
    """Each domain's colour follows from what the store holds; KPIs and open alerts are all there."""
    now = time.time()
    ids = seed_city(r, now)
    situation = report.read_situation(r, TZ, now)
    colours = {s.domain: s.colour for s in situation.statuses}
    # Water: its one zone below the limit is a top issue, its stale feed makes it amber (issue 19).
    assert colours == {"transport": "green", "water": "amber", "medical": "red", "city": "grey"}
    water = next(s for s in situation.statuses if s.domain == "water")
    assert water.reasons == (f"feed senml stale since {hhmm(now - 3600)}",)
    assert {k["name"] for k in situation.kpis} == {
        "on_time_performance", "mean_delay", "min_pressure", "min_pressure:=cmd|' /C calc'!A0"}
    assert [a["id"] for a in situation.alerts] == [ids["critical"], ids["formula"]]
    assert [k["name"] for k in situation.worst_kpis()] == ["min_pressure:=cmd|' /C calc'!A0"]
    # A resolved alert is no longer open, and no longer reddens its domain.
    alerts.resolve(r, ids["critical"], "operator1")
    after = report.read_situation(r, TZ, now)
    assert [a["id"] for a in after.alerts] == [ids["formula"]]
    medical = next(s for s in after.statuses if s.domain == "medical")
    # Data but no KPI to judge it by: grey, not green.
    assert (medical.colour, medical.reasons) == ("grey", ("no indicator can be judged yet",))


def read_csv(text: str) -> list[dict[str, str]]:
    """Rows of an exported CSV, as a spreadsheet program would read them."""
    assert text.startswith("\ufeff"), "no BOM: spreadsheet programs would misread UTF-8"
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline="")))


def test_kpis_csv(r: redis.Redis) -> None:
    """Every KPI with the agreed columns, ISO times with the offset, formulas defused."""
    now = time.time()
    seed_city(r, now)
    rows = read_csv(report.kpis_csv(report.read_situation(r, TZ, now)))
    assert list(rows[0]) == list(report.KPI_COLUMNS)
    by_name = {row["name"]: row for row in rows}
    assert set(by_name) == {"on_time_performance", "mean_delay", "min_pressure",
                            "min_pressure:=cmd|' /C calc'!A0"}
    delay = by_name["mean_delay"]
    assert (delay["domain"], delay["value"], delay["unit"], delay["status"]) == (
        "transport", "-35.0", "s", "ok")
    moment = datetime.fromisoformat(delay["computed_at"])
    assert moment.utcoffset() is not None and abs(moment.timestamp() - now) < 1
    zone = by_name["min_pressure:=cmd|' /C calc'!A0"]
    assert zone["subject"] == "'=cmd|' /C calc'!A0" and zone["status"] == "bad"
    assert by_name["min_pressure"]["subject"] == ""


def test_alerts_csv(r: redis.Redis) -> None:
    """Open alerts with the agreed columns; a title that looks like a formula is defused."""
    now = time.time()
    ids = seed_city(r, now)
    rows = read_csv(report.alerts_csv(report.read_situation(r, TZ, now)))
    assert list(rows[0]) == list(report.ALERT_COLUMNS)
    by_id = {row["id"]: row for row in rows}
    assert set(by_id) == set(ids.values())
    assert by_id[ids["formula"]]["title"] == "'@SUM(1+1)*cmd"
    critical = by_id[ids["critical"]]
    assert (critical["severity"], critical["state"], critical["count"], critical["title"]) == (
        "critical", "active_unack", "1", HOSTILE)
    assert abs(datetime.fromisoformat(critical["first_seen"]).timestamp() - (now - 60)) < 1


# -- the HTML situation report ---------------------------------------------------------------------------
def test_offline_map_links_nothing() -> None:
    """folium's CDN scripts and stylesheets are not in the map's own output."""
    rendered = report.OfflineMap(location=[28.55, 112.36], tiles=None).get_root().render()
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=", rendered), rendered[:2000]


@pytest.mark.parametrize("document", [
    '<script src="https://cdn.example/leaflet.js"></script>',
    "<link rel='stylesheet' href='//cdn.example/leaflet.css'/>",
    '<img src="http://tiles.example/1/2/3.png">',
    "<style>.x { background: url('https://tiles.example/1.png') }</style>",
    '<style>@import "//fonts.example/font.css";</style>',
])
def test_assert_offline_refuses_remote_resources(document: str) -> None:
    """A document that would fetch anything by URL is refused."""
    with pytest.raises(report.ReportError):
        report.assert_offline(f"<html><head>{document}</head></html>")


def test_report_is_standalone_offline_and_escaped(r: redis.Redis) -> None:
    """Leaflet inlined, no remote resource, one marker per alert and place, feed text escaped."""
    now = time.time()
    seed_city(r, now)
    situation = report.read_situation(r, TZ, now)
    layers = report.read_map_layers(r, now)
    assert sorted(e["id"] for e in layers.entities) == [
        "fhir:hospital:h1", "senml:p1", "t:vehicle:1"]  # the stop is the network, not drawn
    document = report.render_report(situation, layers)
    js, css = report.leaflet_assets()
    assert js in document and "Leaflet 1.9" in js and css in document
    assert "url(images/" not in document and "data:image/png;base64," in css
    assert not re.search(r"<(script|link|img|iframe)\b[^>]*(src|href)\s*=", document, re.I)
    assert "cdn.jsdelivr" not in document and "code.jquery" not in document
    # Markers: the critical alert and the minor one without a place -> 1 alert marker, 3 places.
    assert document.count("L.circleMarker(") == 4
    assert document.count('"className": "report-marker report-alert severity-critical"') == 1
    # Feed text: never raw, always there in its escaped form.
    assert "<img src=x" not in document and "${alert(2)}" not in document
    escaped = report.escape_feed(HOSTILE)
    # As HTML: the alerts table, the alert's tooltip and the hospital's tooltip.
    assert document.count(escaped) == 3
    # As a JSON string in the popups (tojson writes & as \u0026): alert title and description,
    # and the hospital's name.
    assert document.count(escaped.replace("&", "\\u0026")) == 3
    assert f"Min pressure · {report.escape_feed('=cmd|')}" in document
    assert "Situation report" in document and "Open alerts" in document


def test_report_draws_basemap_shapes_without_their_properties(r: redis.Redis,
                                                               tmp_path: Path) -> None:
    """assets/basemap-style GeoJSON: shapes drawn by layer, properties never reach the page."""
    (tmp_path / "city.geojson").write_text(
        '{"type": "FeatureCollection", "features": ['
        '{"type": "Feature", "properties": {"layer": "district", "name": "</script><b>x"},'
        ' "geometry": {"type": "Polygon", "coordinates": [[[112.3, 28.5], [112.4, 28.5],'
        ' [112.4, 28.6], [112.3, 28.5]]]}},'
        '{"type": "Feature", "properties": {"layer": "river"},'
        ' "geometry": {"type": "LineString", "coordinates": [[112.3, 28.5], [112.4, 28.6]]}}]}',
        encoding="utf-8")
    (tmp_path / "broken.geojson").write_text("{not json", encoding="utf-8")
    layers = report.read_map_layers(r, basemap_dir=tmp_path)
    assert [name for name, _ in layers.basemap] == ["district", "river"]
    assert all(f["properties"] == {} for _, fc in layers.basemap for f in fc["features"])
    document = report.render_report(report.read_situation(r, TZ), layers)
    assert "</script><b>x" not in document and "[112.3, 28.5]" in document


def test_entity_markers_are_capped_and_counted(r: redis.Redis,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Beyond the marker budget the map says how many places it leaves out."""
    now = time.time()
    store.entities.write_batch(r, "water", "senml", entities=[
        Entity("water", "sensor", f"senml:p{i}", 28.5 + i / 100, 112.3, "ok", now, "senml")
        for i in range(5)])
    # The limit is read where read_map_layers is defined (the package only re-exports it).
    monkeypatch.setattr(report.map_layers, "MAX_ENTITY_MARKERS", 3)
    layers = report.read_map_layers(r, now)
    assert (len(layers.entities), layers.left_out) == (3, 2)
    document = report.render_report(report.read_situation(r, TZ, now), layers)
    assert "3 places (2 more not drawn)" in document


def test_cap_warning_area_with_hostile_area_name(r: redis.Redis) -> None:
    """An active CAP warning's area is drawn; its area names are escaped in tooltip and popup."""
    now = time.time()
    area = {"type": "Polygon", "coordinates": [[[112.3, 28.5], [112.4, 28.5], [112.4, 28.6],
                                                [112.3, 28.5]]]}
    active = Event("city", "cap_warning", "cap:1", "Flood warning", now, "cap", "major",
                   now - 60, now + 3600, area, {"areaDesc": HOSTILE})
    expired = Event("city", "cap_warning", "cap:2", "Old warning", now, "cap", "major",
                    now - 7200, now - 3600, area, {"areaDesc": "Gone"})
    store.entities.write_batch(r, "city", "cap", events=[active, expired])
    layers = report.read_map_layers(r, now)
    assert [a["id"] for a in layers.areas] == ["cap:1"]
    document = report.render_report(report.read_situation(r, TZ, now), layers)
    assert f"Flood warning — {report.escape_feed(HOSTILE)}" in document
    assert "Old warning" not in document and "<img src=x" not in document


@pytest.mark.skipif(not CAP_SAMPLES.is_dir(), reason="shared CAP samples absent")
def test_real_cap_sample_areas_on_the_report(r: redis.Redis) -> None:
    """A real NWS CAP message with several polygons: its areas and area names reach the map."""
    data = (CAP_SAMPLES / "NOAA_MultiplePolygons.xml").read_bytes()
    events = [item for item in parse_cap(data, "nws", time.time()) if isinstance(item, Event)]
    located = [e for e in events if e.area]
    assert located, "the sample has polygons"
    store.entities.write_batch(r, "city", "nws", events=events)
    moment = located[0].starts_at if located[0].starts_at is not None else located[0].observed_at
    layers = report.read_map_layers(r, moment)
    assert {a["id"] for a in layers.areas} >= {located[0].id}
    document = report.render_report(report.read_situation(r, TZ, moment), layers)
    names = located[0].attrs["areaDesc"]
    assert names and report.escape_feed(names) in document
