"""The /shifts page's callbacks on the whole app and a real redis-server: sign on, write in the log
(notable or not), see the sheet as it stands, hand over, take over (once: the second is told who and
when), sign off; officials read and are refused every change; both languages, feed and people's
text shown as text, no internal codes on the screen."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis

from app import accounts, alerts
from app.shifts import duty, handover
from layouts import ids
from tests.support.security import callback_key, callback_request
from tests.support.seeds.domains import texts
from tests.support.seeds.official import page_body
from tests.support.web import PASSWORD, csrf_header, login

HOSTILE = "<img src=x onerror=alert(1)> & 水泵\"停机\""
CODES = ("active_unack", "sign_on", "handover_ack", "ho-", "in-", "al-", "water_main_burst")


class Page:
    """One person's /shifts in a signed-in session: its callbacks, as the browser sends them."""

    def __init__(self, web_app: Any, name: str) -> None:
        self.web_app, self.name = web_app, name
        self.client = web_app.server.test_client()
        assert login(self.client, name).status_code == 302
        self.shown: Any = None

    def call(self, callback: str, values: dict[str, Any], trigger: str | None = None) -> Any:
        key = callback_key(self.web_app, f"layouts.shifts.{callback}")
        spec = self.web_app.callback_map[key]
        body = callback_request(key, spec, values, trigger)
        return self.client.post("/_dash-update-component", json=body, headers=csrf_header(self.client))

    def answer(self, callback: str, values: dict[str, Any], trigger: str | None = None) -> dict[str, Any]:
        response = self.call(callback, values, trigger)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        return response.get_json()["response"]

    def press(self, callback: str, pattern: str, index: str, extra: dict[str, Any] | None = None) -> Any:
        """Press one of a pattern-matching set of buttons (sign on/off, take over)."""
        key = callback_key(self.web_app, f"layouts.shifts.{callback}")
        spec = self.web_app.callback_map[key]
        wildcard = next(i for i in spec["inputs"] if i["id"].startswith("{"))
        match = {"id": {"type": pattern, "index": index}, "property": "n_clicks", "value": 1}
        trigger = json.dumps(match["id"], sort_keys=True, separators=(",", ":")) + ".n_clicks"
        values = {f"{wildcard['id']}.n_clicks": [match], **(extra or {})}
        return self.call(callback, values, trigger)

    def refresh(self, window: str = "24h", notable: list[str] | None = None) -> dict[str, Any]:
        found = self.answer("refresh", {f"{ids.SHIFTS_TICK}.n_intervals": 1,
                                        f"{ids.SHIFTS_LOG_WINDOW}.value": window,
                                        f"{ids.SHIFTS_LOG_NOTABLE_ONLY}.value": notable or [],
                                        f"{ids.SHIFTS_SHOWN}.data": None})
        self.shown = found[ids.SHIFTS_SHOWN]["data"]
        return found

    def layout(self) -> list[str]:
        response = self.client.post("/_dash-update-component", json=page_body("/shifts"),
                                    headers=csrf_header(self.client))
        assert response.status_code == 200
        return texts(response.get_json()["response"]["_pages_content"]["children"])


def words(found: dict[str, Any], component: str) -> list[str]:
    return texts(found[component]["children"])


def buttons(node: Any) -> list[Any]:
    """The ids of every button in a component tree (as JSON)."""
    if isinstance(node, list):
        return [b for child in node for b in buttons(child)]
    if not isinstance(node, dict) or "props" not in node:
        return []
    own = [node["props"].get("id")] if node.get("type") == "Button" else []
    return own + buttons(node["props"].get("children"))


@pytest.fixture
def pages(web_app: Any, r: redis.Redis, users: dict[str, str]) -> dict[str, Page]:
    accounts.add_user(r, "operator2", "operator", PASSWORD)
    found = {role: Page(web_app, name) for role, name in users.items()}
    found["incoming"] = Page(web_app, "operator2")
    return found


def test_a_shift_from_signing_on_to_the_next_taking_over(pages: dict[str, Page], r: redis.Redis) -> None:
    outgoing, incoming, admin = pages["operator"], pages["incoming"], pages["admin"]
    first = outgoing.refresh()
    assert words(first, ids.SHIFTS_ON_DUTY) == ["Nobody is on duty."]
    assert words(first, ids.SHIFTS_DUTY_ACTIONS) == ["You are not on duty.", "Sign on duty"]
    # Writing before signing on is refused with a reason.
    refused = outgoing.answer("write_note", {f"{ids.SHIFTS_NOTE_WRITE}.n_clicks": 1,
                                             f"{ids.SHIFTS_NOTE_TEXT}.value": "pump 3"})
    assert texts(refused[ids.SHIFTS_NOTE_RESULT]["children"]) == ["Sign on duty first."]
    signed = outgoing.press("sign", ids.SHIFTS_DUTY, "on")
    assert signed.status_code == 200
    assert texts(signed.get_json()["response"][ids.SHIFTS_DUTY_RESULT]["children"]) == ["You are on duty."]
    assert [p["user"] for p in duty.on_duty(r)] == [outgoing.name]
    # Bad entries: a message, nothing written.
    for text, notable, message in (("   ", [], "Write something first."),
                                   ("x" * 2001, [], "At most 2000 characters, please."),
                                   ("fine", ["maybe"], "Tick the box, or leave it empty.")):
        answer = outgoing.answer("write_note", {f"{ids.SHIFTS_NOTE_WRITE}.n_clicks": 1,
                                                f"{ids.SHIFTS_NOTE_TEXT}.value": text,
                                                f"{ids.SHIFTS_NOTE_NOTABLE}.value": notable})
        assert texts(answer[ids.SHIFTS_NOTE_RESULT]["children"]) == [message]
    assert [e["kind"] for e in duty.read_log(r)] == ["sign_on"]
    written = outgoing.answer("write_note", {f"{ids.SHIFTS_NOTE_WRITE}.n_clicks": 1,
                                             f"{ids.SHIFTS_NOTE_TEXT}.value": HOSTILE,
                                             f"{ids.SHIFTS_NOTE_NOTABLE}.value": ["yes"]})
    assert texts(written[ids.SHIFTS_NOTE_RESULT]["children"]) == ["Written in the log."]
    assert written[ids.SHIFTS_NOTE_TEXT]["value"] == ""
    outgoing.answer("write_note", {f"{ids.SHIFTS_NOTE_WRITE}.n_clicks": 1,
                                   f"{ids.SHIFTS_NOTE_TEXT}.value": "coffee machine fixed"})
    assert [(e["text"], e["notable"]) for e in duty.read_log(r) if e["kind"] == "note"] == \
        [("coffee machine fixed", False), (HOSTILE, True)]
    alerts.raise_alert(r, fingerprint="page:1", title=HOSTILE, severity="critical", domain="water",
                       source="test", now=time.time() - 30)
    # The page: who is on duty, the log with the notable entry marked, the text as text.
    now_shown = outgoing.refresh()
    assert words(now_shown, ids.SHIFTS_ON_DUTY)[0].startswith(f"{outgoing.name} · operator · since ")
    assert words(now_shown, ids.SHIFTS_DUTY_ACTIONS)[1] == "Sign off duty"
    log = words(now_shown, ids.SHIFTS_LOG)
    assert HOSTILE in log and "notable" in log and "note" in log and "signed on" in log
    only_notable = words(outgoing.refresh(notable=["yes"]), ids.SHIFTS_LOG)
    assert HOSTILE in only_notable and "coffee machine fixed" not in only_notable
    # Nothing moved: the page is not redrawn.
    again = outgoing.call("refresh", {f"{ids.SHIFTS_TICK}.n_intervals": 2,
                                      f"{ids.SHIFTS_LOG_WINDOW}.value": "24h",
                                      f"{ids.SHIFTS_LOG_NOTABLE_ONLY}.value": ["yes"],
                                      f"{ids.SHIFTS_SHOWN}.data": outgoing.shown})
    assert again.status_code == 204
    # The sheet as it stands: shown, not stored.
    preview = outgoing.answer("preview", {f"{ids.SHIFTS_PREVIEW}.n_clicks": 1})
    sheet = texts(preview[ids.SHIFTS_SHEET]["children"])
    assert "Notable log entries (1)" in sheet and "Unacknowledged alerts (1)" in sheet
    assert any(HOSTILE in line for line in sheet)
    assert any(line.startswith("critical · ") for line in sheet)
    assert handover.recent(r) == []
    handed = outgoing.answer("hand_over", {f"{ids.SHIFTS_HANDOVER_WRITE}.n_clicks": 1,
                                           f"{ids.SHIFTS_HANDOVER_NOTE}.value": HOSTILE})
    assert "Handed over. The incoming shift takes over below." in texts(
        handed[ids.SHIFTS_HANDOVER_RESULT]["children"])
    assert handed[ids.SHIFTS_SHEET]["children"] == []
    [written_sheet] = handover.recent(r)
    assert written_sheet["sheet"]["note"] == HOSTILE and written_sheet["created_by"] == outgoing.name
    sheet_id = written_sheet["id"]
    # The writer sees it waiting and may not take it over; the incoming shift may once on duty.
    assert "You wrote this sheet: the incoming shift takes it over." in words(
        outgoing.refresh(), ids.SHIFTS_PENDING)
    own = outgoing.press("acknowledge", ids.SHIFTS_ACK, sheet_id)
    assert texts(own.get_json()["response"][ids.SHIFTS_ACK_RESULT]["children"]) == [
        "You wrote this sheet: the incoming shift takes it over."]
    waiting = incoming.refresh()
    assert buttons(waiting[ids.SHIFTS_PENDING]["children"]) == [{"type": ids.SHIFTS_ACK, "index": sheet_id}]
    assert waiting[ids.SHIFTS_ACK_FORM]["hidden"] is False  # the note for taking over shows
    assert outgoing.refresh()[ids.SHIFTS_ACK_FORM]["hidden"] is True  # not for the sheet's writer
    off = incoming.press("acknowledge", ids.SHIFTS_ACK, sheet_id)
    assert texts(off.get_json()["response"][ids.SHIFTS_ACK_RESULT]["children"]) == ["Sign on duty first."]
    incoming.press("sign", ids.SHIFTS_DUTY, "on")
    taken = incoming.press("acknowledge", ids.SHIFTS_ACK, sheet_id,
                           {f"{ids.SHIFTS_ACK_NOTE}.value": "all read"})
    assert texts(taken.get_json()["response"][ids.SHIFTS_ACK_RESULT]["children"]) == [
        "You took over the shift."]
    assert handover.get(r, sheet_id)["ack_note"] == "all read"
    admin.press("sign", ids.SHIFTS_DUTY, "on")
    late = admin.press("acknowledge", ids.SHIFTS_ACK, sheet_id)
    [told] = texts(late.get_json()["response"][ids.SHIFTS_ACK_RESULT]["children"])
    assert told.startswith(f"Not taken over: {incoming.name} took over at ")
    recent = words(incoming.refresh(), ids.SHIFTS_RECENT)
    assert any(line.startswith(f"Taken over by {incoming.name} at ") for line in recent)
    assert "Printable sheet" in recent and "JSON" in recent
    assert words(incoming.refresh(), ids.SHIFTS_PENDING) == ["No sheet is waiting to be taken over."]
    off_duty = outgoing.press("sign", ids.SHIFTS_DUTY, "off")
    assert texts(off_duty.get_json()["response"][ids.SHIFTS_DUTY_RESULT]["children"]) == [
        "You are off duty."]
    everything = " ".join(words(outgoing.refresh("7d"), ids.SHIFTS_LOG)
                          + recent + sheet + words(waiting, ids.SHIFTS_PENDING))
    for code in CODES:
        assert code not in everything, code


def test_officials_read_and_change_nothing(pages: dict[str, Page], r: redis.Redis,
                                           users: dict[str, str]) -> None:
    official, operator = pages["official"], pages["operator"]
    operator.press("sign", ids.SHIFTS_DUTY, "on")
    operator.answer("write_note", {f"{ids.SHIFTS_NOTE_WRITE}.n_clicks": 1,
                                   f"{ids.SHIFTS_NOTE_TEXT}.value": "valve 7 closed"})
    operator.answer("hand_over", {f"{ids.SHIFTS_HANDOVER_WRITE}.n_clicks": 1})
    shown = official.refresh()
    assert words(shown, ids.SHIFTS_DUTY_ACTIONS) == []
    assert "valve 7 closed" in words(shown, ids.SHIFTS_LOG)
    assert buttons(shown[ids.SHIFTS_PENDING]["children"]) == []
    assert shown[ids.SHIFTS_ACK_FORM]["hidden"] is True
    layout = official.layout()
    assert "Hand over the shift" not in layout and "New log entry" not in layout
    assert "Hand over the shift" in operator.layout()
    before = len(duty.read_log(r))
    sheet_id = handover.recent(r)[0]["id"]
    assert official.press("sign", ids.SHIFTS_DUTY, "on").status_code == 403
    assert official.press("acknowledge", ids.SHIFTS_ACK, sheet_id).status_code == 403
    assert official.call("write_note", {f"{ids.SHIFTS_NOTE_WRITE}.n_clicks": 1,
                                        f"{ids.SHIFTS_NOTE_TEXT}.value": "hi"}).status_code == 403
    assert official.call("hand_over", {f"{ids.SHIFTS_HANDOVER_WRITE}.n_clicks": 1}).status_code == 403
    assert len(duty.read_log(r)) == before and handover.get(r, sheet_id)["acknowledged_by"] == ""
    assert pages["emergency"].call("refresh", {}).status_code == 403


def test_the_page_in_chinese(pages: dict[str, Page], r: redis.Redis, users: dict[str, str]) -> None:
    accounts.set_language(r, users["operator"], "zh")
    accounts.set_language(r, "operator2", "zh")
    outgoing, incoming = pages["operator"], pages["incoming"]
    layout = outgoing.layout()
    for word in ("值班", "在岗人员", "交班", "值班日志", "新增值班记录", "写入日志", "最近的交接班记录"):
        assert word in layout, word
    assert "Shift log" not in layout
    assert words(outgoing.refresh(), ids.SHIFTS_DUTY_ACTIONS) == ["您当前不在岗。", "上岗签到"]
    outgoing.press("sign", ids.SHIFTS_DUTY, "on")
    outgoing.answer("write_note", {f"{ids.SHIFTS_NOTE_WRITE}.n_clicks": 1,
                                   f"{ids.SHIFTS_NOTE_TEXT}.value": HOSTILE,
                                   f"{ids.SHIFTS_NOTE_NOTABLE}.value": ["yes"]})
    log = words(outgoing.refresh(), ids.SHIFTS_LOG)
    assert "上岗签到" in log and "重要" in log and "记录" in log and HOSTILE in log
    preview = texts(outgoing.answer("preview", {f"{ids.SHIFTS_PREVIEW}.n_clicks": 1})[
        ids.SHIFTS_SHEET]["children"])
    assert "重要值班记录 (1)" in preview
    outgoing.answer("hand_over", {f"{ids.SHIFTS_HANDOVER_WRITE}.n_clicks": 1})
    sheet_id = handover.recent(r)[0]["id"]
    incoming.press("sign", ids.SHIFTS_DUTY, "on")
    incoming.press("acknowledge", ids.SHIFTS_ACK, sheet_id)
    pages["admin"].press("sign", ids.SHIFTS_DUTY, "on")
    accounts.set_language(r, users["admin"], "zh")
    [told] = texts(pages["admin"].press("acknowledge", ids.SHIFTS_ACK, sheet_id).get_json()[
        "response"][ids.SHIFTS_ACK_RESULT]["children"])
    assert told.startswith("未执行：operator2 已于 ") and told.endswith("接班确认。")
    recent = words(incoming.refresh(), ids.SHIFTS_RECENT)
    assert any("接班确认" in line for line in recent) and "打印版" in recent
