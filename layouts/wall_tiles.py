"""The wall's building blocks: KPI tiles with a 24 h sparkline, domain cards and the feed-health strip.

Everything here is built server-side from numbers already in the store. Sparklines are small SVG
images (data: URIs, allowed by the CSP) made only of numbers, so no feed text can reach them and
nothing is fetched from anywhere. Feed and KPI text goes into Dash components, which escape it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import quote

import redis
from dash import html

from app import i18n
from app.kpis import reading as kpi_reading
from app.kpis.status import SEVERITY_ORDER, effective_status
from app.live.status import live_status
from app.model.domains import DOMAINS
from app.model.feeds import STALE_STATES, feed_state
from app.situation.report.situation import DomainStatus
from app.web.context import redis_client, settings
from layouts import domain_status
from layouts.components import domain_title, kpi_value_parts

SPARK_WINDOW_S = 24 * 3600.0
SPARK_BUCKETS = 48  # half-hour means: enough shape for a trend, few enough points for a tiny image
SPARK_WIDTH, SPARK_HEIGHT = 120, 32
# The city view holds each domain's gravest KPIs at a size read from 4 m (20 px names, 40 px values
# at 1080p); the rest are counted under them and shown whole on the domain's own view.
CITY_TILES = 2
SPARK_COLOURS: dict[str, str] = {"ok": "#4cd07d", "warn": "#ffc24b", "bad": "#ff6b5e",
                                 "unknown": "#a9b8c7"}


def _t(key: str, **fmt: Any) -> str:
    """The wall's words (``wall.<key>`` in the catalogue) in the reader's language."""
    return i18n.t(f"wall.{key}", **fmt)


def hhmm(ts: float) -> str:
    """A time as HH:MM in the city's time zone."""
    return i18n.format_datetime(ts, tz=settings().city.timezone, seconds=False)


# -- sparklines -------------------------------------------------------------------------------------
def bucket_means(points: Iterable[tuple[float, float]], start: float, end: float,
                 buckets: int = SPARK_BUCKETS) -> list[float | None]:
    """Means of (time, value) points in ``buckets`` equal slices of [start, end); None where empty.

    Points outside the window and non-finite values are left out (a broken reading must not
    flatten the whole line).
    """
    if end <= start or buckets <= 0:
        raise ValueError("the window must be non-empty and have at least one bucket")
    sums = [0.0] * buckets
    counts = [0] * buckets
    width = (end - start) / buckets
    for at, value in points:
        if not start <= at < end or not math.isfinite(value):
            continue
        index = min(int((at - start) / width), buckets - 1)
        sums[index] += value
        counts[index] += 1
    return [s / c if c else None for s, c in zip(sums, counts, strict=True)]


def sparkline_points(values: Sequence[float | None], width: float = SPARK_WIDTH,
                     height: float = SPARK_HEIGHT, pad: float = 2.0) -> list[list[tuple[float, float]]]:
    """Screen coordinates of a series, split into runs where data is missing (gaps stay gaps).

    The highest value sits at the top (y = pad), the lowest at the bottom; a flat series is drawn
    across the middle.
    """
    known = [v for v in values if v is not None]
    if not known:
        return []
    low, high = min(known), max(known)
    span = high - low
    step = (width - 2 * pad) / max(len(values) - 1, 1)
    runs: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    for i, value in enumerate(values):
        if value is None:
            if current:
                runs.append(current)
            current = []
            continue
        frac = 0.5 if span == 0 else (value - low) / span
        current.append((round(pad + i * step, 1), round(height - pad - frac * (height - 2 * pad), 1)))
    if current:
        runs.append(current)
    return runs


def sparkline_svg(values: Sequence[float | None], colour: str = SPARK_COLOURS["unknown"],
                  width: int = SPARK_WIDTH, height: int = SPARK_HEIGHT) -> str:
    """A standalone SVG polyline of ``values`` (numbers only; the colour is one of ours)."""
    shapes = []
    for run in sparkline_points(values, width, height):
        if len(run) == 1:  # a lone point would be invisible as a line
            x, y = run[0]
            shapes.append(f'<circle cx="{x}" cy="{y}" r="1.8" fill="{colour}"/>')
        else:
            coords = " ".join(f"{x},{y}" for x, y in run)
            shapes.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" '
                          f'stroke-width="2" stroke-linejoin="round" stroke-linecap="round"/>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" preserveAspectRatio="none">{"".join(shapes)}</svg>')


def sparkline(values: Sequence[float | None], status: str, title: str) -> html.Img | html.Span:
    """The sparkline as an image element (a quiet note when there is no history yet)."""
    if all(v is None for v in values):
        return html.Span(_t("no_trend"), className="spark spark-empty")
    svg = sparkline_svg(values, SPARK_COLOURS.get(status, SPARK_COLOURS["unknown"]))
    return html.Img(src="data:image/svg+xml;charset=utf-8," + quote(svg), className="spark",
                    alt=_t("trend", title=title))


# -- history, cached per minute -----------------------------------------------------------------------
# The history gains one row per KPI a minute, so a wall redrawing every second would re-read up to
# 14,000 rows per domain for nothing: keep each domain's buckets until the minute turns. A cache of
# derived numbers only; the store stays the source of truth.
_HISTORY_CACHE: dict[str, tuple[tuple[int, int, float], dict[str, list[float | None]]]] = {}


def history_series(r: redis.Redis, domain: str, now: float | None = None
                   ) -> dict[str, list[float | None]]:
    """KPI name -> its bucketed 24 h history (half-hour means) for ``domain``."""
    now = time.time() if now is None else now
    # The newest rows (a minute's worth, a handful) say whether the history changed since the
    # cached read, so a cleared or rewritten store is never answered from an old cache.
    recent = kpi_reading.history(r, domain, now - 2 * kpi_reading.HISTORY_EVERY_S)
    key = (int(now // 60), len(recent), recent[-1][0] if recent else 0.0)
    cached = _HISTORY_CACHE.get(domain)
    if cached and cached[0] == key:
        return cached[1]
    start = now - SPARK_WINDOW_S
    by_name: dict[str, list[tuple[float, float]]] = {}
    for at, name, value in kpi_reading.history(r, domain, start):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            by_name.setdefault(name, []).append((at, float(value)))
    series = {name: bucket_means(points, start, now + 1e-6) for name, points in by_name.items()}
    _HISTORY_CACHE[domain] = (key, series)
    return series


# -- feed health ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FeedLine:
    """One feed as the strip shows it."""

    feed: str
    domain: str
    state: str  # ok, stale, down, waiting
    since: float | None  # the last success, for stale and down feeds


def feed_lines(feeds: Mapping[str, Mapping[str, str]], now: float) -> list[FeedLine]:
    """Every feed's state at ``now`` from the compact health records (see store.status.live_status)."""
    out = []
    for feed, row in sorted(feeds.items()):
        state = feed_state(dict(row), now)
        last = row.get("last_success") or ""
        try:
            since = float(last) if last and state in STALE_STATES else None
        except ValueError:
            since = None
        out.append(FeedLine(feed, row.get("domain", ""), state, since))
    return out


def stale_domains(lines: Sequence[FeedLine]) -> dict[str, float | None]:
    """Domain -> since when its data is stale (its oldest stale feed's last success, or None when
    a stale feed never delivered), for every domain with a stale or down feed."""
    out: dict[str, float | None] = {}
    for line in lines:
        if line.state not in STALE_STATES:
            continue
        if line.domain in out:
            previous = out[line.domain]
            out[line.domain] = (None if previous is None or line.since is None
                                else min(previous, line.since))
        else:
            out[line.domain] = line.since
    return out


def stale_text(since: float | None) -> str:
    """"stale since HH:MM" (or just "stale" when the feed never delivered)."""
    return _t("stale_since", time=hhmm(since)) if since else _t("stale")


def feed_label(line: FeedLine) -> str:
    """What the strip says of a feed: ok, stale since HH:MM, down (since HH:MM), waiting."""
    if line.state == "stale":
        return stale_text(line.since)
    if line.state == "down":
        return _t("down_since", time=hhmm(line.since)) if line.since else _t("down")
    return i18n.t_or(f"wall.{line.state}", i18n.label("feed_state", line.state))


def feed_strip(lines: Sequence[FeedLine]) -> list[Any]:
    """The feed-health strip: one chip per feed, its colour and its words saying the same."""
    if not lines:
        return [html.Span(_t("no_feeds"), className="feed-chip feed-none")]
    return [html.Span(className=f"feed-chip feed-{line.state}", **{"data-feed": line.feed},
                      title=domain_title(line.domain), children=[
        html.Span(line.feed, className="feed-name"),
        html.Span(feed_label(line), className="feed-state"),
    ]) for line in lines]


# -- tiles and cards ---------------------------------------------------------------------------------
def kpi_tile(kpi: Mapping[str, Any], series: Sequence[float | None] | None,
             stale_since: float | None = None, stale: bool = False) -> html.Div:
    """One KPI: value, target, status (colour and word) and its 24 h sparkline; dimmed when stale."""
    # The status that counts (issue 19): a small sample's bad shows as warn, marked as such.
    status = effective_status(kpi)
    title = i18n.kpi_title(dict(kpi))
    classes = f"wall-tile kpi-{status}" + (" stale" if stale else "")
    target = i18n.kpi_target(kpi)
    number, unit = kpi_value_parts(kpi)
    return html.Div(className=classes, **{"data-kpi": str(kpi.get("name", ""))}, children=[
        html.Div(title, className="tile-title"),
        html.Div(className="tile-row", children=[
            html.Span(className="tile-value", children=[
                html.Span(number, className="tile-number"),
                *([html.Span(unit, className="tile-unit")] if unit else [])]),
            html.Span(_t(f"status.{status}"), className=f"tile-status status-{status}"),
        ]),
        html.Div(_t("target", target=target) if target else "", className="tile-target"),
        *([html.Div(i18n.t("wall.small_sample"), className="tile-small-sample")]
          if kpi.get("small_sample") else []),
        sparkline(list(series or []), status, title),
        *([html.Div(stale_text(stale_since), className="stale-label")] if stale else []),
    ])


def by_attention(kpis: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The KPIs gravest first (bad, warning, unknown, on target), each status in the order the
    definitions rank them."""
    return sorted(kpis, key=lambda k: SEVERITY_ORDER[effective_status(k)])


def more_text(rest: Sequence[Mapping[str, Any]]) -> str:
    """What the city view says of the KPIs it has no room for: how many, and how many of them are
    off target."""
    off = sum(effective_status(k) in ("warn", "bad") for k in rest)
    if off:
        return _t("more_off", n=len(rest), off=off)
    if all(effective_status(k) == "ok" for k in rest):
        return _t("more_ok", n=len(rest))
    return _t("more", n=len(rest))


def domain_card(domain: str, kpis: Sequence[Mapping[str, Any]],
                history: Mapping[str, Sequence[float | None]], updated_at: float | None,
                stale: bool, stale_since: float | None, big: bool = False,
                status: DomainStatus | None = None) -> html.Div:
    """A domain's card: its title, its status (as /official judges it), a stale label when a
    feed is stale, and a tile per KPI: every one on the domain's own (big) view, the gravest
    :data:`CITY_TILES` with a count of the rest on the city view."""
    classes = f"card domain-card wall-card domain-{domain}" + (" stale" if stale else "") + (
        " big" if big else "")
    head: list[Any] = [html.H3(domain_title(domain))]
    if status is not None:
        head.append(domain_status.badge(status))
    if stale:
        head.append(html.Span(stale_text(stale_since), className="stale-label"))
    elif updated_at is None:
        head.append(html.Span(_t("no_data"), className="muted"))
    shown = list(kpis) if big else by_attention(kpis)[:CITY_TILES]
    rest = [] if big else by_attention(kpis)[CITY_TILES:]
    tiles = [kpi_tile(k, history.get(str(k.get("name", ""))), stale_since, stale) for k in shown]
    return html.Div(className=classes, **{"data-domain": domain}, children=[
        html.Div(head, className="card-head"),
        html.Div(tiles or [html.Div(_t("no_kpis"), className="muted")], className="wall-tiles"),
        *([html.Div(more_text(rest), className="tile-more")] if rest else []),
    ])


@dataclass(frozen=True)
class WallData:
    """What the wall's cards and strip show, read in one go."""

    kpis: dict[str, list[dict[str, Any]]]
    history: dict[str, dict[str, list[float | None]]]
    versions: dict[str, tuple[int, float | None]]
    feeds: list[FeedLine]
    ok: bool  # False when Redis could not be read
    statuses: dict[str, DomainStatus] = field(default_factory=dict)  # as /official judges them


def read_wall(r: redis.Redis | None = None, now: float | None = None) -> WallData:
    """City-wide KPIs, their histories, the domains' versions and the feeds' states."""
    now = time.time() if now is None else now
    try:
        r = redis_client() if r is None else r
        status = live_status(r)
        kpis = {d: kpi_reading.current(r, d, city_only=True) for d in DOMAINS}
        history = {d: history_series(r, d, now) for d in DOMAINS}
        statuses = domain_status.read_statuses(r, now)
    except redis.RedisError:
        empty: dict[str, Any] = {d: [] for d in DOMAINS}
        return WallData(empty, {d: {} for d in DOMAINS},
                        {d: (0, None) for d in DOMAINS}, [], False)
    return WallData(kpis, history, status.versions, feed_lines(status.feeds, now), True, statuses)


def cards(data: WallData, domains: Sequence[str] = DOMAINS, big: bool = False) -> list[html.Div]:
    """The domain cards of ``domains`` from ``data``."""
    stale = stale_domains(data.feeds)
    return [domain_card(d, data.kpis[d], data.history[d], data.versions[d][1], d in stale,
                        stale.get(d), big=big, status=data.statuses.get(d)) for d in domains]
