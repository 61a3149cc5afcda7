"""An incident's after-action record as downloads for officials: offline HTML, JSON and CSV.

Plain Flask views under /official/incidents/ID/, behind the gate and, inside each view, the same
role check as the /official page. Each download is written to the audit log (an export). The CSV
comes in the people's form unless ``?form=machine`` asks for the column ids and raw values.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import redis
from flask import Blueprint, Response, jsonify

from app import audit, i18n
from app.incidents import after_action, after_action_csv, after_action_html, sop
from app.model import roles
from app.model.incidents import INCIDENT_ID
from app.situation.report import MACHINE, ReportError
from app.web.context import client_addr, current_principal, redis_client, require_roles, settings
from app.web.export_forms import ExportChoiceError, chosen_form, chosen_language

READERS = roles.PAGE_BY_PATH["/official"].roles
PREFIX = "/official/incidents"
blueprint = Blueprint("after_action", __name__, url_prefix=PREFIX)


def report_path(incident_id: str, kind: str = "html") -> str:
    """Where an incident's after-action record downloads: ``html``, ``json`` or ``csv``."""
    return f"{PREFIX}/{incident_id}/after-action.{kind}"


def _error(status: int, message: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


def _export(incident_id: str, kind: str,
            make: Callable[[dict[str, Any], float], Response]) -> Response:
    """Read the record once and answer ``make``'s download (404, or 503 while Redis is away)."""
    if not INCIDENT_ID.match(incident_id):
        return _error(404, f"no incident '{incident_id[:40]}'")
    try:
        r = redis_client()
        now = time.time()
        record = after_action.read_record(r, incident_id, now)
        if record is None:
            return _error(404, f"no incident '{incident_id[:40]}'")
        response = make(record, now)
        principal = current_principal()
        audit.record(r, principal.name if principal else "", "export",
                     target=f"after-action #{record['incident']['number']} {kind}", addr=client_addr(),
                     outcome="ok" if response.status_code == 200 else "failed")
    except redis.RedisError:
        return _error(503, "data link lost: no export now, rather than an incomplete one")
    return response


def _download(body: str | bytes, mimetype: str, record: dict[str, Any], kind: str) -> Response:
    response = Response(body, mimetype=mimetype)
    number = record["incident"]["number"]
    response.headers["Content-Disposition"] = (f'attachment; filename="cityops-incident-{number}'
                                               f'-after-action.{kind}"')
    return response


@blueprint.get("/<incident_id>/after-action.html")
@require_roles(READERS)
def report_html(incident_id: str) -> Response:
    """The record as one HTML document with its map and timeline, opening offline."""

    def make(record: dict[str, Any], now: float) -> Response:
        catalogue = sop.current(settings().incidents.sop_file)[0]
        names = {d.id: (d.name, d.name_zh) for d in catalogue.departments.values()}
        try:
            document = after_action_html.render(record, settings().city.timezone, names, now,
                                                i18n.current_language())
        except ReportError as exc:
            return _error(500, f"cannot make the after-action report: {exc}")
        return _download(document, "text/html", record, "html")

    return _export(incident_id, "html", make)


@blueprint.get("/<incident_id>/after-action.json")
@require_roles(READERS)
def report_json(incident_id: str) -> Response:
    """The record's figures as JSON (times in Unix seconds and ISO 8601)."""

    def make(record: dict[str, Any], now: float) -> Response:
        response = jsonify(after_action.export_json(record, now))
        response.headers["Content-Disposition"] = (
            f'attachment; filename="cityops-incident-{record["incident"]["number"]}-after-action.json"')
        return response

    return _export(incident_id, "json", make)


@blueprint.get("/<incident_id>/after-action.csv")
@require_roles(READERS)
def report_csv(incident_id: str) -> Response:
    """The record's figures as one CSV table, for people (``?lang=``) or ``?form=machine``."""
    try:
        form, lang = chosen_form(), chosen_language()
    except ExportChoiceError as exc:
        return _error(400, str(exc))
    tz = settings().city.timezone

    def make(record: dict[str, Any], _now: float) -> Response:
        if form == MACHINE:
            return _download(after_action.export_csv(record, tz), "text/csv", record, "csv")
        with i18n.use_language(lang):
            return _download(after_action_csv.export_people_csv(record, tz), "text/csv", record, "csv")

    return _export(incident_id, "csv", make)
