"""The city-management feed adapter: Open311 GeoReport v2 service requests, polled incrementally."""

from __future__ import annotations

import time
from typing import Any, ClassVar, Iterator, Mapping
from urllib.parse import urlencode

from pydantic import field_validator, model_validator

from app.model.records import Entity, ParseItem, RawPayload, Retention
from data_adapters.base import Adapter
from data_adapters.city.open311 import DEFAULT_TZ, iso_utc, parse_requests
from data_adapters.feed_settings import (
    URL_PATTERN,
    FeedSettings,
    check_time_zone,
    interval_setting,
    setting,
    timeout_setting,
    tz_setting,
)
from data_adapters.http import http_get

# requests.json should be JSON, but some servers pick the format by content negotiation.
_ACCEPT = {"Accept": "application/json, application/xml;q=0.5"}
# Closed requests stay listed (and count in the close-time KPIs, 7 days by default) this long.
DEFAULT_CLOSED_RETENTION_DAYS = 30.0
MAX_LOOKBACK_HOURS = 10 * 366 * 24.0


class Open311Settings(FeedSettings):
    """The [[feeds]] keys of an Open311 GeoReport v2 endpoint."""

    base_url: str | None = setting(
        None, pattern=URL_PATTERN, default_text="required, unless url is set",
        expected="an http(s) URL such as 'https://host/open311/v2'",
        description="the GeoReport v2 endpoint root; the adapter GETs {base_url}/requests.json")
    url: str | None = setting(
        None, pattern=URL_PATTERN, expected="an http(s) URL",
        description="the requests endpoint itself, for servers that do not end it in "
                    "requests.json (replaces base_url)")
    interval_s: float = interval_setting(60.0)
    timeout_s: float | None = timeout_setting()
    tz: str = tz_setting(DEFAULT_TZ, "the zone of datetimes sent without an offset")
    lookback_hours: float | None = setting(
        None, ge=0, le=MAX_LOOKBACK_HOURS,
        description="the first poll asks only for requests updated in this window; unset: no "
                    "updated_after (the server's own default window)")
    jurisdiction_id: str = setting("", description="sent as a query parameter (servers hosting "
                                                   "several cities need it)")
    api_key: str = setting("", secret=True, description="sent as a query parameter (most servers "
                                                        "need it only for POST)")
    closed_retention_days: float = setting(
        DEFAULT_CLOSED_RETENTION_DAYS, ge=0, le=36_500,
        description="a closed request leaves the store this many days after its last update "
                    "(0 keeps closed requests forever)")

    @field_validator("tz")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_time_zone(value)

    @model_validator(mode="after")
    def _endpoint(self) -> Open311Settings:
        if not self.base_url and not self.url:
            raise ValueError("missing key 'base_url': expected the GeoReport v2 endpoint root, "
                             "such as 'https://host/open311/v2' (or url, the requests endpoint)")
        return self


class Open311Adapter(Adapter):
    """GET {base_url}/requests.json, asking only for requests updated since the last poll."""

    name: ClassVar[str] = "open311"
    domain: ClassVar[str] = "city"
    settings_model: ClassVar[type[FeedSettings]] = Open311Settings
    settings: Open311Settings

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        s = self.settings
        # "url" names the requests endpoint itself, for servers that do not end it in requests.json.
        self.url = s.url or f"{(s.base_url or '').rstrip('/')}/requests.json"
        self.tz = s.tz
        self.lookback_s = s.lookback_hours * 3600.0 if s.lookback_hours is not None else None
        self.jurisdiction_id = s.jurisdiction_id
        self.api_key = s.api_key
        self.timeout_s = s.timeout_s if s.timeout_s is not None else min(self.interval_s, 10.0)
        self.closed_retention_s = s.closed_retention_days * 86_400.0
        # The newest updated_datetime seen (POSIX s): in memory only, so a restart re-reads the
        # lookback window once, which the store absorbs (it keeps the newer record per request).
        self.updated_after: float | None = None
        # (payload, newest update) parsed in full but not yet stored.
        self._pending: tuple[RawPayload, float | None] | None = None

    def query(self, now: float | None = None) -> dict[str, str]:
        """The query parameters of the next poll."""
        params: dict[str, str] = {}
        if self.jurisdiction_id:
            params["jurisdiction_id"] = self.jurisdiction_id
        if self.api_key:
            params["api_key"] = self.api_key
        since = self.updated_after
        if since is None and self.lookback_s is not None:
            since = (time.time() if now is None else now) - self.lookback_s
        if since is not None:
            params["updated_after"] = iso_utc(since)
        return params

    def request_url(self, now: float | None = None) -> str:
        """The URL of the next poll, with its query."""
        params = self.query(now)
        if not params:
            return self.url
        return f"{self.url}{'&' if '?' in self.url else '?'}{urlencode(params)}"

    def fetch(self) -> RawPayload:
        """GET the requests updated since the last poll (all recent ones on the first)."""
        return http_get(self.request_url(), timeout_s=self.timeout_s, headers=_ACCEPT)

    def parse(self, raw: RawPayload) -> Iterator[ParseItem]:
        """Parse the request list; once it parsed in full, move the updated_after cursor forward."""
        newest = self.updated_after
        for item in parse_requests(raw.data, self.feed, raw.fetched_at, tz=self.tz,
                                   id_prefix=self.id_prefix):
            if type(item) is Entity:
                # A request never updated (SF sends updated_datetime nil) was last changed when filed.
                updated = item.attrs.get("updated_at") or item.attrs.get("requested_at")
                # A server clock ahead of ours must not push the cursor past what exists yet.
                if updated is not None and updated <= raw.fetched_at and (
                        newest is None or updated > newest):
                    newest = updated
            yield item
        # Only a payload read to its end, once stored (committed()), advances the cursor: the
        # records yielded are the same whatever the cursor, so parse() stays pure in what it returns.
        self._pending = (raw, newest)

    def retention(self) -> Retention | None:
        """Closed requests leave the store ``closed_retention_days`` after their last update."""
        if not self.closed_retention_s:
            return None
        return Retention(kind="request", status="closed", max_age_s=self.closed_retention_s)

    def committed(self, raw: RawPayload) -> None:
        """The batch of ``raw`` is stored: move the updated_after cursor to its newest update."""
        pending, self._pending = self._pending, None
        if pending is not None and pending[0] is raw:
            self.updated_after = pending[1]
