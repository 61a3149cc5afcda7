"""After-action on a real redis-server: an incident built through the services at known times gives
known figures; its record downloads as offline HTML (map, timeline, both languages, hostile text
escaped), JSON and CSV for officials (others 403, unknown 404, each download audited); /official
lists the incidents of the last 7 and 30 days with their figures."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import pytest
import redis

from app import accounts, audit, i18n, incidents
from app.alerts import lifecycle
from app.incidents import after_action, after_action_html
from app.model.incidents import CLOSED
from app.situation.report import assert_offline, escape_feed
from layouts import ids
from tests.support.incidents import CENTRE, DRILL, person, placed_alert
from tests.support.security import callback_key, callback_request
from tests.support.seeds.domains import texts
from tests.support.web import PASSWORD, csrf_header, login

HOSTILE = "<img src=x onerror=alert(1)>`${alert(2)}` & 泵站\"爆管\""


def build(r: redis.Redis, users: dict[str, str], base: float) -> str:
    """Incident: the first alert at ``base``, acknowledged 90 s later; declared at +300 from it and
    a second alert; the drill's task taken at +420 and done at +1000; a step added at +350 (due in
    5 min) finished straight away at +900; responding at +500, stabilised at +2000, closed at +3000."""
    operator = person(users["operator"])
    other = person("operator2")
    first = placed_alert(r, f"aa:{base}:1", title=HOSTILE, severity="major", now=base)
    second = placed_alert(r, f"aa:{base}:2", title="Turbid water", severity="minor",
                          lat=CENTRE[0] + 0.001, now=base + 30)
    lifecycle.acknowledge(r, first, users["operator"], now=base + 90)
    incident = incidents.declare(r, operator, DRILL, title=HOSTILE, kind="drill", level="III",
                                 commander=users["operator"], alert_ids=[first, second],
                                 lat=CENTRE[0], lon=CENTRE[1], radius_m=400.0,
                                 description=HOSTILE, now=base + 300)
    added = incidents.add_step(r, operator, DRILL, incident["id"], title="Sandbags <b>",
                               title_zh="沙袋", department="city_management", due_minutes=5,
                               now=base + 350)
    drill_task = next(t for t in incidents.incident_tasks(r, incident["id"]) if t["id"] != added["id"])
    incidents.act_on_task(r, operator, DRILL, drill_task["id"], "take", now=base + 420)
    incidents.change(r, operator, DRILL, incident["id"], "status", status="responding", now=base + 500)
    incidents.act_on_task(r, other, DRILL, added["id"], "finish", text_="=1+1", now=base + 900)
    incidents.act_on_task(r, operator, DRILL, drill_task["id"], "finish", now=base + 1000)
    incidents.change(r, operator, DRILL, incident["id"], "status", status="stabilised",
                     note=HOSTILE, now=base + 2000)
    incidents.change(r, other, DRILL, incident["id"], "status", status=CLOSED, now=base + 3000)
    return str(incident["id"])


@pytest.fixture
def official(web_app: Any, users: dict[str, str]) -> Any:
    client = web_app.server.test_client()
    assert login(client, users["official"]).status_code == 302
    return client


@pytest.fixture
def built(r: redis.Redis, users: dict[str, str]) -> tuple[str, float]:
    accounts.add_user(r, "operator2", "operator", PASSWORD)
    base = time.time() - 2 * 86400
    return build(r, users, base), base


def test_figures_of_an_incident_built_at_known_times(r: redis.Redis, built: tuple[str, float],
                                                     users: dict[str, str]) -> None:
    incident_id, base = built
    record = after_action.read_record(r, incident_id)
    assert record is not None
    figures = after_action.durations(record)
    assert figures["first_alert_at"] == pytest.approx(base, abs=0.001)
    assert figures["to_acknowledge_s"] == pytest.approx(90, abs=0.01)
    assert figures["to_declare_s"] == pytest.approx(300, abs=0.01)
    assert figures["to_first_task_accepted_s"] == pytest.approx(120, abs=0.01)
    assert figures["first_task_accepted_by"] == users["operator"]
    assert (figures["to_respond_s"], figures["to_stabilise_s"], figures["to_close_s"]) == \
        pytest.approx((200, 1700, 2700), abs=0.01)
    tasks = {t["title"]: t for t in after_action.task_rows(record)}
    assert (tasks["Exercise the valves"]["to_take_s"], tasks["Exercise the valves"]["duration_s"]) == \
        pytest.approx((120, 700), abs=0.01)
    sandbags = tasks["Sandbags <b>"]
    assert (sandbags["taken_by"], sandbags["finished_by"]) == ("operator2", "operator2")
    assert (sandbags["duration_s"], sandbags["late_s"]) == pytest.approx((550, 250), abs=0.01)
    alerts_ = {a["title"]: a for a in after_action.alert_rows(record)}
    assert alerts_[HOSTILE]["to_acknowledge_s"] == pytest.approx(90, abs=0.01)
    assert alerts_["Turbid water"]["to_acknowledge_s"] is None
    people = {p["actor"]: p["actions"] for p in after_action.people(record)}
    assert people[users["operator"]]["alert_ack"] == 1 and people[users["operator"]]["declared"] == 1
    assert people["operator2"] == {"task_done": 1, "status": 1}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_record_downloads_as_an_offline_document(official: Any, r: redis.Redis,
                                                     built: tuple[str, float], lang: str,
                                                     users: dict[str, str]) -> None:
    incident_id, _base = built
    accounts.set_language(r, users["official"], lang)
    response = official.get(f"/official/incidents/{incident_id}/after-action.html")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert response.headers["Content-Disposition"] == \
        'attachment; filename="cityops-incident-1-after-action.html"'
    document = response.get_data(as_text=True)
    assert_offline(document)  # nothing fetched by URL: Leaflet inlined, no tiles
    assert "L.circleMarker(" in document and "L.circle(" in document and "incident-area" in document
    assert "<img src=x" not in document and "${alert(2)}" not in document
    assert escape_feed(HOSTILE) in document
    assert "Sandbags &lt;b&gt;" in document or "沙袋" in document
    with i18n.use_language(lang):
        for key in ("after_action.durations_heading", "after_action.timeline_heading",
                    "after_action.people_heading", "after_action.to_first_task_accepted"):
            assert escape_feed(i18n.t(key)) in document, key
        assert i18n.t("after_action.m_s", m=2, s="00") in document  # the first task: 2 min
        assert escape_feed(i18n.label("incident_status", "stabilised")) in document
    if lang == "zh":
        assert "事件复盘报告" in document and "<html lang='zh-CN'>" in document
        assert "Response times" not in document and "沙袋" in document
    else:
        assert "After-action report: incident #1" in document and "响应时效" not in document
    for code in ("task_taken", "stabilised<", "water_bureau", "city_management", "system:incidents"):
        assert code not in document, code


def test_json_and_csv_downloads(official: Any, r: redis.Redis, built: tuple[str, float]) -> None:
    incident_id, _base = built
    exported = official.get(f"/official/incidents/{incident_id}/after-action.json")
    assert exported.status_code == 200 and "attachment" in exported.headers["Content-Disposition"]
    body = exported.get_json()
    assert body["incident"]["title"] == HOSTILE
    assert body["durations"]["to_declare_s"] == pytest.approx(300, abs=0.01)
    assert body["durations"]["closed_at_iso"].endswith("Z")
    assert {t["title"] for t in body["tasks"]} == {"Exercise the valves", "Sandbags <b>"}
    table = official.get(f"/official/incidents/{incident_id}/after-action.csv?form=machine")
    assert table.status_code == 200 and table.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(table.get_data(as_text=True).lstrip("\ufeff"))))
    spans = {(row["part"], row["measure"]): row for row in rows if row["part"] == "incident"}
    assert float(spans["incident", "to_close"]["seconds"]) == pytest.approx(2700, abs=0.01)
    assert spans["incident", "to_close"]["start"].endswith("+08:00")
    assert all(not row["item"].startswith(("=", "+", "@")) for row in rows)
    exports = [e.target for e in audit.recent(r) if e.action == "export"]
    assert "after-action #1 json" in exports and "after-action #1 csv" in exports


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_csv_for_people_is_in_words(official: Any, r: redis.Redis, built: tuple[str, float],
                                        users: dict[str, str], lang: str) -> None:
    """The default CSV (issue 19): headers and values in the reader's language, spans in words
    and in minutes, local times, no codes; hostile titles defused and kept as one cell."""
    from tests.support.code_scan import PATTERNS

    incident_id, base = built
    accounts.set_language(r, users["official"], lang)
    answer = official.get(f"/official/incidents/{incident_id}/after-action.csv")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    text = answer.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:], newline="")))
    with i18n.use_language(lang):
        assert rows[0][:3] == [i18n.t("export.col_part"), i18n.t("export.col_item"),
                               i18n.t("after_action.col_measure")]
        by_measure = {row[2]: row for row in rows[1:] if row[0] == i18n.t("export.part_incident")}
        close = by_measure[i18n.t("after_action.to_close")]
        assert close[1] == HOSTILE  # the incident's title, as sent (it starts with "<")
        assert (close[6], close[7]) == (after_action.duration_text(2700), "45.0")
        assert close[8] == i18n.label("incident_status", "closed")
        first = by_measure[i18n.t("after_action.to_first_task_accepted")]
        assert first[3] == users["operator"] and first[7] == "2.0"
        actions = [row for row in rows[1:] if row[0] == i18n.t("export.part_action")]
        assert i18n.label("incident_action", "declared") in {row[2] for row in actions}
    for row in rows:
        assert len(row) == len(rows[0]), row
        for cell in row:
            assert not cell.startswith(("=", "+", "@")), cell
            for kind in ("unit code", "snake_case name", "epoch seconds", "internal id"):
                assert not PATTERNS[kind].search(cell), (kind, cell, row)
    assert rows_with_machine_columns(official, incident_id) == list(after_action.CSV_COLUMNS)


def rows_with_machine_columns(client: Any, incident_id: str) -> list[str]:
    """The header of the machine form, which a people's form does not change."""
    path = f"/official/incidents/{incident_id}/after-action.csv?form=machine"
    text = client.get(path).get_data(as_text=True)
    return next(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


def test_who_may_download_and_what_does_not_exist(web_app: Any, r: redis.Redis, official: Any,
                                                  built: tuple[str, float],
                                                  users: dict[str, str]) -> None:
    incident_id, _base = built
    emergency = web_app.server.test_client()
    login(emergency, users["emergency"])
    for kind in ("html", "json", "csv"):
        assert emergency.get(f"/official/incidents/{incident_id}/after-action.{kind}").status_code == 403
    for path in ("/official/incidents/in-000000000000/after-action.html",
                 "/official/incidents/nonsense/after-action.json",
                 "/official/incidents/" + "x" * 3000 + "/after-action.csv"):
        answer = official.get(path)
        assert answer.status_code == 404 and len(answer.data) < 500, path
    token = accounts.create_token(r, "lobby", "wall")
    walled = web_app.server.test_client().get(
        f"/official/incidents/{incident_id}/after-action.html",
        headers={"Authorization": f"Bearer {token}"})
    assert walled.status_code == 403


def _incidents_section(web_app: Any, client: Any, window: str) -> list[str]:
    key = callback_key(web_app, "layouts.official.refresh_incidents")
    body = callback_request(key, web_app.callback_map[key],
                            {f"{ids.OFFICIAL_INCIDENTS_WINDOW}.value": window,
                             f"{ids.OFFICIAL_TRENDS_TICK}.n_intervals": 1})
    response = client.post("/_dash-update-component", json=body, headers=csrf_header(client))
    assert response.status_code == 200, response.data[:300]
    return texts(response.get_json()["response"][ids.OFFICIAL_INCIDENTS]["children"])


def test_official_lists_the_incidents_of_7_and_30_days(web_app: Any, r: redis.Redis, official: Any,
                                                       built: tuple[str, float],
                                                       users: dict[str, str]) -> None:
    _incident_id, base = built
    older = incidents.declare(r, person(users["operator"]), DRILL, title="Old drill", kind="drill",
                              lat=CENTRE[0], lon=CENTRE[1], now=base - 8 * 86400)
    week = _incidents_section(web_app, official, "7d")
    assert f"#1 {HOSTILE}" in week and "#2 Old drill" not in week
    assert week[0] == ("Incidents: 1 · median time to acknowledge 1 min 30 s · to declare 5 min 00 s "
                       "· to the first task accepted 2 min 00 s")
    assert "2 of 2" in week and "Level III (yellow)" in week and "Closed" in week
    month = _incidents_section(web_app, official, "30d")
    assert f"#1 {HOSTILE}" in month and f"#{older['number']} Old drill" in month
    assert month[0].startswith("Incidents: 2 · ")
    accounts.set_language(r, users["official"], "zh")
    chinese = _incidents_section(web_app, official, "30d")
    assert chinese[0].startswith("共 2 个事件 · 确认用时中位数 1分30秒") and "报告" in chinese
    assert "2 项中完成 2 项" in chinese
    r.delete(*[k for k in r.scan_iter("co:{incidents}:*")])
    with i18n.use_language("en"):
        assert _incidents_section(web_app, official, "7d") == [i18n.t("official.incidents_none")]


def test_the_document_renders_without_a_map_position(r: redis.Redis, users: dict[str, str]) -> None:
    """An incident declared by phone with no place: the document still renders, offline."""
    call = incidents.declare(r, person(users["operator"]), DRILL, title="Phone call", kind="drill",
                             now=time.time() - 60)
    record = after_action.read_record(r, call["id"])
    assert record is not None
    document = after_action_html.render(record, "Asia/Shanghai", {}, time.time(), "en")
    assert_offline(document)
    assert "No alert was linked to this incident." in document
