"""The JSON API (/api/v1), behind the same gate as the pages."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from app import roles
from app.context import current_principal, require_roles

api = Blueprint("api", __name__, url_prefix="/api/v1")


@api.get("/me")
@require_roles(roles.API_READERS)
def me() -> Response:
    """Who is asking, and with which role."""
    principal = current_principal()
    assert principal is not None  # the gate admits no anonymous request here
    return jsonify(principal.as_json())
