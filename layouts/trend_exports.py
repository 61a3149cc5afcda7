"""The links that download the KPIs' history for a window (24 h, 7 d, 30 d) as CSV (issue 19).

Shown beside the other exports on /official (every domain's KPIs) and under the trend chart of
each domain page (that domain's); the download is app/web/exports.py's /official/kpi-history.csv
in the people's form (its machine form: ``&form=machine``, docs/api.md).
"""

from __future__ import annotations

from dash import html

from app import i18n
from app.situation.report import WINDOWS
from app.web.exports import TRENDS_CSV_PATH


def trend_export_links(domain: str | None = None) -> list[html.A]:
    """One download link per window, of every domain's KPIs or only ``domain``'s."""
    extra = f"&domain={domain}" if domain else ""
    return [html.A(i18n.t("official.export_trends", window=i18n.t(f"export.window_{key}")),
                   href=f"{TRENDS_CSV_PATH}?window={key}{extra}", download="",
                   className="btn official-export", id=f"{domain or 'official'}-export-trends-{key}")
            for key in WINDOWS]
