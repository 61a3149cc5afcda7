"""The OpenAPI 3.1 document of the API (GET /api/v1/openapi.json), generated from the routes served.

Nothing here lists an endpoint. The generator walks the Flask URL map: every route under /api/v1,
by whichever blueprint it came, is an operation (one per action where a URL variable picks the
body, as /alerts/{alert_id}/ack). What it says of each comes from the route's own declarations:
the query and body tables and answers of ``inputs`` (app/web/api/schema.py), the roles of
``require_roles``, the summary and description of the view's docstring, and the answer shapes of
app/web/api/shapes.py. A route that declares nothing still appears, with what can be read of it.
"""

from __future__ import annotations

import inspect
import math
import re
from typing import Any, Callable, Iterable, Mapping, Sequence

from flask import Blueprint, Flask, Response, current_app, jsonify
from werkzeug.routing import Rule

from app import __version__ as APP_VERSION
from app.model import roles
from app.model.alerts import ALERT_ID
from app.model.domains import DOMAINS
from app.model.incidents import INCIDENT_ID, PROPOSAL_ID, TASK_ID
from app.web.api import paging
from app.web.api.schema import MAX_QUERY_VALUE, Answer, Field, inputs
from app.web.api.shapes import SHAPES, ref
from app.web.context import require_roles
from app.web.csrf import CSRF_HEADER
from app.web.sessions import SESSION_COOKIE

api_document = Blueprint("api_document", __name__, url_prefix="/api/v1")

PREFIX = "/api/v1/"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_VARIABLE = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")
_CACHE = "cityops.openapi"
# What each URL variable of the API is; a variable not named here is documented as text.
PATH_VARIABLES: dict[str, dict[str, Any]] = {
    "domain": {"schema": {"type": "string", "enum": list(DOMAINS)}, "example": "water"},
    "entity_id": {"schema": {"type": "string", "maxLength": 200}, "example": "w:sensor:s1",
                  "description": "An entity's id (it may hold '/')."},
    "alert_id": {"schema": {"type": "string", "pattern": ALERT_ID.pattern},
                 "example": "al-0123456789abcdef"},
    "incident_id": {"schema": {"type": "string", "pattern": INCIDENT_ID.pattern},
                    "example": "in-0123456789ab"},
    "task_id": {"schema": {"type": "string", "pattern": TASK_ID.pattern},
                "example": "tk-0123456789ab"},
    "proposal_id": {"schema": {"type": "string", "pattern": PROPOSAL_ID.pattern},
                    "example": "pr-0123456789ab"},
    "name": {"schema": {"type": "string", "maxLength": 64}, "example": "operator1",
             "description": "A user's name."},
}
INTRODUCTION = """\
The JSON API of a CityOps command center. Conventions (docs/api.md tells more):

* **Who**: a signed-in session (its cookie; a POST also sends the `X-CSRFToken` header with the
  `_csrf_token` cookie's value) or `Authorization: Bearer TOKEN`. Each operation names the roles
  it admits (`x-roles`); others get 403, and a call without credentials 401.
* **Errors** are JSON `{"error": "..."}`: 400 names the field or parameter at fault, 404 when a
  URL names nothing, 409 `{"error", "by", "at"}` when someone else acted first, 503 while the
  data link is lost (retry after `Retry-After`).
* **Lists** come in pages: `limit` (default {default}, at most {most}) and `cursor`, the `next`
  of the previous answer; the last page has no `next`.
* **ETags**: every JSON answer to a GET has one; send it back in `If-None-Match` and an answer
  that has not changed is 304 with no body.
* **Times** are Unix seconds; newer answers give ISO 8601 beside them (`<name>_iso`). History
  windows take either.
""".replace("{default}", str(paging.DEFAULT_LIMIT)).replace("{most}", str(paging.MAX_LIMIT))
ERRORS: dict[str, str] = {
    "400": "Bad input: the error names the field or parameter.",
    "401": "No session and no valid token.",
    "403": "The caller's role may not do this.",
    "404": "The URL names nothing that exists.",
    "409": "Someone else acted first (who and when), or the state does not allow it.",
    "503": "The data link is lost for now: retry after Retry-After seconds.",
}
_GUARD_CODE = require_roles(())(lambda: None).__code__


# -- reading the declarations ------------------------------------------------------------------------
def view_roles(view: Callable[..., Any]) -> list[str] | None:
    """The roles the view's ``require_roles`` admits (None when it has no such guard)."""
    func: Any = view
    while func is not None:
        if getattr(func, "__code__", None) is _GUARD_CODE and func.__closure__:
            cells = dict(zip(func.__code__.co_freevars, func.__closure__, strict=True))
            return sorted(cells["allowed_roles"].cell_contents)
        func = getattr(func, "__wrapped__", None)
    return None


def _docstring(view: Callable[..., Any]) -> tuple[str, str]:
    """(summary, description) from the view's docstring: its first paragraph, the rest."""
    text = inspect.getdoc(view) or ""
    first, _, rest = text.partition("\n\n")
    return " ".join(first.split()).replace("``", "`"), rest.replace("``", "`").strip()


def openapi_path(rule: str) -> str:
    """A Flask rule as an OpenAPI path: ``<path:entity_id>`` -> ``{entity_id}``."""
    return _VARIABLE.sub(lambda m: "{" + m.group(1) + "}", rule)


def _finite(value: float) -> bool:
    return not math.isinf(value)


def field_schema(field: Field, in_body: bool = False) -> dict[str, Any]:
    """The JSON Schema of one declared field."""
    schema: dict[str, Any]
    if field.kind in ("int", "number"):
        schema = {"type": "integer" if field.kind == "int" else "number"}
        if _finite(field.low):
            schema["minimum"] = int(field.low) if field.kind == "int" else field.low
        if _finite(field.high):
            schema["maximum"] = int(field.high) if field.kind == "int" else field.high
    elif field.kind == "choice":
        schema = {"type": "string", "enum": list(field.choices)}
    elif field.kind == "choices":
        schema = {"type": "array", "items": {"type": "string", "enum": list(field.choices)}}
    elif field.kind == "list":
        schema = {"type": "array", "items": {"type": "string", "maxLength": field.max_length}}
        if _finite(field.high):
            schema["maxItems"] = int(field.high)
        if field.required:
            schema["minItems"] = 1
    elif field.kind == "time":
        schema = {"anyOf": [{"type": "string", "format": "date-time"},
                            {"type": "string", "pattern": r"^[0-9]{1,12}(\.[0-9]{1,6})?$"}]}
    elif field.kind == "duration":
        schema = {"anyOf": [{"type": "string", "format": "duration"},
                            {"type": "string", "pattern": r"^[0-9]{1,12}(\.[0-9]{1,6})?$"}]}
    else:
        schema = {"type": "string",
                  "maxLength": field.max_length if field.kind in ("text", "cursor") or in_body
                  else MAX_QUERY_VALUE}
    if in_body and not field.required:
        # An optional body field may be sent as null: the same as leaving it out.
        schema = {"anyOf": [schema, {"type": "null"}]}
    if field.description:
        schema["description"] = field.description
    return schema


def _parameter(field: Field) -> dict[str, Any]:
    schema = field_schema(field)
    schema.pop("description", None)  # said once, on the parameter
    parameter: dict[str, Any] = {"name": field.name, "in": "query", "required": field.required,
                                 "schema": schema}
    if field.kind == "choices":
        parameter.update(style="form", explode=False)  # a=x,y
    if field.description:
        parameter["description"] = field.description
    if field.example is not None:
        parameter["example"] = field.example
    return parameter


def _path_parameter(name: str, variants: Sequence[str] = ()) -> dict[str, Any]:
    known = PATH_VARIABLES.get(name, {"schema": {"type": "string"}, "example": "x"})
    parameter = {"name": name, "in": "path", "required": True, **known}
    if variants:
        parameter["schema"] = {"type": "string", "enum": list(variants)}
    return parameter


def body_schema(fields: Sequence[Field]) -> dict[str, Any]:
    """The JSON Schema of a declared body: exactly these fields."""
    return {"type": "object", "additionalProperties": False,
            "properties": {f.name: field_schema(f, in_body=True) for f in fields},
            "required": [f.name for f in fields if f.required]}


def body_example(fields: Sequence[Field]) -> dict[str, Any]:
    """The body the document shows (and its tests send): every field that has an example."""
    return {f.name: f.example for f in fields if f.example is not None}


def _answer(answer: Answer) -> dict[str, Any]:
    content: dict[str, Any] = {}
    if answer.shape:
        content[answer.media] = {"schema": ref(answer.shape)}
    elif answer.media:
        content[answer.media] = {"schema": {"type": "string"}}
    return {"description": answer.description, **({"content": content} if content else {})}


def _responses(answers: Iterable[Answer], method: str, has_variables: bool) -> dict[str, Any]:
    out = {str(a.status): _answer(a) for a in answers}
    if not any(200 <= a.status < 300 for a in answers):
        # Nothing declared: what can be said without the view's own words.
        out["200" if method == "GET" else "2XX"] = {"description": "Success (its shape is not "
                                                                  "declared)."}
    errors = ["400", "401", "403", "503"] + (["404"] if has_variables else [])
    for status in errors:
        out.setdefault(status, {"$ref": f"#/components/responses/E{status}"})
    return dict(sorted(out.items()))


def _variants(view: Callable[..., Any]) -> tuple[str, dict[str, tuple[Field, ...]] | None]:
    bodies = getattr(view, "input_body", None)
    return str(getattr(view, "input_body_by", "") or ""), bodies


def _answers_for(view: Callable[..., Any], variant: str) -> tuple[Answer, ...]:
    declared = getattr(view, "answers", ())
    if isinstance(declared, Mapping):
        return tuple(declared.get(variant, ()))
    return tuple(declared)


def _operation(rule: Rule, method: str, view: Callable[..., Any], variant: str,
               body_by: str, bodies: Mapping[str, Sequence[Field]] | None) -> dict[str, Any]:
    summary, description = _docstring(view)
    allowed = view_roles(view)
    role_line = f"Roles: {', '.join(allowed)}." if allowed else "Roles: any signed-in caller."
    blueprint = rule.endpoint.partition(".")[0]
    served = [m for m in METHODS if m in (rule.methods or ())]
    name = "_".join([rule.endpoint, *([variant] if variant else []),
                     *([method.lower()] if len(served) > 1 else [])])
    operation: dict[str, Any] = {
        "operationId": re.sub(r"[^A-Za-z0-9_]", "_", name),
        "summary": (summary or rule.endpoint)[:200],
        "description": "\n\n".join(part for part in (description, role_line) if part),
        "tags": [blueprint.removeprefix("api_") if blueprint != "api" else "city"],
        "x-roles": allowed or [],
    }
    variables = [a for a in _VARIABLE.findall(rule.rule) if a != body_by]
    parameters = [_path_parameter(name) for name in variables]
    parameters += [_parameter(f) for f in getattr(view, "input_query", ())]
    if parameters:
        operation["parameters"] = parameters
    if method != "GET" and bodies is not None:
        fields = tuple(bodies.get(variant, ()))
        operation["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": body_schema(fields), "example": body_example(fields)}}}
    operation["responses"] = _responses(_answers_for(view, variant), method, bool(variables))
    return operation


def api_rules(app: Flask) -> list[Rule]:
    """Every rule of the app under /api/v1, in path order."""
    return sorted((rule for rule in app.url_map.iter_rules() if rule.rule.startswith(PREFIX)),
                  key=lambda rule: rule.rule)


def build(app: Flask) -> dict[str, Any]:
    """The whole document for the routes ``app`` serves."""
    paths: dict[str, dict[str, Any]] = {}
    for rule in api_rules(app):
        view = app.view_functions[rule.endpoint]
        body_by, bodies = _variants(view)
        variants = list(bodies) if body_by and bodies else [""]
        for method in (m for m in METHODS if m in (rule.methods or ())):
            for variant in variants:
                path = openapi_path(rule.rule)
                if body_by:
                    path = path.replace("{" + body_by + "}", variant)
                paths.setdefault(path, {})[method.lower()] = _operation(
                    rule, method, view, variant, body_by, bodies)
    return {
        "openapi": "3.1.0",
        "info": {"title": "CityOps API", "version": APP_VERSION, "description": INTRODUCTION},
        "security": [{"bearer": []}, {"session": []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": SHAPES,
            "responses": {f"E{status}": {"description": text, "content": {
                "application/json": {"schema": ref("Conflict" if status == "409" else "Error")}}}
                for status, text in ERRORS.items()},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "An API token (`cityops token create`)."},
                "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE,
                            "description": f"A signed-in session; its POSTs send {CSRF_HEADER}."},
            },
        },
    }


def document(app: Flask) -> dict[str, Any]:
    """The document of ``app``, built once: the URL map does not change after the first request."""
    found = app.extensions.get(_CACHE)
    if found is None:
        found = app.extensions[_CACHE] = build(app)
    return found


@api_document.get("/openapi.json")
@require_roles(roles.API_READERS)
@inputs(answers=(Answer(200, "Document", "The OpenAPI 3.1 document of this API."),))
def openapi_json() -> Response:
    """This document: every operation of the API, generated from the routes it serves."""
    return jsonify(document(current_app))
