"""GTFS-Realtime encoding of the bus fleet: VehiclePositions, TripUpdates and Alerts feed messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from google.transit import gtfs_realtime_pb2 as rt

from data_adapters.simulator.transit.clock import trip_times
from data_adapters.simulator.transit.gtfs_static import AGENCY_ID
from data_adapters.simulator.transit.model import Route
from data_adapters.simulator.transit.motion import FleetState


@dataclass(frozen=True)
class FeedNames:
    """The ids the fleet's feeds name: vehicles (with their encoded descriptors), routes, trips and stops."""

    vehicle_ids: list[str]
    descriptors: list[bytes]         # VehicleDescriptor with id, label and plate
    short_descriptors: list[bytes]   # VehicleDescriptor with id and label
    route: np.ndarray                # route index of each vehicle
    route_ids: list[str]             # by route index
    trip_ids: list[tuple[str, str]]  # by route index, per direction
    stop_ids: list[str]              # the flattened stops of the timetables

    @classmethod
    def of(cls, vehicle_ids: list[str], labels: list[str], plates: list[str], route: np.ndarray,
           routes: Sequence[Route], stop_ids: list[str]) -> FeedNames:
        """The names, descriptors encoded once: merging bytes is much cheaper than setting fields per feed."""
        descriptors = [rt.VehicleDescriptor(id=v, label=lb, license_plate=p).SerializeToString()
                       for v, lb, p in zip(vehicle_ids, labels, plates, strict=True)]
        short = [rt.VehicleDescriptor(id=v, label=lb).SerializeToString()
                 for v, lb in zip(vehicle_ids, labels, strict=True)]
        return cls(vehicle_ids, descriptors, short, route, [r.route_id for r in routes],
                   [(r.trip_id(0), r.trip_id(1)) for r in routes], stop_ids)

    def trip_fields(self, state: FleetState) -> tuple[list[str], list[str], list[str]]:
        """trip_id, start_time and start_date of every vehicle's trip."""
        trip_ids = [self.trip_ids[r][d]
                    for r, d in zip(self.route.tolist(), state.direction.tolist(), strict=True)]
        start_times, start_dates = trip_times(state.trip_start.tolist(), state.service_day.tolist())
        return trip_ids, start_times, start_dates


def feed_message(now: float) -> rt.FeedMessage:
    """An empty FULL_DATASET feed stamped ``now``."""
    feed = rt.FeedMessage()
    feed.header.gtfs_realtime_version = "2.0"
    feed.header.incrementality = rt.FeedHeader.FULL_DATASET
    feed.header.timestamp = int(now)
    return feed


def vehicle_positions(names: FeedNames, state: FleetState, stop_at: list[int]) -> bytes:
    """A VehiclePositions feed of ``state``; ``stop_at`` is each vehicle's stop in ``names.stop_ids``."""
    feed = feed_message(state.now)
    stamp = int(state.now)
    trip_ids, start_times, start_dates = names.trip_fields(state)
    columns = zip(names.vehicle_ids, names.descriptors, names.route.tolist(),
                  state.direction.tolist(), trip_ids, start_times, start_dates,
                  state.lat.tolist(), state.lon.tolist(), state.bearing.tolist(), state.speed.tolist(),
                  state.stop_index.tolist(), stop_at, state.status.tolist(),
                  state.occupancy.tolist(), state.congestion.tolist(), strict=True)
    stop_ids, route_ids = names.stop_ids, names.route_ids
    for (vid, descriptor, r, d, trip_id, start_time, start_date, lat, lon, bearing, speed,
         stop_index, at, status, occupancy, congestion) in columns:
        entity = feed.entity.add()
        entity.id = vid
        vp = entity.vehicle
        trip = vp.trip
        trip.trip_id = trip_id
        trip.route_id = route_ids[r]
        trip.direction_id = d
        trip.start_time = start_time
        trip.start_date = start_date
        vp.vehicle.MergeFromString(descriptor)
        position = vp.position
        position.latitude = lat
        position.longitude = lon
        position.bearing = bearing
        position.speed = speed
        vp.current_stop_sequence = stop_index + 1
        vp.stop_id = stop_ids[at]
        vp.current_status = status
        vp.timestamp = stamp
        vp.congestion_level = congestion
        vp.occupancy_status = occupancy
    return feed.SerializeToString()


def trip_updates(names: FeedNames, state: FleetState, next_at: list[int], delay: list[int],
                 arrival: list[int]) -> bytes:
    """A TripUpdates feed: each vehicle's ``delay`` and the predicted ``arrival`` at its next stop.

    ``next_at`` is that stop in ``names.stop_ids``.
    """
    feed = feed_message(state.now)
    stamp = int(state.now)
    trip_ids, start_times, start_dates = names.trip_fields(state)
    columns = zip(names.vehicle_ids, names.short_descriptors, names.route.tolist(),
                  state.direction.tolist(), trip_ids, start_times, start_dates, delay,
                  arrival, state.next_index.tolist(), next_at, strict=True)
    stop_ids, route_ids = names.stop_ids, names.route_ids
    for vid, descriptor, r, d, trip_id, start_time, start_date, late, when, next_index, at in columns:
        entity = feed.entity.add()
        entity.id = f"tu-{vid}"
        tu = entity.trip_update
        trip = tu.trip
        trip.trip_id = trip_id
        trip.route_id = route_ids[r]
        trip.direction_id = d
        trip.start_time = start_time
        trip.start_date = start_date
        tu.vehicle.MergeFromString(descriptor)
        tu.delay = late
        tu.timestamp = stamp
        stu = tu.stop_time_update.add()
        stu.stop_sequence = next_index + 1
        stu.stop_id = stop_ids[at]
        stu.arrival.delay = late
        stu.arrival.time = when
    return feed.SerializeToString()


def alerts(detours: list[dict[str, Any]], now: float, notices: Sequence[dict[str, Any]] = ()) -> bytes:
    """An Alerts feed with one DETOUR warning per detour, texts in English and Chinese, then one
    WARNING per notice (an unplanned incident: ``id``, ``route``, ``stop_id``, ``start``, ``end``,
    ``cause``, ``effect``, ``header_en``/``_zh``, ``description_en``/``_zh``)."""
    feed = feed_message(now)
    for detour in detours:
        route = detour["route"]
        entity = feed.entity.add()
        entity.id = detour["id"]
        alert = entity.alert
        period = alert.active_period.add()
        period.start, period.end = detour["start"], detour["end"]
        informed = alert.informed_entity.add()
        informed.agency_id = AGENCY_ID
        informed.route_id = route.route_id
        informed.route_type = 3
        alert.cause = detour["cause"]
        alert.effect = rt.Alert.DETOUR
        alert.severity_level = rt.Alert.WARNING
        road, reason_en, reason_zh = detour["road"], detour["reason_en"], detour["reason_zh"]
        _translate(alert.header_text, en=f"Route {route.short_name} detour",
                   zh=f"{route.short_name}路公交临时绕行")
        _translate(alert.description_text,
                   en=f"Route {route.short_name} ({route.long_name}) is diverted around {road} "
                      f"because of {reason_en}; some stops are not served.",
                   zh=f"因{reason_zh}，{route.short_name}路公交在{road}附近临时绕行，部分站点暂停服务。")
    for notice in notices:
        entity = feed.entity.add()
        entity.id = notice["id"]
        alert = entity.alert
        period = alert.active_period.add()
        period.start, period.end = notice["start"], notice["end"]
        for stop_id in ("", notice["stop_id"]):
            informed = alert.informed_entity.add()
            informed.agency_id = AGENCY_ID
            informed.route_id = notice["route"].route_id
            informed.route_type = 3
            if stop_id:
                informed.stop_id = stop_id
        alert.cause, alert.effect = notice["cause"], notice["effect"]
        alert.severity_level = rt.Alert.WARNING
        _translate(alert.header_text, en=notice["header_en"], zh=notice["header_zh"])
        _translate(alert.description_text, en=notice["description_en"], zh=notice["description_zh"])
    return feed.SerializeToString()


def _translate(text: Any, **languages: str) -> None:
    """Fill a TranslatedString with one translation per language."""
    for language, value in languages.items():
        translation = text.translation.add()
        translation.text = value
        translation.language = language
