"""The Atom feed of the published warnings: one entry per CAP 1.2 message, embedded whole.

Each entry's content is the CAP <alert> itself (type application/cap+xml, RFC 4287 section
4.1.3.3), so the national warning platform, media and apps read the messages from the feed
without a second request; the entry's id is derived from the message's sender and identifier, so
a message keeps its entry id in every render. Built with ElementTree, which escapes every text.
"""

from __future__ import annotations

import hashlib
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import Sequence

from app import i18n
from app.public.cap import alert_element, alert_identity
from app.public.content import PublicWarning

ATOM_NS = "http://www.w3.org/2005/Atom"
PAGE_PATH = "/public"
FEED_PATH = "/public/cap.atom"
CAP_MEDIA_TYPE = "application/cap+xml"
_FEED_NAMESPACE = uuid.UUID("6f6a5a1e-3c1f-5b8e-9d4b-0c17c1f2a6b1")

ET.register_namespace("", ATOM_NS)


def atom_time(ts: float) -> str:
    """An Atom (RFC 3339) date-time in UTC, whole seconds."""
    return datetime.fromtimestamp(round(ts), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sub(parent: ET.Element, name: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM_NS}}}{name}", attrs)
    if text is not None:
        element.text = text
    return element


def entry(warning: PublicWarning, page_url: str) -> ET.Element:
    """One warning as an Atom entry carrying its CAP message."""
    alert = alert_element(warning)
    sender, identifier, _sent = alert_identity(alert)
    element = ET.Element(f"{{{ATOM_NS}}}entry")
    _sub(element, "id", f"urn:uuid:{uuid.uuid5(_FEED_NAMESPACE, f'{sender},{identifier}')}")
    _sub(element, "title", warning.headline or warning.event or identifier)
    _sub(element, "updated", atom_time(max(warning.sent, warning.updated)))
    _sub(element, "link", rel="alternate", type="text/html", href=page_url)
    _sub(element, "category", term=warning.severity)
    content = _sub(element, "content", type=CAP_MEDIA_TYPE)
    content.append(alert)
    return element


def entries(warnings: Sequence[PublicWarning], base_url: str = "") -> list[ET.Element]:
    """The entries of the feed, in the order given (gravest first)."""
    return [entry(w, f"{base_url}{PAGE_PATH}") for w in warnings]


def entries_digest(items: Sequence[ET.Element]) -> str:
    """A digest of the entries: the feed's <updated> moves only when it changes."""
    digest = hashlib.sha256()
    for item in items:
        digest.update(ET.tostring(item))
    return digest.hexdigest()


def feed_document(items: Sequence[ET.Element], updated: float, base_url: str = "") -> str:
    """The whole Atom document (UTF-8 text with its XML declaration)."""
    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    feed.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    self_url = f"{base_url}{FEED_PATH}"
    _sub(feed, "id", f"urn:uuid:{uuid.uuid5(_FEED_NAMESPACE, base_url or 'cityops')}")
    _sub(feed, "title", i18n.t("public.feed_title", lang=i18n.EN))
    _sub(feed, "subtitle", i18n.t("public.feed_title", lang=i18n.ZH))
    _sub(feed, "updated", atom_time(updated))
    author = _sub(feed, "author")
    _sub(author, "name", i18n.t("cap.sender_name", lang=i18n.EN))
    _sub(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    _sub(feed, "link", rel="alternate", type="text/html", href=f"{base_url}{PAGE_PATH}")
    _sub(feed, "generator", "CityOps")
    feed.extend(items)
    return ET.tostring(feed, encoding="unicode", xml_declaration=False).join(
        ('<?xml version="1.0" encoding="utf-8"?>\n', "\n"))
