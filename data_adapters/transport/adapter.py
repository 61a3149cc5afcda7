"""The transport feed adapters: GTFS static schedules and GTFS-Realtime, polled over HTTP."""

from __future__ import annotations

from typing import Any, ClassVar, Iterator, Mapping

from data_adapters.base import Adapter, FatalFeedError, ParseItem, RawPayload
from data_adapters.http import http_get
from data_adapters.transport.gtfs_rt import parse_feed_message
from data_adapters.transport.gtfs_static import parse_gtfs_zip

REALTIME_KINDS = ("vehicle_positions", "trip_updates", "alerts", "mixed")
# What a FULL_DATASET of each kind replaces, even when it arrives empty (no vehicles left).
_REPLACES = {"vehicle_positions": ("vehicle",), "alerts": ("service_alert",)}


class _HttpAdapter(Adapter):
    """An adapter that GETs one URL from its configuration."""

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        # Feeds of one system (vehicles, trip updates) share a prefix so their ids meet.
        self.id_prefix = str(self.config.get("id_prefix") or self.feed)
        self.url = str(self.config.get("url", ""))
        if not self.url:
            raise FatalFeedError(f"feed {self.feed}: no url configured")
        self.timeout_s = float(self.config.get("timeout_s", min(self.interval_s, 10.0)))

    def fetch(self) -> RawPayload:
        """GET the configured URL."""
        return http_get(self.url, timeout_s=self.timeout_s)


class GtfsRealtimeAdapter(_HttpAdapter):
    """GTFS-Realtime VehiclePositions, TripUpdates or Alerts (any mix) from one URL."""

    name: ClassVar[str] = "gtfs_rt"
    domain: ClassVar[str] = "transport"
    default_interval_s: ClassVar[float] = 10.0

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        self.kind = str(self.config.get("kind", "mixed"))
        if self.kind not in REALTIME_KINDS:
            raise FatalFeedError(f"feed {self.feed}: kind must be one of {', '.join(REALTIME_KINDS)}")

    def parse(self, raw: RawPayload) -> Iterator[ParseItem]:
        """Decode the FeedMessage; a configured kind says what an empty full dataset replaces."""
        yield from parse_feed_message(raw.data, self.feed, raw.fetched_at,
                                      expect=_REPLACES.get(self.kind, ()),
                                      id_prefix=self.id_prefix)


class GtfsStaticAdapter(_HttpAdapter):
    """A GTFS static zip: stops and routes (with a shape each) for the map."""

    name: ClassVar[str] = "gtfs_static"
    domain: ClassVar[str] = "transport"
    default_interval_s: ClassVar[float] = 3600.0

    def parse(self, raw: RawPayload) -> Iterator[ParseItem]:
        """Read the zip's stops and routes."""
        yield from parse_gtfs_zip(raw.data, self.feed, raw.fetched_at, id_prefix=self.id_prefix)
