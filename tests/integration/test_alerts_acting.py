"""Emergency staff can act, and acting is explicit (issue 18): domains, claim and take over,
acknowledging several at once, in the service, the API and the /alerts page's callbacks."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import redis

from app import accounts, alerts, audit
from app.accounts import admin
from app.model.principal import Principal
from tests.support.alert_sheet import sheet_inputs
from tests.support.security import Caller, callback_key, session_caller
from tests.support.web import PASSWORD, csrf_header

pytestmark = pytest.mark.integration

WATER_USER = "medic-water"
ADMIN = Principal(name="admin1", role="admin")


def _alert(r: redis.Redis, tag: str, domain: str = "water") -> str:
    return alerts.raise_alert(r, fingerprint=f"acting:{tag}", title=f"Pump {tag} down",
                              severity="major", domain=domain, source="rule").alert_id


def _audit_lines(r: redis.Redis, action: str, target: str) -> list[Any]:
    return [e for e in audit.recent(r, 500) if e.action == action and e.target == target]


@pytest.fixture
def people(r: redis.Redis, users: dict[str, str]) -> dict[str, str]:
    """The role fixtures' users (emergency1 has no domains) plus a water-only emergency user."""
    accounts.add_user(r, WATER_USER, "emergency", PASSWORD, ("water",))
    return dict(users, water=WATER_USER)


# -- domains --------------------------------------------------------------------------------------
def test_no_domains_means_every_domain_and_admins_change_them(r: redis.Redis,
                                                              people: dict[str, str]) -> None:
    """An emergency user created without domains acts on every domain; an admin narrows them
    (audited), a non-admin may not (audited as denied); the next request sees the change."""
    name = people["emergency"]
    medical = _alert(r, "dom-medical", "medical")
    me = accounts.authenticate(r, name, PASSWORD)
    assert me is not None and me.domains == ()
    assert set(alerts.acting_domains(me)) == {"transport", "water", "medical", "city"}
    assert alerts.refusal(me, {"domain": "medical", "state": "active_unack"}) is None
    assert admin.set_domains(r, ADMIN, name, ("water",)) == ("water",)
    assert _audit_lines(r, "user_domains", name)[0].detail == "water"
    again = accounts.authenticate(r, name, PASSWORD)
    assert again is not None and again.domains == ("water",)
    assert alerts.refusal(again, {"domain": "medical"}) == alerts.REFUSED_DOMAIN
    with pytest.raises(alerts.NotPermitted):
        alerts.act(r, again, medical, "ack")
    operator = Principal(name="operator1", role="operator")
    with pytest.raises(admin.NotPermitted):
        admin.set_domains(r, operator, name, ())
    assert _audit_lines(r, "user_domains", name)[0].outcome == "denied"
    with pytest.raises(accounts.AccountError):
        admin.set_domains(r, ADMIN, name, ("sewers",))
    assert admin.set_domains(r, ADMIN, name, ()) == ()
    back = accounts.authenticate(r, name, PASSWORD)
    assert back is not None and alerts.act(r, back, medical, "ack")["acked_by"] == name
    official = Principal(name="official1", role="official")
    assert alerts.refusal(official, {"domain": "water"}) == alerts.REFUSED_ROLE


def test_emergency_user_without_domains_acts_through_the_api(web_app: Any, r: redis.Redis,
                                                             people: dict[str, str]) -> None:
    """The API agrees: no 403 for an emergency user with no domains, on any domain; once an admin
    sets their domains, the next request of the same session is held to them."""
    caller = session_caller(web_app, "emergency", people["emergency"])
    for domain in ("transport", "medical", "city"):
        alert_id = _alert(r, f"api-{domain}", domain)
        answer = caller.call("POST", f"/api/v1/alerts/{alert_id}/ack", {"note": "on it"})
        assert answer.status_code == 200, answer.data
    # An admin narrows the domains: the same open session is refused on the next request.
    admin.set_domains(r, ADMIN, people["emergency"], ("water",))
    medical = _alert(r, "api-narrowed", "medical")
    assert caller.call("POST", f"/api/v1/alerts/{medical}/ack").status_code == 403
    assert caller.call("GET", "/api/v1/me").get_json()["domains"] == ["water"]


# -- claim and take over ----------------------------------------------------------------------------
def test_a_claim_never_takes_over(r: redis.Redis) -> None:
    """A second claim is refused naming the holder and since when; taking over names the holder
    it takes from, succeeds only while they hold it, and is in the timeline and the audit log."""
    alert_id = _alert(r, "claim")
    assert alerts.claim(r, alert_id, "ada", now=1000.0)["assignee"] == "ada"
    with pytest.raises(alerts.Conflict) as held:
        alerts.claim(r, alert_id, "bob", now=1002.0)
    assert (held.value.why, held.value.by, held.value.at) == ("held by ada", "ada",
                                                              pytest.approx(1000.0))
    assert alerts.get_alert(r, alert_id)["assignee"] == "ada"  # type: ignore[index]
    with pytest.raises(alerts.Conflict) as stale:
        alerts.take_over(r, alert_id, "bob", expected="carol", now=1003.0)
    assert "ada" in stale.value.why
    taken = alerts.take_over(r, alert_id, "bob", expected="ada", addr="10.0.0.7", now=1004.0)
    assert (taken["assignee"], taken["assigned_by"]) == ("bob", "bob")
    step = alerts.timeline(r, alert_id)[-1]
    assert (step["action"], step["actor"], step["detail"]) == ("takeover", "bob", "ada")
    line = _audit_lines(r, "alert_takeover", alert_id)[0]
    assert (line.actor, line.outcome, line.detail, line.addr) == ("bob", "ok", "ada", "10.0.0.7")
    with pytest.raises(alerts.Conflict):
        alerts.claim(r, alert_id, "bob")  # already yours
    alerts.resolve(r, alert_id, "bob")
    with pytest.raises(alerts.Conflict):
        alerts.take_over(r, alert_id, "ada", expected="bob")


def test_claim_and_take_over_through_the_api(web_app: Any, r: redis.Redis,
                                             people: dict[str, str]) -> None:
    """409 naming the holder and when; an explicit take-over; a stale one is 409 too."""
    alert_id = _alert(r, "api-claim")
    medic = session_caller(web_app, "emergency", WATER_USER)
    operator = session_caller(web_app, "operator", people["operator"])
    assert medic.call("POST", f"/api/v1/alerts/{alert_id}/claim").status_code == 200
    refused = operator.call("POST", f"/api/v1/alerts/{alert_id}/claim")
    body = refused.get_json()
    assert refused.status_code == 409 and body["by"] == WATER_USER and body["at"] > 0
    stale = operator.call("POST", f"/api/v1/alerts/{alert_id}/takeover", {"expected": "someone"})
    assert stale.status_code == 409
    taken = operator.call("POST", f"/api/v1/alerts/{alert_id}/takeover", {"expected": WATER_USER})
    assert taken.status_code == 200 and taken.get_json()["assignee"] == people["operator"]
    official = session_caller(web_app, "official", people["official"])
    assert official.call("POST", f"/api/v1/alerts/{alert_id}/takeover",
                         {"expected": people["operator"]}).status_code == 403


def _sheet(web_app: Any, caller: Caller, alert_id: str, button: str, seen: str = "") -> str:
    pressed, changed = sheet_inputs(button)
    key = callback_key(web_app, "layouts.alerts.act")
    outputs = key.strip(".").split("...")
    answer = caller.client.post("/_dash-update-component", headers=csrf_header(caller.client), json={
        "output": key, "outputs": [{"id": o.rsplit(".", 1)[0], "property": o.rsplit(".", 1)[1]}
                                   for o in outputs],
        "inputs": [{"id": i, "property": p, "value": v} for i, p, v in pressed],
        "changedPropIds": [changed],
        "state": [{"id": "alert-selected", "property": "data", "value": {"id": alert_id}},
                  {"id": "alert-note", "property": "value", "value": ""},
                  {"id": "alert-assign-user", "property": "value", "value": None},
                  {"id": "alert-seen-assignee", "property": "data", "value": seen}]})
    assert answer.status_code == 200, answer.data[:300]
    return answer.get_data(as_text=True)


def test_the_sheet_says_who_holds_it_and_takes_over_only_when_confirmed(
        web_app: Any, r: redis.Redis, people: dict[str, str]) -> None:
    """Claim on a held alert says who and since when and changes nothing; the confirmed Take
    over takes it; a confirmed Resolve closes it."""
    alert_id = _alert(r, "sheet")
    medic = session_caller(web_app, "emergency", WATER_USER)
    operator = session_caller(web_app, "operator", people["operator"])
    assert "Claimed: it is yours." in _sheet(web_app, medic, alert_id, "alert-claim")
    said = _sheet(web_app, operator, alert_id, "alert-claim", seen=WATER_USER)
    assert f"{WATER_USER} holds this alert since" in said
    assert alerts.get_alert(r, alert_id)["assignee"] == WATER_USER  # type: ignore[index]
    done = _sheet(web_app, operator, alert_id, "alert-takeover", seen=WATER_USER)
    assert f"Taken over from {WATER_USER}" in done
    assert alerts.get_alert(r, alert_id)["assignee"] == people["operator"]  # type: ignore[index]
    assert "Resolved." in _sheet(web_app, operator, alert_id, "alert-resolve")
    assert alerts.get_alert(r, alert_id)["state"] == "cleared_ack"  # type: ignore[index]


# -- several at once -------------------------------------------------------------------------------
def test_acknowledge_many_says_what_was_refused(r: redis.Redis, people: dict[str, str]) -> None:
    """Acknowledged, already acknowledged (by whom, when), not permitted, missing: each audited."""
    medic = accounts.authenticate(r, WATER_USER, PASSWORD)
    assert medic is not None
    fresh = [_alert(r, f"many-{i}") for i in range(3)]
    taken = _alert(r, "many-taken")
    alerts.acknowledge(r, taken, "ada", now=1500.0)
    other = _alert(r, "many-medical", "medical")
    missing = "al-0000000000000000"
    result = alerts.acknowledge_many(r, medic, [*fresh, taken, other, missing, fresh[0]],
                                     note="outage", addr="10.0.0.8")
    assert result.acknowledged == fresh
    reasons = {one["id"]: (one["reason"], one["by"], one["at"]) for one in result.refused}
    assert reasons == {taken: ("already acknowledged", "ada", pytest.approx(1500.0)),
                       other: ("not permitted", "", None), missing: ("missing", "", None)}
    for alert_id in fresh:
        assert [line.outcome for line in _audit_lines(r, "alert_ack", alert_id)] == ["ok"]
        assert alerts.get_alert(r, alert_id)["ack_note"] == "outage"  # type: ignore[index]
    assert [line.outcome for line in _audit_lines(r, "alert_ack", other)] == ["denied"]
    assert [line.outcome for line in _audit_lines(r, "alert_ack", taken)] == ["conflict", "ok"]
    with pytest.raises(ValueError):
        alerts.acknowledge_many(r, medic, [f"al-{i:016x}" for i in range(alerts.MAX_BULK + 1)])


def test_two_people_acknowledging_overlapping_selections_meet_one_winner_each(
        r: redis.Redis, redis_url: str) -> None:
    """Two bulk acknowledgements at once over the same alerts: each alert acknowledged once."""
    from app.store.link import connect

    ids = [_alert(r, f"race-{i}") for i in range(30)]
    barrier = threading.Barrier(2)
    results: dict[str, alerts.BulkResult] = {}

    def run(name: str) -> None:
        client = connect(redis_url)
        try:
            barrier.wait(timeout=10)
            results[name] = alerts.acknowledge_many(
                client, Principal(name=name, role="operator"), ids)
        finally:
            client.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in ("ada", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    won = results["ada"].acknowledged + results["bob"].acknowledged
    assert sorted(won) == sorted(ids)
    for name, other in (("ada", "bob"), ("bob", "ada")):
        for refused in results[name].refused:
            assert refused["reason"] == "already acknowledged" and refused["by"] == other
    for alert_id in ids:
        assert sum(e["action"] == "ack" for e in alerts.timeline(r, alert_id)) == 1


def test_bulk_acknowledge_through_the_api(web_app: Any, r: redis.Redis,
                                          people: dict[str, str]) -> None:
    """POST /api/v1/alerts/ack: the summary; bad ids are a 400 naming the field; officials 403."""
    medic = session_caller(web_app, "emergency", WATER_USER)
    water = [_alert(r, f"api-many-{i}") for i in range(2)]
    medical = _alert(r, "api-many-medical", "medical")
    answer = medic.call("POST", "/api/v1/alerts/ack", {"ids": [*water, medical], "note": "outage"})
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["acknowledged"] == water
    assert [(one["id"], one["reason"]) for one in body["refused"]] == [(medical, "not permitted")]
    again = medic.call("POST", "/api/v1/alerts/ack", {"ids": water})
    assert [one["by"] for one in again.get_json()["refused"]] == [WATER_USER, WATER_USER]
    for bad in ({"ids": ["nope"]}, {"ids": "al-0000000000000000"}, {"ids": []}, {},
                {"ids": [5]}, {"ids": ["al-0000000000000000"] * 201 + ["x"]}):
        refused = medic.call("POST", "/api/v1/alerts/ack", bad)
        assert refused.status_code == 400 and "ids" in refused.get_json()["error"], bad
    official = session_caller(web_app, "official", people["official"])
    assert official.call("POST", "/api/v1/alerts/ack", {"ids": [medical]}).status_code == 403
    assert alerts.get_alert(r, medical)["state"] == "active_unack"  # type: ignore[index]


def _bulk(web_app: Any, caller: Caller, ticked: dict[str, bool]) -> str:
    key = callback_key(web_app, "layouts.alert_bulk.acknowledge_selected")
    answer = caller.client.post("/_dash-update-component", headers=csrf_header(caller.client), json={
        "output": key, "outputs": {"id": "alerts-bulk-result", "property": "children"},
        "inputs": [{"id": "alerts-ack-selected", "property": "n_clicks", "value": 1}],
        "changedPropIds": ["alerts-ack-selected.n_clicks"],
        "state": [[{"id": {"type": "alert-select", "index": alert_id}, "property": "value",
                    "value": [alert_id] if on else []} for alert_id, on in ticked.items()]]})
    assert answer.status_code == 200, answer.data[:300]
    return answer.get_data(as_text=True)


def test_the_page_acknowledges_the_ticked_alerts(web_app: Any, r: redis.Redis,
                                                 people: dict[str, str]) -> None:
    """Ticked alerts are acknowledged, unticked ones not; refusals are named with why."""
    medic = session_caller(web_app, "emergency", WATER_USER)
    one, two, skipped = (_alert(r, f"page-{i}") for i in range(3))
    medical = _alert(r, "page-medical", "medical")
    said = _bulk(web_app, medic, {one: True, two: True, skipped: False, medical: True})
    assert "Acknowledged: 2." in said and "Not acknowledged: 1." in said
    assert "Pump page-medical down (Medical): not yours to act on" in said
    assert alerts.get_alert(r, skipped)["state"] == "active_unack"  # type: ignore[index]
    assert alerts.get_alert(r, one)["acked_by"] == WATER_USER  # type: ignore[index]
    assert "Select the alerts" in _bulk(web_app, medic, {skipped: False})


def test_cards_say_why_there_is_no_button(web_app: Any, r: redis.Redis,
                                          people: dict[str, str]) -> None:
    """The list: a water-only user's medical card says which domains they act on; their water
    card has its checkbox and Acknowledge; an official's card says the role only reads."""
    _alert(r, "cards-water")
    _alert(r, "cards-medical", "medical")
    key = callback_key(web_app, "layouts.alerts.refresh_list")

    def cards(caller: Caller) -> str:
        outputs = key.strip(".").split("...")
        answer = caller.client.post("/_dash-update-component", headers=csrf_header(caller.client),
                                    json={"output": key, "outputs": [
                                        {"id": o.rsplit(".", 1)[0], "property": o.rsplit(".", 1)[1]}
                                        for o in outputs],
                                        "inputs": [{"id": "alert-panel-shown", "property": "data",
                                                    "value": 1},
                                                   {"id": "alerts-filter-domain", "property": "value",
                                                    "value": []},
                                                   {"id": "alerts-filter-severity",
                                                    "property": "value", "value": []},
                                                   {"id": "alerts-filter-state", "property": "value",
                                                    "value": []},
                                                   {"id": "alerts-order", "property": "value",
                                                    "value": "attention"},
                                                   {"id": "alerts-count-picked", "property": "data",
                                                    "value": None}],
                                        "changedPropIds": ["alert-panel-shown.data"],
                                        "state": [{"id": "alerts-shown", "property": "data",
                                                   "value": None}, []]})
        assert answer.status_code == 200, answer.data[:300]
        return answer.get_data(as_text=True)

    medic = cards(session_caller(web_app, "emergency", WATER_USER))
    assert medic.count("You act on Water alerts only") == 1
    assert medic.count('"alert-select-box"') == 1
    everyone = cards(session_caller(web_app, "emergency", people["emergency"]))
    assert "You act on" not in everyone and everyone.count('"alert-select-box"') == 2
    official = cards(session_caller(web_app, "official", people["official"]))
    assert official.count("Your role reads alerts") == 2 and '"alert-select-box"' not in official
