"""The CAP index frame: an Atom or RSS index with the CAP messages it links, as one payload (pure).

When an index links its alerts, fetch() (follow.py) reads the linked messages too and hands
parse() one JSON frame holding the index and each message as received (base64, so every
document keeps its own encoding), plus what was not followed and why:

    {"format": "cityops-cap-index/1", "index_url": "https://host/feed.atom",
     "index": "<base64>", "linked": [{"url": "https://host/a.cap", "payload": "<base64>",
     "cached": true}], "skipped": [{"reason": "...", "excerpt": "..."}]}

parse_frame() reads the index's embedded alerts, then each linked message on its own (one that
is not CAP is one Rejected naming its URL), then one Rejected per skipped link. A frame saved
to a file replays with `cityops ingest cap`.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from app.model.records import ParseItem, Rejected
from data_adapters.base import MAX_PAYLOAD_BYTES, ParseError
from data_adapters.cap.parse import EXCERPT_BYTES, parse_cap
from data_adapters.json_payload import decode_json

FRAME_FORMAT = "cityops-cap-index/1"
FRAME_CONTENT_TYPE = "application/vnd.cityops.cap-index+json"
# The frame holds the index (at most 4 MB) and the linked messages (each capped by the feed's
# max_alert_bytes, their sum by follow.MAX_LINKED_TOTAL), base64 grown by a third.
MAX_FRAME_BYTES = MAX_PAYLOAD_BYTES


@dataclass(frozen=True)
class Linked:
    """A linked CAP message as read (or as cached from an earlier poll)."""

    url: str
    payload: bytes
    cached: bool = False


@dataclass(frozen=True)
class Skipped:
    """A link that was not followed, and why (it becomes a Rejected in the dead letters)."""

    reason: str
    excerpt: str = ""


@dataclass(frozen=True)
class Frame:
    """A decoded frame."""

    index_url: str
    index: bytes
    linked: list[Linked | Rejected]
    skipped: list[Skipped]


def encode_frame(index_url: str, index: bytes, linked: Sequence[Linked],
                 skipped: Sequence[Skipped]) -> bytes:
    """The JSON frame of an index and what its links gave."""
    return json.dumps({
        "format": FRAME_FORMAT, "index_url": index_url,
        "index": base64.b64encode(index).decode("ascii"),
        "linked": [{"url": item.url, "payload": base64.b64encode(item.payload).decode("ascii"),
                    "cached": item.cached} for item in linked],
        "skipped": [{"reason": item.reason, "excerpt": item.excerpt} for item in skipped],
    }, separators=(",", ":")).encode("utf-8")


def is_frame(data: bytes) -> bool:
    """True when ``data`` looks like a frame (JSON), not XML: XML never starts with "{"."""
    return data.lstrip(b" \t\r\n")[:1] == b"{"


def _bytes(value: Any) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _linked(raw: Any) -> Linked | Rejected:
    """One linked entry of a frame, or the Rejected saying what is wrong with it."""
    url = raw.get("url") if isinstance(raw, dict) else None
    payload = _bytes(raw.get("payload")) if isinstance(raw, dict) else None
    if not isinstance(url, str) or payload is None:
        return Rejected.of("linked entry of the frame needs a url and a base64 payload", repr(raw))
    return Linked(url, payload, bool(raw.get("cached", False)))


def decode_frame(data: bytes) -> Frame:
    """The frame in ``data``; ParseError when it is not one."""
    doc = decode_json(data, what="a CAP index frame", limit=MAX_FRAME_BYTES)
    if not isinstance(doc, dict) or doc.get("format") != FRAME_FORMAT:
        raise ParseError(f"not CAP: JSON that is no CAP index frame (expected format "
                         f"{FRAME_FORMAT!r})", data)
    index = _bytes(doc.get("index"))
    linked, skipped = doc.get("linked"), doc.get("skipped", [])
    if index is None or not isinstance(linked, list) or not isinstance(skipped, list):
        raise ParseError("CAP index frame without a base64 index or a list of linked alerts",
                         data)
    # A saved frame is a file anyone could edit: a reason must say something.
    notes = [Skipped(str(item.get("reason") or "").strip()[:500] or "link not followed",
                     str(item.get("excerpt") or "")) if isinstance(item, dict)
             else Skipped("link not followed", repr(item)) for item in skipped]
    return Frame(str(doc.get("index_url") or ""), index, [_linked(raw) for raw in linked], notes)


def parse_frame(data: bytes, feed: str, fetched_at: float, *, languages: Sequence[str],
                id_prefix: str | None, domain: str) -> Iterator[ParseItem]:
    """The records of the index and of each linked message, and what could not be read."""
    frame = decode_frame(data)
    options: dict[str, Any] = {"languages": languages, "id_prefix": id_prefix, "domain": domain}
    # The index decides whether the payload is usable at all (its ParseError comes first).
    index_items = list(parse_cap(frame.index, feed, fetched_at, links_followed=True, **options))
    yield from index_items
    for item in frame.linked:
        if isinstance(item, Rejected):
            yield item
            continue
        try:
            yield from list(parse_cap(item.payload, feed, fetched_at, **options))
        except ParseError as exc:
            yield Rejected.of(f"linked alert {item.url[:300]}: {exc}",
                              item.payload[:EXCERPT_BYTES])
    for note in frame.skipped:
        yield Rejected.of(note.reason, note.excerpt)
