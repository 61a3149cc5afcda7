"""Personal data kept out of the store: the values of named fields masked in the text of a
payload before any of it is kept as a rejection's excerpt (docs/data.md)."""

from __future__ import annotations

import re
from functools import cache
from typing import Any, Iterable, Mapping

MASK = "[removed]"


@cache
def _patterns(fields: tuple[str, ...]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    names = "|".join(re.escape(f) for f in fields)
    # "field": value (a string, number, literal, or a whole object/array opening) in JSON text,
    # and <field ...>value</field> in XML text (namespace prefixes allowed).
    json_value = re.compile(r'("(?:' + names + r')"\s*:\s*)("(?:[^"\\]|\\.)*"?|[-\w.+]+|[\[{])',
                            re.IGNORECASE)
    xml_value = re.compile(r"(<(?:\w+:)?(" + names + r")(?:\s[^>]*)?>)(.*?)(</(?:\w+:)?\2\s*>|$)",
                           re.IGNORECASE | re.DOTALL)
    return json_value, xml_value


def masked_text(data: bytes | str, fields: Iterable[str]) -> str:
    """``data`` as text with the values of ``fields`` replaced by a mark, in JSON and XML alike
    (also in a payload too broken to parse: the patterns need no parser)."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    json_value, xml_value = _patterns(tuple(sorted(set(fields))))
    text = json_value.sub(lambda m: f'{m.group(1)}"{MASK}"', text)
    return xml_value.sub(lambda m: f"{m.group(1)}{MASK}{m.group(4)}", text)


def without(row: Mapping[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """A parsed row without the personal ``fields`` (compared case-insensitively)."""
    drop = {f.lower() for f in fields}
    return {k: v for k, v in row.items() if str(k).lower() not in drop}
