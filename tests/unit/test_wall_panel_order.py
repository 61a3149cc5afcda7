"""The wall's alert list (issue 18): active alerts before cleared-but-unacknowledged ones, a CAP
area sorted by and showing its gravest member, and "+N more" counting what the server left out
with the worst severity among it."""

from __future__ import annotations

from typing import Any

import pytest

from app import i18n
from layouts import alert_panel
from layouts.alert_panel import grouped_lines


@pytest.fixture(autouse=True)
def _no_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Times are written in the city's time zone, a setting of the web app: not needed here."""
    monkeypatch.setattr(alert_panel, "when", lambda ts: "—")


def _alert(i: int, state: str, severity: str, seen: float, **extra: Any) -> dict[str, Any]:
    return {"id": f"al-{i}", "state": state, "severity": severity, "domain": "water",
            "title": f"Alert {i}", "last_seen": seen, "count": 1, **extra}


def _ids(line: Any) -> list[str]:
    """Alert ids of a line, in document order (a group: the warning, then its members)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        attrs = getattr(node, "_prop_names", None)
        if attrs is not None and getattr(node, "data-alert", None):
            found.append(getattr(node, "data-alert"))
        children = getattr(node, "children", None)
        for child in children if isinstance(children, list) else [children]:
            if child is not None and not isinstance(child, str):
                walk(child)

    walk(line)
    return found


def test_cleared_alerts_never_push_active_ones_off() -> None:
    # Newer cleared-unacknowledged alerts (the old order put every unacknowledged one first).
    cleared = [_alert(i, "cleared_unack", "critical", 1000.0 + i) for i in range(5)]
    active = [_alert(10 + i, "active_ack", "minor", 100.0 + i) for i in range(3)]
    lines = grouped_lines(cleared + active, limit=3)
    shown = [i for line in lines[:-1] for i in _ids(line)]
    assert shown == ["al-10", "al-11", "al-12"]  # the order of attention: oldest first (issue 19)
    more = lines[-1]
    assert getattr(more, "data-omitted") == "5" and getattr(more, "data-worst") == "critical"
    with i18n.use_language("en"):
        assert "+5 more" in grouped_lines(cleared + active, limit=3)[-1].children


def test_an_area_is_sorted_by_and_shows_its_gravest_member() -> None:
    warning = _alert(1, "active_ack", "minor", 50.0, source="cap")
    members = [_alert(2, "active_ack", "info", 60.0, group="al-1"),
               _alert(3, "active_unack", "critical", 40.0, group="al-1")]
    other = _alert(4, "active_unack", "major", 90.0)
    lines = grouped_lines([other, warning, *members], limit=5)
    assert _ids(lines[0])[:2] == ["al-1", "al-3"]  # the worst member right under the warning
    assert getattr(lines[0], "data-count") == "3" and getattr(lines[0], "data-severity") == "critical"
    assert _ids(lines[1]) == ["al-4"]
    assert getattr(lines[-1], "data-omitted") == "0" and lines[-1].hidden is True


def test_the_wall_uses_the_order_of_attention() -> None:
    """Issue 19: active alerts in app.alerts.attention_order (escalated and unacknowledged, then
    severity, then unacknowledged, then oldest), cleared-but-unacknowledged ones after them."""
    escalated = _alert(1, "active_unack", "minor", 500.0, escalated=True, opened_at=400.0)
    critical_new = _alert(2, "active_unack", "critical", 900.0, opened_at=900.0)
    critical_old = _alert(3, "active_unack", "critical", 950.0, opened_at=100.0)
    critical_acked = _alert(4, "active_ack", "critical", 990.0, opened_at=50.0)
    cleared = _alert(5, "cleared_unack", "critical", 999.0, escalated=True, opened_at=10.0)
    lines = grouped_lines([cleared, critical_acked, critical_new, escalated, critical_old])
    assert [i for line in lines[:-1] for i in _ids(line)] == ["al-1", "al-3", "al-2", "al-4",
                                                               "al-5"]
