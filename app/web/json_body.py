"""Strict JSON request bodies: duplicate keys, deep nesting and lone surrogates are a 400.

Python's json module takes the last of two equal keys, recurses until the interpreter's limit
(a RecursionError, which Flask turns into a 500), decodes "\\ud800" into a string that Redis
cannot store as UTF-8. Every JSON body is checked here before any view or callback sees it
(app/web/guards.py installs the check), so the answer is a 400 naming what is wrong and nothing
is written. (NaN and Infinity pass here: the API's number fields refuse them, naming the field.)
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_JSON_DEPTH = 100  # Dash sends component trees as callback state; the API's bodies are flat
_SURROGATE = re.compile("[\ud800-\udfff]")


class JsonBodyError(ValueError):
    """A JSON body that is refused; the message says why (and names the field where it can)."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise JsonBodyError(f"field '{_shown(key)}' is given more than once")
        seen[key] = value
    return seen


def _shown(text: str) -> str:
    """A key or value as an error message may quote it: short, and without surrogates."""
    return _SURROGATE.sub("\ufffd", text[:40])


def _check_tree(document: Any) -> None:
    """Depth at most MAX_JSON_DEPTH; no lone surrogate in any key or string (iteratively: a
    recursive walk would fail where the parser did not)."""
    stack: list[tuple[Any, int, str]] = [(document, 1, "")]
    while stack:
        value, depth, where = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise JsonBodyError(f"nested more than {MAX_JSON_DEPTH} levels deep")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                name = key if isinstance(key, str) else where
                if isinstance(key, str) and _SURROGATE.search(key):
                    raise JsonBodyError(f"field '{_shown(key)}' holds a lone surrogate")
                stack.append((item, depth + 1, name))
        elif isinstance(value, str) and _SURROGATE.search(value):
            named = f"field '{_shown(where)}'" if where else "a string"
            raise JsonBodyError(f"{named} holds a lone surrogate (not valid Unicode text)")


def strict_loads(data: bytes) -> Any:
    """The JSON document in ``data`` (UTF-8), or JsonBodyError saying why it is refused."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise JsonBodyError("the body is not UTF-8 text") from None
    try:
        document = json.loads(text, object_pairs_hook=_pairs)
    except RecursionError:
        raise JsonBodyError(f"nested more than {MAX_JSON_DEPTH} levels deep") from None
    except JsonBodyError:
        raise
    except ValueError as exc:
        raise JsonBodyError(f"not valid JSON: {str(exc)[:120]}") from None
    _check_tree(document)
    return document
