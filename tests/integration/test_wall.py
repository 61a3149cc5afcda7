"""Unit tests of the wall's builders: sparklines, KPI tiles, domain cards and the feed strip."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import unquote

import pytest
import redis
from dash import html

from app import i18n, store
from app.model.domains import DOMAINS
from layouts import wall, wall_tiles


@pytest.fixture(autouse=True)
def app_context(web_app):  # type: ignore[no-untyped-def]
    """The builders read the city's time zone and the reader's language from the app."""
    with web_app.server.test_request_context("/wall"):
        yield


def _texts(component: Any) -> list[str]:
    """Every string child of a Dash component tree, in order."""
    if isinstance(component, str):
        return [component]
    if isinstance(component, (list, tuple)):
        return [t for c in component for t in _texts(c)]
    children = getattr(component, "children", None)
    return _texts(children) if children is not None else []


def _find(component: Any, cls: str) -> list[Any]:
    """Components whose className holds ``cls``."""
    found = []
    if isinstance(component, (list, tuple)):
        for c in component:
            found += _find(c, cls)
        return found
    if cls in (getattr(component, "className", "") or "").split():
        found.append(component)
    children = getattr(component, "children", None)
    if children is not None and not isinstance(children, str):
        found += _find(children, cls)
    return found


def test_bucket_means_averages_per_slice_and_leaves_gaps() -> None:
    points = [(0.0, 1.0), (1.0, 3.0), (5.0, 10.0), (9.99, float("nan")), (10.0, 99.0), (-1.0, 50.0)]
    assert wall_tiles.bucket_means(points, 0.0, 10.0, buckets=5) == [2.0, None, 10.0, None, None]
    with pytest.raises(ValueError):
        wall_tiles.bucket_means(points, 5.0, 5.0)


def test_sparkline_points_put_highs_on_top_and_split_at_gaps() -> None:
    runs = wall_tiles.sparkline_points([1.0, 3.0, None, 2.0], width=32, height=12, pad=1)
    assert len(runs) == 2
    (x0, y_low), (x1, y_high) = runs[0]
    assert y_high == 1.0 and y_low == 11.0  # the top of the box is y = pad
    assert x0 == 1.0 and x1 == 11.0 and runs[1] == [(31.0, 6.0)]
    assert wall_tiles.sparkline_points([None, None]) == []
    assert {y for _, y in wall_tiles.sparkline_points([4.0, 4.0, 4.0], height=20, pad=0)[0]} == {10.0}


def test_sparkline_svg_is_numbers_only_with_a_dot_for_a_lone_point() -> None:
    svg = wall_tiles.sparkline_svg([1.0, 2.0, None, 5.0], colour="#4cd07d")
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert svg.count("<polyline") == 1 and svg.count("<circle") == 1
    img = wall_tiles.sparkline([1.0, 2.0], "bad", "Delay")
    assert isinstance(img, html.Img) and img.src.startswith("data:image/svg+xml")
    assert 'stroke="#ff6b5e"' in unquote(img.src)
    assert isinstance(wall_tiles.sparkline([None, None], "ok", "x"), html.Span)


def test_kpi_tile_shows_value_target_status_and_keeps_feed_text_as_text() -> None:
    kpi = {"name": "on_time", "title": "On time <script>x</script>", "value": 91.25, "unit": "%",
           "target": ">= 90 %", "status": "ok"}
    tile = wall_tiles.kpi_tile(kpi, [80.0, 90.0, 91.0])
    texts = _texts(tile)
    assert "On time <script>x</script>" in texts  # a text child: React escapes it
    assert "91.2" in texts and "%" in texts and "target >= 90 %" in texts and "OK" in texts
    assert _find(tile, "tile-unit")[0].children == "%"  # set apart, smaller than the figure
    assert "kpi-ok" in tile.className.split() and "stale" not in tile.className.split()
    assert _find(tile, "spark")[0].alt == "24 h trend of On time <script>x</script>"
    odd = wall_tiles.kpi_tile({"name": "n", "value": None, "status": "weird"}, None)
    assert "kpi-unknown" in odd.className and "—" in _texts(odd)


def test_the_city_view_shows_each_domains_gravest_kpis_and_counts_the_rest() -> None:
    """Two tiles a domain on the city view, bad before warning before unknown before on target
    (each in its declared order); the rest counted with how many are off target. The domain's own
    view shows every KPI in its declared order."""
    def kpi(name: str, status: str) -> dict[str, Any]:
        return {"name": name, "title": name, "value": 1.0, "unit": "%", "status": status}

    kpis = [kpi("a", "ok"), kpi("b", "warn"), kpi("c", "ok"), kpi("d", "bad"), kpi("e", "warn")]
    card = wall_tiles.domain_card("water", kpis, {}, time.time(), False, None)
    assert [t.to_plotly_json()["props"]["data-kpi"] for t in _find(card, "wall-tile")] == ["d", "b"]
    assert _find(card, "tile-more")[0].children == "+3 more, 1 off target"
    calm = wall_tiles.domain_card("water", [kpi("a", "ok"), kpi("b", "ok"), kpi("c", "ok")], {},
                                  time.time(), False, None)
    assert _find(calm, "tile-more")[0].children == "+1 more, all on target"
    unsure = wall_tiles.domain_card("water", [kpi("a", "ok")] + [kpi(n, "unknown") for n in "bcd"],
                                    {}, time.time(), False, None)
    assert _find(unsure, "tile-more")[0].children == "+2 more"  # one unknown, one on target
    two = wall_tiles.domain_card("water", kpis[:2], {}, time.time(), False, None)
    assert _find(two, "tile-more") == []
    big = wall_tiles.domain_card("water", kpis, {}, time.time(), False, None, big=True)
    assert [t.to_plotly_json()["props"]["data-kpi"] for t in _find(big, "wall-tile")] == list("abcde")
    assert _find(big, "tile-more") == []
    with i18n.use_language("zh"):
        assert wall_tiles.more_text([kpi("x", "bad")]) == "另有 1 项，1 项未达标"


def test_stale_tiles_are_dimmed_and_labelled_with_the_time() -> None:
    since = time.mktime((2024, 5, 1, 8, 5, 0, 0, 0, -1))
    tile = wall_tiles.kpi_tile({"name": "n", "title": "N", "value": 1.0, "unit": "{vehicle}",
                                "status": "ok"}, [], stale_since=since, stale=True)
    assert "stale" in tile.className.split()
    label = _find(tile, "stale-label")[0].children
    assert label.startswith("stale since ") and len(label) == len("stale since HH:MM")


def _health(r: redis.Redis, feed: str, domain: str, last_success: float | None, budget: float = 60,
            failures: bool = False) -> None:
    store.feeds.write_health(r, feed, {"domain": domain, "adapter": "test", "interval_s": 10,
                                      "last_success": last_success, "freshness_budget_s": budget,
                                      "first_attempt": (last_success or time.time()) - 5},
                            incr_failures=failures)


def test_feed_strip_and_stale_domains_from_real_health_records(r: redis.Redis) -> None:
    now = time.time()
    _health(r, "buses", "transport", now - 5)
    _health(r, "pressure", "water", now - 3600)
    _health(r, "levels", "water", now - 600)
    _health(r, "fhir <b>", "medical", None, budget=0)
    for _ in range(3):
        _health(r, "open311", "city", now - 7200, failures=True)
    lines = wall_tiles.feed_lines(store.status.live_status(r).feeds, now)
    states = {line.feed: line.state for line in lines}
    assert states == {"buses": "ok", "pressure": "stale", "levels": "stale", "fhir <b>": "stale",
                      "open311": "down"}
    stale = wall_tiles.stale_domains(lines)
    assert set(stale) == {"water", "medical", "city"}
    assert stale["water"] == pytest.approx(now - 3600)  # the older of its two stale feeds
    assert stale["medical"] is None  # never delivered
    strip = wall_tiles.feed_strip(lines)
    by_feed = {chip.to_plotly_json()["props"]["data-feed"]: chip for chip in strip}
    assert "feed-ok" in by_feed["buses"].className and _texts(by_feed["buses"]) == ["buses", "ok"]
    assert _texts(by_feed["pressure"])[1].startswith("stale since ")
    assert _texts(by_feed["open311"])[1].startswith("down since ")
    assert _texts(by_feed["fhir <b>"]) == ["fhir <b>", "stale"]
    assert _texts(wall_tiles.feed_strip([])) == ["No feeds configured"]


def _kpi(name: str, value: float, status: str = "ok", subject: str | None = None) -> dict[str, Any]:
    return {"name": name if subject is None else f"{name}:{subject}", "domain": "water",
            "title": name.title(), "value": value, "unit": "bar", "target": ">= 2 bar",
            "status": status, "computed_at": time.time(), "subject": subject, "rank": 0}


def test_read_wall_and_cards_from_the_store(r: redis.Redis) -> None:
    now = time.time()
    store.kpis.write(r, "water", [_kpi("min_pressure", 2.5), _kpi("min_pressure", 1.0, "bad", "z1")])
    store.status.bump_domain_version(r, "water", now)
    _health(r, "pressure", "water", now - 3600)
    data = wall_tiles.read_wall(r, now + 1)
    assert data.ok and [k["name"] for k in data.kpis["water"]] == ["min_pressure"]  # city-wide only
    series = data.history["water"]["min_pressure"]
    assert len(series) == wall_tiles.SPARK_BUCKETS and series[-1] == 2.5 and series[0] is None
    cards = wall_tiles.cards(data)
    assert [c.to_plotly_json()["props"]["data-domain"] for c in cards] == list(DOMAINS)
    water = cards[1]
    assert "stale" in water.className.split() and "domain-card" in water.className.split()
    assert any(t.startswith("stale since ") for t in _texts(water))
    tiles = _find(water, "wall-tile")
    assert len(tiles) == 1 and "stale" in tiles[0].className.split()
    assert "stale" not in cards[0].className.split()
    assert "No data yet" in _texts(cards[0])
    # A cleared store is not answered from the history cache.
    r.flushall()
    assert wall_tiles.read_wall(r, now + 2).history["water"] == {}


def test_wall_options() -> None:
    assert wall.rotate_seconds("15") == 15 and wall.rotate_seconds("0") == 0
    assert wall.rotate_seconds("junk") == 0 and wall.rotate_seconds(None) == 0
    assert wall.rotate_seconds("1") == wall.MIN_ROTATE_S
    assert wall.rotate_seconds("99999") == wall.MAX_ROTATE_S
    assert wall.domain_layers("water") == ("sensors", "reservoirs", "alerts")
    assert "warnings" in wall.domain_layers("city") and "warnings" not in wall.domain_layers("medical")
    assert len(wall.app_version()) == 16
