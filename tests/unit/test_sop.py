"""The SOP catalogue: the shipped one validates and covers the eight incident types; every error in a
city's own file names the file, the type, the step and the key; `cityops sop check` says which."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.incidents import sop
from app.model.domains import DOMAINS
from app.model.incidents import LEVELS, SOP_ACTIONS
from app.ops import cli

EIGHT = {"water_main_burst", "urban_flooding", "major_traffic_accident", "hospital_surge",
         "hazardous_chemical_leak", "power_outage", "public_health_event", "large_event_crowd"}
# The departments the issue names, as the shipped catalogue spells them.
NAMED_DEPARTMENTS = {"water_bureau", "transport_operator", "traffic_police", "health_commission",
                     "hospitals", "city_management", "fire_rescue", "publicity_office"}


def test_the_shipped_catalogue_is_valid_and_covers_the_eight_types() -> None:
    """Every type has a name in both languages, domains, a level and steps owned by declared
    departments (each department named in both languages); every action the system can do is
    used somewhere; the proposal rule is the issue's (3 alerts, 2 domains, 500 m, 15 minutes)."""
    catalogue = sop.load_catalogue()
    assert set(catalogue.types) >= EIGHT
    assert set(catalogue.departments) >= NAMED_DEPARTMENTS
    for kind in catalogue.types.values():
        assert kind.name and kind.name_zh and kind.domains and kind.level in LEVELS, kind.id
        assert set(kind.domains) <= set(DOMAINS) and kind.keywords, kind.id
        assert kind.steps and any(step.required for step in kind.steps), kind.id
        for step in kind.steps:
            assert step.department in catalogue.departments, (kind.id, step.id)
            assert step.title and step.title_zh and 0 <= step.due_s <= 7 * 86400, (kind.id, step.id)
    assert {s.action for k in catalogue.types.values() for s in k.steps} - {""} == set(SOP_ACTIONS)
    assert all(d.name and d.name_zh for d in catalogue.departments.values())
    rule = catalogue.proposals
    assert (rule.enabled, rule.min_alerts, rule.min_domains, rule.radius_m, rule.window_s) == (
        True, 3, 2, 500.0, 900.0)
    lines = sop.summary(catalogue)
    assert lines[0].startswith("default_sops.toml: ") and len(lines) == len(catalogue.types) + 1


SHIPPED = sop.default_text()


def _edit(old: str, new: str, count: int = 1) -> str:
    assert old in SHIPPED, old
    return SHIPPED.replace(old, new, count)


# (the edited text, what the error must name besides the file)
BAD: dict[str, tuple[str, tuple[str, ...]]] = {
    "not TOML": ("[types\n", ("not valid TOML",)),
    "unknown table": (SHIPPED + "\n[rules]\nx = 1\n", ("unknown key 'rules'",)),
    "unknown proposal key": (_edit("min_alerts = 3", "min_alerts = 3\nmax_alerts = 9"),
                             ("[proposals]", "key 'max_alerts'")),
    "proposal window": (_edit('window = "15m"', 'window = "a while"'),
                        ("[proposals]", "key 'window'")),
    "proposal count": (_edit("min_alerts = 3", "min_alerts = 1"),
                       ("[proposals]", "key 'min_alerts'")),
    "department key": (_edit('name = "Water bureau"', 'name = "Water bureau"\nphone = "12345"'),
                       ("department 'water_bureau'", "key 'phone'")),
    "department name": (_edit('name_zh = "水务局"', 'name_zh = ""'),
                        ("department 'water_bureau'", "key 'name_zh'")),
    "department id": (_edit("[departments.water_bureau]", "[departments.Water-Bureau]"),
                      ("department id", "Water-Bureau")),
    "type key": (_edit('keywords = ["burst"', 'colour = "red"\nkeywords = ["burst"'),
                 ("type 'water_main_burst'", "key 'colour'")),
    "type level": (_edit('level = "II"\nkeywords = ["rain"', 'level = "V"\nkeywords = ["rain"'),
                   ("type 'urban_flooding'", "key 'level'")),
    "type domain": (_edit('domains = ["medical"]', 'domains = ["medical", "weather"]'),
                    ("type 'hospital_surge'", "key 'domains'", "weather")),
    "type without domains": (_edit('domains = ["medical"]', "domains = []"),
                             ("type 'hospital_surge'", "key 'domains'")),
    "step due": (_edit('id = "isolate"\ntitle = "Close the valves around the burst and isolate the '
                       'damaged main"\ntitle_zh = "关闭爆管周边阀门，隔离受损管段"\n'
                       'department = "water_bureau"\ndue = "30m"',
                       'id = "isolate"\ntitle = "Close the valves around the burst and isolate the '
                       'damaged main"\ntitle_zh = "关闭爆管周边阀门，隔离受损管段"\n'
                       'department = "water_bureau"\ndue = "half an hour"'),
                 ("type 'water_main_burst'", "step 'isolate'", "key 'due'")),
    "step due too late": (_edit('due = "12h"', 'due = "8d"'),
                          ("type 'water_main_burst'", "step 'repair'", "key 'due'")),
    "step department": (_edit('department = "power_supply"', 'department = "power_company"'),
                        ("type 'power_outage'", "step 'restore'", "key 'department'",
                         "power_company")),
    "step action": (_edit('action = "raise_level"', 'action = "call_the_mayor"'),
                    ("type 'urban_flooding'", "step 'escalate'", "key 'action'")),
    "step required": (_edit('due = "10m"', 'due = "10m"\nrequired = "yes"'),
                      ("type 'major_traffic_accident'", "step 'ambulances'", "key 'required'")),
    "step unknown key": (_edit('id = "divert"', 'id = "divert"\nowner = "someone"'),
                         ("type 'hospital_surge'", "step 'divert'", "key 'owner'")),
    "step without id": (_edit('id = "crowd"\n', ''),
                        ("type 'large_event_crowd'", "step #2", "key 'id'")),
    "step title": (_edit('title = "Cordon off the leak and identify the substance"', 'title = 7'),
                   ("type 'hazardous_chemical_leak'", "step 'cordon'", "key 'title'")),
    "step twice": (_edit('id = "investigate"', 'id = "isolate"'),
                   ("type 'public_health_event'", "step 'isolate'", "key 'id'", "twice")),
    "notify list elsewhere": (_edit('id = "divert"', 'id = "divert"\ndepartments = ["hospitals"]'),
                              ("type 'hospital_surge'", "step 'divert'", "key 'departments'")),
    "notify unknown": (_edit('id = "notify"\ntitle', 'id = "notify"\ndepartments = ["army"]\ntitle'),
                       ("type 'water_main_burst'", "step 'notify'", "key 'departments'", "army")),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_every_error_names_the_file_type_step_and_key(tmp_path: Path, case: str) -> None:
    """A city's own file with one mistake: refused with a message naming the file and, as far as
    the mistake goes, the type, the step and the key."""
    text, names = BAD[case]
    path = tmp_path / "city_sops.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(sop.SopError) as refused:
        sop.load_catalogue(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: "), message
    for name in names:
        assert name in message, (name, message)


def test_a_citys_own_file_replaces_the_defaults(tmp_path: Path) -> None:
    """A small valid file: its departments and types only, the proposal rule's defaults."""
    path = tmp_path / "small.toml"
    path.write_text("""
[departments.dispatch]
name = "Dispatch"
name_zh = "调度中心"

[types.flood]
name = "Flood"
name_zh = "洪水"
domains = ["water", "city"]
level = "II"

[[types.flood.steps]]
id = "sandbags"
title = "Lay sandbags"
title_zh = "堆放沙袋"
department = "dispatch"
due = 900
required = false
action = "notify"
""", encoding="utf-8")
    catalogue = sop.load_catalogue(path)
    assert list(catalogue.departments) == ["dispatch"] and list(catalogue.types) == ["flood"]
    step = catalogue.types["flood"].steps[0]
    assert (step.due_s, step.required, step.action) == (900.0, False, "notify")
    assert catalogue.proposals == sop.ProposalRule() and catalogue.source == str(path)
    assert sop.catalogue_json(catalogue)["types"][0]["steps"][0]["due_minutes"] == 15.0


def test_the_catalogue_in_force_survives_a_bad_edit(tmp_path: Path) -> None:
    """current(): a file that stops validating is refused and the catalogue before stays, with
    the error to show; a good edit is taken at once."""
    path = tmp_path / "sops.toml"
    path.write_text(SHIPPED, encoding="utf-8")
    first, error = sop.current(path)
    assert error is None and first.source == str(path)
    path.write_text(_edit('due = "30m"', 'due = "later"'), encoding="utf-8")
    kept, error = sop.current(path)
    assert kept is first and error is not None and "key 'due'" in error
    path.write_text(SHIPPED.replace('level = "IV"', 'level = "III"'), encoding="utf-8")
    fixed, error = sop.current(path)
    assert error is None and fixed.types["large_event_crowd"].level == "III"


def test_cityops_sop_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`cityops sop check FILE`: a summary and exit 0 for a valid file, the error naming file,
    type, step and key and exit 1 for a bad one, without Redis."""
    good = tmp_path / "good.toml"
    good.write_text(SHIPPED, encoding="utf-8")
    assert cli.main(["sop", "check", str(good)]) == 0
    out = capsys.readouterr().out
    assert f"{good}: 8 incident type(s)" in out and "urban_flooding: level II" in out
    bad = tmp_path / "bad.toml"
    bad.write_text(_edit('due = "12h"', 'due = "someday"'), encoding="utf-8")
    assert cli.main(["sop", "check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "type 'water_main_burst'" in err and "step 'repair'" in err and "key 'due'" in err
    assert cli.main(["sop", "check", str(tmp_path / "missing.toml")]) == 1
    assert "cannot read" in capsys.readouterr().err
