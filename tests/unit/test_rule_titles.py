"""Alert rules' titles per language (issue 19): ``title`` in English, ``title_zh`` in Chinese,
validated like every other key of the rules file."""

from __future__ import annotations

import re
import string

import pytest

from app.alerts import rules

RULE = """
[[threshold]]
id = "zone_pressure_low"
title = "Low pressure in zone {subject}"
%s
domain = "water"
kpi = "min_pressure"
below = 2.0
severity = "major"
"""
CJK = re.compile(r"[\u4e00-\u9fff]")


def _names(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_a_rule_with_one_title_keeps_it_for_every_reader() -> None:
    """Without title_zh the rule has no Chinese title (readers of Chinese then see the title)."""
    rule = rules.parse_rules(RULE % "", "one.toml").thresholds[0]
    assert (rule.title, rule.title_zh) == ("Low pressure in zone {subject}", "")


def test_a_rule_declares_its_chinese_title_beside_the_english_one() -> None:
    rule = rules.parse_rules(RULE % 'title_zh = "供水分区 {subject} 水压偏低"', "two.toml").thresholds[0]
    assert (rule.title, rule.title_zh) == ("Low pressure in zone {subject}", "供水分区 {subject} 水压偏低")


@pytest.mark.parametrize(("line", "message"), [
    ('titel_zh = "水压偏低"', "unknown key 'titel_zh'"),
    ('title_cn = "水压偏低"', "unknown key 'title_cn'"),
    ('title_zh = ""', "title_zh: expected a title"),
    ('title_zh = 3', "title_zh: expected a title"),
    ('title_zh = "{subject.__class__} 水压"', "title_zh: unknown placeholder"),
    (f'title_zh = "{"长" * 201}"', "title_zh: expected a title"),
])
def test_a_misspelt_or_bad_chinese_title_is_refused(line: str, message: str) -> None:
    """A misspelt key is an error naming it (a title in no language would go unnoticed)."""
    with pytest.raises(rules.RulesError) as caught:
        rules.parse_rules(RULE % line, "my-rules.toml")
    assert message in str(caught.value) and "zone_pressure_low" in str(caught.value)


def test_every_shipped_rule_has_a_chinese_title_with_the_same_placeholders() -> None:
    shipped = rules.load_rules().thresholds
    assert shipped
    for rule in shipped:
        assert CJK.search(rule.title_zh), rule.id
        assert _names(rule.title_zh) == _names(rule.title), rule.id
