"""Request guards that run before any view: strict JSON bodies, well-formed Dash callback
requests, and machine paths that no route serves.

Each turns what would be a 500 (or, for an unknown API path, a 200 with Dash's page) into a 4xx
that names the problem, before any view or callback runs, so nothing is written.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping, Sequence

import dash
from flask import Response, current_app, jsonify, request
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.wrappers import Response as BaseResponse

from app.web.documents import is_machine_path
from app.web.json_body import JsonBodyError, strict_loads

CALLBACK_PATH = "/_dash-update-component"
# Dash's index page for every path no other route serves (people's pages are found by its router).
CATCH_ALL_RULES = frozenset({"/<path:path>"})
MAX_CHANGED_PROPS = 100


def _refuse(status: int, message: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


# -- JSON bodies ----------------------------------------------------------------------------------
def json_body_guard() -> Response | None:
    """A before_request hook: a JSON body with duplicate keys, deep nesting, lone surrogates or
    bytes that are not UTF-8 gets 400 (Flask's parser would take it or fail with a 500)."""
    if request.method in ("GET", "HEAD", "OPTIONS") or not request.is_json:
        return None
    try:
        strict_loads(request.get_data(cache=True))
    except JsonBodyError as exc:
        return _refuse(400, f"bad JSON body: {exc}")
    return None


# -- Dash callback requests -----------------------------------------------------------------------
def _is_pattern(component_id: str) -> bool:
    return component_id.startswith("{")


def _exact_dict_id(component_id: str) -> dict[str, Any] | None:
    """A dict id without a wildcard (e.g. a tick gate's store), as a dict; None otherwise."""
    if not _is_pattern(component_id):
        return None
    parsed = json.loads(component_id)
    return None if any(isinstance(v, list) for v in parsed.values()) else parsed


def _entry_ok(sent: Any, component_id: str, prop: str) -> bool:
    """One input, state or output entry as Dash's renderer sends it for the declared one."""
    exact = _exact_dict_id(component_id)
    if exact is not None:
        return isinstance(sent, dict) and sent.get("id") == exact and sent.get("property") == prop
    if _is_pattern(component_id):
        # A pattern-matching dependency: one match (MATCH) or a list of them (ALL, ALLSMALLER).
        matches = sent if isinstance(sent, list) else [sent]
        return all(isinstance(m, dict) and isinstance(m.get("id"), dict)
                   and m.get("property") == prop for m in matches)
    return (isinstance(sent, dict) and sent.get("id") == component_id
            and sent.get("property") == prop)


def _outputs(key: str) -> list[tuple[str, str]]:
    """(id, property) of each output named by a callback map key ("a.b" or "..a.b...c.d..")."""
    names = key[2:-2].split("...") if key.startswith("..") else [key]
    return [(name.rsplit(".", 1)[0], name.rsplit(".", 1)[1]) for name in names if "." in name]


def callback_problem(body: Any, callback_map: Mapping[str, Mapping[str, Any]]) -> str | None:
    """What is wrong with a callback request ``body`` against the declared callbacks, or None.

    Dash indexes the request by the callback's declaration without checking it, so an entry of
    the wrong shape fails inside Dash with a 500; here it is a 400 before Dash sees it.
    """
    if not isinstance(body, dict) or not isinstance(body.get("output"), str):
        return "not a callback request"
    spec = callback_map.get(body["output"])
    if spec is None:
        return "no such callback"
    declared = _outputs(body["output"])
    outputs = body.get("outputs")
    if len(declared) > 1 or body["output"].startswith(".."):
        if not isinstance(outputs, list) or len(outputs) != len(declared):
            return "outputs do not match the callback"
        pairs: Sequence[tuple[Any, tuple[str, str]]] = list(zip(outputs, declared, strict=True))
    else:
        pairs = [(outputs, declared[0])] if declared else []
    if not all(_entry_ok(sent, cid, prop) for sent, (cid, prop) in pairs):
        return "outputs do not match the callback"
    for part in ("inputs", "state"):
        sent = body.get(part, [])
        wanted = spec.get(part, [])
        if not isinstance(sent, list) or len(sent) != len(wanted):
            return f"{part} do not match the callback"
        if not all(_entry_ok(s, w["id"], w["property"]) for s, w in zip(sent, wanted, strict=True)):
            return f"{part} do not match the callback"
    changed = body.get("changedPropIds", [])
    if (not isinstance(changed, list) or len(changed) > MAX_CHANGED_PROPS
            or not all(isinstance(c, str) for c in changed)):
        return "changedPropIds must be a list of strings"
    return None


def callback_request_guard(app: dash.Dash) -> Callable[[], Response | None]:
    """A before_request hook: a malformed POST to /_dash-update-component gets 400, not a 500."""

    def check() -> Response | None:
        if request.method != "POST" or request.path != CALLBACK_PATH:
            return None
        problem = callback_problem(request.get_json(silent=True), app.callback_map)
        if problem is not None:
            return _refuse(400, f"malformed callback request: {problem}")
        return None

    return check


# -- paths no route serves ------------------------------------------------------------------------
def _serving_methods(path: str, methods: Sequence[str]) -> bool:
    """True when a route other than Dash's catch-all serves ``path`` with one of ``methods``."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    for method in methods:
        try:
            rule, _ = adapter.match(path, method=method, return_rule=True)
        except (NotFound, MethodNotAllowed):
            continue
        if rule.rule not in CATCH_ALL_RULES:  # type: ignore[union-attr]
            return True
    return False


def machine_route_guard() -> BaseResponse | None:
    """A before_request hook (after the gate): a script's path that no route serves is a JSON
    404, and a wrong method on a path that one does serve is a JSON 405, instead of Dash's page
    with 200 (a client polling a mistyped API URL would believe it succeeded)."""
    path = request.path
    if not is_machine_path(path):
        return None
    rule = request.url_rule
    if rule is not None and rule.rule not in CATCH_ALL_RULES:
        return None
    error = request.routing_exception
    if isinstance(error, MethodNotAllowed) and _serving_methods(path, list(error.valid_methods or ())):
        response = _refuse(405, "the method is not allowed for this URL")
        response.headers["Allow"] = ", ".join(sorted(error.valid_methods or ()))
        return response
    return _refuse(404, f"nothing is served at {path[:100]}")


def unknown_component(_exc: Exception) -> Response:
    """Dash's DependencyException (an unknown package or file under /_dash-component-suites/)."""
    return _refuse(404, "no such component file")
