"""The SensorThings entity model of the water network: entity sets, navigation, ids and relations."""

from __future__ import annotations

import numpy as np

from data_adapters.simulator.sta.errors import StaError
from data_adapters.simulator.water import KIND_MEASUREMENTS, WaterNetwork

SETS: dict[str, str] = {
    "Things": "Thing", "Locations": "Location", "HistoricalLocations": "HistoricalLocation",
    "Datastreams": "Datastream", "Sensors": "Sensor", "ObservedProperties": "ObservedProperty",
    "FeaturesOfInterest": "FeatureOfInterest", "Observations": "Observation",
}
SET_OF = {kind: name for name, kind in SETS.items()}
# kind -> navigation property -> (target kind, to many)
NAVIGATION: dict[str, dict[str, tuple[str, bool]]] = {
    "Thing": {"Locations": ("Location", True), "HistoricalLocations": ("HistoricalLocation", True),
              "Datastreams": ("Datastream", True)},
    "Location": {"Things": ("Thing", True), "HistoricalLocations": ("HistoricalLocation", True)},
    "HistoricalLocation": {"Thing": ("Thing", False), "Locations": ("Location", True)},
    "Datastream": {"Thing": ("Thing", False), "Sensor": ("Sensor", False),
                   "ObservedProperty": ("ObservedProperty", False), "Observations": ("Observation", True)},
    "Sensor": {"Datastreams": ("Datastream", True)},
    "ObservedProperty": {"Datastreams": ("Datastream", True)},
    "FeatureOfInterest": {"Observations": ("Observation", True)},
    "Observation": {"Datastream": ("Datastream", False), "FeatureOfInterest": ("FeatureOfInterest", False)},
}
SENSOR_KINDS: tuple[str, ...] = tuple(KIND_MEASUREMENTS)
# ObservedProperties: reservoir level and river stage are both a water level.
PROPERTIES: tuple[tuple[str, str, str], ...] = (
    ("pressure", "Water pressure", "Gauge pressure of drinking water in the distribution network"),
    ("flow", "Volume flow rate", "Volume of drinking water passing the meter per hour"),
    ("turbidity", "Turbidity", "Cloudiness of the water (nephelometric, ISO 7027)"),
    ("free-chlorine", "Free chlorine", "Free residual chlorine concentration"),
    ("water-level", "Water level", "Height of the water surface above the gauge datum"),
)
PROPERTY_OF_MEASUREMENT = (1, 2, 3, 4, 5, 5)
OBSERVATION_ID_BASE = 100_000  # observation id = time * base + datastream id


def observation_id(ds: int, when: int) -> int:
    """The id of the reading of datastream index ``ds`` at ``when``."""
    return when * OBSERVATION_ID_BASE + ds + 1


class Entities:
    """The ids of every entity set (1-based; Things, Locations and FeaturesOfInterest share the sensor's)."""

    def __init__(self, network: WaterNetwork) -> None:
        self.network = network
        self._streams_of_sensor: dict[int, list[int]] = {}
        for d in network.datastreams:
            self._streams_of_sensor.setdefault(d.sensor, []).append(d.index)

    def count(self, kind: str) -> int:
        """How many entities of ``kind`` exist (Observations are counted by a query)."""
        net = self.network
        places = len(net.sensors)
        return {"Thing": places, "Location": places, "FeatureOfInterest": places,
                "Datastream": len(net.datastreams), "Sensor": len(SENSOR_KINDS),
                "ObservedProperty": len(PROPERTIES), "HistoricalLocation": 0}[kind]

    def streams_of_sensor(self, sensor: int) -> list[int]:
        """Datastream indexes of a sensor."""
        return self._streams_of_sensor.get(sensor, [])

    def lookup(self, kind: str, text: str, window: tuple[int, int]) -> int:
        """The id in ``Set(id)`` if that entity exists (Observations: in ``window``), else StaError(404)."""
        try:
            entity_id = int(text.strip("'"))
        except ValueError:
            raise StaError(404, f"no {kind} with id {text}") from None
        if kind == "Observation":
            if self.observation_key(entity_id, window) is None:
                raise StaError(404, f"no Observation with id {entity_id}")
        elif not 1 <= entity_id <= self.count(kind):
            raise StaError(404, f"no {kind} with id {entity_id}")
        return entity_id

    def observation_key(self, entity_id: int, window: tuple[int, int]) -> tuple[int, int] | None:
        """(datastream index, time) of an observation id, or None when no such reading exists."""
        net = self.network
        when, ds = divmod(entity_id, OBSERVATION_ID_BASE)
        ds -= 1
        low, high = window
        if not 0 <= ds < len(net.datastreams) or not low <= when <= high:
            return None
        if (when - net.ds_offset[ds]) % net.ds_period[ds]:
            return None
        return ds, when

    def related(self, kind: str, entity_id: int, nav: str) -> list[int]:
        """Ids of what a navigation property of an (existing) entity points to (never Observations)."""
        net = self.network
        if kind in ("Thing", "Location", "FeatureOfInterest") and nav in ("Locations", "Things"):
            return [entity_id]
        if nav == "HistoricalLocations":
            return []
        if kind == "Thing" and nav == "Datastreams":
            return [d + 1 for d in self.streams_of_sensor(entity_id - 1)]
        if kind == "Datastream":
            d = net.datastreams[entity_id - 1]
            return {"Thing": [d.sensor + 1], "Sensor": [SENSOR_KINDS.index(net.sensors[d.sensor].kind) + 1],
                    "ObservedProperty": [PROPERTY_OF_MEASUREMENT[d.measurement]]}[nav]
        if kind == "Sensor":
            wanted = SENSOR_KINDS[entity_id - 1]
            return [d.index + 1 for d in net.datastreams if net.sensors[d.sensor].kind == wanted]
        if kind == "ObservedProperty":
            return [d.index + 1 for d in net.datastreams
                    if PROPERTY_OF_MEASUREMENT[d.measurement] == entity_id]
        if kind == "Observation":
            ds = entity_id % OBSERVATION_ID_BASE - 1
            return [ds + 1] if nav == "Datastream" else [net.datastreams[ds].sensor + 1]
        raise StaError(404, f"{kind} has no navigation property {nav}")

    def streams_for(self, kind: str, entity_id: int) -> np.ndarray:
        """Datastream indexes whose Observations a Datastream or FeatureOfInterest lists."""
        if kind == "Datastream":
            return np.array([entity_id - 1], dtype=np.int64)
        return np.array(self.streams_of_sensor(entity_id - 1), dtype=np.int64)
