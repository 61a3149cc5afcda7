"""KPI trend charts of the domain pages and /official: city time, one unit per axis, targets, gaps.

One place for how a KPI's history is drawn (issue 19), so that the two pages cannot tell
different stories:

- x values are naive ISO times in the city's zone (plotly would draw epoch or UTC values in the
  browser's zone), see :func:`city_time`;
- a line breaks where the history has a hole longer than ``GAP_FACTOR`` steps (a feed outage is a
  gap, not a straight line), see :func:`bucket_series`;
- one row per unit, titled with the unit in words (never a code such as ``{vehicle}``);
- y ranges that do not mislead: a share is shown at least ``PCT_MIN_SPAN`` points wide with its
  target, 0-100 where everything fits; counts and measures never below zero;
- each KPI's target as a dashed line; past it the warning band, past its critical limit the
  critical band, both in the product's severity colours and named in the legend. The limits are
  the ones the KPI is judged by (:func:`app.kpis.status.limits`), never restated here.
"""

from __future__ import annotations

import html as html_text
import re
from datetime import datetime
from typing import Any, Mapping, Sequence
from zoneinfo import ZoneInfo

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from app import i18n
from app.config.kpis import KpiSettings
from app.kpis.status import Limits, limits
from app.model.alerts import SEVERITY_COLOURS

Series = dict[str, tuple[list[str | None], list[float | None]]]

# KPI history is written once a minute (app/store/kpis.py); points farther apart than this many
# steps (or buckets, when wider) are a hole in the data and the line breaks there.
HISTORY_STEP_S = 60
GAP_FACTOR = 2.5
# A share's axis spans at least this many percentage points: 99.45-99.65 % is not a crash.
PCT_MIN_SPAN = 5.0
# unit code -> catalogue key of its words (chart.unit.*); other {…} codes are counts.
UNIT_KEYS: dict[str, str] = {
    "%": "percent", "bar": "bar", "m3/h": "m3h", "m": "metre", "h": "hour", "s": "second",
    "{vehicle}": "vehicle", "{request}": "request", "{bed}": "bed", "{zone}": "zone",
    "{hospital}": "hospital", "{ambulance}": "ambulance", "{alert}": "alert",
}
# Lines of one row; the severity colours are kept for targets and bands. Warning and critical take
# the colours the map and the alerts give them (app/situation/mapdata/layers.py RANK_COLOURS).
LINE_COLOURS = ("#1f5f99", "#009E73", "#56B4E9", "#6A3D9A", "#444444")
TARGET_COLOUR = SEVERITY_COLOURS["major"]
BAND_COLOURS: dict[str, str] = {"warn": SEVERITY_COLOURS["major"], "bad": SEVERITY_COLOURS["critical"]}
BAND_OPACITY: dict[str, float] = {"warn": 0.22, "bad": 0.32}
_TARGET = re.compile(r"^\s*(>=|<=|≥|≤)?\s*(-?\d+(?:\.\d+)?)\s*([^\s(]*)")


def city_time(ts: float, tz: str) -> str:
    """Unix time ``ts`` as a naive ISO string of the wall time in zone ``tz`` (plotly's x value)."""
    return datetime.fromtimestamp(ts, ZoneInfo(tz)).replace(tzinfo=None).isoformat()


def bucket_series(history: Sequence[tuple[float, str, Any]], names: Sequence[str], bucket_s: int,
                  tz: str) -> Series:
    """Bucket means of each named KPI's history, as city-time x values, with None across holes.

    Two buckets with readings farther apart than ``GAP_FACTOR`` history steps (and at least one
    empty bucket between them) get a gap (None) between them: a line must not bridge a time when
    the feed said nothing.
    """
    sums: dict[str, dict[int, list[float]]] = {name: {} for name in names}
    for ts, name, value in history:
        if name in sums and isinstance(value, (int, float)) and not isinstance(value, bool):
            acc = sums[name].setdefault(int(ts // bucket_s), [0.0, 0.0])
            acc[0] += float(value)
            acc[1] += 1
    apart = max(1.0, GAP_FACTOR * HISTORY_STEP_S / bucket_s)
    out: Series = {}
    for name, buckets in sums.items():
        xs: list[str | None] = []
        ys: list[float | None] = []
        previous: int | None = None
        for bucket in sorted(buckets):
            if previous is not None and bucket - previous > apart:
                xs.append(None)
                ys.append(None)
            xs.append(city_time((bucket + 0.5) * bucket_s, tz))
            total, count = buckets[bucket]
            ys.append(total / count)
            previous = bucket
        out[name] = (xs, ys)
    return out


def unit_words(unit: str) -> str:
    """A KPI unit as a person reads it in the current language (never ``{vehicle}``)."""
    key = UNIT_KEYS.get(unit)
    if key is None:
        key = "count" if unit.startswith("{") or not unit else ""
    return i18n.t(f"chart.unit.{key}") if key else unit


def target_value(kpi: Mapping[str, Any]) -> tuple[str, float] | None:
    """(">=", "<=" or "=", value) of a KPI's target in its own unit; None without one.

    Targets are text such as ">= 85 %" or "<= 120 s"; one stated in another unit (a bed count's
    "occupancy <= 85 %") is not drawn on the KPI's axis.
    """
    match = _TARGET.match(str(kpi.get("target") or ""))
    if not match:
        return None
    op, number, unit = match.groups()
    if unit and unit != str(kpi.get("unit") or ""):
        return None
    return {"≥": ">=", "≤": "<="}.get(op or "=", op or "="), float(number)


def y_range(unit: str, values: Sequence[float], targets: Sequence[float]) -> list[float]:
    """The y range of one unit's row: the data and its targets, never misleading.

    A share spans at least ``PCT_MIN_SPAN`` points and stays within 0-100 when its data does;
    everything else starts at zero (counts, pressures, flows, times are never negative).
    """
    seen = [*values, *targets]
    if not seen:
        return [0.0, 100.0] if unit == "%" else [0.0, 1.0]
    low, high = min(seen), max(seen)
    if unit != "%":
        top = max(high, 0.0)
        return [min(low, 0.0), top * 1.1 if top > 0 else 1.0]
    span = max(high - low, PCT_MIN_SPAN)
    pad = span * 0.15
    middle = (low + high) / 2
    low, high = middle - span / 2 - pad, middle + span / 2 + pad
    ceiling = 100.0 if max(seen) <= 100.0 else None
    if ceiling is not None and high > ceiling:
        low, high = low - (high - ceiling), ceiling
    if low < 0.0:
        low, high = 0.0, high - low if ceiling is None else min(high - low, ceiling)
    return [low, high]


def _by_unit(kpis: Sequence[Mapping[str, Any]], series: Series) -> dict[str, list[Mapping[str, Any]]]:
    rows: dict[str, list[Mapping[str, Any]]] = {}
    for kpi in kpis:
        if any(y is not None for y in series.get(str(kpi["name"]), ([], []))[1]):
            rows.setdefault(str(kpi.get("unit") or ""), []).append(kpi)
    return rows


def _band(figure: go.Figure, row: int, level: str, low: float, high: float) -> bool:
    """Shade ``low``-``high`` of a row in ``level``'s colour; False when nothing is left to shade."""
    if high <= low:
        return False
    figure.add_hrect(y0=low, y1=high, row=row, col=1, fillcolor=BAND_COLOURS[level],
                     opacity=BAND_OPACITY[level], line_width=0, layer="below")
    return True


def _bands(op: str, value: float, judged: Limits | None,
           bounds: list[float]) -> list[tuple[str, float, float]]:
    """(level, low, high) of the warning and critical bands of a target ``op value`` in ``bounds``.

    Without the KPI's judged limits everything past the target is the warning band."""
    if op not in (">=", "<="):
        return []
    bad = judged.bad if judged is not None and judged.op == op else None
    if op == ">=":
        if bad is None:
            return [("warn", bounds[0], value)]
        return [("warn", max(bad, bounds[0]), value), ("bad", bounds[0], min(bad, bounds[1]))]
    if bad is None:
        return [("warn", value, bounds[1])]
    return [("warn", value, min(bad, bounds[1])), ("bad", max(bad, bounds[0]), bounds[1])]


def _draw_target(figure: go.Figure, row: int, kpi: Mapping[str, Any], name: str,
                 bounds: list[float], judged: Limits | None) -> set[str]:
    """The KPI's dashed target line and its bands; returns the band levels drawn."""
    target = target_value(kpi)
    if target is None:
        return set()
    op, value = target
    drawn = {level for level, low, high in _bands(op, value, judged, bounds)
             if _band(figure, row, level, low, high)}
    if "bad" in drawn and judged is not None:
        figure.add_hline(y=judged.bad, row=row, col=1,
                         line={"dash": "dot", "width": 1, "color": BAND_COLOURS["bad"]})
    label = f"{name}: {html_text.escape(i18n.t('chart.target', target=i18n.kpi_target(kpi)))}"
    figure.add_hline(y=value, row=row, col=1, line={"dash": "dash", "width": 2, "color": TARGET_COLOUR},
                     annotation_text=label,
                     annotation_position="top left", annotation_font_size=11)
    return drawn


def _tint(level: str) -> str:
    """A band's colour as it shows on the chart (its colour at its opacity), for the legend."""
    colour = BAND_COLOURS[level].lstrip("#")
    red, green, blue = (int(colour[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({red},{green},{blue},{BAND_OPACITY[level]})"


def _band_legend(figure: go.Figure, levels: set[str]) -> None:
    """One legend entry per band drawn, in words: what its colour means."""
    for level in ("warn", "bad"):
        if level in levels:
            figure.add_trace(go.Scatter(
                x=[None], y=[None], mode="markers", hoverinfo="skip", legendgroup="bands",
                name=html_text.escape(i18n.t(f"chart.band_{level}")),
                marker={"symbol": "square", "size": 14, "color": _tint(level),
                        "line": {"width": 1.5, "color": BAND_COLOURS[level]}}))


def unit_figure(kpis: Sequence[Mapping[str, Any]], series: Series, titles: Mapping[str, str],
                empty_text: str, kpi_settings: KpiSettings | None = None) -> go.Figure:
    """One row per unit of the KPIs with history, sharing the city-time axis, with targets and the
    warning and critical bands of the limits in ``kpi_settings`` (the defaults without).

    ``titles`` names each KPI in the reader's language (plotly labels are HTML-escaped here).
    """
    limit_settings = kpi_settings or KpiSettings()
    rows = _by_unit(kpis, series)
    if not rows:
        figure = go.Figure()
        figure.add_annotation(text=html_text.escape(empty_text), showarrow=False, x=0.5, y=0.5,
                              xref="paper", yref="paper")
        figure.update_layout(height=120, xaxis={"visible": False}, yaxis={"visible": False})
    else:
        figure = make_subplots(rows=len(rows), cols=1, shared_xaxes=True,
                               subplot_titles=[html_text.escape(unit_words(u)) for u in rows],
                               vertical_spacing=min(0.12, 0.5 / len(rows)))
        drawn = 0  # lines so far: each KPI keeps its own colour in the shared legend
        banded: set[str] = set()
        for row, (unit, members) in enumerate(rows.items(), start=1):
            words = html_text.escape(unit_words(unit))
            values: list[float] = []
            targets: list[float] = []
            for kpi in members:
                xs, ys = series[str(kpi["name"])]
                values += [y for y in ys if y is not None]
                target = target_value(kpi)
                if target is not None:
                    targets.append(target[1])
                    judged = limits(kpi, limit_settings)
                    if judged is not None and judged.op == target[0]:
                        targets.append(judged.bad)  # the critical band in view, not off the axis
                name = html_text.escape(titles.get(str(kpi["name"])) or str(kpi["name"]))
                figure.add_trace(go.Scatter(
                    x=xs, y=ys, mode="lines+markers" if len(ys) == 1 else "lines", connectgaps=False,
                    name=name, legendgroup=f"row{row}",
                    line={"width": 2, "color": LINE_COLOURS[drawn % len(LINE_COLOURS)]},
                    hovertemplate=(f"{name}<br>%{{x|%Y-%m-%d %H:%M}}<br>"
                                   f"%{{y:,.1f}} ({words})<extra></extra>")), row=row, col=1)
                drawn += 1
            bounds = y_range(unit, values, targets)
            figure.update_yaxes(range=bounds, row=row, col=1,
                                rangemode="normal" if unit == "%" else "tozero")
            if unit.startswith("{") and bounds[1] <= 10:
                figure.update_yaxes(dtick=1, row=row, col=1)  # no half a vehicle
            for kpi in members:
                banded |= _draw_target(figure, row, kpi, html_text.escape(
                    titles.get(str(kpi["name"])) or str(kpi["name"])), bounds,
                    limits(kpi, limit_settings))
        _band_legend(figure, banded)
        figure.update_layout(height=90 + 170 * len(rows), showlegend=True,
                             legend={"orientation": "h", "y": -0.12 if len(rows) > 1 else -0.25})
        figure.update_xaxes(type="date")
    figure.update_layout(margin={"l": 50, "r": 10, "t": 30, "b": 30},
                         paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)")
    return figure
