"""The transport feed adapters: GTFS static schedules and GTFS-Realtime, polled over HTTP."""

from __future__ import annotations

from typing import Any, ClassVar, Iterator, Mapping

from app.model.records import ParseItem, RawPayload
from data_adapters.base import FatalFeedError
from data_adapters.http import HttpPollAdapter
from data_adapters.transport.gtfs_rt import parse_feed_message
from data_adapters.transport.gtfs_static import parse_gtfs_zip

REALTIME_KINDS = ("vehicle_positions", "trip_updates", "alerts", "mixed")
# What a FULL_DATASET of each kind replaces, even when it arrives empty (no vehicles left).
_REPLACES = {"vehicle_positions": ("vehicle",), "alerts": ("service_alert",)}


class GtfsRealtimeAdapter(HttpPollAdapter):
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


class GtfsStaticAdapter(HttpPollAdapter):
    """A GTFS static zip: stops and routes (with a shape each) for the map."""

    name: ClassVar[str] = "gtfs_static"
    domain: ClassVar[str] = "transport"
    default_interval_s: ClassVar[float] = 3600.0

    def parse(self, raw: RawPayload) -> Iterator[ParseItem]:
        """Read the zip's stops and routes."""
        yield from parse_gtfs_zip(raw.data, self.feed, raw.fetched_at, id_prefix=self.id_prefix)
