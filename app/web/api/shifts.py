"""The shifts API (/api/v1/shifts): sign on and off duty, who is on duty, the shift log, and the
handover sheets (write, list, read, acknowledge once; printable HTML and JSON).

Operators, admins and officials read; operators and admins act (app/model/shifts.py), as people
(an API token is nobody's shift: 403). Every body field is checked: a missing, mistyped or
over-long one is a 400 naming the field. Someone not on duty is told so with 409 (``reason``
``off_duty``); a sheet acknowledged already is 409 ``{"error", "reason", "by", "at", "at_iso"}``
naming who took over and when. Times are given in Unix seconds and, beside each, in ISO 8601
(``<name>_iso``).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping, NoReturn

from flask import Blueprint, Response, abort, g, jsonify

from app import audit, i18n
from app.incidents import sop
from app.incidents.queries import iso
from app.model.principal import Principal
from app.model.shifts import DUTY_ROLES, MAX_NOTE, READ_ROLES
from app.shifts import duty, handover, sheet_html
from app.shifts.errors import HandoverNotFound, HandoverTaken, NotOnDuty, NotPermitted, ShiftError
from app.web.api.schema import Field, bad_request, inputs
from app.web.context import client_addr, current_principal, redis_client, require_roles, settings

PREFIX = "/api/v1/shifts"
api_shifts = Blueprint("api_shifts", __name__, url_prefix=PREFIX)
MAX_LIMIT = 1000
MAX_HANDOVERS = 100
YES_NO = ("yes", "no")
HANDOVER_STATES = ("pending", "acknowledged")

# -- input schema ----------------------------------------------------------------------------------
# What each endpoint accepts (app.web.api.schema.inputs checks it before the view runs; tests walk it).
LOG_QUERY = (Field("since", "time",
                   description="Entries written at or after this time: ISO 8601 with its time "
                               "zone, or Unix seconds.", example="2026-01-01T08:00:00+08:00"),
             Field("until", "time",
                   description="Entries written at or before this time, the same way.",
                   example="2026-01-01T16:00:00+08:00"),
             Field("notable", "choice", choices=YES_NO,
                   description="`yes`: only the entries marked notable.", example="yes"),
             Field("limit", "int", low=1, high=MAX_LIMIT,
                   description="At most this many entries, newest first (200).", example=50))
HANDOVERS_QUERY = (Field("state", "choices", choices=HANDOVER_STATES,
                         description="`pending` (not taken over yet), `acknowledged`, or both.",
                         example="pending"),
                   Field("limit", "int", low=1, high=MAX_HANDOVERS,
                         description="At most this many sheets, newest first (20).", example=10))
SHEET_QUERY = (Field("lang", "choice", choices=i18n.LANGUAGES,
                     description="The sheet's language (the reader's without it).", example="zh"),)
DUTY_BODY = (Field("duty", "choice", required=True, max_length=8, choices=("on", "off"),
                   description="`on` signs the caller on duty, `off` off.", example="on"),)
NOTE_BODY = (Field("text", "text", required=True, max_length=MAX_NOTE, multiline=True,
                   description="The entry.", example="Pump 3 at Longling noisy: crew to check"),
             Field("notable", "choice", max_length=8, choices=YES_NO,
                   description="`yes` puts the entry on the next handover sheet.", example="yes"))
HANDOVER_BODY = (Field("note", "text", max_length=MAX_NOTE, multiline=True,
                       description="The outgoing shift's note.", example="Storm expected after 2 am"),)
ACK_BODY = (Field("note", "text", max_length=MAX_NOTE, multiline=True,
                  description="The incoming shift's note.", example="Taken over, all read"),)


# -- helpers ----------------------------------------------------------------------------------------
def _principal() -> Principal:
    principal = current_principal()
    assert principal is not None  # require_roles refused anonymous callers already
    return principal


def _conflict(error: str, reason: str, by: str = "", at: float | None = None) -> NoReturn:
    response = jsonify({"error": error, "reason": reason, "by": by, "at": at, "at_iso": iso(at)})
    response.status_code = 409
    abort(response)


def _run(step: Callable[[], Any]) -> Any:
    """Run a shift step; a refusal becomes its HTTP answer (403, 404, 409 or 400)."""
    try:
        return step()
    except NotPermitted as exc:
        abort(403, description=str(exc))
    except HandoverNotFound as exc:
        abort(404, description=str(exc))
    except HandoverTaken as exc:
        _conflict(f"already taken over by {exc.by}", "acknowledged", exc.by, exc.at)
    except NotOnDuty as exc:
        _conflict(str(exc), "off_duty")
    except ShiftError as exc:
        bad_request(f"'{exc.field}': {exc}" if exc.field else str(exc))


def sheet_path(handover_id: str, kind: str = "html") -> str:
    """Where a handover sheet opens: its printable page (``html``) or its JSON download."""
    return f"{PREFIX}/handovers/{handover_id}/sheet.{kind}"


def _times(row: Mapping[str, Any], *names: str) -> dict[str, Any]:
    out = dict(row)
    for name in names:
        out[f"{name}_iso"] = iso(row.get(name))
    return out


def _entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    return _times(entry, "at")


def handover_json(found: Mapping[str, Any]) -> dict[str, Any]:
    """A handover as the API answers it: the stored sheet, who wrote and acknowledged it, when."""
    return dict(_times(found, "created_at", "acknowledged_at"),
                links={"html": sheet_path(found["id"]), "json": sheet_path(found["id"], "json")})


def handover_summary(found: Mapping[str, Any]) -> dict[str, Any]:
    """A handover in a list: who and when, the note, how much the sheet holds (not the sheet)."""
    sheet = found["sheet"]
    out = {key: found.get(key) for key in ("id", "created_by", "created_at", "acknowledged_by",
                                            "acknowledged_at", "ack_note")}
    out.update(note=sheet.get("note", ""), counts={
        "incidents": len(sheet.get("incidents", [])),
        "alerts_unacknowledged": len(sheet.get("alerts_unacknowledged", [])),
        "alerts_escalated": len(sheet.get("alerts_escalated", [])),
        "feeds_down": len(sheet.get("feeds_down", [])), "log": len(sheet.get("log", []))})
    return handover_json(out)


def departments() -> dict[str, tuple[str, str]]:
    """Department id -> (English, Chinese) names, from the SOP catalogue in force."""
    catalogue = sop.current(settings().incidents.sop_file)[0]
    return {d.id: (d.name, d.name_zh) for d in catalogue.departments.values()}


# -- the shift log ----------------------------------------------------------------------------------
@api_shifts.get("/log")
@require_roles(READ_ROLES)
@inputs(query=LOG_QUERY)
def read_log() -> Response:
    """The shift log, newest first: ``?since=&until=`` (ISO 8601 or Unix seconds), ``?notable=yes``,
    ``?limit=``."""
    asked = g.query
    if asked["since"] is not None and asked["until"] is not None and asked["until"] < asked["since"]:
        bad_request("'until' must not be before 'since'")
    entries = duty.read_log(redis_client(), since=asked["since"], until=asked["until"],
                            notable_only=asked["notable"] == "yes", count=asked["limit"] or 200)
    return jsonify({"log": [_entry(e) for e in entries]})


@api_shifts.post("/log")
@require_roles(DUTY_ROLES)
@inputs(body=NOTE_BODY)
def write_note() -> tuple[Response, int]:
    """Write in the shift log (someone on duty): ``text``, ``notable`` yes/no. 201 with the entry."""
    r, body = redis_client(), g.body
    entry_id = _run(lambda: duty.write_note(r, _principal(), body["text"],
                                            notable=body["notable"] == "yes", addr=client_addr()))
    # The entry as stored, from the newest ones (a busy log might have moved on: then its id).
    written = next((e for e in duty.read_log(r, count=50) if e["id"] == entry_id), None)
    return jsonify(_entry(written or {"id": entry_id})), 201


# -- handovers ----------------------------------------------------------------------------------------
@api_shifts.get("/sheet")
@require_roles(READ_ROLES)
@inputs()
def preview() -> Response:
    """The handover sheet as it would be written now (nothing is stored)."""
    principal = _principal()
    sheet = handover.compose(redis_client(), time.time(), written_by=principal.name)
    return jsonify(_times(sheet, "written_at", "since"))


@api_shifts.get("/handovers")
@require_roles(READ_ROLES)
@inputs(query=HANDOVERS_QUERY)
def list_handovers() -> Response:
    """Handover sheets, newest first: ``?state=pending`` (not acknowledged) or ``acknowledged``."""
    asked = g.query
    states = set(asked["state"] or HANDOVER_STATES)
    limit = asked["limit"] or 20
    found = [h for h in handover.recent(redis_client(), MAX_HANDOVERS)
             if ("acknowledged" if h["acknowledged_by"] else "pending") in states]
    return jsonify({"handovers": [handover_summary(h) for h in found[:limit]]})


@api_shifts.post("/handovers")
@require_roles(DUTY_ROLES)
@inputs(body=HANDOVER_BODY)
def write_handover() -> tuple[Response, int]:
    """The outgoing shift writes the sheet (someone on duty), with an optional ``note``: 201."""
    written = _run(lambda: handover.write(redis_client(), _principal(), g.body["note"],
                                          addr=client_addr()))
    return jsonify(handover_json(written)), 201


@api_shifts.get("/handovers/<handover_id>")
@require_roles(READ_ROLES)
@inputs()
def get_handover(handover_id: str) -> Response:
    """One handover sheet as written, with who acknowledged it and when."""
    return jsonify(handover_json(_run(lambda: handover.get(redis_client(), handover_id))))


@api_shifts.post("/handovers/<handover_id>/acknowledge")
@require_roles(DUTY_ROLES)
@inputs(body=ACK_BODY)
def acknowledge(handover_id: str) -> Response:
    """The incoming shift takes over (someone on duty who did not write it), once: 200, or 409
    naming who took over first and when."""
    return jsonify(handover_json(_run(lambda: handover.acknowledge(
        redis_client(), _principal(), handover_id, g.body["note"], addr=client_addr()))))


def _audited(handover_id: str, what: str) -> None:
    """A sheet leaving as a document is an export: who took which one goes into the audit log."""
    audit.record(redis_client(), _principal().name, "export", target=f"{handover_id} {what}",
                 addr=client_addr())


@api_shifts.get("/handovers/<handover_id>/sheet.html")
@require_roles(READ_ROLES)
@inputs(query=SHEET_QUERY)
def sheet_document(handover_id: str) -> Response:
    """The printable sheet (A4, opens offline, no script) in ``?lang=`` or the reader's language."""
    found = _run(lambda: handover.get(redis_client(), handover_id))
    document = sheet_html.render(found, g.query["lang"] or i18n.current_language(),
                                 settings().city.timezone, departments())
    _audited(handover_id, "sheet.html")
    return Response(document, mimetype="text/html", headers={
        "Content-Disposition": f'inline; filename="handover-{handover_id}.html"'})


@api_shifts.get("/handovers/<handover_id>/sheet.json")
@require_roles(READ_ROLES)
@inputs()
def sheet_download(handover_id: str) -> Response:
    """The sheet as a JSON file to keep (the same as GET /handovers/ID, as a download)."""
    found = handover_json(_run(lambda: handover.get(redis_client(), handover_id)))
    _audited(handover_id, "sheet.json")
    response = jsonify(found)
    response.headers["Content-Disposition"] = f'attachment; filename="handover-{handover_id}.json"'
    return response


# -- on duty --------------------------------------------------------------------------------------------
@api_shifts.get("/duty")
@require_roles(READ_ROLES)
@inputs()
def on_duty() -> Response:
    """Who is on duty (longest first), and whether the caller is."""
    people = [_times(p, "since") for p in duty.on_duty(redis_client())]
    name = _principal().name
    mine = next((p for p in people if p["user"] == name), None)
    return jsonify({"on_duty": people, "you": {"user": name, "on_duty": mine is not None,
                                               "since": mine["since"] if mine else None,
                                               "since_iso": mine["since_iso"] if mine else None}})


@api_shifts.post("/duty")
@require_roles(DUTY_ROLES)
@inputs(body=DUTY_BODY)
def sign() -> Response:
    """Sign on (``duty``: on) or off (off) duty; doing it twice changes nothing. 200 with the
    caller's duty and everyone on duty."""
    r, principal = redis_client(), _principal()
    step = duty.sign_on if g.body["duty"] == "on" else duty.sign_off
    _run(lambda: step(r, principal, addr=client_addr()))
    people = [_times(p, "since") for p in duty.on_duty(r)]
    # The duty as stored (its time to the millisecond), not as the step computed it.
    mine = next((p for p in people if p["user"] == principal.name), None)
    return jsonify({"user": principal.name, "on_duty": mine is not None,
                    "since": mine["since"] if mine else None,
                    "since_iso": mine["since_iso"] if mine else None, "on_duty_now": people})
