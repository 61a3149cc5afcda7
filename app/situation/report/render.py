"""The standalone HTML situation report, made from the Jinja2 templates in templates/.

The templates autoescape, and every value they write passes :func:`_finalize`, which marks text
so that escaping writes it exactly as :func:`escape_feed` does (markup, quotes, backticks, ``$``
and backslashes as entities). Only :class:`~markupsafe.Markup` is written as it is: Leaflet's own
files and the parts of folium's output, whose feed text :mod:`.offline_map` has escaped already.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping

import branca.element
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from app import i18n
from app.alerts.queries import shown_title
from app.situation.report.formats import clock, escape_feed, kpi_label, plural, value_text
from app.situation.report.map_layers import MapLayers, located
from app.situation.report.offline import assert_offline, drop_linked_files, leaflet_assets
from app.situation.report.offline_map import DOMAIN_COLOURS, SEVERITY_STYLE, build_map
from app.situation.report.situation import STATUS_SYMBOLS, Situation

TEMPLATE = "report.html"
_SLOT = "\x00"  # stands in for a catalogue text's {legend} while the text is split around it


class FeedText(str):
    """Text the templates write: escaped as :func:`escape_feed` escapes it.

    Autoescaping asks a value for ``__html__`` before escaping it itself; with autoescaping off
    (a misconfigured environment) the text would be written raw, and the tests would see it.
    """

    __slots__ = ()

    def __html__(self) -> str:
        return escape_feed(str(self))


def _finalize(value: object) -> object:
    """Every ``{{ value }}``: nothing for None, Markup as it is, anything else as :class:`FeedText`."""
    if value is None:
        return ""
    if hasattr(value, "__html__"):
        return value
    return FeedText(value)


@functools.lru_cache(maxsize=1)
def environment() -> Environment:
    """The report's Jinja2 environment: templates/ of this package, .html escaped, no undefined."""
    return Environment(
        loader=PackageLoader("app.situation.report", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _status_rows(situation: Situation) -> list[dict[str, Any]]:
    tz = situation.timezone
    return [{"domain": s.domain, "colour": s.colour, "title": s.title,
             "symbol": STATUS_SYMBOLS[s.colour], "label": s.label, "reasons": s.reasons,
             "as_of": clock(s.updated_at, tz, with_date=True)} for s in situation.statuses]


def _kpi_rows(situation: Situation) -> list[dict[str, Any]]:
    tz = situation.timezone
    return [{"status": k.get("status"), "domain": i18n.label("domain", str(k.get("domain"))),
             "indicator": kpi_label(k), "value": value_text(k.get("value"), str(k.get("unit") or "")),
             "target": i18n.kpi_target(k),
             "status_label": i18n.label("kpi_status", str(k.get("status"))),
             "computed": clock(k.get("computed_at"), tz)} for k in situation.kpis]


def _alert_rows(situation: Situation) -> list[dict[str, Any]]:
    tz = situation.timezone
    return [{"severity": a.get("severity"), "severity_label": i18n.label("severity", str(a.get("severity"))),
             "state": i18n.label("alert_state", str(a.get("state"))),
             "domain": i18n.label("domain", str(a.get("domain"))), "title": shown_title(a),
             "count": a.get("count"), "first_seen": clock(a.get("first_seen"), tz, True),
             "last_seen": clock(a.get("last_seen"), tz, True), "acked_by": a.get("acked_by") or "",
             "assignee": a.get("assignee") or "",
             "escalated": i18n.t("report.yes") if a.get("escalated") else ""}
            for a in situation.top_alerts(limit=len(situation.alerts))]


def _map_note(situation: Situation, layers: MapLayers) -> str:
    """What the map shows, in words: located alerts, places (and how many left out), areas."""
    places = plural(len(layers.entities), "report.places")
    if layers.left_out:
        places = i18n.t("report.not_drawn", places=places, count=i18n.format_number(layers.left_out))
    parts = [plural(sum(1 for a in situation.alerts if located(a)), "report.located_alerts"), places,
             plural(len(layers.areas), "report.warning_areas")]
    return i18n.t("report.map_note", parts=i18n.t("report.list_sep").join(parts))


def _legend(key: str, entries: list[tuple[str, str]]) -> dict[str, Any]:
    """A legend's catalogue text split around its ``{legend}``, and its (colour, name) entries."""
    before, found, after = i18n.t(key, legend=_SLOT).partition(_SLOT)
    return {"before": before, "entries": entries if found else [], "after": after}


def _map_parts(situation: Situation, layers: MapLayers) -> dict[str, Markup]:
    """folium's head, body and script for the report's map, linking no file."""
    figure = branca.element.Figure()
    build_map(situation, layers).add_to(figure)
    figure.render()  # the map writes its parts into the figure's header, html and script
    # OfflineMap links nothing; a plugin that still adds a <script src>/<link href> loses it here.
    return {f"map_{part}": Markup(drop_linked_files(getattr(figure, part).render()))
            for part in ("header", "html", "script")}


def report_context(situation: Situation, layers: MapLayers) -> Mapping[str, Any]:
    """Everything templates/report.html writes, as text ready to show (or Markup to keep)."""
    tz = situation.timezone
    generated = clock(situation.generated_at, tz, with_date=True)
    js, css = leaflet_assets()
    return {
        "t": i18n.t, "lang": i18n.HTML_LANG[i18n.current_language()],
        "title": i18n.t("report.title", time=generated),
        "generated": i18n.t("report.generated", time=generated, tz=tz),
        "leaflet_js": Markup(js), "leaflet_css": Markup(css),
        "statuses": _status_rows(situation), "kpis": _kpi_rows(situation),
        "alerts": _alert_rows(situation), "map_note": _map_note(situation, layers),
        "alert_legend": _legend("report.legend_alerts", [
            (colour, i18n.label("severity", name)) for name, (colour, _size) in SEVERITY_STYLE.items()]),
        "place_legend": _legend("report.legend_places", [
            (colour, i18n.label("domain", domain)) for domain, colour in DOMAIN_COLOURS.items()]),
        **_map_parts(situation, layers),
    }


def render_report(situation: Situation, layers: MapLayers) -> str:
    """The standalone situation report (one HTML file; opens offline with its map and markers)."""
    document = environment().get_template(TEMPLATE).render(report_context(situation, layers))
    assert_offline(document)
    return document
