"""The shifts API on the whole app and a real redis-server: sign on and off (200), write in the log
and hand over (201), who may (403), what does not exist (404), off duty and already taken over
(409 with who and when), bad input (400 naming the field), twenty people taking over at once (one
wins), and the printable sheet in both languages with hostile text escaped."""

from __future__ import annotations

import threading
import time
from html.parser import HTMLParser
from typing import Any

import pytest
import redis

from app import accounts, alerts, audit
from app.shifts import duty
from tests.support.web import PASSWORD, csrf_header, login

HOSTILE = "<script>alert(1)</script> & 泵站\"停机\" `${x}`"


class Caller:
    """A signed-in session sending Dash's CSRF header with every POST."""

    def __init__(self, web_app: Any, name: str) -> None:
        self.name = name
        self.client = web_app.server.test_client()
        assert login(self.client, name).status_code == 302

    def get(self, path: str) -> Any:
        return self.client.get(path)

    def post(self, path: str, body: Any = None) -> Any:
        return self.client.post(path, json=body if body is not None else {},
                                headers=csrf_header(self.client))


@pytest.fixture
def callers(web_app: Any, r: redis.Redis, users: dict[str, str]) -> dict[str, Caller]:
    """A session per role, and a second operator for the incoming shift."""
    accounts.add_user(r, "operator2", "operator", PASSWORD)
    found = {role: Caller(web_app, name) for role, name in users.items()}
    found["incoming"] = Caller(web_app, "operator2")
    return found


def test_sign_on_and_off_and_who_is_on_duty(callers: dict[str, Caller], r: redis.Redis,
                                             web_app: Any) -> None:
    """Operators sign on (twice changes nothing) and off; officials read; emergency staff, officials
    and tokens never sign on (403, nothing written)."""
    operator, official = callers["operator"], callers["official"]
    first = operator.post("/api/v1/shifts/duty", {"duty": "on"})
    assert first.status_code == 200, first.get_json()
    mine = first.get_json()
    assert mine["on_duty"] is True and mine["since_iso"].endswith("Z")
    again = operator.post("/api/v1/shifts/duty", {"duty": "on"}).get_json()
    assert again["since"] == mine["since"]
    assert [p["user"] for p in again["on_duty_now"]] == [operator.name]
    listed = official.get("/api/v1/shifts/duty").get_json()
    assert [p["user"] for p in listed["on_duty"]] == [operator.name]
    assert listed["you"] == {"user": official.name, "on_duty": False, "since": None, "since_iso": None}
    assert operator.get("/api/v1/shifts/duty").get_json()["you"]["on_duty"] is True
    for role in ("official", "emergency"):
        assert callers[role].post("/api/v1/shifts/duty", {"duty": "on"}).status_code == 403
    assert callers["emergency"].get("/api/v1/shifts/duty").status_code == 403
    token = accounts.create_token(r, "ops-script", "operator")
    by_token = web_app.server.test_client().post(
        "/api/v1/shifts/duty", json={"duty": "on"}, headers={"Authorization": f"Bearer {token}"})
    assert by_token.status_code == 403  # a token is nobody's shift
    assert [p["user"] for p in duty.on_duty(r)] == [operator.name]
    off = operator.post("/api/v1/shifts/duty", {"duty": "off"})
    assert off.status_code == 200 and off.get_json()["on_duty"] is False
    assert duty.on_duty(r) == []
    for body, field in (({}, "duty"), ({"duty": "maybe"}, "duty"), ({"duty": "on", "x": 1}, "x")):
        refused = operator.post("/api/v1/shifts/duty", body)
        assert refused.status_code == 400 and f"'{field}'" in refused.get_json()["error"], body
    kinds = [e["kind"] for e in duty.read_log(r)]
    assert kinds == ["sign_off", "sign_on"]


def test_the_log_written_and_read_by_time(callers: dict[str, Caller]) -> None:
    """Off duty: 409; on duty: 201 with the entry (notable or not), read back newest first, by a
    time window, notable only; hostile text comes back exactly as written."""
    operator = callers["operator"]
    refused = operator.post("/api/v1/shifts/log", {"text": "pump 3 noisy"})
    assert refused.status_code == 409
    assert refused.get_json()["reason"] == "off_duty" and "sign on" in refused.get_json()["error"]
    assert operator.post("/api/v1/shifts/duty", {"duty": "on"}).status_code == 200
    written = operator.post("/api/v1/shifts/log", {"text": HOSTILE, "notable": "yes"})
    assert written.status_code == 201, written.get_json()
    entry = written.get_json()
    assert (entry["text"], entry["notable"], entry["actor"], entry["kind"]) == \
        (HOSTILE, True, operator.name, "note")
    assert entry["at_iso"].endswith("Z")
    plain = operator.post("/api/v1/shifts/log", {"text": "coffee machine fixed"}).get_json()
    assert plain["notable"] is False
    rounds = [operator.post("/api/v1/shifts/log", {"text": f"round {i}"}).get_json() for i in (1, 2, 3)]
    at = [entry["at"] for entry in rounds]
    assert at[0] <= at[1] <= at[2]  # milliseconds: two entries may share one; the order below
    log = callers["official"].get("/api/v1/shifts/log").get_json()["log"]
    assert [e["text"] for e in log[:5]] == ["round 3", "round 2", "round 1", "coffee machine fixed",
                                            HOSTILE]
    assert [e["kind"] for e in log[5:]] == ["sign_on"]
    window = callers["official"].get(f"/api/v1/shifts/log?since={at[1]}&until={at[2]}")
    # Round 1 falls inside too when it was written in the same millisecond as round 2.
    inside = [f"round {i}" for i in (3, 2, 1) if at[1] <= at[i - 1] <= at[2]]
    assert [e["text"] for e in window.get_json()["log"]] == inside
    # The same window in ISO 8601: whole seconds, so it reaches from round 2's second on.
    iso_since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(at[1])))
    later = callers["official"].get(f"/api/v1/shifts/log?since={iso_since}").get_json()["log"]
    assert {"round 2", "round 3"} <= {e["text"] for e in later}
    assert callers["official"].get(f"/api/v1/shifts/log?until={at[0] - 3600}").get_json()["log"] == []
    notable = callers["admin"].get("/api/v1/shifts/log?notable=yes").get_json()["log"]
    assert [e["text"] for e in notable] == [HOSTILE]
    assert len(callers["admin"].get("/api/v1/shifts/log?limit=2").get_json()["log"]) == 2
    for path, field in (("/api/v1/shifts/log?since=100&until=50", "until"),
                        ("/api/v1/shifts/log?since=2026-01-01T08:00:00", "since"),
                        ("/api/v1/shifts/log?since=-1", "since"),
                        ("/api/v1/shifts/log?notable=maybe", "notable"),
                        ("/api/v1/shifts/log?colour=red", "colour")):
        answer = operator.get(path)
        assert answer.status_code == 400 and f"'{field}'" in answer.get_json()["error"], path
    for body, field in (({"text": "x" * 2001}, "text"), ({"text": "  "}, "text"),
                        ({"text": 5}, "text"), ({"text": "a", "notable": "no way"}, "notable")):
        answer = operator.post("/api/v1/shifts/log", body)
        assert answer.status_code == 400 and f"'{field}'" in answer.get_json()["error"], body
    assert callers["emergency"].get("/api/v1/shifts/log").status_code == 403
    assert callers["official"].post("/api/v1/shifts/log", {"text": "hello"}).status_code == 403


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_handover_written_listed_read_and_taken_over_once(callers: dict[str, Caller],
                                                           r: redis.Redis) -> None:
    """201 with the sheet; listed as pending; the writer cannot take it over (400), someone off
    duty neither (409); the incoming shift does (200), and a second try is 409 naming them."""
    outgoing, incoming = callers["operator"], callers["incoming"]
    assert outgoing.post("/api/v1/shifts/handovers", {"note": "x"}).status_code == 409
    outgoing.post("/api/v1/shifts/duty", {"duty": "on"})
    outgoing.post("/api/v1/shifts/log", {"text": "valve 7 closed", "notable": "yes"})
    alerts.raise_alert(r, fingerprint="api:ho", title=HOSTILE, severity="critical", domain="water",
                       source="test", now=time.time() - 60)
    before = callers["official"].get("/api/v1/shifts/sheet").get_json()
    assert [a["title"] for a in before["alerts_unacknowledged"]] == [HOSTILE]
    assert callers["official"].get("/api/v1/shifts/handovers").get_json()["handovers"] == []
    written = outgoing.post("/api/v1/shifts/handovers", {"note": HOSTILE})
    assert written.status_code == 201, written.get_json()
    sheet = written.get_json()
    handover_id = sheet["id"]
    assert sheet["created_by"] == outgoing.name and sheet["sheet"]["note"] == HOSTILE
    assert [e["text"] for e in sheet["sheet"]["log"]] == ["valve 7 closed"]
    assert sheet["acknowledged_at_iso"] is None and sheet["created_at_iso"].endswith("Z")
    pending = callers["official"].get("/api/v1/shifts/handovers?state=pending").get_json()["handovers"]
    assert [h["id"] for h in pending] == [handover_id]
    assert pending[0]["counts"]["alerts_unacknowledged"] == 1 and "sheet" not in pending[0]
    own = outgoing.post(f"/api/v1/shifts/handovers/{handover_id}/acknowledge", {})
    assert own.status_code == 400 and "incoming" in own.get_json()["error"]
    off = incoming.post(f"/api/v1/shifts/handovers/{handover_id}/acknowledge", {})
    assert off.status_code == 409 and off.get_json()["reason"] == "off_duty"
    incoming.post("/api/v1/shifts/duty", {"duty": "on"})
    taken = incoming.post(f"/api/v1/shifts/handovers/{handover_id}/acknowledge", {"note": "got it"})
    assert taken.status_code == 200, taken.get_json()
    assert (taken.get_json()["acknowledged_by"], taken.get_json()["ack_note"]) == (incoming.name, "got it")
    callers["admin"].post("/api/v1/shifts/duty", {"duty": "on"})
    late = callers["admin"].post(f"/api/v1/shifts/handovers/{handover_id}/acknowledge", {})
    assert late.status_code == 409
    conflict = late.get_json()
    assert (conflict["reason"], conflict["by"]) == ("acknowledged", incoming.name)
    assert conflict["at"] == taken.get_json()["acknowledged_at"] and conflict["at_iso"].endswith("Z")
    assert callers["official"].get(
        "/api/v1/shifts/handovers?state=pending").get_json()["handovers"] == []
    done = callers["official"].get("/api/v1/shifts/handovers?state=acknowledged").get_json()
    assert [h["acknowledged_by"] for h in done["handovers"]] == [incoming.name]
    one = callers["official"].get(f"/api/v1/shifts/handovers/{handover_id}").get_json()
    assert one["acknowledged_by"] == incoming.name and one["links"]["html"].endswith("/sheet.html")
    for path in ("/api/v1/shifts/handovers/ho-000000000000", "/api/v1/shifts/handovers/nonsense",
                 "/api/v1/shifts/handovers/ho-000000000000/sheet.html"):
        assert callers["official"].get(path).status_code == 404, path
    assert outgoing.post("/api/v1/shifts/handovers/ho-000000000000/acknowledge", {}).status_code == 404
    assert callers["official"].post("/api/v1/shifts/handovers", {}).status_code == 403
    assert callers["emergency"].get("/api/v1/shifts/handovers").status_code == 403
    big = outgoing.post("/api/v1/shifts/handovers", {"note": "x" * 2001})
    assert big.status_code == 400 and "'note'" in big.get_json()["error"]
    actions = [e.action for e in audit.recent(r) if e.action.startswith("shift_")]
    assert actions.count("shift_handover") == 1 and actions.count("shift_handover_ack") == 1


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_printable_sheet_and_its_json(callers: dict[str, Caller], r: redis.Redis, lang: str) -> None:
    """The sheet opens as HTML in the asked language (no script, nothing to fetch, hostile text as
    text) and downloads as JSON; both are audited as exports."""
    outgoing = callers["operator"]
    outgoing.post("/api/v1/shifts/duty", {"duty": "on"})
    outgoing.post("/api/v1/shifts/log", {"text": HOSTILE, "notable": "yes"})
    handover_id = outgoing.post("/api/v1/shifts/handovers", {"note": HOSTILE}).get_json()["id"]
    page = callers["official"].get(f"/api/v1/shifts/handovers/{handover_id}/sheet.html?lang={lang}")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    parsed = _Text()
    parsed.feed(html)
    assert "script" not in parsed.tags and "<script>" not in html and "http" not in html
    assert HOSTILE in " ".join(parsed.text)
    assert ("交接班记录" in html) == (lang == "zh") and ("Shift handover" in html) == (lang == "en")
    download = callers["official"].get(f"/api/v1/shifts/handovers/{handover_id}/sheet.json")
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    assert download.get_json()["sheet"]["note"] == HOSTILE
    assert callers["official"].get(
        f"/api/v1/shifts/handovers/{handover_id}/sheet.html?lang=fr").status_code == 400
    exports = [e.target for e in audit.recent(r) if e.action == "export"]
    assert f"{handover_id} sheet.html" in exports and f"{handover_id} sheet.json" in exports


def test_twenty_take_over_at_once_one_wins(web_app: Any, r: redis.Redis,
                                           callers: dict[str, Caller]) -> None:
    """Twenty operators on duty press "take over" on one sheet together: one 200, nineteen 409
    naming the same winner and moment."""
    outgoing = callers["operator"]
    outgoing.post("/api/v1/shifts/duty", {"duty": "on"})
    handover_id = outgoing.post("/api/v1/shifts/handovers", {}).get_json()["id"]
    people = []
    for i in range(20):
        name = accounts.add_user(r, f"incoming{i}", "operator", PASSWORD)
        caller = Caller(web_app, name)
        assert caller.post("/api/v1/shifts/duty", {"duty": "on"}).status_code == 200
        people.append(caller)
    barrier = threading.Barrier(len(people))
    answers: list[tuple[int, dict[str, Any]]] = []
    lock = threading.Lock()

    def take(caller: Caller) -> None:
        barrier.wait()
        response = caller.post(f"/api/v1/shifts/handovers/{handover_id}/acknowledge", {})
        with lock:
            answers.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=take, args=(p,)) for p in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    won = [body for status, body in answers if status == 200]
    lost = [body for status, body in answers if status == 409]
    assert len(won) == 1 and len(lost) == 19, [status for status, _ in answers]
    winner = won[0]["acknowledged_by"]
    assert all(body["by"] == winner and body["at"] == won[0]["acknowledged_at"] for body in lost)
