"""The admins' API beside the audit log (/api/v1): the audit archive, and lifting a sign-in back-off.

The audit stream keeps everything until it is archived: ``GET /api/v1/audit/archive`` gives the
entries not archived yet as JSON Lines (one entry per line) with the id of the last one in
``X-CityOps-Archive-Through``; once that file is kept safe, ``POST /api/v1/audit/archive``
``{"through": id}`` confirms it, and only then do the confirmed entries past the retention
(app.audit.RETENTION_DAYS) leave the stream. ``POST /api/v1/users/<name>/unlock`` ends a user's
sign-in back-off (app/accounts/signin.py). Admins only; every call is audited.
"""

from __future__ import annotations

import re
import time
from typing import Iterator

import orjson
from flask import Blueprint, Response, g, jsonify

from app import accounts, audit
from app.accounts import admin
from app.model import roles
from app.web.api.schema import Answer, Field, bad_request, inputs
from app.web.context import client_addr, current_principal, redis_client, require_roles, settings

api_admin = Blueprint("api_admin", __name__, url_prefix="/api/v1")
ARCHIVE_HEADER = "X-CityOps-Archive-Through"
STREAM_ID = re.compile(r"^[0-9]{1,20}-[0-9]{1,20}$")
ARCHIVE_QUERY = (Field("before", "int", low=0, high=32503680000,  # until the year 3000
                       description="Only entries older than this (Unix seconds; default now).",
                       example=1767225600),)
CONFIRM_BODY = (Field("through", "text", required=True, max_length=41,
                      description="The id the archive ended with (its X-CityOps-Archive-Through)."),)


def _actor() -> accounts.Principal:
    principal = current_principal()
    assert principal is not None  # require_roles refused anonymous callers already
    return principal


@api_admin.get("/audit/archive")
@require_roles(roles.ADMINS)
@inputs(query=ARCHIVE_QUERY, answers=(Answer(200, "", "The entries as JSON Lines, oldest first.",
                                             media="application/x-ndjson"),))
def audit_archive() -> Response:
    """The audit entries not archived yet (older than ``?before=`` Unix seconds, default now), as a
    JSON Lines download, oldest first."""
    r = redis_client()
    before = g.query["before"]
    through, entries = audit.archive_entries(r, float(before) if before is not None else None)
    audit.record(r, _actor().name, "audit_export", target=through, addr=client_addr())

    def lines() -> Iterator[bytes]:
        # Streamed as read (a thousand at a time): a large archive is never held in memory.
        for entry in entries:
            yield orjson.dumps(entry.as_json()) + b"\n"

    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return Response(lines(), mimetype="application/x-ndjson", headers={
        ARCHIVE_HEADER: through,
        "Content-Disposition": f'attachment; filename="cityops-audit-{stamp}.jsonl"'})


@api_admin.post("/audit/archive")
@require_roles(roles.ADMINS)
@inputs(body=CONFIRM_BODY, answers=(Answer(200, "ArchiveConfirmed", "What left the log."),))
def confirm_archive() -> Response:
    """``{"through": id}``: the archive up to that entry is kept; entries up to it that are past
    the retention leave the stream. Answers how many left."""
    r = redis_client()
    through = g.body["through"]
    if not STREAM_ID.match(through):
        bad_request("'through' must be an audit entry id such as 1700000000000-0")
    if not audit.entry_exists(r, through):
        bad_request(f"'through': no audit entry '{through}' (give the id an archive ended with)")
    keep_days = settings().retention.audit_days
    removed = audit.confirm_archive(r, _actor().name, through, addr=client_addr(),
                                    retention_days=keep_days)
    return jsonify({"archived_through": audit.archived_through(r), "removed": removed,
                    "retention_days": keep_days})


@api_admin.post("/users/<name>/unlock")
@require_roles(roles.ADMINS)
@inputs(body=(), answers=(Answer(200, "Unlocked", "Whether a back-off was lifted."),))
def unlock_user(name: str) -> Response:
    """End the user's sign-in back-off at once (they can sign in from a new device again)."""
    try:
        lifted = admin.lift_backoff(redis_client(), _actor(), name, addr=client_addr())
    except accounts.AccountError as exc:
        bad_request(f"'name': {exc}")
    return jsonify({"user": name, "lifted": lifted})
