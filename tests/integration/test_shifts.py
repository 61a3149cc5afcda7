"""Shifts on real Redis: signing on and off, the shift log, the handover sheet's contents, its one
acknowledgement (twenty at once: one wins), and the printable sheet."""

from __future__ import annotations

import threading
import time
from html.parser import HTMLParser

import pytest
import redis

from app import audit, store
from app.alerts import lifecycle
from app.model.principal import Principal
from app.shifts import duty, handover, sheet_html
from app.shifts.errors import HandoverNotFound, HandoverTaken, NotOnDuty, NotPermitted, ShiftError

OUT = Principal(name="operator1", role="operator")
IN = Principal(name="operator2", role="operator")
OFFICIAL = Principal(name="official1", role="official")
HOSTILE = "<script>alert(1)</script> & 泵站\"停机\""


def test_sign_on_and_off_are_logged_once(r: redis.Redis) -> None:
    first = duty.sign_on(r, OUT, now=1000.0)
    again = duty.sign_on(r, OUT, now=1100.0)
    assert first["since"] == again["since"] == 1000.0
    assert [p["user"] for p in duty.on_duty(r)] == ["operator1"]
    duty.sign_off(r, OUT, now=2000.0)
    duty.sign_off(r, OUT, now=2100.0)
    assert duty.on_duty(r) == []
    kinds = [e["kind"] for e in duty.read_log(r)]
    assert kinds == ["sign_off", "sign_on"]
    actions = [e.action for e in audit.recent(r) if e.action.startswith("shift_")]
    assert actions == ["shift_sign_off", "shift_sign_on"]


def test_only_the_room_goes_on_duty_and_only_those_on_duty_write(r: redis.Redis) -> None:
    with pytest.raises(NotPermitted):
        duty.sign_on(r, OFFICIAL)
    with pytest.raises(NotPermitted):
        duty.sign_on(r, Principal(name="wall", role="wall", kind="token"))
    with pytest.raises(NotOnDuty):
        duty.write_note(r, OUT, "pump 3 noisy")
    duty.sign_on(r, OUT)
    with pytest.raises(ShiftError, match="text"):
        duty.write_note(r, OUT, "   ")
    with pytest.raises(ShiftError, match="2000"):
        duty.write_note(r, OUT, "x" * 2001)
    duty.write_note(r, OUT, "pump 3 noisy", notable=True)
    duty.write_note(r, OUT, "coffee machine fixed")
    assert [e["text"] for e in duty.read_log(r, notable_only=True)] == ["pump 3 noisy"]


def test_the_sheet_holds_what_the_next_shift_must_know(r: redis.Redis) -> None:
    now = time.time()
    duty.sign_on(r, OUT, now=now - 7200)
    duty.write_note(r, OUT, HOSTILE, notable=True, now=now - 3600)
    duty.write_note(r, OUT, "routine check done", now=now - 3000)
    unacked = lifecycle.raise_alert(r, fingerprint="h|1", title=HOSTILE, severity="critical",
                                    domain="water", source="test", now=now - 600).alert_id
    acked = lifecycle.raise_alert(r, fingerprint="h|2", title="Bus 12 broke down", severity="minor",
                                  domain="transport", source="test", now=now - 500).alert_id
    lifecycle.acknowledge(r, acked, "operator1", now=now - 400)
    assert lifecycle.escalate(r, unacked, deadline_s=60, now=now - 300)
    store.feeds.write_health(r, "reservoirs", {"domain": "water", "adapter": "sensorthings",
                                              "last_success": now - 7200, "freshness_budget_s": 60,
                                              "last_error": "timed out"}, incr_failures=True)
    store.feeds.write_health(r, "buses", {"domain": "transport", "adapter": "gtfs_rt",
                                         "last_success": now - 5, "freshness_budget_s": 60})
    written = handover.write(r, OUT, note="Storm expected after midnight", now=now)
    sheet = written["sheet"]
    assert sheet["note"] == "Storm expected after midnight" and written["created_by"] == "operator1"
    assert [a["id"] for a in sheet["alerts_unacknowledged"]] == [unacked]
    assert [a["id"] for a in sheet["alerts_escalated"]] == [unacked]
    assert [f["feed"] for f in sheet["feeds_down"]] == ["reservoirs"]
    assert [e["text"] for e in sheet["log"]] == [HOSTILE]
    assert [p["user"] for p in sheet["on_duty"]] == ["operator1"]
    # The next sheet lists only what was notable since this one.
    duty.write_note(r, OUT, "valve 7 closed", notable=True, now=now + 10)
    later = handover.write(r, OUT, now=now + 20)["sheet"]
    assert [e["text"] for e in later["log"]] == ["valve 7 closed"]


def test_the_incoming_shift_acknowledges_once(r: redis.Redis) -> None:
    duty.sign_on(r, OUT)
    sheet_id = handover.write(r, OUT)["id"]
    with pytest.raises(NotOnDuty):
        handover.acknowledge(r, IN, sheet_id)
    with pytest.raises(ShiftError, match="incoming"):
        handover.acknowledge(r, OUT, sheet_id)
    with pytest.raises(HandoverNotFound):
        handover.acknowledge(r, IN, "ho-000000000000")
    names = [f"operator{i}" for i in range(10, 30)]
    for name in names:
        duty.sign_on(r, Principal(name=name, role="operator"))
    results: list[object] = []
    barrier = threading.Barrier(len(names))

    def take(name: str) -> None:
        barrier.wait()
        try:
            results.append(handover.acknowledge(r, Principal(name=name, role="operator"), sheet_id))
        except HandoverTaken as exc:
            results.append(exc)

    threads = [threading.Thread(target=take, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [res for res in results if isinstance(res, dict)]
    losers = [res for res in results if isinstance(res, HandoverTaken)]
    assert len(winners) == 1 and len(losers) == len(names) - 1
    by = winners[0]["acknowledged_by"]
    assert all(loser.by == by and loser.at == winners[0]["acknowledged_at"] for loser in losers)
    assert [e["kind"] for e in duty.read_log(r)][0] == "handover_ack"
    assert [e.action for e in audit.recent(r) if e.action == "shift_handover_ack"] == \
        ["shift_handover_ack"]


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_printable_sheet_is_translated_escaped_and_offline(r: redis.Redis, lang: str) -> None:
    now = time.time()
    duty.sign_on(r, OUT, now=now - 100)
    duty.sign_on(r, IN, now=now - 50)
    duty.write_note(r, OUT, HOSTILE, notable=True, now=now - 10)
    lifecycle.raise_alert(r, fingerprint="p|1", title=HOSTILE, severity="critical", domain="water",
                          source="test", now=now - 5)
    sheet_id = handover.write(r, OUT, note=HOSTILE, now=now)["id"]
    handover.acknowledge(r, IN, sheet_id, note="ok", now=now + 60)
    html = sheet_html.render(handover.get(r, sheet_id), lang, "Asia/Shanghai", {})
    parsed = _Text()
    parsed.feed(html)
    text = " ".join(parsed.text)
    assert "script" not in parsed.tags and "<script>" not in html
    assert HOSTILE in text  # shown as sent, as text
    assert not any(tag in parsed.tags for tag in ("link", "img", "iframe"))
    assert "http" not in html  # nothing to fetch: it opens offline
    if lang == "zh":
        assert "交接班记录" in text and "紧急" in text and "供水" in text and "未确认" in text
        assert "operator2 已于" in text
    else:
        assert "Shift handover" in text and "critical" in text and "Water" in text
        assert "Taken over by operator2" in text
    for code in ("active_unack", "critical_", "sign_on", "ho-"):
        assert code not in text
