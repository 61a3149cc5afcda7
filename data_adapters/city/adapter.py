"""The city-management feed adapter: Open311 GeoReport v2 service requests, polled incrementally."""

from __future__ import annotations

import time
from typing import Any, ClassVar, Iterator, Mapping
from urllib.parse import urlencode

from app.model.records import Entity, ParseItem, RawPayload, Retention
from data_adapters.base import Adapter, FatalFeedError
from data_adapters.city.open311 import DEFAULT_TZ, iso_utc, parse_requests, zone
from data_adapters.http import http_get

# requests.json should be JSON, but some servers pick the format by content negotiation.
_ACCEPT = {"Accept": "application/json, application/xml;q=0.5"}
# Closed requests stay listed (and count in the close-time KPIs, 7 days by default) this long.
DEFAULT_CLOSED_RETENTION_DAYS = 30.0


class Open311Adapter(Adapter):
    """GET {base_url}/requests.json, asking only for requests updated since the last poll."""

    name: ClassVar[str] = "open311"
    domain: ClassVar[str] = "city"
    default_interval_s: ClassVar[float] = 60.0

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        base_url = str(self.config.get("base_url") or "").rstrip("/")
        # "url" names the requests endpoint itself, for servers that do not end it in requests.json.
        self.url = str(self.config.get("url") or (f"{base_url}/requests.json" if base_url else ""))
        if not self.url:
            raise FatalFeedError(f"feed {self.feed}: no base_url configured")
        self.id_prefix = str(self.config.get("id_prefix") or self.feed)
        self.tz = str(self.config.get("tz") or DEFAULT_TZ)
        try:
            zone(self.tz)
        except ValueError as exc:
            raise FatalFeedError(f"feed {self.feed}: {exc}") from None
        lookback = self.config.get("lookback_hours")
        self.lookback_s = float(lookback) * 3600.0 if lookback not in (None, "") else None
        self.jurisdiction_id = str(self.config.get("jurisdiction_id") or "")
        self.api_key = str(self.config.get("api_key") or "")
        self.timeout_s = float(self.config.get("timeout_s", min(self.interval_s, 10.0)))
        days = self.config.get("closed_retention_days", DEFAULT_CLOSED_RETENTION_DAYS)
        if isinstance(days, bool) or not isinstance(days, (int, float)) or not 0 <= days <= 36_500:
            raise FatalFeedError(f"feed {self.feed}: closed_retention_days: expected a number of "
                                 f"days from 0 (keep forever) to 36500, got {days!r}")
        self.closed_retention_s = float(days) * 86_400.0
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
