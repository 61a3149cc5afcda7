"""A KPI's target in the reader's language (issue 18: KPI targets translated): the targets that
are words (a share of the fleet, water quality limits, a baseline being learned) carry a catalogue
key and values; the ones that are a comparison and a number stay as stored."""

from __future__ import annotations

import re

from app import i18n
from app.config import Settings
from app.kpis.base import Kpi
from app.kpis.medical import ambulance_kpi

CJK = re.compile(r"[\u4e00-\u9fff]")


def test_worded_targets_follow_the_reader() -> None:
    settings = Settings()
    fleet = ambulance_kpi([{"observed_at": 100.0, "status": "available"}], 100.0, settings).as_json()
    assert fleet["target"].endswith("% of the fleet")  # the API keeps the English
    with i18n.use_language("en"):
        assert i18n.kpi_target(fleet) == fleet["target"]
    with i18n.use_language("zh"):
        chinese = i18n.kpi_target(fleet)
    assert CJK.search(chinese) and "fleet" not in chinese
    for key in ("occupancy", "fleet_share", "quality", "learning"):  # both languages, same values
        english, zh = i18n.CATALOG[f"kpi_target.{key}"]
        assert i18n.placeholders(english) == i18n.placeholders(zh) and CJK.search(zh), key


def test_a_plain_target_or_unknown_words_keep_the_stored_text() -> None:
    plain = Kpi("min_pressure", "water", "Lowest pressure", 2.5, "bar", ">= 2 bar", "ok", 0.0).as_json()
    odd = dict(plain, target_words={"key": "kpi_target.no_such_key", "values": {}})
    wrong = dict(plain, target_words={"key": "kpi_target.occupancy", "values": {"other": 1}})
    with i18n.use_language("zh"):
        assert i18n.kpi_target(plain) == ">= 2 bar"
        assert i18n.kpi_target(odd) == ">= 2 bar"
        assert i18n.kpi_target(wrong) == ">= 2 bar"  # stored by another version: English stands
