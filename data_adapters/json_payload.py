"""One decoder for JSON payloads: size cap, UTF-8 with or without BOM, empty, nesting depth, surrogates.

Every JSON adapter (SenML, SensorThings, FHIR, Open311, the MQTT batch frame) reads its payload
through :func:`decode_json`, so a payload is refused for the same reasons with the same words
whichever feed it came from. Each ``ParseError`` says what was wrong and, in parentheses, what the
feed expected (``what``), and keeps the payload's start as its excerpt:

- ``payload of N bytes is larger than the limit of L bytes`` (checked before anything is decoded);
- ``not UTF-8: invalid start byte at byte 12 (expected a SenML pack)``; a UTF-8 BOM is dropped;
- ``empty payload (expected a SenML pack)``: no bytes, or JSON whitespace only;
- ``JSON nested deeper than 32 levels (expected a SenML pack)``: measured on the text, before
  json.loads, whose recursion would otherwise stop it only at Python's limit;
- ``not JSON: Expecting value: line 1 column 1 (char 0) (expected a SenML pack)``.

NaN and Infinity tokens (not JSON, but servers send them) decode as floats by default, so a
parser rejects the row holding one instead of the whole payload. Lone UTF-16 surrogates escaped
in strings ("\\ud800") become U+FFFD (base.without_lone_surrogates).
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any, Callable

from data_adapters.base import MAX_PAYLOAD_BYTES, ParseError, check_size, without_lone_surrogates

# Feed documents nest a dozen levels at most (a FHIR Bundle with extensions, a SensorThings row
# with its Datastream, Thing and Location expanded); far deeper is an attack or a broken server.
MAX_JSON_DEPTH = 64
_JSON_WHITESPACE = " \t\r\n"  # RFC 8259 section 2: nothing else counts as whitespace
# A JSON string (escapes included), so brackets inside strings are not counted as nesting.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in JSON ``text`` (brackets in strings don't count).

    Runs in C (regular expressions, map and accumulate) rather than a Python loop per character:
    payloads of tens of MB are measured in a fraction of their json.loads time.
    """
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def decode_text(data: bytes, *, what: str, limit: int | None = MAX_PAYLOAD_BYTES) -> str:
    """The text of a JSON (or XML) payload: size-capped, UTF-8 with or without BOM, not empty.

    ``what`` names the document the feed expects ("a SenML pack"); ``limit`` is the size cap in
    bytes (None: no cap, for frames the adapter built itself). Raises ParseError.
    """
    if limit is not None:
        check_size(data, limit)
    try:
        # "utf-8-sig" drops one leading BOM, which some servers (FHIR among them) send.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(f"not UTF-8: {exc.reason} at byte {exc.start} (expected {what})",
                         data) from None
    if not text.strip(_JSON_WHITESPACE):
        raise ParseError(f"empty payload (expected {what})", data)
    return text


def load_json_text(text: str, data: bytes, *, what: str, max_depth: int | None = MAX_JSON_DEPTH,
                   parse_constant: Callable[[str], Any] = float,
                   parse_int: Callable[[str], Any] | None = None) -> Any:
    """The JSON document of ``text`` (decoded from ``data``, the excerpt of any ParseError).

    ``max_depth`` (None: no limit) caps the nesting; ``parse_constant`` decodes NaN/Infinity
    (default: as floats); ``parse_int`` decodes integers (default: int, which refuses more than
    Python's 4300 digits and so fails the payload).
    """
    # Nesting cannot exceed the number of opening brackets (counted in C): most small payloads
    # skip the measurement.
    if (max_depth is not None and text.count("[") + text.count("{") > max_depth
            and json_depth(text) > max_depth):
        raise ParseError(f"JSON nested deeper than {max_depth} levels (expected {what})", data)
    try:
        document = json.loads(text, parse_constant=parse_constant, parse_int=parse_int)
    except RecursionError:  # only without max_depth: nested past the interpreter's stack
        raise ParseError(f"JSON nested too deeply to decode (expected {what})", data) from None
    except ValueError as exc:  # JSONDecodeError, and int() past its digit limit
        raise ParseError(f"not JSON: {exc} (expected {what})", data) from None
    return without_lone_surrogates(document, text)


def decode_json(data: bytes, *, what: str, limit: int | None = MAX_PAYLOAD_BYTES,
                max_depth: int | None = MAX_JSON_DEPTH,
                parse_constant: Callable[[str], Any] = float,
                parse_int: Callable[[str], Any] | None = None) -> Any:
    """The JSON document of a payload, or ParseError saying why it is unusable (see the module)."""
    text = decode_text(data, what=what, limit=limit)
    return load_json_text(text, data, what=what, max_depth=max_depth,
                          parse_constant=parse_constant, parse_int=parse_int)
