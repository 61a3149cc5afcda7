"""The internal-code scan (tests/support/code_scan.py) finds each kind of code and passes plain text."""

from __future__ import annotations

import pytest

from tests.support.code_scan import find_codes, visible_text


@pytest.mark.parametrize(("text", "kind"), [
    ("Vehicles in service 57 ({vehicle})", "unit code"),
    ("Beds available 42 {bed}", "unit code"),
    ("State: active_unack", "snake_case name"),
    ("beds_occupied 120", "snake_case name"),
    ("requested at 1,795,931,896.0", "epoch seconds"),
    ("requested at 1795931896", "epoch seconds"),
    ("Alert al-0123456789abcdef raised", "internal id"),
    ("Incident in-a1b2c3d4e5f6", "internal id"),
    ("Reservoir demo:sensor:1", "entity id"),
    ("Bus 12 (update 507)", "counter"),
    ("数据时间 13:34（第 26 次更新）", "counter"),
    ("Illegal parking · Illegal parking", "doubled label"),
    ("datastream id 17", "feed field"),
    ("thing_id: 4", "feed field"),
])
def test_each_kind_of_code_is_found(text: str, kind: str) -> None:
    hits = find_codes(text)
    assert any(hit.startswith(f"{kind}:") for hit in hits), hits


@pytest.mark.parametrize("text", [
    "Vehicles in service 57 vehicles",
    "Beds available 42 beds · target >= 50",
    "Active, not acknowledged",
    "Requested at 07 Dec 2026 05:31",
    "Population 1,234,567",
    "Phone 0737-1234567 · 12:30:45",
    "cityops-situation-20261207-0531.html",
    "Illegal parking · Noise · Illegal parking",
    "http://127.0.0.1:8050/official",
    "漏水 · 爆管",
])
def test_plain_text_passes(text: str) -> None:
    assert find_codes(text) == []


def test_visible_text_skips_scripts_and_styles() -> None:
    document = ("<html><head><style>.a{color:red}</style><script>var x={bed};</script></head>"
                "<body><p title='Zone 3'>Beds <b>42</b></p></body></html>")
    text = visible_text(document)
    assert "Beds 42" in text and "Zone 3" in text
    assert "{bed}" not in text and "color" not in text
