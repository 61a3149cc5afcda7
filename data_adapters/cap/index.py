"""Atom and RSS indexes of CAP alerts (pure): which entries embed an alert, which link one.

Warning services (MeteoAlarm, the US NWS, many national platforms) publish an Atom feed or an
RSS 2.0 channel whose entries each stand for one CAP message: some embed the ``<alert>``, most
link it (Atom ``<link href>``, RSS ``<link>`` or ``<enclosure url>``) and repeat a few of its
fields (``cap:identifier``, ``cap:sent``) beside the entry's own time (``updated``, ``pubDate``).
The adapter follows the links (follow.py); the parser reads what is embedded.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree.ElementTree import Element

from data_adapters.base import ParseError
from data_adapters.cap.xml import children, local, namespace, read_xml
from data_adapters.cap.xml import text as child_text

ATOM_NAMESPACE = "http://www.w3.org/2005/Atom"
# A link longer than this is no URL of a CAP message (and would only bloat the dead letters).
MAX_LINK_CHARS = 2048
# Atom link relations that do not point at the entry's content.
_NOT_CONTENT = frozenset({"self", "edit", "edit-media", "via", "replies", "license", "payment"})


@dataclass(frozen=True)
class IndexEntry:
    """One entry (Atom) or item (RSS): its embedded alerts, else the link to its CAP message."""

    alerts: tuple[Element, ...]
    link: str | None  # as written in the entry (relative links are resolved by the follower)
    identifier: str | None  # the CAP identifier and sent time the entry announces, if any
    sent: str | None
    stamp: str | None  # the entry's own time: it changes when the message does


def index_entries(root: Element) -> list[IndexEntry] | None:
    """The entries of an Atom feed or an RSS 2.0 (or 1.0) channel; None for any other document."""
    name = local(root.tag)
    if name == "feed" and namespace(root.tag) in (ATOM_NAMESPACE, ""):
        found = children(root, "entry")
    elif name == "rss":
        found = [item for channel in children(root, "channel") for item in children(channel, "item")]
    elif name == "RDF":  # RSS 1.0 lists its items beside the channel
        found = children(root, "item")
    else:
        return None
    return [_entry(element) for element in found]


def _entry(element: Element) -> IndexEntry:
    embedded = tuple(e for e in element.iter() if local(e.tag) == "alert")
    stamp = next((value for value in (child_text(element, name) for name in
                                      ("updated", "published", "pubDate", "date")) if value), None)
    return IndexEntry(embedded, None if embedded else _link(element),
                      child_text(element, "identifier"), child_text(element, "sent"), stamp)


def _link(entry: Element) -> str | None:
    """The URL of the CAP message an entry stands for: a link typed as CAP first, then the
    entry's content link (Atom's alternate, RSS's link or enclosure); None when it has none."""
    typed: list[str] = []
    plain: list[str] = []
    for element in entry:
        name = local(element.tag)
        if name == "link":
            # Atom writes href=, RSS the URL as text.
            href = (element.get("href") or element.text or "").strip()
            if element.get("rel", "alternate") in _NOT_CONTENT:
                continue
        elif name == "enclosure":
            href = (element.get("url") or "").strip()
        else:
            continue
        if not href or len(href) > MAX_LINK_CHARS:
            continue
        (typed if "cap" in (element.get("type") or "").lower() else plain).append(href)
    return (typed or plain or [None])[0]


def message_key(data: bytes) -> tuple[str, str] | None:
    """(identifier, sent) of a CAP message, what a linked message is cached by; None when the
    bytes are no single readable alert."""
    try:
        root = read_xml(data)
    except ParseError:
        return None
    if local(root.tag) != "alert":
        return None
    identifier, sent = child_text(root, "identifier"), child_text(root, "sent")
    return (identifier, sent) if identifier and sent else None
