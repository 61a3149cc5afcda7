"""The medical feed adapter: a FHIR R4 search (a Bundle, paged by next links) polled over HTTP."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, ClassVar, Iterator, Mapping
from urllib.parse import urljoin, urlsplit

from pydantic import field_validator

from app.model.records import ParseItem, RawPayload
from data_adapters.base import ParseError, RetryableFeedError
from data_adapters.feed_settings import (
    URL_PATTERN,
    FeedSettings,
    HttpFeedSettings,
    check_time_zone,
    interval_setting,
    setting,
    tz_setting,
)
from data_adapters.http import HttpPollAdapter, http_get
from data_adapters.json_payload import decode_json
from data_adapters.medical.fhir import DEFAULT_TZ, parse_fhir

DEFAULT_MAX_PAGES = 10
MAX_PAGES = 1_000


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


class FhirSettings(HttpFeedSettings):
    """The [[feeds]] keys of a FHIR R4 search."""

    url: str = setting(
        pattern=URL_PATTERN,
        expected="an http(s) URL of a FHIR search such as 'https://host/r4/Location?type=HOSP'",
        description="a FHIR search URL returning a Bundle (its next links are followed)")
    interval_s: float = interval_setting(300.0)
    max_pages: int = setting(DEFAULT_MAX_PAGES, ge=1, le=MAX_PAGES,
                             description="next links followed per poll")
    tz: str = tz_setting(DEFAULT_TZ, "the zone in which plain FHIR dates are midnight")
    bounds: list[float] | None = setting(
        None, expected="[min_lat, min_lon, max_lat, max_lon]: four numbers, a box on Earth",
        default_text="the city's (city.bounds), else none",
        description="places outside this box are listed and flagged, not drawn")

    @field_validator("tz")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_time_zone(value)

    @field_validator("bounds")
    @classmethod
    def _box(cls, value: list[float] | None) -> list[float] | None:
        if value is None:
            return None
        if len(value) != 4:
            raise ValueError(f"{len(value)} numbers")
        min_lat, min_lon, max_lat, max_lon = value
        if not (-90 <= min_lat < max_lat <= 90 and -180 <= min_lon < max_lon <= 180):
            raise ValueError("needs min_lat < max_lat within ±90 and min_lon < max_lon within "
                             "±180")
        return value


class FhirAdapter(HttpPollAdapter):
    """A FHIR R4 search URL: hospitals (Location, Organization) and SANER MeasureReport capacity."""

    name: ClassVar[str] = "fhir"
    domain: ClassVar[str] = "medical"
    settings_model: ClassVar[type[FeedSettings]] = FhirSettings
    settings: FhirSettings

    accept: ClassVar[str] = "application/fhir+json"

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        self.max_pages = self.settings.max_pages
        self.tz = self.settings.tz
        bounds = self.settings.bounds
        self.bounds: tuple[float, float, float, float] | None = (
            None if bounds is None else (bounds[0], bounds[1], bounds[2], bounds[3]))
        # What the last parse skipped without a rejection (data-absent populations and so on).
        self.last_counts: Counter[str] = Counter()

    def fetch(self) -> RawPayload:
        """GET the search and follow its next links (up to max_pages) into one Bundle payload."""
        headers = {"Accept": self.accept}
        first = http_get(self.url, timeout_s=self.timeout_s, headers=headers)
        try:
            bundle = decode_json(first.data, what="a FHIR Bundle")
        except ParseError:
            return first  # parse() reports it, with the same message and an excerpt
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
            # A redirect must not lead elsewhere either.
            page = http_get(url, timeout_s=self.timeout_s, headers=headers,
                            redirect_ok=lambda target: _origin(target) == _origin(self.url))
            try:
                doc = decode_json(page.data, what="a FHIR Bundle")
            except ParseError:
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
