"""After-action figures as pure functions of an incident's record: a record built by hand with known
times gives known spans (an alert that reopened counts from its reopening, a task finished without
being taken was accepted when finished, the system's own steps are nobody's acceptance)."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from app import i18n
from app.incidents import after_action

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC


def _entry(at: float, actor: str, action: str, *, task: str = "", alert: str = "",
           detail: str = "", note: str = "") -> dict[str, Any]:
    return {"at": at, "at_iso": None, "actor": actor, "action": action, "addr": "", "task": task,
            "alert": alert, "detail": detail, "note": note}


def _task(task_id: str, state: str, *, due: float, taken: float | None = None, owner: str = "",
          done: float | None = None, done_by: str = "", auto: bool = False,
          left_open: bool = False) -> dict[str, Any]:
    return {"id": task_id, "title": f"Task {task_id}", "title_zh": f"任务 {task_id}",
            "department": "water_bureau", "state": state, "required": True, "auto": auto,
            "left_open": left_open, "escalated": False, "created_at": T0 + 300, "due_at": due,
            "taken_at": taken, "owner": owner, "done_at": done, "done_by": done_by,
            "cannot_at": None, "cannot_by": ""}


def record() -> dict[str, Any]:
    """Incident #7: two alerts before it (one of them an old alert that reopened), declared five
    minutes after the first, a third alert linked automatically later and never acknowledged."""
    incident = {"id": "in-000000000007", "number": 7, "title": "Burst main", "level": "III",
                "status": "closed", "declared_at": T0 + 300, "closed_at": T0 + 3000,
                "declared_by": "op1", "closed_by": "op2", "type_name": "Water main burst",
                "type_name_zh": "供水管道爆管", "commander": "op1", "source": "alerts"}
    alerts = {
        "al-1": {"alert": {"title": "Low pressure", "severity": "major", "domain": "water"},
                 "timeline": [_entry(T0, "system:alerts", "raised"),
                              _entry(T0 + 90, "op1", "ack")]},
        "al-2": {"alert": {"title": "=HYPERLINK(\"x\")", "severity": "minor", "domain": "transport"},
                 "timeline": [_entry(T0 - 3600, "system:alerts", "raised"),
                              _entry(T0 - 3500, "op9", "ack"),
                              _entry(T0 - 3400, "op9", "resolve"),
                              _entry(T0 + 30, "system:alerts", "reopened"),
                              _entry(T0 + 400, "op2", "resolve")]},
        "al-3": {"alert": {"title": "Turbid water", "severity": "warning", "domain": "water"},
                 "timeline": [_entry(T0 + 800, "system:alerts", "raised")]},
    }
    links = [{"alert": "al-1", "state": "linked", "by": "op1", "at": T0 + 300, "how": "declared"},
             {"alert": "al-2", "state": "unlinked", "by": "op1", "at": T0 + 300, "how": "declared"},
             {"alert": "al-3", "state": "linked", "by": "system:incidents", "at": T0 + 900,
              "how": "auto"}]
    tasks = [
        _task("tk-1", "done", due=T0 + 2100, taken=T0 + 420, owner="crew1", done=T0 + 1000,
              done_by="crew1"),
        _task("tk-2", "done", due=T0 + 600, taken=T0 + 900, owner="crew2", done=T0 + 900,
              done_by="crew2"),
        _task("tk-3", "done", due=T0 + 600, done=T0 + 600, done_by="system:incidents", auto=True),
        _task("tk-4", "open", due=T0 + 7200, left_open=True),
    ]
    story = [
        _entry(T0 + 300, "op1", "declared", detail="Burst main"),
        _entry(T0 + 300, "op1", "linked", alert="al-1", detail="Low pressure"),
        _entry(T0 + 300, "op1", "linked", alert="al-2"),
        _entry(T0 + 420, "crew1", "task_taken", task="tk-1"),
        _entry(T0 + 500, "op1", "status", detail="responding"),
        _entry(T0 + 600, "system:incidents", "task_auto", task="tk-3", detail="notify"),
        _entry(T0 + 900, "crew2", "task_done", task="tk-2"),
        _entry(T0 + 900, "system:incidents", "autolinked", alert="al-3"),
        _entry(T0 + 1000, "crew1", "task_done", task="tk-1"),
        _entry(T0 + 2000, "op1", "status", detail="stabilised"),
        _entry(T0 + 3000, "op2", "status", detail="closed"),
    ]
    return {"incident": incident, "timeline": story, "tasks": tasks, "links": links, "alerts": alerts}


def test_incident_wide_spans() -> None:
    figures = after_action.durations(record())
    assert figures["first_alert_at"] == T0
    assert figures["to_acknowledge_s"] == 90  # first alert to the first acknowledgement
    assert figures["to_declare_s"] == 300
    assert figures["first_task_accepted_by"] == "crew1"
    assert figures["to_first_task_accepted_s"] == 120  # the system's own step at +300 is no one's
    assert (figures["to_respond_s"], figures["to_stabilise_s"], figures["to_close_s"]) == (200, 1700, 2700)
    assert figures["tasks"] == {"total": 4, "done": 3, "cannot": 0, "left_open": 1, "late": 1,
                                "escalated": 0}


def test_each_alert_counts_from_the_occurrence_the_incident_dealt_with() -> None:
    rows = {row["id"]: row for row in after_action.alert_rows(record())}
    assert (rows["al-1"]["to_acknowledge_s"], rows["al-1"]["acknowledged_by"]) == (90, "op1")
    # al-2 reopened at +30 (its old acknowledgement an hour before does not count); resolving it
    # acknowledged it.
    assert rows["al-2"]["opened_at"] == T0 + 30
    assert (rows["al-2"]["to_acknowledge_s"], rows["al-2"]["acknowledged_by"]) == (370, "op2")
    assert rows["al-3"]["to_acknowledge_s"] is None and rows["al-3"]["acknowledged_by"] == ""
    assert [r["id"] for r in after_action.alert_rows(record())] == ["al-1", "al-2", "al-3"]


def test_each_task_its_time_to_take_duration_and_lateness() -> None:
    rows = {row["id"]: row for row in after_action.task_rows(record())}
    assert (rows["tk-1"]["to_take_s"], rows["tk-1"]["duration_s"], rows["tk-1"]["work_s"],
            rows["tk-1"]["late_s"]) == (120, 700, 580, None)
    # Finished without being taken: accepted when finished; 300 s past its due time.
    assert (rows["tk-2"]["taken_by"], rows["tk-2"]["to_take_s"], rows["tk-2"]["duration_s"],
            rows["tk-2"]["late_s"]) == ("crew2", 600, 600, 300)
    assert (rows["tk-3"]["taken_at"], rows["tk-3"]["duration_s"]) == (None, 300)
    assert (rows["tk-4"]["finished_at"], rows["tk-4"]["duration_s"], rows["tk-4"]["left_open"]) == \
        (None, None, True)


def test_who_did_what() -> None:
    found = {p["actor"]: p for p in after_action.people(record())}
    assert found["op1"]["actions"] == {"declared": 1, "linked": 2, "status": 2, "alert_ack": 1}
    assert found["op2"]["actions"] == {"status": 1, "alert_ack": 1}
    assert found["crew2"]["actions"] == {"task_done": 1}
    assert found["system:incidents"]["system"] and not found["op1"]["system"]
    assert [p["actor"] for p in after_action.people(record())][:2] == ["op1", "op2"]


def test_a_call_declared_before_any_alert_has_no_time_to_declare() -> None:
    call = record()
    call["links"], call["alerts"] = [], {}
    figures = after_action.durations(call)
    assert figures["first_alert_at"] is None
    assert figures["to_acknowledge_s"] is None and figures["to_declare_s"] is None
    later = record()
    later["links"] = [later["links"][2]]  # only the alert raised after the declaration
    assert after_action.durations(later)["to_declare_s"] is None


def test_json_and_csv_exports() -> None:
    exported = after_action.export_json(record(), now=T0 + 4000)
    assert exported["durations"]["to_declare_s"] == 300
    assert exported["durations"]["declared_at_iso"] == "2026-01-01T00:05:00Z"
    assert exported["tasks"][1]["late_s"] == 300 and exported["alerts"][0]["opened_at_iso"]
    text = after_action.export_csv(record(), "Asia/Shanghai")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert list(rows[0]) == list(after_action.CSV_COLUMNS)
    spans = {(r["part"], r["item"], r["measure"]): r for r in rows}
    assert spans["incident", "Burst main", "to_declare"]["seconds"] == "300"
    assert spans["incident", "Burst main", "to_declare"]["start"] == "2026-01-01T08:00:00+08:00"
    assert spans["task", "Task tk-2", "duration"]["seconds"] == "600"
    # A title a spreadsheet would run as a formula is defused.
    assert ("alert", "'=HYPERLINK(\"x\")", "to_acknowledge") in spans
    assert sum(r["part"] == "action" for r in rows) == len(record()["timeline"])


@pytest.mark.parametrize(("seconds", "en", "zh"), [
    (None, "—", "—"), (0, "0 s", "0秒"), (59.6, "1 min 00 s", "1分00秒"), (305, "5 min 05 s", "5分05秒"),
    (3 * 3600 + 7 * 60 + 9, "3 h 07 min", "3小时07分"), (2 * 86400 + 5 * 3600, "2 d 5 h", "2天5小时")])
def test_durations_read_as_people_say_them(seconds: float | None, en: str, zh: str) -> None:
    assert after_action.duration_text(seconds, "en") == en
    assert after_action.duration_text(seconds, "zh") == zh


def test_medians_of_a_list() -> None:
    rows = [{"to_acknowledge_s": 60, "to_declare_s": None, "to_first_task_accepted_s": 10},
            {"to_acknowledge_s": 120, "to_declare_s": None, "to_first_task_accepted_s": 30},
            {"to_acknowledge_s": 600, "to_declare_s": 50, "to_first_task_accepted_s": None}]
    assert after_action.medians(rows) == {"to_acknowledge_s": 120, "to_declare_s": 50,
                                          "to_first_task_accepted_s": 20}
    with i18n.use_language("en"):
        assert after_action.duration_text(after_action.medians([])["to_declare_s"]) == "—"
