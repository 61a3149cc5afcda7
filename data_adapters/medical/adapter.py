"""The medical feed adapter: a FHIR R4 search (a Bundle, paged by next links) polled over HTTP."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, ClassVar, Iterator, Mapping
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.model.records import ParseItem, RawPayload
from data_adapters.base import FatalFeedError, RetryableFeedError
from data_adapters.http import HttpPollAdapter, http_get
from data_adapters.medical.fhir import DEFAULT_TZ, parse_fhir

DEFAULT_MAX_PAGES = 10


def _next_link(bundle: Any) -> str | None:
    """The Bundle.link url with relation "next", if any."""
    links = bundle.get("link") if isinstance(bundle, dict) else None
    for link in links if isinstance(links, list) else []:
        if isinstance(link, dict) and link.get("relation") == "next" \
                and isinstance(link.get("url"), str) and link["url"]:
            return link["url"]
    return None


def _origin(url: str) -> tuple[str, str | None, int | None]:
    """(scheme, host, port) of a URL, for the same-server check on next links."""
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port


class FhirAdapter(HttpPollAdapter):
    """A FHIR R4 search URL: hospitals (Location, Organization) and SANER MeasureReport capacity."""

    name: ClassVar[str] = "fhir"
    domain: ClassVar[str] = "medical"
    default_interval_s: ClassVar[float] = 300.0  # SANER reports are daily; bed counts move slowly

    accept: ClassVar[str] = "application/fhir+json"

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        try:
            self.max_pages = int(self.config.get("max_pages", DEFAULT_MAX_PAGES))
        except (TypeError, ValueError):
            raise FatalFeedError(f"feed {self.feed}: max_pages must be an integer") from None
        if self.max_pages < 1:
            raise FatalFeedError(f"feed {self.feed}: max_pages must be at least 1")
        self.tz = str(self.config.get("tz") or DEFAULT_TZ)
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise FatalFeedError(f"feed {self.feed}: unknown time zone {self.tz!r}") from None
        self.bounds = self._bounds(self.config.get("bounds"))
        # What the last parse skipped without a rejection (data-absent populations and so on).
        self.last_counts: Counter[str] = Counter()

    def _bounds(self, value: Any) -> tuple[float, float, float, float] | None:
        """The configured [min_lat, min_lon, max_lat, max_lon], checked."""
        if value is None:
            return None
        if (not isinstance(value, (list, tuple)) or len(value) != 4
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
            raise FatalFeedError(f"feed {self.feed}: bounds must be [min_lat, min_lon, max_lat, "
                                 "max_lon]")
        min_lat, min_lon, max_lat, max_lon = (float(v) for v in value)
        if not (-90 <= min_lat < max_lat <= 90 and -180 <= min_lon < max_lon <= 180):
            raise FatalFeedError(f"feed {self.feed}: bounds {list(value)} are not a box on Earth")
        return min_lat, min_lon, max_lat, max_lon

    def fetch(self) -> RawPayload:
        """GET the search and follow its next links (up to max_pages) into one Bundle payload."""
        headers = {"Accept": self.accept}
        first = http_get(self.url, timeout_s=self.timeout_s, headers=headers)
        try:
            bundle = json.loads(first.data)
        except (ValueError, RecursionError):
            return first  # not JSON: parse() reports it as a ParseError with an excerpt
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            return first
        entries = list(bundle.get("entry") or []) if isinstance(bundle.get("entry"), list) else []
        pages, url, seen = 1, self.url, {self.url}
        link = _next_link(bundle)
        while link is not None and pages < self.max_pages:
            url = urljoin(url, link)
            # A next link to another server would let a feed make us fetch anything (SSRF).
            if _origin(url) != _origin(self.url):
                raise RetryableFeedError(f"feed {self.feed}: next link leaves the server: {url}")
            if url in seen:
                break  # a server looping its pages: what we have is all there is
            seen.add(url)
            page = http_get(url, timeout_s=self.timeout_s, headers=headers)
            try:
                doc = json.loads(page.data)
            except (ValueError, RecursionError):
                doc = None
            if not isinstance(doc, dict) or doc.get("resourceType") != "Bundle":
                # A half-read search would look like hospitals vanished: fail the whole poll.
                raise RetryableFeedError(f"feed {self.feed}: page {pages + 1} ({url}) is not a "
                                         "FHIR Bundle")
            if isinstance(doc.get("entry"), list):
                entries.extend(doc["entry"])
            pages += 1
            link = _next_link(doc)
        if pages == 1 and link is None:
            return first  # one page: the bytes exactly as received
        merged = {k: v for k, v in bundle.items() if k not in ("link", "entry", "total")}
        merged["entry"] = entries
        meta = {"pages": str(pages), "truncated": "true" if link is not None else "false"}
        return RawPayload(data=json.dumps(merged).encode(), source=self.url,
                          fetched_at=first.fetched_at, content_type=first.content_type, meta=meta)

    def parse(self, raw: RawPayload) -> Iterator[ParseItem]:
        """Map the FHIR payload to medical records (hospitals, organizations, capacity)."""
        counts: Counter[str] = Counter()
        yield from parse_fhir(raw.data, self.feed, raw.fetched_at, id_prefix=self.id_prefix,
                              bounds=self.bounds, tz=self.tz, counts=counts)
        self.last_counts = counts
