"""The audit log on /admin names what was acted on in words, never by its id (issue 19): an alert
by its title (in the reader's language, as text even with markup in it) with a link to its page,
an incident by number and title with a link, a task, a handover, an export, a receiver; something
no longer kept by its kind. Through the page's own callback on a real redis-server."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

from app import alerts, audit, i18n
from app.model import roles
from app.model.alerts import alert_id_for
from layouts import ids
from tests.support.code_scan import find_codes
from tests.support.incident_pages import find_all, texts
from tests.support.incidents import incident_sample, placed_alert
from tests.support.security import callback_key, callback_request, session_caller
from tests.support.shifts import shift_sample

pytestmark = pytest.mark.integration

NAME = "layouts.admin_audit.show"
HOSTILE = "<b>Main</b> burst on Xinhua Road"


def _listing(web_app: Any, admin_name: str, lang: str, target: object = None) -> Any:
    caller = session_caller(web_app, roles.ADMIN, admin_name)
    caller.client.set_cookie(i18n.COOKIE, lang)
    key = callback_key(web_app, NAME)
    response = caller.call("POST", "/_dash-update-component", callback_request(
        key, web_app.callback_map[key], {
            f"{ids.ADMIN_AUDIT_ACTOR}.value": None, f"{ids.ADMIN_AUDIT_ACTION}.value": None,
            f"{ids.ADMIN_AUDIT_WINDOW}.value": "all", f"{ids.ADMIN_AUDIT_OLDER}.n_clicks": None,
            f"{ids.ADMIN_AUDIT_TARGET}.value": target, f"{ids.ADMIN_AUDIT_PAGE}.data": None},
        f"{ids.ADMIN_AUDIT_TARGET}.value"))
    assert response.status_code == 200, response.data[:300]
    return response.get_json()["response"][ids.ADMIN_AUDIT]["children"]


def _links(tree: Any) -> dict[str, str]:
    return {" ".join(texts(node)): node["props"]["href"]
            for node in find_all(tree, lambda p: "href" in p)}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_log_names_what_was_acted_on_in_words_with_links(
        web_app: Any, r: redis.Redis, users: dict[str, str], lang: str) -> None:
    alert_id = placed_alert(r, "audit-words", title=HOSTILE, title_zh="新华路 <i>水管</i> 爆裂")
    alerts.acknowledge(r, alert_id, "operator1")
    sample = incident_sample(r, users["admin"], "audit-words", parts=("incident",))
    sheet = shift_sample(r, users["admin"])
    audit.record(r, users["admin"], "export", target=f"{sheet['handover_id']} sheet.html")
    audit.record(r, users["admin"], "export", target="kpi-history.csv 7d")
    audit.record(r, users["admin"], "webhook_remove", target="wh-0123456789ab")
    audit.record(r, "operator1", "alert_ack", target=alert_id_for("long-gone"))
    audit.record(r, "operator1", "refused", target=f"POST /api/v1/alerts/{alert_id}/resolve")
    tree = _listing(web_app, users["admin"], lang)
    text = "\n".join(texts(tree))
    assert not find_codes(text), find_codes(text)
    assert alert_id not in json.dumps(tree) or f"?alert={alert_id}" in json.dumps(tree)
    links = _links(tree)
    title = "新华路 <i>水管</i> 爆裂" if lang == "zh" else HOSTILE
    assert links[title] == f"/alerts?alert={alert_id}"  # the title as text, markup and all
    incident = next(words for words in links if "Sample incident" in words)
    assert links[incident] == f"/incidents?incident={sample['incident_id']}"
    with i18n.use_language(lang):
        expected = [i18n.t("audit_target.gone.alert"), i18n.t("audit_target.gone.receiver"),
                    i18n.t("official.export_trends", window=i18n.t("export.window_7d")),
                    i18n.t("audit_target.handover_sheet", sheet="").strip()]
    for words in expected:
        assert words in text, (words, text)
    assert "POST /api/v1/alerts/…/resolve" in text
    if lang == "zh":  # an alert raised for the first time is said in words too
        assert "告警：已上报" in text and "created" not in text


def test_an_id_still_finds_its_entries_without_being_shown(
        web_app: Any, r: redis.Redis, users: dict[str, str]) -> None:
    """Searching by an alert's id (from the API or a webhook) lists that alert's entries, named by
    its title; a filter too long is refused with a message."""
    wanted = placed_alert(r, "audit-search", title="Hydrant leaking")
    other = placed_alert(r, "audit-other", title="Valve stuck")
    alerts.acknowledge(r, wanted, "operator1")
    alerts.acknowledge(r, other, "operator1")
    tree = _listing(web_app, users["admin"], "en", target=f"  {wanted.upper()} ")
    text = "\n".join(texts(tree))
    assert text.count("Hydrant leaking") == 2 and "Valve stuck" not in text  # raised, acknowledged
    assert not find_codes(text)
    refused = _listing(web_app, users["admin"], "zh", target="x" * 65)
    assert texts(refused) == ["操作对象：最多 64 个字符。"]
