"""The one JSON payload decoder (data_adapters/json_payload.py) and its use by every JSON adapter."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.model.records import RawPayload
from data_adapters import registry
from data_adapters.base import ParseError
from data_adapters.json_payload import MAX_JSON_DEPTH, decode_json, json_depth
from data_adapters.water.mqtt import decode_batch

WHAT = "a test document"


def refused(data: bytes, **options: Any) -> str:
    """The message of the ParseError decode_json raises for ``data`` (fails if it decodes)."""
    with pytest.raises(ParseError) as caught:
        decode_json(data, what=WHAT, **options)
    assert caught.value.excerpt == data[:2048].decode("utf-8", errors="replace")
    return str(caught.value)


@pytest.mark.parametrize("data", [b"", b"  \r\n\t ", b"\xef\xbb\xbf", b"\xef\xbb\xbf \n"])
def test_empty_payloads(data: bytes) -> None:
    """No bytes, JSON whitespace only or a BOM alone: empty, naming what was expected."""
    assert refused(data) == "empty payload (expected a test document)"


def test_a_bom_is_dropped_and_utf8_required() -> None:
    assert decode_json(b'\xef\xbb\xbf{"a": "\xc3\xa9"}', what=WHAT) == {"a": "é"}
    assert refused(b'["ok", "\xff"]') == ("not UTF-8: invalid start byte at byte 8 (expected a "
                                         "test document)")
    assert refused("[1]".encode("utf-16")).startswith("not UTF-8: ")


def test_the_size_cap_comes_before_decoding() -> None:
    assert decode_json(b"[1, 2]", what=WHAT, limit=6) == [1, 2]
    assert refused(b"[1, 2] ", limit=6) == ("payload of 7 bytes is larger than the limit of 6 "
                                           "bytes")
    assert refused(b"\xff" * 7, limit=6).startswith("payload of 7 bytes")
    assert decode_json(b"[" + b" " * 100 + b"]", what=WHAT, limit=None) == []


def test_nesting_is_capped() -> None:
    deep = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert decode_json(deep, what=WHAT) is not None
    too_deep = b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1)
    assert refused(too_deep) == "JSON nested deeper than 64 levels (expected a test document)"
    assert refused(b"[[[[]]]]", max_depth=3).startswith("JSON nested deeper than 3 levels")
    # Far past the interpreter's recursion limit: still a ParseError, never a RecursionError.
    assert refused(b"[" * 100_000).startswith("JSON nested deeper than")
    assert refused(b"[" * 100_000, max_depth=None).startswith("JSON nested too deeply")


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"a": ["[[[[{{{{", "\\\"]]]}}}"], "b": "\"[" * 100})
    assert json_depth(text) == 2
    assert decode_json(text.encode(), what=WHAT, max_depth=2)["b"].startswith('"[')


def _depth(value: Any) -> int:
    """The nesting of a decoded document (the reference json_depth must agree with)."""
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


DOCUMENTS = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
              st.text(alphabet=st.sampled_from('[]{}"\\ab:,é\ud800'))),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(alphabet="[]{}\"\\k"), inner, max_size=3)),
    max_leaves=20)


@settings(max_examples=300, deadline=None, database=None)
@given(document=DOCUMENTS)
def test_json_depth_is_the_nesting_of_the_document(document: Any) -> None:
    assert json_depth(json.dumps(document)) == _depth(document)


def test_syntax_constants_integers_and_surrogates() -> None:
    assert refused(b'{"a": 1,}').startswith("not JSON: Expecting property name enclosed in double "
                                            "quotes: line 1 column 9 (char 8) (expected a test")
    values = decode_json(b"[NaN, -Infinity, 1]", what=WHAT)
    assert math.isnan(values[0]) and values[1] == -math.inf and values[2] == 1
    big = b"[" + b"9" * 5000 + b"]"
    assert refused(big).startswith("not JSON: Exceeds the limit")
    assert decode_json(big, what=WHAT, parse_int=float) == [math.inf]
    assert decode_json(b'["a\\ud800b", {"\\udfff": 1}]', what=WHAT) == ["a\ufffdb", {"\ufffd": 1}]


# -- one decoder behind every JSON adapter ---------------------------------------------------------
JSON_ADAPTERS = {
    "senml_http": ({"url": "http://127.0.0.1:9/x"}, "a SenML pack"),
    "sensorthings": ({"url": "http://127.0.0.1:9/x"}, "a SensorThings Observations collection"),
    "fhir": ({"url": "http://127.0.0.1:9/x"}, "a FHIR resource"),
    "open311": ({"base_url": "http://127.0.0.1:9"}, "Open311 JSON or XML"),
    "senml_mqtt": ({"url": "mqtt://127.0.0.1:9", "topic": "a/+/b"}, "an MQTT batch frame"),
}


@pytest.mark.parametrize("name", sorted(JSON_ADAPTERS))
@pytest.mark.parametrize("data, start", [
    (b"", "empty payload"), (b" \n", "empty payload"), (b'[{"n": "\xff"}]', "not UTF-8: "),
    (b"[" * 70 + b"]" * 70, "JSON nested deeper than"), (b'{"value": [', "not JSON: "),
])
def test_every_json_adapter_refuses_the_same_way(name: str, data: bytes, start: str) -> None:
    """The same bad payload gives the same words, naming what that feed expected."""
    config, what = JSON_ADAPTERS[name]
    adapter = registry.build({"name": "j", "adapter": name, **config})
    with pytest.raises(ParseError) as caught:
        list(adapter.parse(RawPayload(data=data, source="test", fetched_at=1_767_225_600.0)))
    message = str(caught.value)
    assert message.startswith(start) and message.endswith(f"(expected {what})"), message


def test_a_bom_is_read_by_every_json_adapter() -> None:
    """SenML used to refuse a BOM that the others dropped: now all drop it."""
    pack = b'\xef\xbb\xbf[{"bn": "yy/p1/", "bt": 1767225600, "n": "pressure", "u": "kPa", "v": 300}]'
    adapter = registry.build({"name": "j", "adapter": "senml_http", "url": "http://127.0.0.1:9/"})
    items = list(adapter.parse(RawPayload(data=pack, source="test", fetched_at=1_767_225_700.0)))
    assert any(getattr(item, "metric", None) == "pressure_bar" for item in items)


def test_the_mqtt_frame_has_no_size_cap_of_its_own() -> None:
    """fetch() builds the frame from messages capped one by one: a large burst stays readable."""
    frame = json.dumps({"format": "cityops-mqtt-batch/1", "messages": [], "dropped": 0,
                        "padding": " " * 100}).encode()
    assert decode_batch(frame).messages == []
