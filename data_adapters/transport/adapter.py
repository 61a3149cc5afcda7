"""The transport feed adapters: GTFS static schedules and GTFS-Realtime, polled over HTTP."""

from __future__ import annotations

from typing import Any, ClassVar, Iterator, Literal, Mapping

from app.model.records import ParseItem, RawPayload
from data_adapters.feed_settings import FeedSettings, HttpFeedSettings, interval_setting, setting
from data_adapters.http import HttpPollAdapter
from data_adapters.transport.gtfs_rt import parse_feed_message
from data_adapters.transport.gtfs_static import parse_gtfs_zip

RealtimeKind = Literal["vehicle_positions", "trip_updates", "alerts", "mixed"]
REALTIME_KINDS: tuple[str, ...] = RealtimeKind.__args__  # type: ignore[attr-defined]
# What a FULL_DATASET of each kind replaces, even when it arrives empty (no vehicles left).
_REPLACES = {"vehicle_positions": ("vehicle",), "alerts": ("service_alert",)}


class GtfsRealtimeSettings(HttpFeedSettings):
    """The [[feeds]] keys of a GTFS-Realtime feed."""

    interval_s: float = interval_setting(10.0)
    kind: RealtimeKind = setting(
        "mixed", description="what the FeedMessage carries; a FULL_DATASET of vehicle_positions "
                             "or alerts retires the vehicles or alerts it no longer lists, even "
                             "when it arrives empty")


class GtfsStaticSettings(HttpFeedSettings):
    """The [[feeds]] keys of a GTFS static zip."""

    interval_s: float = interval_setting(3600.0)


class GtfsRealtimeAdapter(HttpPollAdapter):
    """GTFS-Realtime VehiclePositions, TripUpdates or Alerts (any mix) from one URL."""

    name: ClassVar[str] = "gtfs_rt"
    domain: ClassVar[str] = "transport"
    settings_model: ClassVar[type[FeedSettings]] = GtfsRealtimeSettings
    settings: GtfsRealtimeSettings

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        self.kind: str = self.settings.kind

    def parse(self, raw: RawPayload) -> Iterator[ParseItem]:
        """Decode the FeedMessage; a configured kind says what an empty full dataset replaces."""
        yield from parse_feed_message(raw.data, self.feed, raw.fetched_at,
                                      expect=_REPLACES.get(self.kind, ()),
                                      id_prefix=self.id_prefix)


class GtfsStaticAdapter(HttpPollAdapter):
    """A GTFS static zip: stops and routes (with a shape each) for the map."""

    name: ClassVar[str] = "gtfs_static"
    domain: ClassVar[str] = "transport"
    settings_model: ClassVar[type[FeedSettings]] = GtfsStaticSettings

    def parse(self, raw: RawPayload) -> Iterator[ParseItem]:
        """Read the zip's stops and routes."""
        yield from parse_gtfs_zip(raw.data, self.feed, raw.fetched_at, id_prefix=self.id_prefix)
