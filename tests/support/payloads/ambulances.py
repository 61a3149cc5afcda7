"""An ambulance service's GTFS-rt AVL export, built with the real bindings."""

from __future__ import annotations

from tests.support import transport_fixtures as fx


def fleet_message() -> bytes:
    """Three ambulances: one on a call, one waiting at its station, one with a label only."""
    message = fx.new_message()
    fx.add_vehicle(message, "e1", "amb-1", trip_id="call-881", lat=28.56, lon=112.35,
                   timestamp=fx.HEADER_TS)
    vp = fx.add_vehicle(message, "e2", "amb-2", lat=28.54, lon=112.37, timestamp=fx.HEADER_TS)
    vp.vehicle.label = "<b>Station 2</b>"
    vp.position.speed = 0.0
    fx.add_vehicle(message, "e3", "amb-3", lat=28.55, lon=112.33)
    return message.SerializeToString()
