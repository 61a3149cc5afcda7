"""Ambulances from a GTFS-rt VehiclePositions AVL export: medical entities, on call or available."""

from __future__ import annotations

import redis

from app import store
from app.model.records import Entity, FeedHeader, RawPayload, Rejected, Removed
from app.pipeline.ingest import ingest
from data_adapters.medical.ambulances import AmbulanceAvlAdapter, parse_ambulances
from tests.support import transport_fixtures as fx
from tests.support.payloads.ambulances import fleet_message

FETCHED = 1_767_225_700.0


def test_vehicles_become_ambulances_with_their_call() -> None:
    """Status follows the trip: on_call with the trip as call_id, else available."""
    items = list(parse_ambulances(fleet_message(), "ems", FETCHED, id_prefix="ems"))
    header = items[0]
    assert isinstance(header, FeedHeader) and header.full_dataset and header.replaces == ("ambulance",)
    ambulances = {e.id: e for e in items if isinstance(e, Entity)}
    assert set(ambulances) == {"ems:ambulance:amb-1", "ems:ambulance:amb-2", "ems:ambulance:amb-3"}
    assert all(e.domain == "medical" and e.kind == "ambulance" for e in ambulances.values())
    assert ambulances["ems:ambulance:amb-1"].status == "on_call"
    assert ambulances["ems:ambulance:amb-1"].attrs["call_id"] == "call-881"
    assert ambulances["ems:ambulance:amb-2"].status == "available"
    # Feed text is kept as sent (escaping is the screens' job) and only ambulance attributes stay.
    assert ambulances["ems:ambulance:amb-2"].attrs == {"label": "<b>Station 2</b>", "speed_mps": 0.0}
    assert ambulances["ems:ambulance:amb-3"].observed_at == float(fx.HEADER_TS)


def test_quirks_of_the_transit_parser_carry_over() -> None:
    """Invalid positions are rejected, deleted vehicles removed, trip updates counted as rejected."""
    items = list(parse_ambulances(fx.invalid_position(), "ems", FETCHED))
    assert any(isinstance(i, Rejected) and "invalid position" in i.reason for i in items)
    assert not any(isinstance(i, Entity) and (i.lat, i.lon) == (0.0, 0.0) for i in items)
    removed = [i for i in parse_ambulances(fx.deleted_entities(), "ems", FETCHED)
               if isinstance(i, Removed)]
    assert removed and all(r.domain == "medical" and ":ambulance:" in r.id for r in removed)
    trips = list(parse_ambulances(fx.trip_updates(), "ems", FETCHED))
    assert any(isinstance(i, Rejected) and "trip update" in i.reason for i in trips)
    assert not any(isinstance(i, Entity) for i in trips)


def test_ingest_stores_ambulances_in_the_medical_domain(r: redis.Redis) -> None:
    """Through the real store: medical entities, retired when the next full listing drops them."""
    adapter = AmbulanceAvlAdapter({"name": "ems", "url": "http://127.0.0.1:9/avl.pb"})
    result = ingest(r, adapter, RawPayload(fleet_message(), "avl", FETCHED))
    assert result.accepted == 3
    rows = {e["id"]: e for e in store.entities.read_entities(r, "medical")}
    assert rows["ems:ambulance:amb-1"]["status"] == "on_call"
    assert store.entities.read_entities(r, "transport") == []
    message = fx.new_message(fx.HEADER_TS + 10)
    fx.add_vehicle(message, "e1", "amb-1", lat=28.57, lon=112.35, timestamp=fx.HEADER_TS + 10)
    result = ingest(r, adapter, RawPayload(message.SerializeToString(), "avl", FETCHED + 10))
    assert result.retired == 2
    rows = {e["id"]: e for e in store.entities.read_entities(r, "medical")}
    assert list(rows) == ["ems:ambulance:amb-1"] and rows["ems:ambulance:amb-1"]["status"] == "available"
