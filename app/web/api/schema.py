"""The input schema every API endpoint declares: its query parameters and JSON body as Field tables.

A parameter or body field that is not declared, given twice, missing when required, of the wrong
type or too long is a 400 naming the field, before the view runs; so is text holding control
characters, lone surrogates or bidirectional overrides (app/model/text.py), and a required text
that shows nothing. Tests walk these tables, so a field added here is checked by them at once.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, NoReturn, Sequence, TypeVar

from flask import abort, g, request

from app.model.text import has_visible_text, text_problem

MAX_QUERY_VALUE = 200
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Field:
    """One query parameter or JSON body field: its name, what it holds, and its limits.

    ``kind`` is "text" (a string of at most ``max_length``), "choice" (one of ``choices``),
    "choices" (a comma-separated list of ``choices``, query only), "number" (a finite number
    within ``low``..``high``) or "int" (a whole number within ``low``..``high``). Text is one line
    unless ``multiline`` (then tab and newline are allowed too).
    """

    name: str
    kind: str
    required: bool = False
    max_length: int = 64
    choices: tuple[str, ...] = ()
    low: float = -math.inf
    high: float = math.inf
    multiline: bool = False


def bad_request(message: str) -> NoReturn:
    """Refuse the request with 400 and ``message`` (which names the field at fault)."""
    abort(400, description=message)


def _range(field: Field) -> str:
    def show(x: float) -> str:
        return f"{x:g}"

    return f"{show(field.low)}..{show(field.high)}"


def _body_value(field: Field, body: Mapping[str, Any]) -> Any:
    """The checked value of one body field ("" or None when an optional field is absent or null)."""
    value = body.get(field.name)
    if value is None:
        if field.required:
            bad_request(f"'{field.name}' is required")
        return None if field.kind == "number" else ""
    if field.kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            bad_request(f"'{field.name}' must be a number")
        if not field.low <= value <= field.high:
            bad_request(f"'{field.name}' must be within {_range(field)}")
        return float(value)
    if not isinstance(value, str):
        bad_request(f"'{field.name}' must be a string")
    if len(value) > field.max_length:
        bad_request(f"'{field.name}' is longer than {field.max_length} characters")
    _check_text(field, value)
    text = value.strip()
    if field.required and not text:
        bad_request(f"'{field.name}' must not be empty")
    if text and not has_visible_text(text):
        bad_request(f"'{field.name}' shows nothing: it holds only invisible characters")
    if field.kind == "choice" and text not in field.choices:
        bad_request(f"'{field.name}' must be one of {', '.join(field.choices)}")
    return text


def _check_text(field: Field, value: str) -> None:
    """400 naming the field when ``value`` holds characters no person's text may hold."""
    problem = text_problem(value, multiline=field.multiline)
    if problem is not None:
        bad_request(f"'{field.name}' {problem}")


def parse_body(fields: Sequence[Field]) -> dict[str, Any]:
    """The request's JSON object checked against ``fields`` (no other field allowed)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        bad_request("send a JSON object (Content-Type: application/json)")
    allowed = {f.name for f in fields}
    unknown = sorted(str(k) for k in body if k not in allowed)
    if unknown:
        expected = ", ".join(sorted(allowed)) or "no fields"
        bad_request(f"unknown field '{unknown[0][:40]}': expected {expected}")
    return {f.name: _body_value(f, body) for f in fields}


def _query_value(field: Field, raw: str) -> Any:
    limit = field.max_length if field.kind == "text" else MAX_QUERY_VALUE
    if len(raw) > limit:
        bad_request(f"'{field.name}' is longer than {limit} characters")
    _check_text(field, raw)
    if field.kind == "int":
        # ASCII digits only: str.isdigit() is also true for "²" and other digits int() refuses.
        if not (raw.isascii() and raw.isdigit()) or not field.low <= int(raw) <= field.high:
            bad_request(f"'{field.name}' must be a whole number from {_range(field).replace('..', ' to ')}")
        return int(raw)
    if field.kind == "choices":
        values = [v.strip() for v in raw.split(",") if v.strip()]
        unknown = [v for v in values if v not in field.choices]
        if unknown:
            bad_request(f"unknown {field.name} '{unknown[0][:40]}': use one of {', '.join(field.choices)}")
        return values or None
    if field.kind == "choice" and raw not in field.choices:
        bad_request(f"'{field.name}' must be one of {', '.join(field.choices)}")
    return raw


def parse_query(fields: Sequence[Field]) -> dict[str, Any]:
    """The query string checked against ``fields``: an absent or empty parameter is None."""
    allowed = {f.name: f for f in fields}
    for name in request.args:
        if name not in allowed:
            expected = ", ".join(sorted(allowed)) or "none"
            bad_request(f"unknown parameter '{name[:40]}': expected {expected}")
        if len(request.args.getlist(name)) > 1:
            bad_request(f"'{name}' is given more than once")
    parsed: dict[str, Any] = {}
    for field in fields:
        raw = request.args.get(field.name)
        parsed[field.name] = None if raw is None or raw == "" else _query_value(field, raw)
    return parsed


def inputs(query: Sequence[Field] = (), body: Sequence[Field] | Mapping[str, Sequence[Field]] | None = None,
           body_by: str = "") -> Callable[[F], F]:
    """Declare and check a view's query parameters and JSON body (results in ``g.query``, ``g.body``).

    ``body`` is one table, or a table per value of the URL variable ``body_by`` (one per action).
    Put it under :func:`require_roles`, so that callers without the role learn nothing of the schema.
    """
    query = tuple(query)
    bodies: dict[str, tuple[Field, ...]] | None = None
    if isinstance(body, Mapping):
        bodies = {key: tuple(fields) for key, fields in body.items()}
    elif body is not None:
        bodies = {"": tuple(body)}

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            g.query = parse_query(query)
            if bodies is not None:
                variant = str(kwargs.get(body_by, "")) if body_by else ""
                if variant not in bodies:
                    abort(404, description=f"no {body_by} '{variant[:20]}': use one of "
                                           f"{', '.join(bodies)}")
                g.body = parse_body(bodies[variant])
            return view(*args, **kwargs)

        wrapper.input_query = query  # type: ignore[attr-defined]
        wrapper.input_body = bodies  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


