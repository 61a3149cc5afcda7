"""OGC SensorThings API payloads built by hand: things, datastreams, observations, collections."""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


PSI_KPA = 6.894757293168361


# -- fixtures built in code -------------------------------------------------------------------------
def iso(t: float) -> str:
    """POSIX seconds as ISO 8601 UTC with Z."""
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat().replace("+00:00", "Z")


def thing(tid: int | str = 1, name: str = "PZ2 station 4", lat: float | None = 28.55,
          lon: float | None = 112.36) -> dict[str, Any]:
    """A Thing with its Location expanded (none when lat is None)."""
    locations = [] if lat is None else [{
        "@iot.id": 10, "name": "site", "encodingType": "application/geo+json",
        "location": {"type": "Point", "coordinates": [lon, lat]}}]
    return {"@iot.id": tid, "name": name, "Locations": locations}


def datastream(did: int | str = 1, name: str = "PZ2-P1 pressure", symbol: str | None = "kPa",
               definition: str | None = "ucum:kPa", prop: str | None = "Pressure",
               with_thing: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """A Datastream as $expand=Datastream($expand=Thing/Locations,ObservedProperty) gives it."""
    uom: dict[str, Any] = {"name": "unit"}
    if symbol is not None:
        uom["symbol"] = symbol
    if definition is not None:
        uom["definition"] = definition
    ds: dict[str, Any] = {"@iot.id": did, "name": name, "unitOfMeasurement": uom,
                          "observationType": "OM_Measurement",
                          "Thing": with_thing if with_thing is not None else thing()}
    if prop is not None:
        ds["ObservedProperty"] = {"@iot.id": 5, "name": prop}
    ds.update(extra)
    return ds


def observation(oid: int | str, ds: dict[str, Any], result: Any, t: float,
                **extra: Any) -> dict[str, Any]:
    """An Observation at ``t`` with its Datastream expanded."""
    row: dict[str, Any] = {"@iot.id": oid, "phenomenonTime": iso(t), "resultTime": iso(t),
                           "result": result, "Datastream": ds}
    row.update(extra)
    return row


def collection(*rows: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An Observations collection page."""
    return {"value": list(rows), **extra}


def dumps(doc: Any) -> bytes:
    """JSON bytes of a fixture."""
    return json.dumps(doc, ensure_ascii=False).encode()


def water_streams() -> dict[str, dict[str, Any]]:
    """One Datastream per water measurement, in the units utilities send."""
    pz2 = thing(1, "PZ2 station 4", 28.55, 112.36)
    return {
        "kpa": datastream(1, "PZ2-P1 pressure", "kPa", "ucum:kPa", "Pressure", pz2),
        "psi": datastream(2, "PZ2-P2 pressure", "psi", None, "Water pressure", pz2),
        "mbar": datastream(3, "Logger 3", "mbar", "ucum:mbar", None,
                           thing(2, "PZ3 logger", 28.52, 112.30)),
        "flow": datastream(4, "North main FlowRate", "L/s",
                           "http://www.opengis.net/def/uom/UCUM/0/L%2Fs", None,
                           thing(3, "North main meter", None)),
        "flow_min": datastream(5, "Meter 5", "L/min", "urn:ogc:def:uom:UCUM::L/min", "Flow",
                               thing(4, "PZ2 meter 5", 28.56, 112.37)),
        "level": datastream(6, "Reservoir 1 level", "m", "ucum:m", "Water level",
                            thing(5, "Hilltop reservoir", 28.6, 112.4)),
        "turbidity": datastream(7, "Q1 turbidity", "NTU", None, "Turbidity", thing(6, "Q1")),
        "chlorine": datastream(8, "Q1 chlorine", "mg/L",
                               "http://unitsofmeasure.org/ucum.html#para-30", "Free Chlorine",
                               thing(6, "Q1")),
    }


def contract_payloads(now: float) -> list[bytes]:
    """Good payloads for the adapter contract: located pressure and a reservoir, an unlocated flow
    meter, a text result; quality with a FeatureOfInterest position, an interval time, psi."""
    s = water_streams()
    first = collection(observation(1, s["kpa"], 310, now - 120),
                       observation(2, s["kpa"], "305.5", now - 60),
                       observation(3, s["level"], 6.5, now - 60),
                       observation(4, s["flow"], 12.5, now - 30, resultTime=None),
                       observation(5, s["kpa"], "n/a", now))
    foi = {"feature": {"type": "Point", "coordinates": [112.35, 28.54]}}
    turbidity = copy.deepcopy(s["turbidity"])
    turbidity["Thing"]["Locations"] = []
    second = collection(
        observation(6, turbidity, 0.4, now - 300, FeatureOfInterest=foi),
        observation(7, s["chlorine"], 0.35, now - 300,
                    phenomenonTime=f"{iso(now - 900)}/{iso(now - 300)}"),
        observation(8, s["psi"], 50, now - 200))
    return [dumps(first), dumps(second)]
