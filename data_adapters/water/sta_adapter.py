"""The SensorThings adapter: polls a v1.1 service's Observations incrementally, following nextLinks.

Each poll asks for the Observations after the newest phenomenonTime seen so far
(``$filter=phenomenonTime gt ...``, ``$orderby=phenomenonTime asc``, ``$expand=Datastream(...)``)
and follows ``@iot.nextLink`` on the same server up to ``page_limit`` pages. When the limit cuts
a poll short, the next poll continues at the nextLink where this one stopped, so nothing is
skipped; a nextLink to another server is refused (a server must not make us fetch elsewhere) and
recorded as a rejection in the dead letters.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections import Counter
from typing import Any, ClassVar, Iterator, Mapping
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.model.records import ParseItem, RawPayload, Rejected
from data_adapters.base import FatalFeedError, ParseError, RetryableFeedError
from data_adapters.http import HttpPollAdapter, http_get
from data_adapters.water.senml import zones_config
from data_adapters.water.sensorthings import (
    Newest,
    check_metrics,
    iso_z,
    load_json,
    observations_in,
    parse_observations,
)

log = logging.getLogger(__name__)

DEFAULT_PAGE_LIMIT = 10
DEFAULT_TOP = 200
DEFAULT_LOOKBACK_HOURS = 24.0
# The Thing brings the station's Location, the ObservedProperty what is measured.
DEFAULT_EXPAND = "Datastream($expand=Thing/Locations,ObservedProperty)"
MAX_TOP = 10_000
MAX_PAGE_LIMIT = 1_000
# The query options this adapter sets; the same options in the configured url are replaced.
_OWN_OPTIONS = frozenset({"$filter", "$orderby", "$top", "$skip", "$expand"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL, the default port made explicit, for same-server checks."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:  # a port out of range
        return scheme, "", -1
    return scheme, (parts.hostname or "").lower(), port


def _next_link(doc: Any) -> str | None:
    """The page's @iot.nextLink, if it has one."""
    link = doc.get("@iot.nextLink") if isinstance(doc, dict) else None
    return link if isinstance(link, str) and link.strip() else None


def _collection(data: bytes) -> Any:
    """The decoded Observations document of a page, or None when it is not one."""
    try:
        doc = load_json(data)
    except ParseError:
        return None
    return doc if observations_in(doc) is not None else None


class SensorThingsAdapter(HttpPollAdapter):
    """OGC SensorThings API v1.1 Observations of pressure, flow, level and quality Datastreams."""

    name: ClassVar[str] = "sensorthings"
    domain: ClassVar[str] = "water"
    default_interval_s: ClassVar[float] = 60.0

    accept: ClassVar[str] = "application/json"

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        self.zones = zones_config(self.config, self.feed)
        try:
            self.metrics = check_metrics(self.config.get("metrics"))
        except ValueError as exc:
            raise FatalFeedError(f"feed {self.feed}: {exc}") from None
        self.page_limit = self._int("page_limit", DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT)
        self.top = self._int("top", DEFAULT_TOP, MAX_TOP)
        self.expand = str(self.config.get("expand", DEFAULT_EXPAND)).strip()
        self.filter = str(self.config.get("filter") or "").strip()
        try:
            lookback = float(self.config.get("lookback_hours", DEFAULT_LOOKBACK_HOURS))
        except (TypeError, ValueError):
            raise FatalFeedError(f"feed {self.feed}: lookback_hours must be a number") from None
        if not lookback >= 0:
            raise FatalFeedError(f"feed {self.feed}: lookback_hours must be 0 (all) or more")
        self.lookback_s = lookback * 3600.0 if lookback else None
        tz_name = str(self.config.get("tz") or "UTC")
        try:
            self.tz: dt.tzinfo = ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise FatalFeedError(f"feed {self.feed}: unknown time zone {tz_name!r}") from None
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FatalFeedError(f"feed {self.feed}: url must be an http(s) URL, not {self.url!r}")
        path = parts.path.rstrip("/")
        # The service root (".../v1.1") or a collection of Observations (also a Datastream's).
        self.collection = urlunsplit((parts.scheme, parts.netloc, path if path.endswith(
            "/Observations") else f"{path}/Observations", "", ""))
        query = parse_qsl(parts.query, keep_blank_values=True)
        self.url_filter = next((v for k, v in query if k == "$filter" and v.strip()), "")
        self.url_options = [(k, v) for k, v in query if k not in _OWN_OPTIONS]
        # Poll state, in memory only: a restart re-reads the lookback window once, which the
        # store absorbs (older readings never overwrite newer ones).
        self.since: dt.datetime | None = None
        self.resume: str | None = None
        # (payload, newest time, resume link) parsed but not yet stored.
        self._pending: tuple[RawPayload, Any, str | None] | None = None
        self.refused: list[str] = []
        self.last_counts: Counter[str] = Counter()

    def _int(self, key: str, default: int, most: int) -> int:
        """An integer setting from 1 to ``most``."""
        value = self.config.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise FatalFeedError(f"feed {self.feed}: {key} must be an integer")
        try:
            number = int(value)
        except ValueError:
            raise FatalFeedError(f"feed {self.feed}: {key} must be an integer") from None
        if not 1 <= number <= most:
            raise FatalFeedError(f"feed {self.feed}: {key} must be from 1 to {most}")
        return number

    def request_url(self, now: float | None = None) -> str:
        """The first page of the next poll: Observations after the newest phenomenonTime seen."""
        clauses = [f"({text})" for text in (self.filter, self.url_filter) if text]
        since = self.since
        if since is None and self.lookback_s is not None:
            moment = (time.time() if now is None else now) - self.lookback_s
            since = dt.datetime.fromtimestamp(moment, dt.timezone.utc)
        if since is not None:
            clauses.append(f"phenomenonTime gt {iso_z(since)}")
        params = list(self.url_options)
        if clauses:
            params.append(("$filter", " and ".join(clauses)))
        params += [("$orderby", "phenomenonTime asc"), ("$top", str(self.top))]
        if self.expand:
            params.append(("$expand", self.expand))
        return f"{self.collection}?{urlencode(params, quote_via=quote, safe='$(),/:')}"

    def _get(self, url: str) -> RawPayload:
        """GET one page as JSON."""
        return http_get(url, timeout_s=self.timeout_s, headers={"Accept": self.accept})

    def fetch(self) -> RawPayload:
        """GET the new Observations, following same-server nextLinks up to page_limit pages.

        One page comes back as received; several become one collection of all their rows. The
        meta says how many pages were read, where the next poll resumes ("" when the query was
        read to its end) and which nextLinks were refused; parse() makes that the poll state.
        """
        start = self.resume or self.request_url()
        payload = self._get(start) if self.resume is None else self._resumed(start)
        if payload is None:
            # A server may forget a paging position (a restart, an expired skip token): the poll
            # starts again after the newest time seen, which skips nothing.
            self.resume = None
            start = self.request_url()
            payload = self._get(start)
        doc = _collection(payload.data)
        if doc is None:
            return payload  # not an Observations collection: parse() says why, with an excerpt
        rows, pages, url, seen = list(observations_in(doc) or []), 1, start, {start}
        refused: list[str] = []
        resume = ""
        link = _next_link(doc)
        while link is not None:
            target = urljoin(url, link.strip())
            if origin(target) != origin(self.collection):
                refused.append(target)
                log.warning("feed %s: refused a nextLink to another server: %s", self.feed,
                            target[:300])
                break
            if target in seen:
                break  # a server looping its pages: what was read is all there is
            if pages >= self.page_limit:
                resume = target
                break
            seen.add(target)
            # An error here fails the poll before any state changes: the next poll repeats it.
            page = self._get(target)
            doc = _collection(page.data)
            if doc is None:
                raise RetryableFeedError(f"feed {self.feed}: page {pages + 1} ({target[:300]}) is "
                                         "not an Observations collection")
            rows.extend(observations_in(doc) or [])
            pages, url, link = pages + 1, target, _next_link(doc)
        self.refused = refused
        meta = {"pages": str(pages), "resume": resume, "refused": "\n".join(refused)}
        data = payload.data if pages == 1 else json.dumps({"value": rows}).encode()
        return RawPayload(data=data, source=start, fetched_at=payload.fetched_at,
                          content_type=payload.content_type, meta=meta)

    def _resumed(self, url: str) -> RawPayload | None:
        """The page a resume link names; None when the server refuses it or answers no collection."""
        try:
            payload = self._get(url)
        except FatalFeedError:
            return None
        return payload if _collection(payload.data) is not None else None

    def parse(self, raw: RawPayload) -> Iterator[ParseItem]:
        """Map the Observations to water records; a payload of our own fetch moves the poll state.

        The records are the same whatever the state, so parsing stays pure in what it yields;
        only a payload read to its end (and fetched by this adapter, so its meta has "pages")
        advances the time cursor and sets where the next poll resumes, once it is stored
        (committed()).
        """
        counts: Counter[str] = Counter()
        # Times ahead of the fetch (a forecast, a server clock ahead of ours) must not push the
        # cursor past readings that do not exist yet.
        newest = Newest(limit=raw.fetched_at)
        yield from parse_observations(raw.data, self.feed, id_prefix=self.id_prefix,
                                      zones=self.zones, metrics=self.metrics, tz=self.tz,
                                      newest=newest, counts=counts)
        for link in filter(None, str(raw.meta.get("refused", "")).split("\n")):
            yield Rejected.of("@iot.nextLink to another server refused", link)
        self.last_counts = counts
        if "pages" in raw.meta:
            # Applied by committed() once the batch is stored: a failed write is read again.
            self._pending = (raw, newest.value, str(raw.meta.get("resume") or "") or None)

    def committed(self, raw: RawPayload) -> None:
        """The batch of ``raw`` is stored: advance the time cursor and set where to resume."""
        pending, self._pending = self._pending, None
        if pending is None or pending[0] is not raw:
            return
        _raw, newest, resume = pending
        if newest is not None and (self.since is None or newest > self.since):
            self.since = newest
        self.resume = resume
