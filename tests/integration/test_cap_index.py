"""CAP index feeds over loopback: the adapter follows the links of Atom and RSS 2.0 indexes.

A LocalHttpServer on 127.0.0.1 serves indexes built in code (and the real NWS Atom index, read in
place from ../shared/samples) and the CAP messages they link. Checked: every linked message is
read and stored; a message already read is not fetched again; the count, the size and the hosts
are bounded (another host only when allow-listed, redirects included); and whatever is not
followed is in the feed's dead letters with the reason.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from typing import Any, Iterator

import pytest
import redis

from app import store
from app.model.records import Event, ParseItem, RawPayload, Rejected
from app.pipeline.ingest import ingest
from data_adapters.base import ParseError
from data_adapters.cap.adapter import CapAdapter
from data_adapters.cap.frame import is_frame
from tests.support.local_http import LocalHttpServer
from tests.support.paths import SAMPLES
from tests.support.payloads.cap import alert, info

ATOM = "http://www.w3.org/2005/Atom"
NWS_INDEX = SAMPLES / "cap" / "us_nws_weather.atom"


class WarningService(LocalHttpServer):
    """An index at /index and CAP messages at /cap/<name>, counting every GET by path."""

    def __init__(self) -> None:
        self.documents: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.hits: dict[str, int] = {}
        super().__init__()

    def serve(self, path: str, body: bytes | str, status: int = 200,
              content_type: str = "application/cap+xml", **headers: str) -> None:
        """Answer GET ``path`` with ``body``."""
        data = body.encode() if isinstance(body, str) else body
        self.documents[path] = (status, {"Content-Type": content_type, **headers}, data)

    def respond(self, request: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        """The document served at the path, else 404."""
        self.hits[request.path] = self.hits.get(request.path, 0) + 1
        return self.documents.get(request.path, (404, {}, b"not here"))


@pytest.fixture
def service() -> Iterator[WarningService]:
    """A warning service on loopback for one test."""
    server = WarningService()
    yield server
    server.close()


def message(identifier: str, sent: str = "2024-05-01T10:00:00+08:00", **kw: Any) -> str:
    """A CAP 1.2 alert."""
    return alert(info(headline=f"Warning {identifier}", **kw), identifier=identifier, sent=sent)


def atom(*entries: str) -> str:
    """An Atom index of entries."""
    return f'<?xml version="1.0"?><feed xmlns="{ATOM}"><id>idx</id>{"".join(entries)}</feed>'


def entry(href: str, updated: str = "2024-05-01T10:00:00+08:00") -> str:
    """An Atom entry that links a CAP message."""
    return (f"<entry><id>{href}</id><updated>{updated}</updated>"
            f'<link rel="alternate" type="application/cap+xml" href="{href}"/></entry>')


def adapter_for(service: WarningService, **config: Any) -> CapAdapter:
    """A CapAdapter polling the service's index."""
    return CapAdapter({"name": "warn", "url": f"{service.origin}/index", "timeout_s": 5,
                       **config})


def poll(adapter: CapAdapter) -> tuple[RawPayload, list[ParseItem]]:
    """One fetch and the items parsed from it."""
    raw = adapter.fetch()
    return raw, list(adapter.parse(raw))


def ids(items: list[ParseItem]) -> list[str]:
    """The ids of the Events, sorted."""
    return sorted(item.id for item in items if isinstance(item, Event))


def reasons(items: list[ParseItem]) -> list[str]:
    """The reasons of the Rejecteds."""
    return [item.reason for item in items if isinstance(item, Rejected)]


def test_an_atom_index_has_its_linked_alerts_read_once(service: WarningService,
                                                       r: redis.Redis) -> None:
    """Each linked message is fetched and stored; the next poll reads none again (cached by
    identifier and sent time); a message whose entry changed is fetched anew."""
    for name in ("a", "b", "c"):
        service.serve(f"/cap/{name}.xml", message(name.upper()))
    # Relative and absolute links, one message linked twice.
    service.serve("/index", atom(entry("/cap/a.xml"), entry(f"{service.origin}/cap/b.xml"),
                                 entry("cap/c.xml"), entry("/cap/a.xml")),
                  content_type="application/atom+xml")
    adapter = adapter_for(service)
    raw, items = poll(adapter)
    assert is_frame(raw.data) and raw.meta["fetched"] == "3"
    assert ids(items) == ["warn:cap:A:s@x.org", "warn:cap:B:s@x.org", "warn:cap:C:s@x.org"]
    assert reasons(items) == []
    result = ingest(r, adapter, raw)
    assert result.accepted == 3 and result.rejected == 0
    assert {e["id"] for e in store.entities.read_events(r, "city")} == set(ids(items))

    raw, items = poll(adapter)
    assert raw.meta["fetched"] == "0" and raw.meta["cached"] == "3"
    assert ids(items) == ["warn:cap:A:s@x.org", "warn:cap:B:s@x.org", "warn:cap:C:s@x.org"]
    assert service.hits["/cap/a.xml"] == service.hits["/cap/b.xml"] == 1

    # B is updated (a new sent time at the same URL, the entry's time moves); C leaves the index.
    service.serve("/cap/b.xml", message("B", sent="2024-05-01T12:00:00+08:00"))
    service.serve("/index", atom(entry("/cap/a.xml"),
                                 entry("/cap/b.xml", updated="2024-05-01T12:00:00+08:00")),
                  content_type="application/atom+xml")
    raw, items = poll(adapter)
    assert raw.meta["fetched"] == "1" and service.hits["/cap/b.xml"] == 2
    assert ids(items) == ["warn:cap:A:s@x.org", "warn:cap:B:s@x.org"]
    assert len(adapter.follower.cache) == 4  # A and B, each by URL and by identifier


def test_an_rss_index_is_followed_like_atom(service: WarningService) -> None:
    """RSS 2.0: item links and enclosures are followed, an embedded alert read in place."""
    service.serve("/cap/wind.xml", message("WIND"))
    service.serve("/cap/heat.xml", message("HEAT"))
    service.serve("/index", '<rss version="2.0"><channel><title>Warnings</title>'
                            f"<item><title>Flood</title>{alert(info(), decl=False)}</item>"
                            f"<item><link>{service.origin}/cap/wind.xml</link></item>"
                            '<item><enclosure url="/cap/heat.xml" type="application/cap+xml"/>'
                            "</item></channel></rss>", content_type="application/rss+xml")
    _raw, items = poll(adapter_for(service))
    assert ids(items) == ["warn:cap:A-1:s@x.org", "warn:cap:HEAT:s@x.org",
                          "warn:cap:WIND:s@x.org"]
    assert reasons(items) == []


def test_count_and_size_are_bounded_and_what_is_left_is_dead_lettered(
        service: WarningService, r: redis.Redis) -> None:
    """max_linked_alerts caps the links followed; a message over max_alert_bytes is not read; a
    missing one is not either; each says why in the dead letters, the rest is stored."""
    for n in range(4):
        service.serve(f"/cap/{n}.xml", message(f"N{n}"))
    service.serve("/cap/big.xml", message("BIG", extra="<note>" + "x" * 4000 + "</note>"))
    service.serve("/index", atom(entry("/cap/big.xml"), entry("/cap/gone.xml"),
                                 *(entry(f"/cap/{n}.xml") for n in range(4))))
    adapter = adapter_for(service, max_linked_alerts=3, max_alert_bytes=2048)
    raw, items = poll(adapter)
    assert ids(items) == ["warn:cap:N0:s@x.org", "warn:cap:N1:s@x.org", "warn:cap:N2:s@x.org"]
    why = reasons(items)
    assert len(why) == 3
    assert why[0].startswith("linked alert not fetched: payload of") and "2048 bytes" in why[0]
    assert why[1].startswith("linked alert not fetched: HTTP 404")
    assert why[2].startswith("1 linked alert(s) not followed: beyond the poll's bounds "
                             "(max_linked_alerts 3")
    assert "/cap/3.xml" not in service.hits
    result = ingest(r, adapter, raw)
    assert result.rejected == 3
    letters = store.feeds.read_dead_letters(r, "warn")
    assert sorted(letter["reason"] for letter in letters) == sorted(why)
    assert any("/cap/3.xml" in letter["excerpt"] for letter in letters)


def test_other_hosts_only_when_allow_listed_redirects_included(service: WarningService) -> None:
    """A link to another host (localhost is not 127.0.0.1) is refused unless link_hosts names it;
    a redirect to another host is refused like a link to it."""
    other = service.origin.replace("127.0.0.1", "localhost")
    service.serve("/cap/there.xml", message("THERE"))
    service.serve("/cap/here.xml", message("HERE"))
    service.serve("/cap/hop.xml", b"", status=302, Location=f"{other}/cap/there.xml")
    service.serve("/index", atom(entry(f"{other}/cap/there.xml"), entry("/cap/here.xml"),
                                 entry("/cap/hop.xml"), entry("file:///etc/passwd")))
    _raw, items = poll(adapter_for(service))
    assert ids(items) == ["warn:cap:HERE:s@x.org"]
    why = reasons(items)
    assert why[0].startswith("linked alert not fetched: redirect from") and "refused" in why[0]
    assert why[1] == ("2 linked alert(s) not followed: on a host that is neither the index's nor "
                      "in link_hosts")
    assert service.hits.get("/cap/there.xml") is None
    _raw, items = poll(adapter_for(service, link_hosts=["LOCALHOST"]))
    # Allow-listed, the host is reached by its link and by the redirect (the same message).
    assert ids(items) == ["warn:cap:HERE:s@x.org", "warn:cap:THERE:s@x.org",
                          "warn:cap:THERE:s@x.org"]
    assert reasons(items) == ["1 linked alert(s) not followed: on a host that is neither the "
                              "index's nor in link_hosts"]  # file:// is never followed


def test_the_real_nws_index_links_are_refused_off_its_host(service: WarningService) -> None:
    """The NWS Atom index (read in place) links alerts.weather.gov: served from loopback, those
    links lead to another host, so nothing leaves the machine and the refusal is reported."""
    if not NWS_INDEX.is_file():
        pytest.skip(f"no CAP samples at {NWS_INDEX.parent}")
    service.serve("/index", NWS_INDEX.read_bytes(), content_type="application/atom+xml")
    raw, items = poll(adapter_for(service))
    assert is_frame(raw.data) and raw.meta["fetched"] == "0"
    assert ids(items) == []
    assert reasons(items) == ["2 linked alert(s) not followed: on a host that is neither the "
                              "index's nor in link_hosts"]
    assert set(service.hits) == {"/index"}


def test_a_plain_alert_and_a_broken_index_are_passed_on_as_received(
        service: WarningService) -> None:
    """A CAP message (no index) is the payload byte for byte; an index that is no XML too, and
    parse() says why."""
    service.serve("/index", message("ONE"))
    raw, items = poll(adapter_for(service))
    assert raw.data == message("ONE").encode() and ids(items) == ["warn:cap:ONE:s@x.org"]
    service.serve("/index", b"<html>502 Bad Gateway", content_type="text/html")
    raw = adapter_for(service).fetch()
    assert raw.data == b"<html>502 Bad Gateway"
    with pytest.raises(ParseError):
        list(adapter_for(service).parse(raw))


def test_a_poll_out_of_time_leaves_the_rest_to_the_next(service: WarningService) -> None:
    """No new GET once the poll's time is spent: those links are reported, and the next poll,
    with time to spare, reads them (what was read stays cached)."""
    service.serve("/cap/a.xml", message("A"))
    service.serve("/index", atom(entry("/cap/a.xml")))
    adapter = adapter_for(service)
    adapter.follower.budget_s = -1.0  # already spent: as if earlier GETs had used it all
    _raw, items = poll(adapter)
    assert ids(items) == [] and service.hits.get("/cap/a.xml") is None
    assert reasons(items) == ["1 linked alert(s) not followed: after the poll's time ran out "
                              "(the next poll goes on)"]
    adapter.follower.budget_s = 60.0
    _raw, items = poll(adapter)
    assert ids(items) == ["warn:cap:A:s@x.org"]
