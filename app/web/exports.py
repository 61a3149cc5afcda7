"""The officials' exports: the situation report (HTML); the KPIs, open alerts and KPI history as CSV.

Plain Flask views under /official, behind the gate and, inside each view, the same role check as
the /official page (the gate lets any signed-in person reach a path that is not a page). Each
export is a download (Content-Disposition: attachment) and is written to the audit log. A CSV
comes in the people's form unless ``?form=machine`` asks for the column ids and raw values
(app/web/export_forms.py; docs/api.md, "CSV exports").
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Callable
from zoneinfo import ZoneInfo

import redis
from flask import Blueprint, Response, jsonify, request

from app import audit, i18n
from app.live.history import HistoryError
from app.model import roles
from app.model.domains import DOMAINS
from app.situation.report import (
    DEFAULT_WINDOW,
    WINDOWS,
    ReportError,
    Situation,
    alerts_csv,
    kpis_csv,
    read_map_layers,
    read_situation,
    render_report,
    trends_csv,
)
from app.web.context import client_addr, current_principal, redis_client, require_roles, settings
from app.web.export_forms import ExportChoiceError, chosen_form, chosen_language

OFFICIAL_PATH = "/official"
READERS = roles.PAGE_BY_PATH[OFFICIAL_PATH].roles
REPORT_PATH = f"{OFFICIAL_PATH}/report.html"
KPIS_CSV_PATH = f"{OFFICIAL_PATH}/kpis.csv"
ALERTS_CSV_PATH = f"{OFFICIAL_PATH}/alerts.csv"
TRENDS_CSV_PATH = f"{OFFICIAL_PATH}/kpi-history.csv"
# One domain's KPI history is also for whoever may open that domain's page (the page links it).
HISTORY_READERS = READERS.union(*(roles.PAGE_BY_PATH[f"/{domain}"].roles for domain in DOMAINS))

blueprint = Blueprint("official", __name__, url_prefix=OFFICIAL_PATH)


def _download(body: str, mimetype: str, stem: str, suffix: str, at: float) -> Response:
    """``body`` as an attachment named after the moment it describes (city time)."""
    stamp = datetime.fromtimestamp(at, ZoneInfo(settings().city.timezone)).strftime("%Y%m%d-%H%M")
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{stem}-{stamp}.{suffix}"'
    return response


def error_response(status: int, message: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


@blueprint.errorhandler(ExportChoiceError)
def bad_choice(exc: ExportChoiceError) -> Response:
    """An unknown ``?form=`` or ``?lang=`` on any export: 400 naming it, nothing read."""
    return error_response(400, str(exc))


def _audit(r: redis.Redis, what: str, outcome: str) -> None:
    """Exports leave the building: who took which one, and when, goes into the audit log."""
    principal = current_principal()
    audit.record(r, principal.name if principal else "", "export", target=what, addr=client_addr(),
                outcome=outcome)


def _export(what: str, make: Callable[[redis.Redis, Situation], Response]) -> Response:
    """Read the situation once and answer with ``make``'s download (503 while Redis is away), in
    the language asked for with ``?lang=`` or else the reader's."""
    lang = chosen_language()
    try:
        r = redis_client()
        with i18n.use_language(lang):
            situation = read_situation(r, settings().city.timezone, time.time())
            response = make(r, situation)
        _audit(r, what, "ok" if response.status_code == 200 else "failed")
    except redis.RedisError:
        return error_response(503, "data link lost: no export now, rather than an old one")
    return response


@blueprint.get("/report.html")
@require_roles(READERS)
def report_html() -> Response:
    """The situation report: status, map with alerts and places, KPIs, open alerts; opens offline."""

    def make(r: redis.Redis, situation: Situation) -> Response:
        layers = read_map_layers(r, situation.generated_at)
        try:
            document = render_report(situation, layers)
        except ReportError as exc:
            return error_response(500, f"cannot make the situation report: {exc}")
        return _download(document, "text/html", "cityops-situation", "html",
                         situation.generated_at)

    return _export("report.html", make)


@blueprint.get("/kpis.csv")
@require_roles(READERS)
def kpis_download() -> Response:
    """Every current KPI as CSV (``?form=machine``: column ids and raw values)."""
    form = chosen_form()
    return _export("kpis.csv", lambda _r, s: _download(kpis_csv(s, form), "text/csv", "cityops-kpis",
                                                       "csv", s.generated_at))


@blueprint.get("/alerts.csv")
@require_roles(READERS)
def alerts_download() -> Response:
    """Every open alert as CSV (``?form=machine``: column ids and raw values)."""
    form = chosen_form()
    return _export("alerts.csv", lambda _r, s: _download(alerts_csv(s, form), "text/csv",
                                                         "cityops-alerts", "csv", s.generated_at))


@blueprint.get("/kpi-history.csv")
@require_roles(HISTORY_READERS)
def trends_download() -> Response:
    """The city-wide KPIs over ``?window=24h|7d|30d`` (of ``?domain=`` or every domain) as CSV.

    Every domain's history is for the readers of /official; one domain's also for whoever may open
    that domain's page (its page offers the download), checked like any view (require_roles).
    """
    domain = request.args.get("domain")
    if domain is not None and domain not in DOMAINS:
        return error_response(400, f"unknown domain '{domain[:40]}': use one of {', '.join(DOMAINS)}")
    readers = roles.PAGE_BY_PATH[f"/{domain}"].roles if domain else READERS
    return require_roles(readers)(_trends_download)(domain)


def _trends_download(domain: str | None) -> Response:
    form = chosen_form()
    window_key = request.args.get("window", DEFAULT_WINDOW)
    if window_key not in WINDOWS:
        return error_response(400, f"unknown window '{window_key[:40]}': use one of {', '.join(WINDOWS)}")

    def make(r: redis.Redis, situation: Situation) -> Response:
        try:
            body = trends_csv(r, WINDOWS[window_key], situation.generated_at, situation.timezone,
                              (domain,) if domain else DOMAINS, form)
        except HistoryError as exc:
            return error_response(400, str(exc))
        stem = f"cityops-kpi-history-{domain}-{window_key}" if domain else \
            f"cityops-kpi-history-{window_key}"
        return _download(body, "text/csv", stem, "csv", situation.generated_at)

    # The audit target keeps its "kpi-history.csv <window>" shape: /admin's audit names it in words
    # (layouts/audit_targets.py).
    return _export(f"kpi-history.csv {window_key}", make)
