"""The input schema every API endpoint declares: its query parameters and JSON body as Field tables.

A parameter or body field that is not declared, given twice, missing when required, of the wrong
type or too long is a 400 naming the field, before the view runs; so is text holding control
characters, lone surrogates or bidirectional overrides (app/model/text.py), and a required text
that shows nothing. Tests walk these tables, so a field added here is checked by them at once.

The same declarations are the API's description: each field's ``description`` and ``example``,
each view's ``answers`` (status, response shape from app/web/api/shapes.py) and its docstring
become the OpenAPI document (app/web/api/openapi.py); nothing about an endpoint is written twice.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping, NoReturn, Sequence, TypeVar

from flask import abort, g, request

from app.model.text import has_visible_text, text_problem

MAX_QUERY_VALUE = 200
F = TypeVar("F", bound=Callable[..., Any])
# Times a query may name: from the Unix epoch to the year 3000 (Unix seconds).
LATEST_TIME = 32_503_680_000.0
_UNIX_SECONDS = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,6})?$")
# ISO 8601 durations as clients write them: P1D, PT1H, PT15M, PT30S, P1DT12H, P2W.
_DURATION = re.compile(r"^P(?:(?P<w>[0-9]{1,4})W|(?:(?P<d>[0-9]{1,5})D)?"
                       r"(?:T(?:(?P<h>[0-9]{1,6})H)?(?:(?P<m>[0-9]{1,8})M)?"
                       r"(?:(?P<s>[0-9]{1,10}(?:\.[0-9]{1,3})?)S)?)?)$")


@dataclass(frozen=True)
class Field:
    """One query parameter or JSON body field: its name, what it holds, and its limits.

    ``kind`` is "text" (a string of at most ``max_length``), "choice" (one of ``choices``),
    "choices" (a comma-separated list of ``choices``, query only), "list" (body only: a JSON
    array of at most ``high`` texts of at most ``max_length`` each), "number" (a finite number
    within ``low``..``high``) or "int" (a whole number within ``low``..``high``). Query only:
    "time" (ISO 8601 with its time zone, or Unix seconds; read as Unix seconds), "duration"
    (seconds, or ISO 8601 such as PT1H; read as seconds within ``low``..``high``) and "cursor"
    (the opaque ``next`` of a page, checked by app/web/api/paging.py). Text is one line unless
    ``multiline`` (then tab and newline are allowed too). ``description`` and ``example`` are for
    the OpenAPI document; the example is also what its tests send.
    """

    name: str
    kind: str
    required: bool = False
    max_length: int = 64
    choices: tuple[str, ...] = ()
    low: float = -math.inf
    high: float = math.inf
    multiline: bool = False
    description: str = ""
    example: Any = None


@dataclass(frozen=True)
class Answer:
    """One answer a view gives: its status, the name of its shape in app/web/api/shapes.py ("" for
    no JSON body) and the media type when it is not JSON."""

    status: int
    shape: str
    description: str
    media: str = "application/json"


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
        return None if field.kind == "number" else [] if field.kind == "list" else ""
    if field.kind == "list":
        return _list_value(field, value)
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


def _list_value(field: Field, value: Any) -> list[str]:
    """A body list: a JSON array of at most ``high`` texts of at most ``max_length`` each (at
    least one when required), duplicates kept once."""
    if not isinstance(value, list):
        bad_request(f"'{field.name}' must be a list of strings")
    if len(value) > field.high:
        bad_request(f"'{field.name}' holds more than {field.high:g} items")
    if field.required and not value:
        bad_request(f"'{field.name}' must not be empty")
    for item in value:
        if not isinstance(item, str):
            bad_request(f"'{field.name}' must be a list of strings")
        if len(item) > field.max_length:
            bad_request(f"'{field.name}' holds an item longer than {field.max_length} characters")
        _check_text(field, item)
    return list(dict.fromkeys(item.strip() for item in value))


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


def _time_value(field: Field, raw: str) -> float:
    """A query time: Unix seconds, or ISO 8601 with its zone (a time without one is ambiguous in
    a city that is not on UTC, so it is refused rather than guessed)."""
    if _UNIX_SECONDS.match(raw):
        value = float(raw)
    else:
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            bad_request(f"'{field.name}' must be a time in ISO 8601 (2026-01-01T08:00:00Z) "
                        "or Unix seconds")
        if moment.tzinfo is None:
            bad_request(f"'{field.name}' needs its time zone: end it with Z or an offset such as "
                        "+08:00")
        try:
            value = moment.timestamp()
        except (OverflowError, ValueError):  # year 1 with an eastern offset, for one
            value = -1.0
    if not 0 <= value <= LATEST_TIME:
        bad_request(f"'{field.name}' must be between 1970 and the year 3000")
    return value


def _duration_value(field: Field, raw: str) -> float:
    """A query duration: seconds, or ISO 8601 (PT1H, P1D, P1W); no months or years, whose
    length depends on the calendar."""
    if _UNIX_SECONDS.match(raw):
        seconds = float(raw)
    else:
        found = _DURATION.match(raw)
        if found is None or raw in ("P", "PT") or raw.endswith("T"):
            bad_request(f"'{field.name}' must be seconds or an ISO 8601 duration such as PT1H")
        parts = {k: float(v) if v else 0.0 for k, v in found.groupdict().items()}
        seconds = (parts["w"] * 7 * 86400 + parts["d"] * 86400 + parts["h"] * 3600
                   + parts["m"] * 60 + parts["s"])
    if not field.low <= seconds <= field.high:
        bad_request(f"'{field.name}' must be from {field.low:g} to {field.high:g} seconds")
    return seconds


def _query_value(field: Field, raw: str) -> Any:
    limit = field.max_length if field.kind in ("text", "cursor") else MAX_QUERY_VALUE
    if len(raw) > limit:
        bad_request(f"'{field.name}' is longer than {limit} characters")
    _check_text(field, raw)
    if field.kind == "time":
        return _time_value(field, raw)
    if field.kind == "duration":
        return _duration_value(field, raw)
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
        if field.required and not raw:
            bad_request(f"'{field.name}' is required")
        parsed[field.name] = None if raw is None or raw == "" else _query_value(field, raw)
    return parsed


def inputs(query: Sequence[Field] = (), body: Sequence[Field] | Mapping[str, Sequence[Field]] | None = None,
           body_by: str = "",
           answers: Sequence[Answer] | Mapping[str, Sequence[Answer]] = ()) -> Callable[[F], F]:
    """Declare and check a view's query parameters and JSON body (results in ``g.query``, ``g.body``).

    ``body`` is one table, or a table per value of the URL variable ``body_by`` (one per action).
    ``answers`` are what the view answers when it succeeds (per value of ``body_by`` where they
    differ); refusals (400, 401, 403, 404, 409) are the API's common ones and need no line here.
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
        wrapper.input_body_by = body_by  # type: ignore[attr-defined]
        wrapper.answers = answers  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


