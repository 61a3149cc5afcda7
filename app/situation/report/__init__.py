"""The situation (city status per domain, KPIs, open alerts) and the officials' exports of it.

The officials' page (layouts/official.py) and the exports (app/web/exports.py) read the same
:class:`Situation`, so the page and a report printed from it never disagree. Exports:

- a standalone HTML situation report (:mod:`.render`, templates/report.html): a folium map whose
  Leaflet JavaScript and CSS are read from an installed package and inlined (no CDN, no tile
  server: it opens on an air-gapped machine), with the status, the KPIs and the open alerts;
- the KPIs and the open alerts as CSV (:mod:`.csv_export`), guarded against formula injection,
  and the KPIs' history over a window (:mod:`.trends_csv`), each in the people's form (words in
  the reader's language) or the machine form (column ids and raw values).

Feed text is untrusted: every string from a feed is written as :func:`escape_feed` writes it,
in the report's HTML (by the templates' autoescaping) and in the JavaScript folium writes.

The modules: :mod:`.situation` (the model and how a domain is judged), :mod:`.formats` (times,
values, escaping), :mod:`.csv_export`, :mod:`.map_layers` (what the map draws),
:mod:`.offline_map` (the folium map), :mod:`.offline` (Leaflet inlined, nothing fetched by URL)
and :mod:`.render`. Their public names are all importable from here.
"""

from app.situation.report.csv_export import (
    ALERT_COLUMNS,
    ALERT_HEADINGS,
    ALERT_TIME_COLUMNS,
    FORMS,
    FORMULA_PREFIXES,
    KPI_COLUMNS,
    KPI_HEADINGS,
    MACHINE,
    PEOPLE,
    alerts_csv,
    csv_cell,
    kpis_csv,
    local_time,
    rounded,
    unit_words,
    write_csv,
)
from app.situation.report.formats import clock, escape_feed, iso_time, kpi_label, value_text
from app.situation.report.map_layers import (
    MAP_SKIPPED_KINDS,
    MAX_ENTITY_MARKERS,
    MapLayers,
    default_basemap_dir,
    read_basemap,
    read_map_layers,
)
from app.situation.report.offline import (
    LEAFLET_FOLDER,
    LEAFLET_PACKAGE,
    ReportError,
    assert_offline,
    leaflet_assets,
)
from app.situation.report.offline_map import (
    BASEMAP_STYLES,
    DEFAULT_BASEMAP_STYLE,
    DOMAIN_COLOURS,
    MAX_POPUP_TEXT,
    SEVERITY_STYLE,
    OfflineMap,
    SafePopup,
    build_map,
)
from app.situation.report.render import render_report
from app.situation.report.situation import (
    AMBER,
    GREEN,
    GREY,
    KPI_ORDER,
    MAX_OPEN_ALERTS,
    RED,
    STATUS_LABELS,
    STATUS_SYMBOLS,
    DomainStatus,
    Situation,
    judge_domain,
    open_alerts,
    read_situation,
)
from app.situation.report.trends_csv import (
    DEFAULT_WINDOW,
    TREND_COLUMNS,
    TREND_HEADINGS,
    WINDOWS,
    TrendWindow,
    trends_csv,
)

__all__ = [
    "ALERT_COLUMNS", "ALERT_HEADINGS", "ALERT_TIME_COLUMNS", "DEFAULT_WINDOW", "FORMS", "KPI_HEADINGS",
    "MACHINE", "PEOPLE", "TREND_COLUMNS", "TREND_HEADINGS", "WINDOWS", "TrendWindow", "local_time",
    "rounded", "trends_csv", "unit_words", "write_csv", "AMBER", "BASEMAP_STYLES", "DEFAULT_BASEMAP_STYLE",
    "DOMAIN_COLOURS", "FORMULA_PREFIXES", "GREEN", "GREY", "KPI_COLUMNS", "KPI_ORDER",
    "LEAFLET_FOLDER", "LEAFLET_PACKAGE", "MAP_SKIPPED_KINDS", "MAX_ENTITY_MARKERS",
    "MAX_OPEN_ALERTS", "MAX_POPUP_TEXT", "RED", "SEVERITY_STYLE", "STATUS_LABELS",
    "STATUS_SYMBOLS", "DomainStatus", "MapLayers", "OfflineMap", "ReportError", "SafePopup",
    "Situation", "alerts_csv", "assert_offline", "build_map", "clock", "csv_cell",
    "default_basemap_dir", "escape_feed", "iso_time", "judge_domain", "kpi_label", "kpis_csv",
    "leaflet_assets", "open_alerts", "read_basemap", "read_map_layers", "read_situation",
    "render_report", "value_text",
]
