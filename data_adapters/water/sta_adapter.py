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
from zoneinfo import ZoneInfo

from pydantic import field_validator

from app.model.records import ParseItem, RawPayload, Rejected
from data_adapters.base import FatalFeedError, ParseError, RetryableFeedError
from data_adapters.feed_settings import (
    FeedSettings,
    HttpFeedSettings,
    check_time_zone,
    check_url,
    interval_setting,
    setting,
    tz_setting,
)
from data_adapters.http import HttpPollAdapter, http_get
from data_adapters.water.senml import zones_setting
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
MAX_LOOKBACK_HOURS = 10 * 366 * 24.0
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


class SensorThingsSettings(HttpFeedSettings):
    """The [[feeds]] keys of a SensorThings API v1.1 Observations feed."""

    url: str = setting(
        expected="an http(s) URL: the service root or an Observations collection",
        description="the service root (https://host/FROST-Server/v1.1) or an Observations "
                    "collection (.../Datastreams(7)/Observations)")
    interval_s: float = interval_setting(60.0)
    top: int = setting(DEFAULT_TOP, ge=1, le=MAX_TOP, description="$top: Observations per page")
    page_limit: int = setting(DEFAULT_PAGE_LIMIT, ge=1, le=MAX_PAGE_LIMIT,
                              description="pages read per poll; the next poll continues where "
                                          "this one stopped")
    lookback_hours: float = setting(DEFAULT_LOOKBACK_HOURS, ge=0, le=MAX_LOOKBACK_HOURS,
                                    description="how far back the first poll reads (0: the whole "
                                                "history, page by page across polls)")
    expand: str = setting(DEFAULT_EXPAND, description="the $expand option (empty: none)")
    filter: str = setting("", description="an extra $filter expression, e.g. "
                                          "Datastream/ObservedProperty/name eq 'Pressure'")
    metrics: dict[str, str] = setting(
        {}, expected="a table of name part = measurement (text = text)",
        description="table: ObservedProperty or Datastream name part = pressure, flow, level, "
                    "turbidity, chlorine, ignore or an own metric name (a-z, 0-9, _)")
    zones: dict[str, str] = zones_setting("Thing or Datastream name prefix")
    tz: str = tz_setting("UTC", "the zone of times sent without one")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return check_url(value, ("http", "https"))

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, value: dict[str, str]) -> dict[str, str]:
        return check_metrics(value)  # lower-cased and checked: "Head" = "LEVEL" -> head = level

    @field_validator("tz")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_time_zone(value)


class SensorThingsAdapter(HttpPollAdapter):
    """OGC SensorThings API v1.1 Observations of pressure, flow, level and quality Datastreams."""

    name: ClassVar[str] = "sensorthings"
    domain: ClassVar[str] = "water"
    settings_model: ClassVar[type[FeedSettings]] = SensorThingsSettings
    settings: SensorThingsSettings

    accept: ClassVar[str] = "application/json"

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        s = self.settings
        self.zones = dict(s.zones)
        self.metrics = dict(s.metrics)
        self.page_limit = s.page_limit
        self.top = s.top
        self.expand = s.expand.strip()
        self.filter = s.filter.strip()
        self.lookback_s = s.lookback_hours * 3600.0 if s.lookback_hours else None
        self.tz: dt.tzinfo = ZoneInfo(s.tz)
        parts = urlsplit(self.url)
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

    def _get(self, url: str, *, same_server: bool = False) -> RawPayload:
        """GET one page as JSON; a page a nextLink named may not be redirected to another server."""
        return http_get(url, timeout_s=self.timeout_s, headers={"Accept": self.accept},
                        redirect_ok=(lambda target: origin(target) == origin(self.collection))
                        if same_server else None)

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
            page = self._get(target, same_server=True)
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
            payload = self._get(url, same_server=True)
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
