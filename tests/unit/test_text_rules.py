"""Properties of the text rules shared by the API and the XML writers (app/model/text.py), of the
strict JSON reader (app/web/json_body.py) and of the login's next-page check (issue 17)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.model.text import BIDI_CONTROLS, has_visible_text, text_problem, xml_safe
from app.web.json_body import MAX_JSON_DEPTH, JsonBodyError, strict_loads
from app.web.login import safe_next


@given(st.text())
def test_xml_safe_text_always_makes_well_formed_xml(text: str) -> None:
    """Any text, made safe, round-trips through an XML document unchanged."""
    element = ET.Element("t")
    element.text = xml_safe(text)
    parsed = ET.fromstring(ET.tostring(element, encoding="unicode"))
    # An XML parser reads every line end as "\n" (XML 1.0, 2.11).
    assert (parsed.text or "") == xml_safe(text).replace("\r\n", "\n").replace("\r", "\n")


@given(st.text())
def test_text_that_passes_is_storable_and_legal(text: str) -> None:
    """Text the API accepts encodes as UTF-8, is legal XML, and holds no bidirectional control."""
    if text_problem(text, multiline=True) is None:
        text.encode("utf-8")
        assert xml_safe(text) == text
        assert not BIDI_CONTROLS & set(text)
    if text_problem(text) is None:
        assert "\n" not in text and "\t" not in text


@pytest.mark.parametrize("text", ["\u200b", " \u3164 ", "\u200e\u200f", "\u0301", "\u2800"])
def test_invisible_text_shows_nothing(text: str) -> None:
    assert not has_visible_text(text)
    assert has_visible_text(text + "a")


TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8)


@given(st.recursive(st.none() | st.booleans() | st.integers() | TEXT,
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(TEXT, inner, max_size=4), max_leaves=20))
def test_strict_json_reads_what_json_writes(document: object) -> None:
    """Every document json writes (Unicode text, no lone surrogates) is read back the same."""
    for ascii_only in (True, False):
        encoded = json.dumps(document, ensure_ascii=ascii_only).encode("utf-8")
        assert strict_loads(encoded) == document


@given(st.binary(max_size=200))
def test_strict_json_refuses_with_its_own_error_only(data: bytes) -> None:
    """Arbitrary bytes: a document or JsonBodyError, nothing else."""
    try:
        strict_loads(data)
    except JsonBodyError:
        pass


def test_strict_json_limits() -> None:
    assert strict_loads(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH) is not None
    for bad in (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), b"[" * 10**5 + b"]" * 10**5,
                b'{"a": 1, "a": 2}', b'["\\ud800"]', b'{"\\udfff": 1}', b"\xff"):
        with pytest.raises(JsonBodyError):
            strict_loads(bad)


@given(st.text(max_size=300))
def test_next_is_a_same_site_path_that_fits_a_header(target: str) -> None:
    """Whatever ``next`` holds, the page followed after login is a local path of printable ASCII
    (no CR/LF to split the Location header, no //host, no token)."""
    followed = safe_next("/" + target)
    assert followed.startswith("/") and not followed.startswith("//")
    assert all(0x21 <= ord(c) <= 0x7E for c in followed)
    assert all(key != "token" for key, _ in parse_qsl(urlsplit(followed).query))
