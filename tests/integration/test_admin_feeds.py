"""Feeds and the rules and SOP files on /admin (issue 19), on a real Redis: pausing and resuming a
feed in the service (audited, admins only), a real runner that stops polling a paused feed and
polls it again after the resume, no "feed stale" alert while a feed is paused, the feeds section
through the web app (health in words in both languages, times in the city's zone, feed text as
text, dead letters), refusals for every other role, `cityops feeds pause|resume`, the API's
paused state, and the files section for the shipped defaults and a broken rules file."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import redis

from app import alerts, audit, i18n, store
from app.alerts import evaluation
from app.config import updated
from app.live import feeds
from app.model import roles
from app.model.feeds import feed_state
from app.model.principal import Principal
from app.ops import cli
from layouts import ids
from tests.support.admin_feeds import pressed, reported_feed
from tests.support.feeds import CsvPointsAdapter, FeedServer, start_runner
from tests.support.redis_server import RedisServer
from tests.support.security import Snapshot, callback_key, callback_request, session_caller
from tests.support.seeds.official import page_body
from tests.support.waiting import wait_for

ADMIN = Principal(name="root", role=roles.ADMIN)
HOSTILE = "<script>alert('feed')</script><img src=x onerror=alert(1)> & \"quoted\""


def _last(r: redis.Redis) -> audit.AuditEntry:
    return audit.recent(r, 1)[0]


def _health(r: redis.Redis, feed: str) -> feeds.FeedHealth:
    return next(h for h in feeds.read_health(r) if h.feed == feed)


# -- the service ---------------------------------------------------------------------------------------
def test_pause_and_resume_change_the_feed_everywhere_and_are_audited(r: redis.Redis) -> None:
    reported_feed(r, "pts")
    assert _health(r, "pts").state == "ok"
    assert feeds.pause(r, ADMIN, "pts", addr="10.0.0.7", now=1_700_000_000.0) is True
    paused = _health(r, "pts")
    assert (paused.state, paused.paused, paused.paused_by, paused.paused_at) == (
        "paused", True, "root", 1_700_000_000.0)
    assert set(store.feeds.read_paused(r)) == {"pts"}
    # The compact summary (status strip, wall, alert rules) says the same.
    summary = store.status.live_status(r).feeds["pts"]
    assert summary["paused"] == "1" and feed_state(summary, time.time()) == "paused"
    entry = _last(r)
    assert (entry.actor, entry.action, entry.target, entry.outcome, entry.addr) == (
        "root", "feed_pause", "pts", "ok", "10.0.0.7")
    # Pausing again changes nothing and records nothing; the first pause's who and when stay.
    assert feeds.pause(r, Principal(name="other", role=roles.ADMIN), "pts") is False
    assert _last(r).id == entry.id and _health(r, "pts").paused_by == "root"
    # A runner's poll that lands during the pause keeps the feed paused.
    reported_feed(r, "pts")
    assert _health(r, "pts").state == "paused"
    assert store.status.live_status(r).feeds["pts"]["paused"] == "1"

    assert feeds.resume(r, ADMIN, "pts") is True
    resumed = _health(r, "pts")
    assert (resumed.state, resumed.paused, resumed.paused_by) == ("waiting", False, "")
    reported_feed(r, "pts", now=time.time() + 2)  # its first poll after the resume
    assert _health(r, "pts").state == "ok"
    assert store.feeds.read_paused(r) == {}
    assert store.status.live_status(r).feeds["pts"]["paused"] == "0"
    assert (_last(r).action, _last(r).target) == ("feed_resume", "pts")
    assert feeds.resume(r, ADMIN, "pts") is False


def test_a_configured_feed_that_never_reported_can_be_paused_an_unknown_one_not(
        r: redis.Redis) -> None:
    assert feeds.pause(r, ADMIN, "later", configured=["later"]) is True
    assert _health(r, "later").state == "paused"
    for bad in ("nothing-here", "", "../x", "X" * 200):
        with pytest.raises(feeds.FeedError):
            feeds.pause(r, ADMIN, bad)
    assert set(store.feeds.read_paused(r)) == {"later"}


@pytest.mark.parametrize("role", [roles.OPERATOR, roles.EMERGENCY, roles.OFFICIAL, roles.WALL])
def test_other_roles_may_not_pause_or_resume_and_are_audited(r: redis.Redis, role: str) -> None:
    reported_feed(r, "pts")
    store.feeds.set_paused(r, "other", True, by="root", at=1.0)
    actor = Principal(name=f"{role}1", role=role)
    with pytest.raises(feeds.NotPermitted):
        feeds.pause(r, actor, "pts")
    assert (_last(r).actor, _last(r).action, _last(r).outcome) == (f"{role}1", "feed_pause", "denied")
    with pytest.raises(feeds.NotPermitted):
        feeds.resume(r, actor, "other")
    assert (_last(r).action, _last(r).outcome) == ("feed_resume", "denied")
    assert set(store.feeds.read_paused(r)) == {"other"}


# -- the runner ------------------------------------------------------------------------------------------
class ClosingCsv(CsvPointsAdapter):
    """The test CSV feed, counting how often the runner lets go of it."""

    closed = 0

    def close(self) -> None:
        """Count the close."""
        type(self).closed += 1


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A local HTTP feed."""
    server = FeedServer()
    yield server
    server.close()


def _beats(r: redis.Redis) -> float:
    beat = store.status.read_runner_heartbeat(r) or {}
    return float(beat.get("beat_at") or 0.0)


def test_the_runner_skips_a_paused_feed_and_polls_it_again_after_the_resume(
        r: redis.Redis, redis_server: RedisServer, feed_server: FeedServer, tmp_path: Any) -> None:
    interval = 1.0
    adapter = ClosingCsv({"name": "pts", "url": feed_server.url, "interval_s": interval,
                          "freshness_budget_s": 3.0, "timeout_s": 1.0})
    ClosingCsv.closed = 0
    runner, thread = start_runner(redis_server.url, tmp_path, [adapter])
    try:
        assert wait_for(lambda: feed_server.hits >= 2, timeout=10)  # polling at its pace
        feeds.pause(r, ADMIN, "pts")
        assert wait_for(lambda: runner.schedules[0].paused, timeout=5)  # the runner saw it
        assert ClosingCsv.closed == 1  # its subscription let go of, once
        hits = feed_server.hits
        seen = _beats(r)
        # The runner keeps going (it beats every 0.5 s) for more than three intervals: no poll.
        assert wait_for(lambda: _beats(r) >= seen + 3.5 * interval, timeout=15)
        assert feed_server.hits == hits
        assert _health(r, "pts").state == "paused"

        resumed_at = time.monotonic()
        feeds.resume(r, ADMIN, "pts")
        assert wait_for(lambda: feed_server.hits > hits, timeout=interval + 2.0)
        assert time.monotonic() - resumed_at <= interval + 1.0  # within one poll interval
        assert wait_for(lambda: _health(r, "pts").state == "ok", timeout=5)
        assert ClosingCsv.closed == 1
    finally:
        runner.stop()
        thread.join(timeout=10)


# -- no stale alert while paused -------------------------------------------------------------------------
def _stale_alerts(r: redis.Redis) -> list[dict[str, Any]]:
    return [a for a in alerts.list_alerts(r, open_only=True, limit=100)
            if a["source"] == "staleness" and a["state"] in ("active_unack", "active_ack")]


def test_a_paused_feed_raises_no_stale_alert_and_its_open_one_clears(r: redis.Redis) -> None:
    now = time.time()
    reported_feed(r, "pts", now=now, last_success=f"{now - 3600:.3f}")
    evaluation.evaluate(r, now)
    assert [a["title"] for a in _stale_alerts(r)] == ["Feed pts stale"]  # the rule does fire

    feeds.pause(r, ADMIN, "pts")
    evaluation.evaluate(r, now + 1)
    assert _stale_alerts(r) == []  # cleared: an admin stopped it on purpose
    for later in (now + 600, now + 86_400):  # however long it stays paused
        evaluation.evaluate(r, later)
        assert _stale_alerts(r) == []

    resumed = time.time()
    feeds.resume(r, ADMIN, "pts")
    # Until its first poll after the resume it is waiting (no flap from having been paused) ...
    evaluation.evaluate(r, resumed + 1)
    assert _stale_alerts(r) == [] and _health(r, "pts").state == "waiting"
    # ... and a poll that brings no fresh data makes it stale again: the rule fires.
    store.feeds.write_health(r, "pts", {"last_attempt": f"{resumed + 2:.3f}", "last_error": "HTTP 503"},
                             incr_failures=True)
    evaluation.evaluate(r, resumed + 3)
    assert [a["title"] for a in _stale_alerts(r)] == ["Feed pts stale"]
    # Never polled again at all: stale once a budget has passed since the resume.
    feeds.pause(r, ADMIN, "pts")
    feeds.resume(r, ADMIN, "pts")
    assert feed_state(store.status.live_status(r).feeds["pts"], time.time() + 61) == "stale"


def test_a_paused_feed_is_left_out_of_its_hosts_group(r: redis.Redis) -> None:
    now = time.time()
    for feed in ("vehicles", "trips"):
        reported_feed(r, feed, now=now, last_success=f"{now - 3600:.3f}", source="gtfs.example")
    evaluation.evaluate(r, now)
    assert [a["title"] for a in _stale_alerts(r)] == [
        "2 feeds of gtfs.example stale: trips, vehicles"]
    feeds.pause(r, ADMIN, "trips")  # the host's one other feed: its own alert, as alone
    evaluation.evaluate(r, now + 1)
    assert [a["title"] for a in _stale_alerts(r)] == ["Feed vehicles stale"]


# -- the section through the web app ---------------------------------------------------------------------
def _find(node: Any, component_id: str) -> Any:
    if isinstance(node, dict):
        if node.get("props", {}).get("id") == component_id:
            return node
        return next((f for v in node.values() if (f := _find(v, component_id)) is not None), None)
    if isinstance(node, list):
        return next((f for v in node if (f := _find(v, component_id)) is not None), None)
    return None


def _texts(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [t for child in node for t in _texts(child)]
    if isinstance(node, dict):
        props = node.get("props", {})
        return _texts(props.get("children")) + _texts(props.get("message"))
    return []


def _components(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, list):
        return [c for child in node for c in _components(child)]
    if isinstance(node, dict) and "type" in node:
        return [node] + _components(node.get("props", {}).get("children"))
    return []


def _call(web_app: Any, caller: Any, name: str, values: dict[str, Any], trigger: str) -> Any:
    key = callback_key(web_app, name)
    return caller.call("POST", "/_dash-update-component",
                       callback_request(key, web_app.callback_map[key], values, trigger))


def _listing(web_app: Any, caller: Any) -> Any:
    response = _call(web_app, caller, "layouts.admin_feeds.refresh",
                     {f"{ids.ADMIN_FEEDS_RELOAD}.n_clicks": 1}, f"{ids.ADMIN_FEEDS_RELOAD}.n_clicks")
    assert response.status_code == 200, response.data[:300]
    return response.get_json()["response"][ids.ADMIN_FEEDS]["children"]


def _seed_section(r: redis.Redis, now: float) -> None:
    reported_feed(r, "fresh", now=now)
    reported_feed(r, "late", now=now, last_success=f"{now - 3600:.3f}", last_error=HOSTILE,
                  last_error_at=f"{now - 60:.3f}", failures=1)
    reported_feed(r, "broken", now=now, last_success=f"{now - 3600:.3f}", failures=5,
                  last_error="HTTP 503")
    reported_feed(r, "held", now=now)
    store.feeds.set_paused(r, "held", True, by="root", at=now - 30)
    store.feeds.dead_letter(r, "late", [(f"bad line {n}", f"row {n} {HOSTILE}") for n in range(7)])


@pytest.mark.parametrize("lang, words", [
    ("en", ("ok", "stale", "down", "paused", "Pause", "Resume", "7 kept", "the newest 5")),
    ("zh", ("正常", "数据过期", "中断", "已暂停", "暂停", "恢复", "保留 7 条", "最新 5 条"))])
def test_the_section_shows_health_in_words_times_feed_text_and_dead_letters(
        web_app: Any, r: redis.Redis, users: dict[str, str], lang: str,
        words: tuple[str, ...]) -> None:
    now = time.time()
    _seed_section(r, now)
    caller = session_caller(web_app, roles.ADMIN, users["admin"])
    caller.client.set_cookie(i18n.COOKIE, lang)
    table = _listing(web_app, caller)
    text = _texts(table)
    joined = "\n".join(text)
    for word in words:
        assert word in joined, word
    rows = {row["props"]["data-feed"]: row for row in _components(table) if row["type"] == "Tr"
            and "data-feed" in row["props"]}
    assert set(rows) == {"fresh", "late", "broken", "held"}
    state_words = {feed: i18n.t(f"feed_state.{state}", lang=lang)
                   for feed, state in (("fresh", "ok"), ("late", "stale"), ("broken", "down"),
                                       ("held", "paused"))}
    for feed, word in state_words.items():
        assert word in _texts(rows[feed]), (feed, _texts(rows[feed]))
    # The last success in the city's time zone (Asia/Shanghai by default), never epoch seconds.
    local = i18n.format_datetime(now - 1, True, tz="Asia/Shanghai", lang=lang)
    assert local in _texts(rows["fresh"])
    assert not re.search(r"\b1[0-9]{9}\b", joined)
    # Feed text is a text node, whole, in a component that escapes it; nothing renders HTML.
    assert HOSTILE in _texts(rows["late"])
    assert all(c["namespace"] == "dash_html_components" or c["type"] == "ConfirmDialogProvider"
               for c in _components(table))
    assert "dangerously_allow_html" not in str(table)
    # The dead letters: the count, and the newest five reasons with their rows (feed text too).
    late = "\n".join(_texts(rows["late"]))
    assert all(f"bad line {n}" in late for n in (6, 5, 4, 3, 2)) and "bad line 1" not in late
    assert f"row 6 {HOSTILE}" in _texts(rows["late"])
    # The paused feed says who paused it; its button resumes, the others' pause after a question.
    assert any("root" in t for t in _texts(rows["held"]))
    confirm = [c for c in _components(rows["late"]) if c["type"] == "ConfirmDialogProvider"]
    assert confirm and "late" in confirm[0]["props"]["message"]
    assert confirm[0]["props"]["id"] == {"type": ids.ADMIN_FEED_PAUSE, "feed": "late"}
    assert not [c for c in _components(rows["held"]) if c["type"] == "ConfirmDialogProvider"]


def test_an_admin_pauses_and_resumes_through_the_page(web_app: Any, r: redis.Redis,
                                                      users: dict[str, str]) -> None:
    reported_feed(r, "pts")
    caller = session_caller(web_app, roles.ADMIN, users["admin"])
    pause_spec = web_app.callback_map[callback_key(web_app, "layouts.admin_feeds.pause")]
    response = _call(web_app, caller, "layouts.admin_feeds.pause",
                     *pressed(pause_spec, ids.ADMIN_FEED_PAUSE, "pts", "submit_n_clicks"))
    assert response.status_code == 200
    assert "Feed pts is paused." in str(response.get_json()["response"][ids.ADMIN_FEED_RESULT])
    assert _health(r, "pts").state == "paused"
    assert (_last(r).actor, _last(r).action, _last(r).outcome) == (users["admin"], "feed_pause", "ok")
    # A crafted request for a feed that does not exist changes nothing.
    before = len(audit.recent(r, 100))
    response = _call(web_app, caller, "layouts.admin_feeds.pause",
                     *pressed(pause_spec, ids.ADMIN_FEED_PAUSE, "no-such-feed", "submit_n_clicks"))
    assert "no feed of that name" in str(response.get_json()["response"][ids.ADMIN_FEED_RESULT])
    assert len(audit.recent(r, 100)) == before and set(store.feeds.read_paused(r)) == {"pts"}

    resume_spec = web_app.callback_map[callback_key(web_app, "layouts.admin_feeds.resume")]
    response = _call(web_app, caller, "layouts.admin_feeds.resume",
                     *pressed(resume_spec, ids.ADMIN_FEED_RESUME, "pts", "n_clicks"))
    assert "Feed pts is resumed" in str(response.get_json()["response"][ids.ADMIN_FEED_RESULT])
    assert _health(r, "pts").state == "waiting" and _last(r).action == "feed_resume"


@pytest.mark.parametrize("role", [roles.OPERATOR, roles.EMERGENCY, roles.OFFICIAL])
def test_other_roles_get_403_audited_and_nothing_changes(web_app: Any, r: redis.Redis,
                                                         raw: redis.Redis, users: dict[str, str],
                                                         role: str) -> None:
    reported_feed(r, "pts")
    store.feeds.set_paused(r, "held", True, by="root", at=1.0)
    caller = session_caller(web_app, role, users[role])
    for name, kind, feed, prop in (
            ("layouts.admin_feeds.pause", ids.ADMIN_FEED_PAUSE, "pts", "submit_n_clicks"),
            ("layouts.admin_feeds.resume", ids.ADMIN_FEED_RESUME, "held", "n_clicks")):
        spec = web_app.callback_map[callback_key(web_app, name)]
        before = Snapshot(raw)
        response = _call(web_app, caller, name, *pressed(spec, kind, feed, prop))
        assert response.status_code == 403
        assert before.written() == []
        refusal = _last(r)
        assert (refusal.actor, refusal.action, refusal.outcome) == (users[role], "refused", "denied")
        assert name in refusal.detail
    assert _call(web_app, caller, "layouts.admin_feeds.refresh",
                 {f"{ids.ADMIN_FEEDS_RELOAD}.n_clicks": 1},
                 f"{ids.ADMIN_FEEDS_RELOAD}.n_clicks").status_code == 403
    assert set(store.feeds.read_paused(r)) == {"held"}


# -- the CLI and the API ---------------------------------------------------------------------------------
def test_the_cli_pauses_and_resumes_for_scripts(r: redis.Redis, redis_server: RedisServer,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CITYOPS_REDIS_URL", redis_server.url)
    reported_feed(r, "pts")
    assert cli.main(["feeds", "pause", "pts"]) == 0
    assert "feed pts paused" in capsys.readouterr().out
    assert _health(r, "pts").state == "paused"
    assert _last(r).action == "feed_pause" and _last(r).actor.startswith("cli:")
    assert cli.main(["feeds"]) == 0 and "paused" in capsys.readouterr().out
    assert cli.main(["feeds", "resume", "pts"]) == 0
    assert "feed pts resumed" in capsys.readouterr().out
    assert cli.main(["feeds", "resume", "nope"]) == 1
    assert "no feed named 'nope'" in capsys.readouterr().err
    assert not _health(r, "pts").paused


def test_the_api_shows_the_paused_state(web_app: Any, r: redis.Redis, users: dict[str, str]) -> None:
    reported_feed(r, "pts")
    reported_feed(r, "held")
    store.feeds.set_paused(r, "held", True, by="root", at=1_700_000_000.0)
    caller = session_caller(web_app, roles.OPERATOR, users["operator"])
    rows = {f["feed"]: f for f in caller.call("GET", "/api/v1/feeds").get_json()["feeds"]}
    assert (rows["held"]["state"], rows["held"]["paused"], rows["held"]["paused_by"],
            rows["held"]["paused_at"]) == ("paused", True, "root", 1_700_000_000.0)
    assert (rows["pts"]["state"], rows["pts"]["paused"]) == ("ok", False)


# -- the rules and SOP files -----------------------------------------------------------------------------
def _files(web_app: Any, users: dict[str, str], lang: str = "en") -> list[str]:
    caller = session_caller(web_app, roles.ADMIN, users["admin"])
    caller.client.set_cookie(i18n.COOKIE, lang)
    response = caller.call("POST", "/_dash-update-component", page_body("/admin"))
    assert response.status_code == 200, response.data[:300]
    found = _find(response.get_json()["response"]["_pages_content"]["children"], ids.ADMIN_FILES)
    assert found is not None
    return _texts(found)


def test_the_files_section_shows_the_shipped_defaults_checked(web_app: Any, r: redis.Redis,
                                                              users: dict[str, str]) -> None:
    from app.alerts.rules import load_rules
    from app.incidents.sop import load_catalogue

    rules, catalogue = load_rules(), load_catalogue()
    steps = sum(len(t.steps) for t in catalogue.types.values())
    text = "\n".join(_files(web_app, users))
    assert "the shipped default (default_rules.toml)" in text
    assert "the shipped default (default_sops.toml)" in text
    assert f"{len(rules.thresholds)} threshold rules" in text
    assert (f"{len(catalogue.types)} incident types with {steps} steps, "
            f"{len(catalogue.departments)} departments") in text
    assert text.count("ok: the file is valid") == 2
    zh = "\n".join(_files(web_app, users, "zh"))
    assert "随附的默认文件（default_rules.toml）" in zh and zh.count("通过：文件有效") == 2


def test_the_files_section_shows_a_broken_rules_file_and_its_error(
        web_app: Any, r: redis.Redis, users: dict[str, str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "city-rules.toml"
    broken.write_text('[[threshold]]\nid = "Bad Id <b>"\ndomain = "water"\n', encoding="utf-8")
    sops = tmp_path / "city-sops.toml"
    sops.write_text("[types]\n", encoding="utf-8")
    extension = web_app.server.extensions["cityops"]
    monkeypatch.setitem(extension, "settings", updated(extension["settings"], {
        "alerts.rules_file": broken, "incidents.sop_file": sops}))
    text = _files(web_app, users)
    joined = "\n".join(text)
    assert f"the city's own file: {broken}" in joined and f"the city's own file: {sops}" in joined
    assert joined.count("the file does not validate; the check says:") == 2
    rules_error = next(t for t in text if t.startswith(str(broken)))
    assert "Bad Id <b>" in rules_error  # the check's own words, as text
    assert any(t.startswith(str(sops)) and "[departments]" in t for t in text)
    assert "The runner keeps the rules it had before" in joined
    assert "ok: the file is valid" not in joined


def test_the_table_follows_its_timer_only_when_what_it_shows_changed(
        web_app: Any, r: redis.Redis, users: dict[str, str]) -> None:
    """On the table's timer (its tick gate) an unchanged table is not sent again (204: the admin's
    scroll and open lists stay); a feed that went down is; a fold the admin opened stays open."""
    _seed_section(r, time.time())
    caller = session_caller(web_app, roles.ADMIN, users["admin"])
    spec = web_app.callback_map[callback_key(web_app, "layouts.admin_feeds.refresh")]
    pulse = ids.prop_id(ids.pulse_part(ids.ADMIN_FEEDS, ids.PULSE, ids.ADMIN_FEEDS_TICK), "data")
    fold = {"type": ids.ADMIN_FEED_LETTERS, "feed": "late"}
    pattern = {s["property"]: f"{s['id']}.{s['property']}" for s in spec["state"]
               if s["id"].startswith("{")}
    opened = {pattern["n_clicks"]: [{"id": fold, "property": "n_clicks", "value": 1}],
              pattern["id"]: [{"id": fold, "property": "id", "value": fold}]}

    first = _call(web_app, caller, "layouts.admin_feeds.refresh", {pulse: {"n": 1}}, pulse)
    assert first.status_code == 200, first.data[:300]
    shown = first.get_json()["response"][ids.ADMIN_FEEDS_SHOWN]["data"]
    again = _call(web_app, caller, "layouts.admin_feeds.refresh",
                  {pulse: {"n": 2}, f"{ids.ADMIN_FEEDS_SHOWN}.data": shown, **opened}, pulse)
    assert again.status_code == 204

    store.feeds.write_health(r, "fresh", {"fatal": "1", "last_error": "connection refused"})
    changed = _call(web_app, caller, "layouts.admin_feeds.refresh",
                    {pulse: {"n": 3}, f"{ids.ADMIN_FEEDS_SHOWN}.data": shown, **opened}, pulse)
    assert changed.status_code == 200, changed.data[:300]
    answer = changed.get_json()["response"]
    assert answer[ids.ADMIN_FEEDS_SHOWN]["data"] != shown
    rows = {row["props"]["data-feed"]: row for row in _components(answer[ids.ADMIN_FEEDS]["children"])
            if row["type"] == "Tr" and "data-feed" in row["props"]}
    assert "down" in _texts(rows["fresh"]) and "connection refused" in _texts(rows["fresh"])
    folds = [c for c in _components(rows["late"]) if c["type"] == "Details"]
    assert folds and folds[0]["props"]["open"] is True
