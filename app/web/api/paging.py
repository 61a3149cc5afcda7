"""Paging of the API's lists: ``limit``, an opaque signed ``cursor``, and the answer's ``next``.

Every list has a fixed order with a total key that ends in something unique (the item's id), and
a cursor holds the key of the last item served (keyset paging): the next page starts after it,
so an item added or removed meanwhile never pushes another onto a second page or off every page.
An item whose own sort key changes while a client pages (an alert acknowledged) may move. The
cursor is signed with the installation's secret key and bound to the path and the filters it was
given for: one that was altered, cut, or sent with other filters is a 400 naming 'cursor'.
"""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass
from typing import Any, Callable, Sequence, TypeVar

from flask import Response, current_app, g, jsonify, request
from itsdangerous import BadData, URLSafeSerializer

from app.web.api.schema import Field, bad_request

# The default and the most items in one answer: a page stays a few MB of JSON at the most.
DEFAULT_LIMIT = 500
MAX_LIMIT = 5000
MAX_CURSOR = 400
# A source that can only give its first N items is asked for at most this many to find a page.
MAX_FETCH = 200_000
_SALT = "cityops.api.cursor"
T = TypeVar("T")

PAGE_QUERY = (
    Field("limit", "int", low=1, high=MAX_LIMIT,
          description=f"How many items one answer holds at the most (default {DEFAULT_LIMIT}).",
          example=2),
    Field("cursor", "cursor", max_length=MAX_CURSOR,
          description="The `next` of the previous answer, to read the page after it (with the "
                      "same filters)."),
)
# The query parameters that choose the page, not what is listed: a cursor is bound to the rest.
PAGE_PARAMETERS = frozenset({"limit", "cursor"})


@dataclass(frozen=True)
class Position:
    """Where a page starts: after the item whose key is ``after`` (None: at the start), with
    ``served`` items of the list before it."""

    after: tuple[Any, ...] | None
    served: int


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt=_SALT)


def _query_digest() -> str:
    """What a cursor is bound to: the path and every filter of the query but the page's own."""
    filters = sorted((k, v) for k, v in request.args.items(multi=True) if k not in PAGE_PARAMETERS)
    text = repr((request.path, filters)).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(text, digest_size=8).hexdigest()


def limit() -> int:
    """The page size asked for (``?limit=``), or the default."""
    return int(g.query.get("limit") or DEFAULT_LIMIT)


def position() -> Position:
    """The position ``?cursor=`` names (the start without one); 400 naming 'cursor' when it is
    not one this API gave for this path and these filters."""
    token = g.query.get("cursor")
    if not token:
        return Position(None, 0)
    try:
        found = _serializer().loads(token)
    except BadData:
        bad_request("'cursor' is not a cursor this API gave (or it was changed): use the 'next' "
                    "of an answer as it came")
    if (not isinstance(found, dict) or not isinstance(found.get("k"), list)
            or not isinstance(found.get("n"), int) or found["n"] < 0):
        bad_request("'cursor' is not a cursor of this list: ask again without it")
    if found.get("q") != _query_digest():
        bad_request("'cursor' belongs to another query: send it with the filters it came with, "
                    "or ask again without it")
    return Position(tuple(found["k"]), found["n"])


def _cursor(after: Sequence[Any], served: int) -> str:
    return str(_serializer().dumps({"q": _query_digest(), "k": list(after), "n": served}))


def _after(rows: list[T], key: Callable[[T], tuple[Any, ...]], start: Position) -> list[T]:
    """The items of ``rows`` (sorted by ``key``) past the position."""
    if start.after is None:
        return rows
    try:
        return rows[bisect.bisect_right(rows, start.after, key=key):]
    except TypeError:  # a cursor of another shape of key (an older CityOps): start again
        bad_request("'cursor' is not a cursor of this list: ask again without it")


def _cut(rest: list[T], key: Callable[[T], tuple[Any, ...]], start: Position, size: int
         ) -> tuple[list[T], str | None]:
    if len(rest) <= size:
        return rest, None
    shown = rest[:size]
    return shown, _cursor(key(shown[-1]), start.served + size)


def page(rows: list[T], key: Callable[[T], tuple[Any, ...]]) -> tuple[list[T], str | None]:
    """The page the request asks for out of ``rows`` (the whole list), in ``key`` order (a tuple
    ending in something unique), and the cursor of the next page (None on the last)."""
    start = position()
    return _cut(_after(sorted(rows, key=key), key, start), key, start, limit())


def fetched_page(fetch: Callable[[int], list[T]], key: Callable[[T], tuple[Any, ...]],
                 keep: Callable[[T], bool] = lambda _row: True) -> tuple[list[T], str | None]:
    """The page the request asks for from a source that gives its first N items in ``key``'s
    order but for the last part of the key (``fetch(N)``), and keeps those ``keep`` accepts.

    The source is asked for what was served before plus a page (more when items came in ahead
    of the cursor meanwhile). Where it cut its list, items tied with its last one in everything
    but the last part of the key may be missing from it: those wait for a longer fetch.
    """
    start = position()
    size = limit()
    want = start.served + size + 1
    while True:
        got = sorted(fetch(want), key=key)
        complete = len(got) < want or want >= MAX_FETCH
        if not complete:
            edge = key(got[-1])[:-1]
            got = [row for row in got if key(row)[:-1] < edge]
        rest = _after([row for row in got if keep(row)], key, start)
        if complete or len(rest) > size:
            return _cut(rest, key, start, size)
        want = min(want * 4, MAX_FETCH)


def answer(name: str, rows: list[Any], next_cursor: str | None, **more: Any) -> Response:
    """A page as JSON: ``{name: rows, "next": cursor}``, without ``next`` on the last page."""
    body: dict[str, Any] = {name: rows, **more}
    if next_cursor is not None:
        body["next"] = next_cursor
    return jsonify(body)
