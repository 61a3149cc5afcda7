"""Languages: the catalogue, the reader's language per request, the switch, and locale formats."""

from __future__ import annotations

import json
import re
import time

import pytest
import redis

from app import accounts, i18n, store
from app.i18n.catalog import CATALOG
from app.model import roles
from app.model.domains import DOMAINS
from layouts import ids
from tests.support.alert_sheet import sheet_inputs
from tests.support.seeds.domains import HOSTILE, seed_medical, texts
from tests.support.seeds.official import HOSTILE as OFFICIAL_HOSTILE
from tests.support.seeds.official import page_body, seed
from tests.support.seeds.report import HOSTILE as REPORT_HOSTILE
from tests.support.seeds.report import seed_city
from tests.support.web import callback_body, csrf_header, login

HAN = re.compile(r"[\u4e00-\u9fff\u3000-\u303f\uff00-\uffef]")  # ideographs, CJK punctuation


def layout_texts(client) -> list[str]:  # type: ignore[no-untyped-def]
    """Every string of the shell as the browser receives it."""
    response = client.get("/_dash-layout")
    assert response.status_code == 200
    return texts(response.get_json())


def page_texts(client, path: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Every string of a page's body as Dash Pages renders it for ``path``."""
    response = client.post("/_dash-update-component", json=page_body(path), headers=csrf_header(client))
    assert response.status_code == 200, response.data[:300]
    return texts(response.get_json()["response"]["_pages_content"]["children"])


def switch(client, lang: str, page: str = "/"):  # type: ignore[no-untyped-def]
    """Press the shell's language switch on ``page`` (a form POST carrying the CSRF token)."""
    token = client.get_cookie("_csrf_token").value
    return client.post("/lang", data={"lang": lang, "csrf_token": token},
                       headers={"Referer": f"http://localhost{page}"})


# -- the catalogue -----------------------------------------------------------------------------
def test_every_key_has_both_languages_with_the_same_placeholders() -> None:
    """No empty text, Chinese text really Chinese (or a name), and matching {placeholders}."""
    assert len(CATALOG) > 100
    for key, texts_ in CATALOG.items():
        assert len(texts_) == len(i18n.LANGUAGES), key
        english, chinese = texts_
        assert english.strip() and chinese.strip(), key
        assert i18n.placeholders(english) == i18n.placeholders(chinese), key
        assert HAN.search(chinese) or chinese == english or key == "title.suffix", key


def test_every_page_state_severity_and_kpi_has_a_translation() -> None:
    """Data-driven labels: every page of the navigation, alert state, severity and feed state."""
    from app.model.alerts import SEVERITIES, STATES

    for page in roles.PAGES:
        assert CATALOG[f"page.{page.path}"][0] == page.title
    for role in roles.TOKEN_ROLES:
        assert f"role.{role}" in CATALOG
    for severity in SEVERITIES:
        assert f"severity.{severity}" in CATALOG
    for state in STATES:
        assert f"alert_state.{state}" in CATALOG
    for state in ("ok", "stale", "down", "waiting"):
        assert f"feed_state.{state}" in CATALOG
    for domain in DOMAINS:
        assert f"domain.{domain}" in CATALOG


def test_t_fills_placeholders_and_refuses_unknown_keys() -> None:
    with i18n.use_language("zh"):
        assert i18n.t("status.feeds_ok", count=3) == "3 个数据源正常"
        assert i18n.t("page./alerts") == "告警"
    assert i18n.t("status.feeds_ok", count=3) == "3 feeds ok"
    with pytest.raises(KeyError):
        i18n.t("no.such.key")
    with pytest.raises(ValueError):
        with i18n.use_language("fr"):
            pass


def test_kpi_titles_translate_by_name_and_keep_the_subject() -> None:
    """Stored titles stay English; a subject (a feed's name) is never translated."""
    kpi = {"name": "min_pressure:北区<b>", "title": "Lowest pressure: 北区<b>", "subject": "北区<b>",
           "group": "min_pressure"}
    with i18n.use_language("zh"):
        assert i18n.kpi_title(kpi) == "最低水压: 北区<b>"
        assert i18n.kpi_title({"name": "on_time_performance", "title": "On-time"}) == "准点率"
        assert i18n.kpi_title({"name": "made_up", "title": "Made up"}) == "Made up"
    assert i18n.kpi_title(kpi) == "Lowest pressure: 北区<b>"


# -- formats -------------------------------------------------------------------------------------
def test_numbers_and_dates_per_locale() -> None:
    ts = 1795241100.0  # 2026-11-21 06:05:00 UTC
    assert i18n.format_datetime(ts, True, tz="Asia/Shanghai", lang="zh") == "2026年11月21日 14:05:00"
    assert i18n.format_datetime(ts, True, tz="Asia/Shanghai", lang="en") == "2026-11-21 14:05:00"
    assert i18n.format_datetime(ts, False, tz="Asia/Shanghai", seconds=False, lang="zh") == "14:05"
    assert i18n.format_datetime(None) == "—"
    assert i18n.format_number(1234567.891, 1) == "1,234,567.9"
    assert i18n.format_number(-0.04, 1) == "0.0"
    assert i18n.format_number(42) == "42"
    assert i18n.format_number(None) == "—"


def test_accept_language_picks_the_best_supported() -> None:
    assert i18n.from_accept_language("zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert i18n.from_accept_language("fr-FR, en;q=0.5, zh;q=0.7") == "zh"
    assert i18n.from_accept_language("de, fr") is None
    assert i18n.from_accept_language("zh;q=0, en") == "en"
    assert i18n.from_accept_language("") is None


# -- accounts ------------------------------------------------------------------------------------
def test_language_is_validated_and_stored_on_the_user(r: redis.Redis, users) -> None:  # type: ignore[no-untyped-def]
    name = users["operator"]
    assert accounts.set_language(r, name, "zh-CN") == "zh"
    assert store.auth.get_user(r, name)["language"] == "zh"
    assert accounts.load_session_user(r, f"{name}:1").language == "zh"
    with pytest.raises(accounts.AccountError, match="choose from en, zh"):
        accounts.set_language(r, name, "<script>")
    with pytest.raises(accounts.AccountError):
        accounts.set_language(r, "nobody", "en")


# -- the web app ---------------------------------------------------------------------------------
def test_english_by_default_chinese_by_browser(client, users) -> None:  # type: ignore[no-untyped-def]
    login(client, users["operator"])
    words = layout_texts(client)
    assert "Overview" in words and "Sign out" in words
    zh = client.get("/_dash-layout", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "总览" in texts(zh.get_json())


def test_switch_stores_the_preference_and_renders_chinese(client, users, r: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    """A Chinese user sees Chinese navigation, page titles, KPI names and states; feed text stays."""
    now = time.time()
    seed_medical(r, now)
    login(client, users["operator"])
    response = switch(client, "zh", "/medical?x=1")
    assert response.status_code == 303
    assert response.headers["Location"] == "/medical?x=1"
    assert store.auth.get_user(r, users["operator"])["language"] == "zh"
    assert client.get_cookie("lang").value == "zh"
    client.delete_cookie("lang")  # the stored preference alone must carry it
    shell = layout_texts(client)
    for word in ("总览", "交通", "供水", "医疗", "城市管理", "告警", "退出登录", "值班员"):
        assert word in shell, word
    assert "Overview" not in shell
    body = page_texts(client, "/medical")
    joined = " ".join(body)
    assert "医疗" in body and "指标" in body and "数据源" in body
    assert "可用床位" in joined  # KPI title by name
    assert "数据过期" in joined  # the stale feed, labelled in Chinese
    assert HOSTILE in body  # the hospital's name: as sent, as text
    assert not any("<img" in w and w != HOSTILE for w in body)
    # The page's browser tab title follows the language too.
    response = client.post("/_dash-update-component", json=page_body("/medical"),
                           headers=csrf_header(client))
    assert response.get_json()["response"]["_pages_store"]["data"]["title"] == "医疗 · CityOps"
    # And back: English everywhere again.
    switch(client, "en")
    assert "Overview" in layout_texts(client)


def test_status_strip_in_chinese_keeps_feed_names(client, users, r: redis.Redis) -> None:  # type: ignore[no-untyped-def]

    now = time.time()
    store.feeds.write_health(r, HOSTILE, {"domain": "water", "adapter": "x", "last_success": now - 7200,
                                         "freshness_budget_s": 60, "interval_s": 10})
    login(client, users["official"])
    switch(client, "zh")
    body = callback_body([("data-as-of", "children"), ("link-banner", "hidden"), ("live-seen", "data")],
                         [(ids.pulse_part(ids.SEEN, ids.PULSE), "data", {"n": 1})],
                         [("live-seen", "data", None)])
    response = client.post("/_dash-update-component", json=body, headers=csrf_header(client))
    assert response.status_code == 200
    words = texts(response.get_json()["response"]["data-as-of"]["children"])
    stale = [w for w in words if w.startswith(f"数据源 {HOSTILE}：")]
    assert stale and "数据过期" in stale[0], words
    assert any(w.startswith("供水：") for w in words), words
    # Escaping is React's: the name travels as a JSON string, never as markup.
    assert "&lt;" not in json.dumps(words)


def test_switch_needs_csrf_and_a_known_language(client, users, r: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    login(client, users["official"])
    assert client.post("/lang", data={"lang": "zh"}).status_code == 403
    assert store.auth.get_user(r, users["official"]).get("language") is None
    token = client.get_cookie("_csrf_token").value
    assert client.post("/lang", data={"lang": "klingon", "csrf_token": token}).status_code == 400
    # A foreign Referer never becomes the redirect target.
    response = client.post("/lang", data={"lang": "zh", "csrf_token": token},
                           headers={"Referer": "http://evil.example/x"})
    assert response.headers["Location"] == "/"


def test_wall_token_language_by_cookie(client, r: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    secret = accounts.create_token(r, "lobby", "wall")
    response = client.get(f"/wall?token={secret}&lang=zh")
    assert response.status_code == 302 and "lang" not in response.headers["Location"]
    assert client.get_cookie("lang").value == "zh"
    assert "大屏" in layout_texts(client)
    token = client.get_cookie("_csrf_token").value
    assert client.post("/lang", data={"lang": "en", "csrf_token": token}).status_code == 303
    assert client.get_cookie("lang").value == "en"
    assert "Wall" in layout_texts(client)


def test_login_and_error_pages_in_chinese(client, users) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/login?lang=zh").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page and "用户名" in page and "密码" in page
    assert client.get_cookie("lang").value == "zh"
    token = client.get_cookie("_csrf_token").value
    failed = client.post("/login", data={"username": "nobody", "password": "x" * 12,
                                         "csrf_token": token, "next": "/"})
    assert failed.status_code == 401 and "用户名或密码错误" in failed.get_data(as_text=True)
    english = client.get("/login?lang=en").get_data(as_text=True)
    assert "User name" in english and "用户名" not in english
    # The switch links keep the next page, escaped.
    hostile = client.get('/login?next=/"><script>&lang=zh').get_data(as_text=True)
    assert "<script>" not in hostile


def test_page_rendered_for_each_role_in_chinese(client, users, r: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    accounts.set_language(r, users["admin"], "zh")
    login(client, users["admin"])
    for path, title in (("/", "运营总览"), ("/transport", "交通"), ("/water", "供水"),
                        ("/city", "城市管理")):
        assert title in page_texts(client, path), path


# -- the alerts, city status and admin pages, and the situation report -----------------------------
def page_json(client, path: str) -> str:  # type: ignore[no-untyped-def]
    """A page's body as the browser receives it, as text (props such as placeholders included)."""
    response = client.post("/_dash-update-component", json=page_body(path), headers=csrf_header(client))
    assert response.status_code == 200, response.data[:300]
    return response.get_data(as_text=True)


def sheet_action(client, button: str, alert_id: str | None):  # type: ignore[no-untyped-def]
    """Press a button of the alert sheet (acknowledge, claim, ...) for ``alert_id``."""

    pressed, changed = sheet_inputs(button)
    body = callback_body([("alert-result", "children"), ("alert-note", "value")], pressed,
                         [("alert-selected", "data", {"id": alert_id, "mode": "ack"} if alert_id else None),
                          ("alert-note", "value", ""), ("alert-assign-user", "value", None),
                          ("alert-seen-assignee", "data", "")])
    body["changedPropIds"] = [changed]
    response = client.post("/_dash-update-component", json=body, headers=csrf_header(client))
    assert response.status_code == 200, response.data[:300]
    return texts(response.get_json()["response"]["alert-result"]["children"])


def test_alerts_page_for_a_chinese_user(client, users, r: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    """Headings, form labels, buttons, filters, cards and results in Chinese; feed titles as sent."""
    from app import alerts

    raised = alerts.raise_alert(r, fingerprint="i18n:1", title=HOSTILE, severity="critical",
                                domain="water", source="test", rule="test", now=time.time())
    accounts.set_language(r, users["operator"], "zh")
    login(client, users["operator"])
    body = page_texts(client, "/alerts")
    for word in ("告警", "手动上报事件", "标题", "纬度", "上报事件", "确认告警", "认领", "添加备注", "解决",
                 "指派", "关闭"):
        assert word in body, word
    for english in ("Raise an incident", "Confirm acknowledgement", "Claim", "Resolve", "Add note"):
        assert english not in body, english
    raw = page_json(client, "/alerts")
    assert "全部领域" in raw and "全部严重程度" in raw and "备注（确认时可不填）" in raw
    assert '"label":"紧急"' in raw and '"label":"未确认"' in raw  # filter options by code
    # The list: Chinese buttons around the feed's title, which stays text.
    listing = callback_body([("alerts-list", "children"), ("alerts-shown", "data")],
                            [("alert-panel-shown", "data", 1), ("alerts-filter-domain", "value", []),
                             ("alerts-filter-severity", "value", []),
                             ("alerts-filter-state", "value", ["active_unack"]),
                             ("alerts-order", "value", "attention"),
                             ("alerts-count-picked", "data", None)],
                            [("alerts-shown", "data", None)])
    listing["state"].append([])  # the cards' checkboxes (a pattern-matching state): none yet
    response = client.post("/_dash-update-component", json=listing, headers=csrf_header(client))
    cards = texts(response.get_json()["response"]["alerts-list"]["children"])
    assert "确认" in cards and "详情" in cards and "紧急" in cards and "供水" in cards
    assert HOSTILE in cards and "Acknowledge" not in cards
    # Results: done, then the conflict explained in Chinese with who did it.
    assert sheet_action(client, "alert-ack", None) == ["请先选择一条告警。"]
    assert sheet_action(client, "alert-ack", raised.alert_id) == ["已确认。"]
    again = sheet_action(client, "alert-ack", raised.alert_id)
    assert again[0].startswith(f"未执行：{users['operator']} 已于 ") and "确认了该告警" in again[0], again


def test_official_page_for_a_chinese_user(client, users, r: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    """Status words, reasons, top issues, trends and export links in Chinese; feed text as sent."""

    seed(r, time.time())
    accounts.set_language(r, users["official"], "zh")
    login(client, users["official"])
    body = page_texts(client, "/official")
    joined = " ".join(body)
    for word in ("城市态势", "趋势", "未达标指标", "未关闭告警（1）", "态势报告（HTML，可离线打开）",
                 "指标（CSV）", "未关闭告警（CSV）", "▲ 关注", "● 正常", "■ 严重", "紧急"):
        assert word in body, word
    assert "数据源 senml数据过期，自 " in joined  # the reason's template, the feed's name as sent
    assert "1 条紧急告警未关闭" in body
    assert OFFICIAL_HOSTILE in body and "Trends" not in body and "Attention" not in joined
    raw = page_json(client, "/official")
    assert '"label":"最近 24 小时"' in raw and '"label":"最近 7 天"' in raw


def test_admin_page_for_a_chinese_user(client, users, r: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    accounts.set_language(r, users["admin"], "zh")
    login(client, users["admin"])
    body = page_texts(client, "/admin")
    for word in ("系统管理", "添加用户", "停用用户", "用户名", "密码", "添加", "停用", "用户", "令牌",
                 "审计日志（最新在前）", "角色", "操作人", "值班员", "启用"):
        assert word in body, word
    assert "Administration" not in body and "Add user" not in body
    assert '"label":"领导"' in page_json(client, "/admin")  # the role dropdown


def test_report_for_a_chinese_user_keeps_escaping(client, users, r: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    """The report a Chinese official downloads: Chinese headings, feed text escaped, CSV ids stable."""
    import csv
    import io

    from app.situation import report

    now = time.time()
    seed_city(r, now)
    accounts.set_language(r, users["official"], "zh")
    login(client, users["official"])
    document = client.get("/official/report.html").get_data(as_text=True)
    for word in ("态势报告", "各领域状态", "关键绩效指标", "未关闭告警", "严重程度", "确认人", "地图显示",
                 "个地点", "最低水压", "紧急"):
        assert word in document, word
    assert "<html lang='zh-CN'>" in document
    assert "Situation report" not in document and "Status per domain" not in document
    assert "<img src=x" not in document and "${alert(2)}" not in document
    assert report.escape_feed(REPORT_HOSTILE) in document
    # The same situation in English for an English reader: the language is the reader's.
    with i18n.use_language("en"):
        english = report.render_report(report.read_situation(r, "Asia/Shanghai", now),
                                       report.read_map_layers(r, now))
    assert "Situation report" in english and "态势报告" not in english
    # The CSV's machine form keeps its column ids whatever the reader's language ...
    text = client.get("/official/kpis.csv?form=machine").get_data(as_text=True)
    header = csv.DictReader(io.StringIO(text.lstrip("\ufeff"))).fieldnames
    assert header == list(report.KPI_COLUMNS)
    # ... and the people's form, the default, is in the reader's language (issue 19).
    text = client.get("/official/kpis.csv").get_data(as_text=True)
    header = csv.DictReader(io.StringIO(text.lstrip("\ufeff"))).fieldnames
    assert header == ["领域", "指标", "数值", "单位", "目标", "状态", "计算时间"]
