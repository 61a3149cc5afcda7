"""Ambulance positions from the ambulance service's AVL export, a GTFS-Realtime VehiclePositions feed.

Many computer-aided dispatch systems publish their fleet as GTFS-rt VehiclePositions. The
vehicles are decoded exactly as transit vehicles are (data_adapters/transport/gtfs_rt.py, with
every quirk it handles) and become medical ``ambulance`` entities:

- status ``on_call`` while the position carries a trip (dispatch systems put the incident or run
  number in ``trip_id``; it is kept as ``call_id``), ``available`` without one;
- trip updates and service alerts in the same feed are not ambulance positions: they are counted
  as rejected rows (with an excerpt) rather than dropped without a word.
"""

from __future__ import annotations

from typing import ClassVar, Iterator

from app.model.records import (
    Entity,
    Event,
    FeedHeader,
    Observation,
    ParseItem,
    RawPayload,
    Rejected,
    Removed,
)
from data_adapters.feed_settings import FeedSettings, HttpFeedSettings, interval_setting
from data_adapters.http import HttpPollAdapter
from data_adapters.transport.gtfs_rt import parse_feed_message

DOMAIN = "medical"
KIND = "ambulance"
# Attributes of a transit vehicle that mean something for an ambulance, under their names here.
_KEPT_ATTRS = {"label": "label", "trip_id": "call_id", "bearing": "bearing",
               "speed_mps": "speed_mps", "current_status": "current_status", "stop_id": "stop_id"}


def _ambulance_id(vehicle_id: str) -> str:
    """``<prefix>:vehicle:<id>`` (the GTFS-rt parser's form) as ``<prefix>:ambulance:<id>``."""
    prefix, _, bare = vehicle_id.partition(":vehicle:")
    return f"{prefix}:{KIND}:{bare}" if bare else vehicle_id


def parse_ambulances(data: bytes, feed: str, fetched_at: float, *,
                     id_prefix: str | None = None) -> Iterator[ParseItem]:
    """Yield a FeedHeader, ambulance Entities, Removed and Rejected items of one AVL FeedMessage."""
    for item in parse_feed_message(data, feed, fetched_at, expect=("vehicle",), id_prefix=id_prefix):
        if isinstance(item, Entity):
            attrs = {ours: item.attrs[theirs] for theirs, ours in _KEPT_ATTRS.items()
                     if theirs in item.attrs}
            yield Entity(DOMAIN, KIND, _ambulance_id(item.id), item.lat, item.lon,
                         "on_call" if attrs.get("call_id") else "available", item.observed_at,
                         item.source, attrs)
        elif isinstance(item, FeedHeader):
            yield FeedHeader(item.timestamp, item.full_dataset,
                             tuple(KIND for kind in item.replaces if kind == "vehicle"))
        elif isinstance(item, Removed):
            if ":vehicle:" in item.id:
                yield Removed(DOMAIN, _ambulance_id(item.id))
        elif isinstance(item, (Observation, Event)):
            what = "trip update" if isinstance(item, Observation) else "service alert"
            yield Rejected.of(f"{what} in an ambulance position feed (only vehicle positions are "
                              "read)", getattr(item, "entity_id", None) or getattr(item, "id", ""))
        else:
            yield item


class AmbulanceAvlSettings(HttpFeedSettings):
    """The [[feeds]] keys of an ambulance AVL export."""

    interval_s: float = interval_setting(5.0)


class AmbulanceAvlAdapter(HttpPollAdapter):
    """The ambulance fleet as GTFS-Realtime VehiclePositions from one URL (medical layer)."""

    name: ClassVar[str] = "ambulance_avl"
    domain: ClassVar[str] = DOMAIN
    settings_model: ClassVar[type[FeedSettings]] = AmbulanceAvlSettings

    def parse(self, raw: RawPayload) -> Iterator[ParseItem]:
        """Decode the FeedMessage and map its vehicles to ambulances."""
        yield from parse_ambulances(raw.data, self.feed, raw.fetched_at, id_prefix=self.id_prefix)
