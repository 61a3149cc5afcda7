"""The situation: city status per domain (green/amber/red and why), KPIs and open alerts, and exports.

The officials' page (layouts/official.py) and the exports (app/official_routes.py) read the same
:class:`Situation`, so the page and a report printed from it never disagree. Exports:

- a standalone HTML situation report: a folium map whose Leaflet JavaScript and CSS are read from
  an installed package and inlined (no CDN, no tile server: it opens on an air-gapped machine),
  with the status, the KPIs and the open alerts as tables;
- the KPIs and the open alerts as CSV, guarded against formula injection.

Feed text is untrusted: every string from a feed passes :func:`escape_feed` before it reaches the
report's HTML or the JavaScript that folium writes.
"""

from __future__ import annotations

import base64
import csv
import functools
import html
import io
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo

import branca.element
import folium
import orjson
import redis
from folium.template import Template

from app import alerts as alert_store
from app import i18n, store
from app.live.feeds import read_health
from app.model.alerts import ACTIVE, most_urgent_first
from app.model.domains import DOMAINS
from app.model.feeds import FeedHealth
from app.situation.mapdata import DEFAULT_CENTER

GREEN, AMBER, RED, GREY = "green", "amber", "red", "grey"
# The colour is never the only cue: every status also carries a word and a symbol. The English
# words, for code that needs them; people read them through i18n ("city_status.<colour>").
STATUS_LABELS: dict[str, str] = {GREEN: "Normal", AMBER: "Attention", RED: "Critical",
                                 GREY: "Unknown"}
STATUS_SYMBOLS: dict[str, str] = {GREEN: "●", AMBER: "▲", RED: "■", GREY: "○"}
KPI_ORDER: dict[str, int] = {"bad": 0, "warn": 1, "unknown": 2, "ok": 3}
MAX_OPEN_ALERTS = 1000
# Stops and routes are the network, not the situation; thousands of them would bury the markers.
MAP_SKIPPED_KINDS = frozenset({"stop", "route", "shape", "trip"})
MAX_ENTITY_MARKERS = 3000
MAX_POPUP_TEXT = 500

# Okabe-Ito colours (colour-blind safe); size is the second cue for severity.
SEVERITY_STYLE: dict[str, tuple[str, int]] = {
    "critical": ("#D55E00", 12), "major": ("#E69F00", 10), "minor": ("#CC79A7", 8),
    "warning": ("#56B4E9", 8), "info": ("#0072B2", 7),
}
DOMAIN_COLOURS: dict[str, str] = {
    "transport": "#0072B2", "water": "#56B4E9", "medical": "#009E73", "city": "#6B6B6B",
}
BASEMAP_STYLES: dict[str, dict[str, Any]] = {
    "district": {"color": "#8C8C8C", "weight": 1, "fillColor": "#F2F2F2", "fillOpacity": 0.4},
    "river": {"color": "#56B4E9", "weight": 3, "fillColor": "#56B4E9", "fillOpacity": 0.5},
    "road": {"color": "#BDBDBD", "weight": 2, "fill": False},
}
DEFAULT_BASEMAP_STYLE: dict[str, Any] = {"color": "#BDBDBD", "weight": 1, "fillOpacity": 0.1}

# The CSV header rows are these column ids in every language, by choice: the CSV is the
# machine-readable export (scripts and API tokens read it by column name, and a script must not
# break because its user switched to Chinese); the HTML report is the one written for people.
KPI_COLUMNS: tuple[str, ...] = ("domain", "name", "subject", "value", "unit", "target", "status",
                                "computed_at")
ALERT_COLUMNS: tuple[str, ...] = ("id", "state", "severity", "domain", "title", "count",
                                  "first_seen", "last_seen", "acked_by", "assignee", "escalated")
ALERT_TIME_COLUMNS = frozenset({"first_seen", "last_seen"})
# Spreadsheets run a cell that starts with one of these as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

LEAFLET_PACKAGE = "js_lib_leaflet"  # the django-js-lib-leaflet distribution: Leaflet's own files
LEAFLET_FOLDER = ("static", "js_lib_leaflet")
_CSS_IMAGE = re.compile(r"url\((['\"]?)(images/[A-Za-z0-9_.-]+\.png)\1\)")
_EXTERNAL_SCRIPT = re.compile(r"<script\b[^>]*\bsrc\s*=[^>]*>\s*</script>", re.IGNORECASE)
_EXTERNAL_LINK = re.compile(r"<link\b[^>]*\bhref\s*=[^>]*>", re.IGNORECASE)
# A tag or a stylesheet that would fetch by URL (tile images, CDN scripts, web fonts).
_REMOTE_REFERENCE = re.compile(
    r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//"
    r"|url\(\s*[\"']?\s*(?:https?:)?//|@import\s+[\"'](?:https?:)?//", re.IGNORECASE)


class ReportError(Exception):
    """The report cannot be made as promised (e.g. it would load something from the network)."""


# -- escaping --------------------------------------------------------------------------------------
def escape_feed(value: object) -> str:
    """Feed text for HTML and for folium's JavaScript template literals.

    ``html.escape`` covers the markup; a backtick, ``$`` and a backslash also become entities,
    because folium puts tooltip text inside JavaScript template literals, where ``${...}`` would
    run and a backtick or backslash would end or bend the string.
    """
    text = html.escape("" if value is None else str(value), quote=True)
    return text.replace("\\", "&#92;").replace("`", "&#96;").replace("$", "&#36;")


def csv_cell(value: object) -> object:
    """A CSV cell: text that a spreadsheet would run as a formula gets a leading apostrophe.

    Numbers are our own figures, not feed text, and stay numbers (a negative delay is -35.0).
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


# -- times and values ------------------------------------------------------------------------------
def clock(ts: float | None, tz: str, with_date: bool = False) -> str:
    """A Unix time as the city's wall-clock time, HH:MM (with the date, in the reader's locale, if
    asked); "—" if none."""
    return i18n.format_datetime(ts, with_date, tz=tz, seconds=False)


def iso_time(ts: float | None, tz: str) -> str:
    """A Unix time as ISO 8601 in the city's time zone, with its offset ("" if none)."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, ZoneInfo(tz)).isoformat(timespec="seconds")


def value_text(value: float | None, unit: str) -> str:
    """A KPI value with its unit as a person reads it ("—" when unknown)."""
    if value is None:
        return "—"
    if unit.startswith("{"):  # UCUM annotations such as {vehicle} are counts
        return i18n.format_number(value)
    if unit == "%":
        return f"{i18n.format_number(value, 1)} %"
    return f"{i18n.format_number(value, 1)} {unit}".strip()


def kpi_label(kpi: Mapping[str, Any]) -> str:
    """A KPI's title, with its subject (zone, hospital, category) when it has one."""
    title = str(kpi.get("title") or kpi.get("name") or "")
    if i18n.current_language() != i18n.DEFAULT and kpi.get("subject") is None:
        # English keeps the title as computed; other languages name the KPI by the catalogue.
        # A subject KPI keeps its stored title, whose subject part is a feed's name.
        title = i18n.kpi_title(kpi)
    return f"{title} · {kpi['subject']}" if kpi.get("subject") else title


# -- the situation ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class DomainStatus:
    """One domain's colour, the reasons for it (worst first) and the age of its data."""

    domain: str
    colour: str  # green, amber, red or grey (no data to judge)
    reasons: tuple[str, ...]
    updated_at: float | None

    @property
    def title(self) -> str:
        """The domain's name in the reader's language."""
        return i18n.label("domain", self.domain)

    @property
    def label(self) -> str:
        """The status in words, in the reader's language (the colour is never the only cue)."""
        return i18n.t(f"city_status.{self.colour}")


@dataclass(frozen=True)
class Situation:
    """Everything the officials' view and the exports show, read at one moment."""

    generated_at: float
    timezone: str
    statuses: tuple[DomainStatus, ...]
    kpis: tuple[dict[str, Any], ...]
    alerts: tuple[dict[str, Any], ...]
    feeds: tuple[FeedHealth, ...] = ()

    def worst_kpis(self, limit: int = 10) -> list[dict[str, Any]]:
        """KPIs off target, bad before warn, in domain and definition order."""
        domain_rank = {d: i for i, d in enumerate(DOMAINS)}
        off = [k for k in self.kpis if k.get("status") in ("bad", "warn")]
        return sorted(off, key=lambda k: (KPI_ORDER[k["status"]], domain_rank.get(k.get("domain"), 9),
                                          k.get("rank", 0), str(k.get("name"))))[:limit]

    def top_alerts(self, limit: int = 10) -> list[dict[str, Any]]:
        """The most urgent open alerts: unacknowledged first, then by severity, newest first."""
        return sorted(self.alerts, key=most_urgent_first)[:limit]


# Reasons are written in the language of the request that reads the situation (the officials'
# page and the exports each read it afresh); feed and KPI names inside them stay as sent.
def _feed_reason(feed: FeedHealth, tz: str) -> str:
    state = i18n.label("feed_state", feed.state)
    if feed.last_success is None:
        return i18n.t("reason.feed_never", feed=feed.feed, state=state)
    return i18n.t("reason.feed_since", feed=feed.feed, state=state, time=clock(feed.last_success, tz))


def _kpi_reason(kpi: Mapping[str, Any]) -> str:
    value = value_text(kpi.get("value"), str(kpi.get("unit") or ""))
    if kpi.get("target"):
        return i18n.t("reason.kpi_target", kpi=kpi_label(kpi), value=value, target=kpi["target"])
    return i18n.t("reason.kpi", kpi=kpi_label(kpi), value=value)


def _plural(count: int, key: str) -> str:
    """``key.one`` or ``key.other`` with ``count`` filled in (English needs both; Chinese reads the
    same either way)."""
    return i18n.t(f"{key}.{'one' if count == 1 else 'other'}", count=i18n.format_number(count))


def judge_domain(domain: str, *, kpis: Sequence[Mapping[str, Any]], feeds: Sequence[FeedHealth],
                 alerts: Sequence[Mapping[str, Any]], updated_at: float | None,
                 tz: str) -> DomainStatus:
    """A domain's colour and reasons from its KPI statuses, its feeds' health and its open alerts.

    Red: a feed down, a KPI bad, an active critical alert. Amber: a feed stale, a KPI warn, an
    active major alert. A stale feed is never green: its KPIs describe the past. Grey: nothing
    to judge yet. Green only when at least one KPI is judged and nothing above holds.
    """
    red: list[str] = []
    amber: list[str] = []
    for feed in feeds:
        if feed.state == "down":
            red.append(_feed_reason(feed, tz))
        elif feed.state == "stale":
            amber.append(_feed_reason(feed, tz))
    ranked = sorted(kpis, key=lambda k: k.get("rank", 0))
    red += [_kpi_reason(k) for k in ranked if k.get("status") == "bad"]
    amber += [_kpi_reason(k) for k in ranked if k.get("status") == "warn"]
    active = [a for a in alerts if a.get("state") in ACTIVE]
    critical = sum(1 for a in active if a.get("severity") == "critical")
    major = sum(1 for a in active if a.get("severity") == "major")
    if critical:
        red.append(_plural(critical, "reason.critical_open"))
    if major:
        amber.append(_plural(major, "reason.major_open"))
    if red:
        return DomainStatus(domain, RED, tuple(red + amber), updated_at)
    if amber:
        return DomainStatus(domain, AMBER, tuple(amber), updated_at)
    judged = [k for k in kpis if k.get("status") == "ok"]
    if updated_at is None and not judged:
        waiting = any(f.state == "waiting" for f in feeds)
        return DomainStatus(domain, GREY, (i18n.t("reason.waiting" if waiting else "reason.no_data"),),
                            updated_at)
    if not judged:
        return DomainStatus(domain, GREY, (i18n.t("reason.unjudged"),), updated_at)
    key = "reason.on_target_fresh" if feeds else "reason.on_target"
    return DomainStatus(domain, GREEN, (_plural(len(judged), key),), updated_at)


def open_alerts(r: redis.Redis) -> list[dict[str, Any]]:
    """Every alert that is not closed, most urgent first (app/alerts.py's public read)."""
    rows = alert_store.list_alerts(r, open_only=True, limit=MAX_OPEN_ALERTS)
    return sorted(rows, key=most_urgent_first)


def read_situation(r: redis.Redis, tz: str, now: float | None = None) -> Situation:
    """The situation now: every domain's status, all current KPIs, the open alerts, feed health."""
    now = time.time() if now is None else now
    versions = store.status.domain_versions(r)
    kpis = {d: store.kpis.read(r, d) for d in DOMAINS}
    feeds = read_health(r, now)
    alerts = open_alerts(r)
    statuses = tuple(
        judge_domain(d, kpis=kpis[d], feeds=[f for f in feeds if f.domain == d],
                     alerts=[a for a in alerts if a.get("domain") == d],
                     updated_at=versions[d][1], tz=tz)
        for d in DOMAINS)
    return Situation(generated_at=now, timezone=tz, statuses=statuses,
                     kpis=tuple(k for d in DOMAINS for k in kpis[d]), alerts=tuple(alerts),
                     feeds=tuple(feeds))


# -- CSV -------------------------------------------------------------------------------------------
def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    # A BOM so that spreadsheet programs read the UTF-8 (Chinese names) as UTF-8.
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([csv_cell(v) for v in row] for row in rows)
    return out.getvalue()


def kpis_csv(situation: Situation) -> str:
    """The KPIs as CSV: domain, name, subject, value, unit, target, status, computed_at (ISO)."""
    tz = situation.timezone
    return _csv(KPI_COLUMNS, ([k.get("domain"), k.get("name"), k.get("subject"), k.get("value"),
                               k.get("unit"), k.get("target"), k.get("status"),
                               iso_time(k.get("computed_at"), tz)] for k in situation.kpis))


def alerts_csv(situation: Situation) -> str:
    """The open alerts as CSV (times as ISO 8601 in the city's time zone)."""
    tz = situation.timezone
    return _csv(ALERT_COLUMNS, ([iso_time(a.get(c), tz) if c in ALERT_TIME_COLUMNS else a.get(c)
                                 for c in ALERT_COLUMNS] for a in situation.alerts))


# -- map layers ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MapLayers:
    """What the report's map draws besides the alerts: located entities and CAP warning areas."""

    entities: tuple[dict[str, Any], ...] = ()
    areas: tuple[dict[str, Any], ...] = ()
    left_out: int = 0  # located entities beyond MAX_ENTITY_MARKERS
    basemap: tuple[tuple[str, dict[str, Any]], ...] = field(default_factory=tuple)


def _located(record: Mapping[str, Any]) -> bool:
    lat, lon = record.get("lat"), record.get("lon")
    return (isinstance(lat, (int, float)) and isinstance(lon, (int, float))
            and -90 <= lat <= 90 and -180 <= lon <= 180)


def _event_active(event: Mapping[str, Any], now: float) -> bool:
    starts, ends = event.get("starts_at"), event.get("ends_at")
    return (starts is None or starts <= now) and (ends is None or now <= ends)


def read_map_layers(r: redis.Redis, now: float | None = None,
                    basemap_dir: Path | None = None) -> MapLayers:
    """Located entities (not stops or routes), active CAP warning areas, the city's basemap."""
    now = time.time() if now is None else now
    entities: list[dict[str, Any]] = []
    areas: list[dict[str, Any]] = []
    for domain in DOMAINS:
        entities += [e for e in store.entities.read_entities(r, domain)
                     if e.get("kind") not in MAP_SKIPPED_KINDS and _located(e)]
        areas += [dict(ev, domain=domain) for ev in store.entities.read_events(r, domain)
                  if ev.get("kind") == "cap_warning" and ev.get("area") and _event_active(ev, now)]
    entities.sort(key=lambda e: (DOMAINS.index(e["domain"]) if e.get("domain") in DOMAINS
                                 else 9, str(e.get("id"))))
    shown = entities[:MAX_ENTITY_MARKERS]
    return MapLayers(entities=tuple(shown), areas=tuple(areas),
                     left_out=len(entities) - len(shown),
                     basemap=read_basemap(basemap_dir if basemap_dir is not None
                                          else default_basemap_dir()))


def default_basemap_dir() -> Path:
    """assets/basemap/: the city's own GeoJSON layers (districts, river, main roads)."""
    return Path(str(resources.files("assets"))) / "basemap"


def read_basemap(folder: Path) -> tuple[tuple[str, dict[str, Any]], ...]:
    """(layer name, geometry-only FeatureCollection) of every *.geojson in ``folder``.

    Properties are dropped: the report needs only shapes, and nothing but shapes reaches the page.
    A feature's ``layer`` property (district, river, road) picks its style; else the file name.
    """
    if not folder.is_dir():
        return ()
    layers: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(folder.glob("*.geojson")):
        try:
            data = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue
        features = data.get("features", []) if isinstance(data, dict) else []
        for feature in features:
            if not isinstance(feature, dict) or not isinstance(feature.get("geometry"), dict):
                continue
            props = feature.get("properties") or {}
            name = str(props.get("layer") or path.stem)
            layers.setdefault(name, []).append(
                {"type": "Feature", "properties": {}, "geometry": feature["geometry"]})
    return tuple((name, {"type": "FeatureCollection", "features": feats})
                 for name, feats in layers.items())


# -- offline Leaflet -------------------------------------------------------------------------------
def _leaflet_file(name: str) -> Any:
    return resources.files(LEAFLET_PACKAGE).joinpath(*LEAFLET_FOLDER, name)


@functools.lru_cache(maxsize=1)
def leaflet_assets() -> tuple[str, str]:
    """(leaflet.js, leaflet.css) from the installed package, the CSS images made data: URIs."""
    try:
        js = _leaflet_file("leaflet.js").read_text(encoding="utf-8")
        css = _leaflet_file("leaflet.css").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise ReportError("Leaflet's files are missing: install the django-js-lib-leaflet "
                          "package (a dependency of CityOps)") from exc

    def inline(match: re.Match[str]) -> str:
        data = _leaflet_file(match.group(2)).read_bytes()
        return f"url(data:image/png;base64,{base64.b64encode(data).decode('ascii')})"

    css = _CSS_IMAGE.sub(inline, css)
    if "</script" in js.lower() or "</style" in css.lower():
        raise ReportError("Leaflet's files cannot be inlined safely")
    return js, css


class OfflineMap(folium.Map):
    """A folium map that links nothing: Leaflet is inlined by :func:`render_report`."""

    default_js: list[tuple[str, str]] = []
    default_css: list[tuple[str, str]] = []


class SafePopup(folium.MacroElement):
    """A popup whose (already escaped) HTML goes into JavaScript as a JSON string.

    folium's own Popup needs jQuery and writes its HTML into a template literal; this binds
    Leaflet's popup directly, and ``tojson`` escapes ``<``, ``>``, ``&`` and ``'``, so no text
    can end the script.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
            {{ this._parent.get_name() }}.bindPopup({{ this.content|tojson }}, {"maxWidth": 360});
        {% endmacro %}
    """)

    def __init__(self, content: str) -> None:
        super().__init__()
        self._name = "SafePopup"
        self.content = content


def _popup_html(title: str, rows: Sequence[tuple[str, object]]) -> str:
    """A popup's HTML: every value escaped here, whatever its source."""
    body = "".join(f"<tr><th>{escape_feed(k)}</th><td>{escape_feed(v)}</td></tr>"
                   for k, v in rows if v not in (None, ""))
    return f"<b>{escape_feed(title)}</b><table class='popup'>{body}</table>"


def _short(text: object) -> str:
    value = "" if text is None else str(text)
    return value if len(value) <= MAX_POPUP_TEXT else value[:MAX_POPUP_TEXT] + "…"


def _entity_marker(entity: Mapping[str, Any], tz: str) -> folium.CircleMarker:
    attrs = entity.get("attrs") or {}
    name = attrs.get("name") or attrs.get("label") or entity.get("id")
    domain = str(entity.get("domain") or "")
    colour = DOMAIN_COLOURS.get(domain, "#6B6B6B")
    marker = folium.CircleMarker(
        [float(entity["lat"]), float(entity["lon"])], radius=5, color="#FFFFFF", weight=1,
        fill=True, fill_color=colour, fill_opacity=0.9,
        class_name=f"report-marker report-entity domain-{re.sub(r'[^a-z]', '', domain)}",
        tooltip=folium.Tooltip(escape_feed(f"{i18n.label('kind', str(entity.get('kind')))}: {name}")))
    t = i18n.t
    SafePopup(_popup_html(str(name), [
        (t("report.pop_kind"), i18n.label("kind", str(entity.get("kind")))),
        (t("report.pop_id"), entity.get("id")), (t("report.pop_status"), entity.get("status")),
        (t("report.pop_as_of"), clock(entity.get("observed_at"), tz, with_date=True)),
        (t("report.pop_source"), entity.get("source"))])).add_to(marker)
    return marker


def _alert_marker(alert: Mapping[str, Any], tz: str) -> folium.CircleMarker:
    severity = str(alert.get("severity") or "info")
    if severity not in SEVERITY_STYLE:
        severity = "info"
    colour, radius = SEVERITY_STYLE[severity]
    marker = folium.CircleMarker(
        [float(alert["lat"]), float(alert["lon"])], radius=radius, color="#000000", weight=2,
        fill=True, fill_color=colour, fill_opacity=0.95,
        class_name=f"report-marker report-alert severity-{severity}",
        tooltip=folium.Tooltip(escape_feed(f"{i18n.label('severity', severity)}: {alert.get('title')}")))
    t = i18n.t
    SafePopup(_popup_html(str(alert.get("title") or alert.get("id")), [
        (t("report.pop_severity"), i18n.label("severity", severity)),
        (t("report.pop_state"), i18n.label("alert_state", str(alert.get("state")))),
        (t("report.pop_domain"), i18n.label("domain", str(alert.get("domain")))),
        (t("report.pop_count"), alert.get("count")),
        (t("report.pop_first_seen"), clock(alert.get("first_seen"), tz, True)),
        (t("report.pop_last_seen"), clock(alert.get("last_seen"), tz, True)),
        (t("report.pop_acked_by"), alert.get("acked_by")), (t("report.pop_assignee"), alert.get("assignee")),
        (t("report.pop_description"), _short(alert.get("description")))])).add_to(marker)
    return marker


def _area_layer(event: Mapping[str, Any], tz: str) -> folium.GeoJson:
    attrs = event.get("attrs") or {}
    area_names = attrs.get("areaDesc") or ""
    colour = SEVERITY_STYLE.get(str(event.get("severity")), SEVERITY_STYLE["warning"])[0]
    layer = folium.GeoJson(
        {"type": "Feature", "properties": {}, "geometry": event["area"]},
        style_function=lambda _f, c=colour: {"color": c, "weight": 2, "fillColor": c,
                                             "fillOpacity": 0.15, "className": "report-area"},
        tooltip=folium.Tooltip(escape_feed(f"{event.get('title')} — {area_names}")))
    t = i18n.t
    # The CAP fields' values (event, urgency, ...) are the warning's own text: shown as sent.
    SafePopup(_popup_html(str(event.get("title") or event.get("id")), [
        (t("report.pop_areas"), area_names), (t("report.pop_event"), attrs.get("event")),
        (t("report.pop_severity"), attrs.get("cap_severity")),
        (t("report.pop_urgency"), attrs.get("urgency")), (t("report.pop_certainty"), attrs.get("certainty")),
        (t("report.pop_sender"), attrs.get("sender")),
        (t("report.pop_expires"), clock(event.get("ends_at"), tz, True)),
        (t("report.pop_description"), _short(attrs.get("description"))),
        (t("report.pop_instruction"), _short(attrs.get("instruction")))])).add_to(layer)
    return layer


def _area_points(area: Mapping[str, Any]) -> list[tuple[float, float]]:
    """(lat, lon) of the outer rings' vertices of a GeoJSON Polygon or MultiPolygon."""
    kind, coords = area.get("type"), area.get("coordinates") or []
    polygons = [coords] if kind == "Polygon" else coords if kind == "MultiPolygon" else []
    return [(float(p[1]), float(p[0])) for polygon in polygons if polygon
            for p in polygon[0] if isinstance(p, (list, tuple)) and len(p) >= 2]


def _bounds(points: Sequence[tuple[float, float]]) -> list[list[float]] | None:
    if not points:
        return None
    lats = [p[0] for p in points]
    lons = [p[1] for p in points]
    return [[min(lats), min(lons)], [max(lats), max(lons)]]


def build_map(situation: Situation, layers: MapLayers) -> OfflineMap:
    """The report's folium map: basemap shapes, CAP areas, entities, then alerts on top. No tiles."""
    tz = situation.timezone
    located_alerts = [a for a in situation.alerts if _located(a)]
    points = ([(float(a["lat"]), float(a["lon"])) for a in located_alerts]
              + [(float(e["lat"]), float(e["lon"])) for e in layers.entities]
              + [p for event in layers.areas for p in _area_points(event["area"])])
    center = points[0] if points else DEFAULT_CENTER
    fmap = OfflineMap(location=list(center), zoom_start=12, tiles=None, height="560px",
                      control_scale=True)
    for name, collection in layers.basemap:
        style = BASEMAP_STYLES.get(name, DEFAULT_BASEMAP_STYLE)
        folium.GeoJson(collection, name=name, style_function=lambda _f, s=style: s,
                       control=False).add_to(fmap)
    for event in layers.areas:
        _area_layer(event, tz).add_to(fmap)
    for entity in layers.entities:
        _entity_marker(entity, tz).add_to(fmap)
    for alert in sorted(located_alerts, key=most_urgent_first, reverse=True):
        _alert_marker(alert, tz).add_to(fmap)  # the most urgent drawn last, so on top
    bounds = _bounds(points)
    if bounds and bounds[0] != bounds[1]:
        fmap.fit_bounds(bounds, padding=(20, 20))
    return fmap


# -- the HTML report -------------------------------------------------------------------------------
REPORT_CSS = """
html, body { height: auto; }
body { font-family: system-ui, "Segoe UI", "Noto Sans", "Noto Sans CJK SC", sans-serif;
       color: #14202b; margin: 0; padding: 1rem 1.5rem; background: #fff; }
h1 { margin: 0 0 0.2rem; } h2 { margin: 1.5rem 0 0.5rem; }
.meta, .note { color: #556574; }
table.data { border-collapse: collapse; width: 100%; font-size: 0.95rem; }
table.data th, table.data td { text-align: left; padding: 0.3rem 0.5rem; border-bottom: 1px solid #cfd8e3;
                               vertical-align: top; }
.status { font-weight: 700; white-space: nowrap; }
.status-green { color: #1b7a3a; } .status-amber { color: #8a5a00; } .status-red { color: #b3261e; }
.status-grey { color: #556574; }
.kpi-bad td:first-child { border-left: 6px solid #b3261e; }
.kpi-warn td:first-child { border-left: 4px solid #8a5a00; }
.folium-map { border: 1px solid #cfd8e3; border-radius: 6px; }
.leaflet-container { background: #f7f9fb; }
.legend { margin: 0.2rem 0; font-size: 0.9rem; }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; border: 1px solid #000;
          border-radius: 50%; margin: 0 0.3em 0 0.6em; vertical-align: middle; }
.swatch.dot { width: 0.6em; height: 0.6em; border-color: #fff; }
table.popup th { text-align: left; padding-right: 0.5rem; color: #556574; font-weight: 600; }
@media print { .folium-map { page-break-inside: avoid; } }
"""


def _headings(*keys: str) -> str:
    """Table heading cells from catalogue keys (our own text, escaped all the same)."""
    return "".join(f"<th>{escape_feed(i18n.t(key))}</th>" for key in keys)


def _status_section(situation: Situation) -> str:
    tz = situation.timezone
    rows = "".join(
        f"<tr class='domain-status domain-{s.colour}' data-domain='{escape_feed(s.domain)}'>"
        f"<td>{escape_feed(s.title)}</td>"
        f"<td class='status status-{s.colour}'>{STATUS_SYMBOLS[s.colour]} {escape_feed(s.label)}</td>"
        f"<td>{'<br>'.join(escape_feed(reason) for reason in s.reasons)}</td>"
        f"<td>{escape_feed(clock(s.updated_at, tz, with_date=True))}</td></tr>"
        for s in situation.statuses)
    heads = _headings("report.col_domain", "report.col_status", "report.col_why", "report.col_data_as_of")
    return (f"<section id='status'><h2>{escape_feed(i18n.t('report.status_heading'))}</h2>"
            f"<table class='data'><thead><tr>{heads}</tr></thead><tbody>{rows}</tbody></table></section>")


def _kpi_section(situation: Situation) -> str:
    tz = situation.timezone
    rows = "".join(
        f"<tr class='kpi kpi-{escape_feed(k.get('status'))}'>"
        f"<td>{escape_feed(i18n.label('domain', str(k.get('domain'))))}</td>"
        f"<td>{escape_feed(kpi_label(k))}</td>"
        f"<td>{escape_feed(value_text(k.get('value'), str(k.get('unit') or '')))}</td>"
        f"<td>{escape_feed(k.get('target') or '')}</td>"
        f"<td>{escape_feed(i18n.label('kpi_status', str(k.get('status'))))}</td>"
        f"<td>{escape_feed(clock(k.get('computed_at'), tz))}</td></tr>"
        for k in situation.kpis)
    if not rows:
        rows = f"<tr><td colspan='6' class='note'>{escape_feed(i18n.t('report.no_kpis'))}</td></tr>"
    heads = _headings("report.col_domain", "report.col_indicator", "report.col_value",
                      "report.col_target", "report.col_status", "report.col_computed")
    return (f"<section id='kpis'><h2>{escape_feed(i18n.t('report.kpis_heading'))}</h2>"
            f"<table class='data'><thead><tr>{heads}</tr></thead><tbody>{rows}</tbody></table></section>")


def _alert_section(situation: Situation) -> str:
    tz = situation.timezone
    rows = "".join(
        f"<tr class='alert severity-{escape_feed(a.get('severity'))}'>"
        f"<td>{escape_feed(i18n.label('severity', str(a.get('severity'))))}</td>"
        f"<td>{escape_feed(i18n.label('alert_state', str(a.get('state'))))}</td>"
        f"<td>{escape_feed(i18n.label('domain', str(a.get('domain'))))}</td>"
        f"<td>{escape_feed(a.get('title'))}</td><td>{escape_feed(a.get('count'))}</td>"
        f"<td>{escape_feed(clock(a.get('first_seen'), tz, True))}</td>"
        f"<td>{escape_feed(clock(a.get('last_seen'), tz, True))}</td>"
        f"<td>{escape_feed(a.get('acked_by') or '')}</td><td>{escape_feed(a.get('assignee') or '')}</td>"
        f"<td>{escape_feed(i18n.t('report.yes')) if a.get('escalated') else ''}</td></tr>"
        for a in situation.top_alerts(limit=len(situation.alerts)))
    if not rows:
        rows = f"<tr><td colspan='10' class='note'>{escape_feed(i18n.t('report.no_open_alerts'))}</td></tr>"
    heads = _headings("report.col_severity", "report.col_state", "report.col_domain", "report.col_title",
                      "report.col_count", "report.col_first_seen", "report.col_last_seen",
                      "report.col_acked_by", "report.col_assignee", "report.col_escalated")
    return (f"<section id='alerts'><h2>{escape_feed(i18n.t('report.alerts_heading'))}</h2>"
            f"<table class='data'><thead><tr>{heads}</tr></thead><tbody>{rows}</tbody></table></section>")


def _map_note(situation: Situation, layers: MapLayers) -> str:
    located = sum(1 for a in situation.alerts if _located(a))
    places = _plural(len(layers.entities), "report.places")
    if layers.left_out:
        places = i18n.t("report.not_drawn", places=places, count=i18n.format_number(layers.left_out))
    parts = [_plural(located, "report.located_alerts"), places,
             _plural(len(layers.areas), "report.warning_areas")]
    legend = "".join(
        f"<span class='swatch' style='background:{colour}'></span>"
        f"{escape_feed(i18n.label('severity', name))} "
        for name, (colour, _size) in SEVERITY_STYLE.items())
    domains = "".join(
        f"<span class='swatch dot' style='background:{colour}'></span>"
        f"{escape_feed(i18n.label('domain', domain))} " for domain, colour in DOMAIN_COLOURS.items())
    # Our templates are escaped whole; the legends are markup built from escaped parts.
    note = escape_feed(i18n.t("report.map_note", parts=i18n.t("report.list_sep").join(parts)))
    return (f"<p class='note' id='map-note'>{note}</p>"
            f"<p class='legend'>{i18n.t('report.legend_alerts', legend=legend)}</p>"
            f"<p class='legend'>{i18n.t('report.legend_places', legend=domains)}</p>")


def assert_offline(document: str) -> None:
    """Raise :class:`ReportError` if the document would load anything by URL."""
    match = _REMOTE_REFERENCE.search(document)
    if match:
        raise ReportError(f"the report would load a remote resource: {match.group(0)[:120]}")


def render_report(situation: Situation, layers: MapLayers) -> str:
    """The standalone situation report (one HTML file; opens offline with its map and markers)."""
    tz = situation.timezone
    generated = clock(situation.generated_at, tz, with_date=True)
    title = i18n.t("report.title", time=generated)
    figure = branca.element.Figure(title=escape_feed(title))
    build_map(situation, layers).add_to(figure)
    rendered = figure.render()
    # OfflineMap links nothing; a plugin that still adds a <script src>/<link href> loses it here.
    rendered = _EXTERNAL_LINK.sub("", _EXTERNAL_SCRIPT.sub("", rendered))
    if rendered.count("<head>") != 1 or rendered.count("<body>") != 1 \
            or rendered.count("</body>") != 1:
        raise ReportError("unexpected folium output: cannot place the report around the map")
    js, css = leaflet_assets()
    top = (f"<header><h1>{escape_feed(i18n.t('report.heading'))}</h1><p class='meta'>"
           f"{escape_feed(i18n.t('report.generated', time=generated, tz=tz))}</p></header>"
           f"{_status_section(situation)}<section id='report-map'>"
           f"<h2>{escape_feed(i18n.t('report.map_heading'))}</h2>{_map_note(situation, layers)}")
    bottom = f"</section>{_kpi_section(situation)}{_alert_section(situation)}"
    # The report's parts go in before Leaflet's own text, so no string in Leaflet can be taken
    # for one of the tags (<head>, <body>) used to place them; feed text is escaped already.
    document = rendered.replace("<body>", "<body>" + top, 1).replace("</body>", bottom + "</body>", 1)
    document = document.replace("<html>", f"<html lang='{i18n.HTML_LANG[i18n.current_language()]}'>", 1)
    # The report's style comes after folium's full-window map style, so it wins.
    document = document.replace("</head>", f"<style>{REPORT_CSS}</style>\n</head>", 1)
    document = document.replace(
        "<head>", f"<head>\n<meta charset='utf-8'>\n<style>{css}</style>\n<script>{js}</script>", 1)
    assert_offline(document)
    return document

