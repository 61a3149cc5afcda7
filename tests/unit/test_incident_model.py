"""The incident vocabulary and the pure parts of the service: levels, transitions, areas, how
alerts cluster into a proposal, the suggested type, and the CAP 1.2 warning of an incident."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from app.incidents import cap, proposals, sop
from app.incidents.areas import entered, from_alerts
from app.incidents.errors import IncidentError
from app.model.incidents import (
    CLOSED,
    LEVEL_SEVERITY,
    LEVELS,
    SEVERITY_LEVEL,
    STATUSES,
    TRANSITIONS,
    check_polygon,
    comes_from,
    distance_m,
    graver,
    in_area,
    level_of,
    raised,
)

CATALOGUE = sop.load_catalogue()
RULE = CATALOGUE.proposals
NOW = 1_767_225_600.0
SQUARE = {"type": "Polygon", "coordinates": [[[112.0, 28.0], [113.0, 28.0], [113.0, 29.0],
                                              [112.0, 29.0], [112.0, 28.0]]]}
HOLED = {"type": "Polygon", "coordinates": [
    SQUARE["coordinates"][0],
    [[112.4, 28.4], [112.6, 28.4], [112.6, 28.6], [112.4, 28.6], [112.4, 28.4]]]}


def test_levels_and_severities() -> None:
    """I is the gravest; each level has its severity and back; raising stops at I."""
    assert LEVELS == ("I", "II", "III", "IV")
    assert [LEVEL_SEVERITY[level] for level in LEVELS] == ["critical", "major", "minor", "warning"]
    assert all(SEVERITY_LEVEL[LEVEL_SEVERITY[level]] == level for level in LEVELS)
    assert level_of("info") == "IV" and level_of("nonsense") == "IV"
    assert graver("IV", "II", "III") == "II" and graver() == "IV" and graver("x") == "IV"
    assert [raised(level) for level in LEVELS] == ["I", "I", "II", "III"]


def test_transitions() -> None:
    """declared -> responding -> stabilised -> closed (a false alarm closes from declared, a
    flare-up goes back to responding); closed is final and every status can be reached."""
    assert STATUSES == ("declared", "responding", "stabilised", "closed")
    assert TRANSITIONS[CLOSED] == () and "closed" not in TRANSITIONS["responding"]
    assert comes_from("closed") == ("declared", "stabilised")
    assert comes_from("responding") == ("declared", "stabilised")
    reached, frontier = {"declared"}, ["declared"]
    while frontier:
        for target in TRANSITIONS[frontier.pop()]:
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(STATUSES)


def test_areas() -> None:
    """Distances on the sphere; a circle around a centre; a polygon with a hole; bad polygons
    refused with what is wrong."""
    assert distance_m(28.0, 112.0, 29.0, 112.0) == pytest.approx(111_195, rel=1e-3)
    assert in_area(28.5, 112.5, centre=(28.5, 112.502), radius_m=300, polygon=None)
    assert not in_area(28.5, 112.5, centre=(28.5, 112.51), radius_m=300, polygon=None)
    assert not in_area(28.5, 112.5, centre=None, radius_m=300, polygon=None)
    assert in_area(28.2, 112.2, centre=None, radius_m=0, polygon=check_polygon(HOLED))
    assert not in_area(28.5, 112.5, centre=None, radius_m=0, polygon=check_polygon(HOLED))
    for bad in ({"type": "Point", "coordinates": [112, 28]}, {"type": "Polygon", "coordinates": []},
                {"type": "Polygon", "coordinates": [[[112, 28], [113, 28], [112, 28]]]},
                {"type": "Polygon", "coordinates": [[[112, 28], [113, 28], [113, 29], [112, 29]]]},
                {"type": "Polygon", "coordinates": [[[212, 28], [113, 28], [113, 29], [212, 28]]]},
                {"type": "Polygon", "coordinates": [[[True, 28], [113, 28], [113, 29], [True, 28]]]}):
        with pytest.raises(ValueError):
            check_polygon(bad)


def test_an_entered_area_names_the_field_at_fault() -> None:
    """A point and radius, a polygon (text or object), or nothing; each mistake names its field."""
    point = entered(28.5, 112.5, None, None, 500.0)
    assert point is not None and (point.radius_m, point.polygon) == (500.0, None)
    drawn = entered(None, None, None, '{"type": "Polygon", "coordinates": [[[112, 28], [113, 28], '
                                      '[113, 29], [112, 29], [112, 28]]]}', 500.0)
    assert drawn is not None and drawn.contains(28.5, 112.5) and drawn.lat == pytest.approx(28.5)
    assert entered(None, None, None, None, 500.0) is None
    for args, field in (((28.5, None, None, None), "lon"), ((None, 112.5, None, None), "lat"),
                        ((0.0, 0.0, None, None), "lat"), ((28.5, 112.5, 5.0, None), "radius_m"),
                        ((None, None, None, "{"), "area"), ((None, None, None, "x" * 20_001), "area")):
        with pytest.raises(IncidentError) as refused:
            entered(*args, 500.0)
        assert refused.value.field == field


def test_an_area_from_alerts() -> None:
    """A CAP warning's area first, else the first located alert with the radius, else none."""
    point = {"source": "rule", "lat": 28.1, "lon": 112.1}
    warning = {"source": "cap", "lat": 28.5, "lon": 112.5, "area": SQUARE}
    assert from_alerts([point, warning], 300).polygon == SQUARE  # type: ignore[union-attr]
    assert from_alerts([point], 300).radius_m == 300  # type: ignore[union-attr]
    assert from_alerts([{"source": "rule", "lat": None, "lon": None}], 300) is None


# -- clusters --------------------------------------------------------------------------------------------
_serial = iter(range(10_000))


def alert(domain: str, lat: float, lon: float, minutes_ago: float = 0.0, *, state: str = "active_unack",
          **extra: Any) -> dict[str, Any]:
    return {"id": f"al-{next(_serial):016x}", "domain": domain, "lat": lat, "lon": lon,
            "state": state, "severity": extra.pop("severity", "major"), "source": "rule",
            "title": extra.pop("title", "Alert"), "description": "",
            "opened_at": NOW - 60 * minutes_ago, "last_seen": NOW - 60 * minutes_ago, **extra}


def test_three_alerts_of_two_domains_within_500_m_in_15_minutes() -> None:
    """The issue's example clusters; one alert fewer, one domain fewer, too far or too long ago
    does not; a chain of alerts each within 500 m of the next is one cluster."""
    base = (28.5, 112.5)
    near = [alert("water", *base, 10), alert("water", 28.502, 112.5, 5), alert("transport", 28.5, 112.502)]
    assert [len(c) for c in proposals.clusters(near, RULE, NOW)] == [3]
    assert proposals.clusters(near[:2], RULE, NOW) == []
    same = [dict(a, domain="water") for a in near]
    assert proposals.clusters(same, RULE, NOW) == []
    far = near[:2] + [alert("transport", 28.52, 112.5)]
    assert proposals.clusters(far, RULE, NOW) == []
    old = [alert("water", *base, 30), alert("water", 28.502, 112.5, 20), near[2]]
    assert proposals.clusters(old, RULE, NOW) == []
    cleared = near[:2] + [dict(near[2], state="cleared_unack")]
    assert proposals.clusters(cleared, RULE, NOW) == []
    chain = [alert("water", 28.5 + 0.004 * i, 112.5, i, severity="minor") for i in range(4)]
    chain.append(alert("city", 28.516, 112.5))
    found = proposals.clusters(chain, RULE, NOW)
    assert len(found) == 1 and len(found[0]) == 5
    assert distance_m(28.5, 112.5, 28.516, 112.5) > 1500  # ends far apart, each link close


def test_a_warning_gathers_the_alerts_in_its_area() -> None:
    """Alerts far apart but inside an active CAP warning's area cluster with it (the warning
    itself may be old); the proposal takes the area, the gravest level and a fitting type."""
    warning = alert("city", 28.5, 112.5, 120, source="cap", area=SQUARE, severity="critical",
                    title="Rainstorm red warning")
    inside = [alert("water", 28.1, 112.1, 2), alert("water", 28.9, 112.9, 1)]
    found = proposals.clusters([warning, *inside], RULE, NOW)
    assert len(found) == 1 and {a["id"] for a in found[0]} == {warning["id"]} | {a["id"] for a in inside}
    fields = proposals.describe(found[0], CATALOGUE, RULE)
    assert fields["level"] == "I" and fields["suggested_type"] == "urban_flooding"
    assert fields["domains"] == "city,water" and fields["title"] == "Rainstorm red warning"
    assert (float(fields["lat"]), float(fields["lon"])) == (28.5, 112.5)
    outside = [alert("water", 30.0, 115.0, 2), alert("water", 30.0, 115.001, 1)]
    assert proposals.clusters([warning, *outside], RULE, NOW) == []


def test_the_suggested_type() -> None:
    """Keywords in the alerts' texts first, then the domains they share with a type."""
    def suggest(*titles_domains: tuple[str, str]) -> str:
        return proposals.suggested_type(
            [alert(domain, 28.5, 112.5, title=title) for title, domain in titles_domains], CATALOGUE)

    assert suggest(("Chemical smell near the plant", "city")) == "hazardous_chemical_leak"
    assert suggest(("ICU beds below 2", "medical")) == "hospital_surge"
    assert suggest(("Low pressure in zone Heshan", "water")) == "water_main_burst"
    assert suggest(("Crowd at the stadium gate", "transport")) == "large_event_crowd"
    assert suggest(("停电", "city")) == "power_outage"


# -- the CAP warning -------------------------------------------------------------------------------
def _incident(**extra: Any) -> dict[str, Any]:
    return {"id": "in-0123456789ab", "number": 7, "title": "Burst main", "description": "",
            "type": "water_main_burst", "type_name": "Water main burst", "type_name_zh": "供水管道爆管",
            "domains": ["water"], "level": "III", "status": "responding", "public": True,
            "public_at": NOW, "updated_at": NOW, "declared_at": NOW - 600, "version": 4,
            "lat": 28.5, "lon": 112.5, "radius_m": 800.0, "area": None} | extra


def test_the_cap_warning_of_an_incident() -> None:
    """Two info blocks (English, Chinese), the level's severity, the circle of the area in km;
    msgType and status follow the incident (Draft before it is public)."""
    ns = {"cap": cap.CAP_NS}
    root = ET.fromstring(cap.cap_document(_incident(), NOW))
    assert [i.findtext("cap:language", namespaces=ns) for i in root.findall("cap:info", ns)] == [
        "en-US", "zh-CN"]
    assert root.findtext("cap:msgType", namespaces=ns) == "Alert"
    info = root.find("cap:info", ns)
    assert info is not None
    assert info.findtext("cap:severity", namespaces=ns) == "Moderate"
    assert info.findtext("cap:category", namespaces=ns) == "Infra"
    assert info.findtext("cap:area/cap:circle", namespaces=ns) == "28.500000,112.500000 0.8"
    assert root.findall("cap:info", ns)[1].findtext("cap:event", namespaces=ns) == "供水管道爆管"
    assert cap.msg_type(_incident(updated_at=NOW + 5)) == "Update"
    assert cap.msg_type(_incident(status="closed")) == "Cancel"
    draft = ET.fromstring(cap.cap_document(_incident(public=False, area=SQUARE), NOW))
    assert draft.findtext("cap:status", namespaces=ns) == "Draft"
    assert draft.findtext("cap:info/cap:area/cap:polygon", namespaces=ns).startswith(  # type: ignore[union-attr]
        "28.000000,112.000000 ")
