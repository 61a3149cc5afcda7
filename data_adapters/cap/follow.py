"""Following the links of a CAP index (I/O): bounded, same host or allow-listed, cached.

fetch() hands the index it polled to :class:`LinkFollower`, which GETs the CAP message each entry
links and returns one frame (frame.py) with the index and the messages. It is bounded on every
side a hostile or huge index could push:

- count: at most ``max_links`` links per poll (cached ones included); the rest are skipped;
- size: each message at most ``max_bytes`` (the GET stops reading past it), the poll's messages
  together at most MAX_LINKED_TOTAL bytes;
- time: no new GET once the poll has spent ``budget_s`` (the next poll goes on from the cache);
- hosts: only the index's own host or one of ``hosts`` (the feed's ``link_hosts``), for the
  link and for every redirect on the way (no fetching of internal addresses through an index);
- cache: a message already read is not fetched again while the index lists it: by the CAP
  identifier and sent time the entry announces, else by its URL and the entry's own time.

Whatever is not followed is a Skipped in the frame, so parse() puts it, with the reason, in the
feed's dead letters (and its rejected count in the health record).
"""

from __future__ import annotations

import time
from typing import Callable
from urllib.parse import urljoin, urlsplit

from app.model.records import RawPayload
from data_adapters.base import FeedError, ParseError
from data_adapters.cap.frame import (
    FRAME_CONTENT_TYPE,
    MAX_FRAME_BYTES,
    Linked,
    Skipped,
    encode_frame,
)
from data_adapters.cap.index import IndexEntry, index_entries, message_key
from data_adapters.cap.xml import read_xml

# The linked messages of one poll together: base64 grows them by a third in the frame.
MAX_LINKED_TOTAL = MAX_FRAME_BYTES * 2 // 3 - 4 * 1024 * 1024
_SHOWN_URLS = 5

Get = Callable[[str, int, Callable[[str], bool]], RawPayload]
"""GET a URL with a byte cap and a redirect check (data_adapters.http.http_get, in tests a fake)."""


def _host(url: str) -> str | None:
    """The lower-case host of an http(s) URL; None for any other URL."""
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        return None
    return parts.hostname.lower()


def _keys(entry: IndexEntry, url: str) -> list[tuple[str, ...]]:
    """The cache keys an entry may find its message under: the CAP identifier and sent time it
    announces, then its URL with the entry's own time."""
    keys: list[tuple[str, ...]] = []
    if entry.identifier and entry.sent:
        keys.append(("cap", entry.identifier, entry.sent))
    keys.append(("url", url, entry.stamp or ""))
    return keys


class LinkFollower:
    """Reads the messages an index links, keeping those it read (see the module)."""

    def __init__(self, get: Get, *, max_links: int, max_bytes: int, hosts: frozenset[str],
                 budget_s: float) -> None:
        self.get = get
        self.max_links = max_links
        self.max_bytes = max_bytes
        self.hosts = hosts
        self.budget_s = budget_s
        self.cache: dict[tuple[str, ...], bytes] = {}
        self.fetched = 0  # GETs made by the last follow(), for tests and the payload's meta

    def follow(self, index: RawPayload) -> RawPayload:
        """The index with its linked messages as one frame; the index as it came when it links
        nothing (or is no index: parse() then says why)."""
        try:
            entries = index_entries(read_xml(index.data))
        except ParseError:
            return index
        links = [(entry, urljoin(index.source, entry.link)) for entry in entries or ()
                 if entry.link]
        if not links:
            return index
        own = _host(index.source)
        started = time.monotonic()
        linked: list[Linked] = []
        skipped: list[Skipped] = []
        elsewhere: list[str] = []
        beyond: list[str] = []
        late: list[str] = []
        kept: dict[tuple[str, ...], bytes] = {}
        total = 0
        self.fetched = 0
        seen: set[str] = set()
        for entry, url in links:
            if url in seen:
                continue  # two entries for one message: read once
            seen.add(url)
            host = _host(url)
            if host is None or (host != own and host not in self.hosts):
                elsewhere.append(url)
                continue
            if len(linked) >= self.max_links:
                beyond.append(url)
                continue
            keys = _keys(entry, url)
            payload = next((self.cache[key] for key in keys if key in self.cache), None)
            cached = payload is not None
            if payload is None:
                if time.monotonic() - started > self.budget_s:
                    late.append(url)
                    continue
                try:
                    self.fetched += 1
                    payload = self.get(url, self.max_bytes, self._allowed(own)).data
                except FeedError as exc:
                    skipped.append(Skipped(f"linked alert not fetched: {exc}"[:500], url))
                    continue
            if total + len(payload) > MAX_LINKED_TOTAL:
                beyond.append(url)
                continue
            total += len(payload)
            found = message_key(payload)
            for key in keys + ([("cap", *found)] if found else []):
                kept[key] = payload
            linked.append(Linked(url, payload, cached))
        self.cache = kept  # what the index no longer lists is forgotten
        for urls, why in ((elsewhere, "on a host that is neither the index's nor in link_hosts"),
                          (beyond, f"beyond the poll's bounds (max_linked_alerts "
                                   f"{self.max_links}, {MAX_LINKED_TOTAL} bytes in all)"),
                          (late, "after the poll's time ran out (the next poll goes on)")):
            if urls:
                skipped.append(Skipped(f"{len(urls)} linked alert(s) not followed: {why}",
                                       "\n".join(urls[:_SHOWN_URLS])))
        data = encode_frame(index.source, index.data, linked, skipped)
        meta = {"linked": str(len(linked)), "fetched": str(self.fetched),
                "cached": str(sum(item.cached for item in linked)),
                "skipped": str(len(seen) - len(linked))}
        return RawPayload(data=data, source=index.source, fetched_at=index.fetched_at,
                          content_type=FRAME_CONTENT_TYPE, meta=meta)

    def _allowed(self, own: str | None) -> Callable[[str], bool]:
        """Where a redirect of a linked GET may lead: the same hosts as a link."""
        def allowed(url: str) -> bool:
            host = _host(url)
            return host is not None and (host == own or host in self.hosts)
        return allowed
