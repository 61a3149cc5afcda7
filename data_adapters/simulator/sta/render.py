"""JSON documents of SensorThings entities: links, each entity set's properties, Observations and $select."""

from __future__ import annotations

from typing import Any, Callable

from data_adapters.simulator.patterns import iso_utc
from data_adapters.simulator.sta.errors import StaError
from data_adapters.simulator.sta.model import (
    NAVIGATION,
    PROPERTIES,
    SENSOR_KINDS,
    SET_OF,
    SETS,
    observation_id,
)
from data_adapters.simulator.water import KIND_LABELS, MEASUREMENTS, WaterNetwork

OM_MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
GEOJSON = "application/geo+json"
DEFINITIONS = "https://cityops.invalid/def"
CONFORMANCE = (
    "http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/resource-path/resource-path-to-entities",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/request-data",
)


class Links:
    """Absolute URLs below the service root (``http://host/sta/v1.1``)."""

    def __init__(self, root: str) -> None:
        self.root = root

    def entity(self, kind: str, entity_id: int, nav: str | None = None) -> str:
        """The URL of an entity (or of one of its navigation properties)."""
        url = f"{self.root}/{SET_OF[kind]}({entity_id})"
        return f"{url}/{nav}" if nav else url

    def collection(self, name: str) -> str:
        """The URL of the entity set ``name`` (``Things``)."""
        return f"{self.root}/{name}"


def service_document(links: Links) -> dict[str, Any]:
    """The service root: every entity set's URL and the conformance classes."""
    return {"value": [{"name": name, "url": links.collection(name)} for name in SETS],
            "serverSettings": {"conformance": list(CONFORMANCE)}}


def entity_document(links: Links, kind: str, entity_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """An entity: its id and self link, its ``body`` properties and its navigation links."""
    document = {"@iot.id": entity_id, "@iot.selfLink": links.entity(kind, entity_id), **body}
    for nav in NAVIGATION[kind]:
        document[f"{nav}@iot.navigationLink"] = links.entity(kind, entity_id, nav)
    return document


def observation_document(links: Links, ds: int, when: int, value: float) -> dict[str, Any]:
    """An Observation: the reading ``value`` of datastream index ``ds`` at ``when``."""
    entity_id = observation_id(ds, when)
    stamp = iso_utc(when, millis=True)
    return {
        "@iot.id": entity_id, "@iot.selfLink": links.entity("Observation", entity_id),
        "phenomenonTime": stamp, "resultTime": stamp, "result": value,
        "Datastream@iot.navigationLink": links.entity("Observation", entity_id, "Datastream"),
        "FeatureOfInterest@iot.navigationLink": links.entity("Observation", entity_id, "FeatureOfInterest"),
    }


def select(document: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    """Only the $select-ed properties (``id`` selects ``@iot.id``); everything without $select."""
    if not fields:
        return document
    wanted = set(fields) | ({"@iot.id"} if "id" in fields else set())
    return {k: v for k, v in document.items() if k in wanted}


def unit_definition(symbol: str) -> str:
    """The definition URI of a unit: its UCUM code ("ucum:m3/h", as FROST servers write it).

    UCUM has no turbidity unit, so NTU points at the standard that defines it (ISO 7027-1).
    """
    if symbol == "NTU":
        return "https://www.iso.org/standard/62801.html"
    return f"ucum:{symbol}"


class Bodies:
    """The properties of each kind of entity (all but Observations), at a time ``window`` of readings."""

    def __init__(self, network: WaterNetwork, window: tuple[int, int]) -> None:
        self.net = network
        self.window = window
        self._of: dict[str, Callable[[int], dict[str, Any]]] = {
            "Thing": self._thing, "Location": self._location, "Datastream": self._datastream,
            "Sensor": self._sensor, "ObservedProperty": self._observed_property,
            "FeatureOfInterest": self._feature_of_interest, "HistoricalLocation": self._historical_location}

    def body(self, kind: str, entity_id: int) -> dict[str, Any]:
        """The properties of entity ``entity_id`` of ``kind``."""
        return self._of[kind](entity_id)

    def _point(self, sensor: int) -> dict[str, Any]:
        s = self.net.sensors[sensor]
        return {"type": "Point", "coordinates": [s.lon, s.lat]}

    def _thing(self, entity_id: int) -> dict[str, Any]:
        s = self.net.sensors[entity_id - 1]
        zone = self.net.zones[s.zone] if s.zone >= 0 else None
        properties: dict[str, Any] = {"sensorId": s.id, "kind": s.kind}
        if zone is not None:
            properties.update({"supplyZone": zone.code, "district": zone.district.name})
        return {"name": s.name, "description": f"{KIND_LABELS[s.kind].capitalize()} {s.id}",
                "properties": properties}

    def _location(self, entity_id: int) -> dict[str, Any]:
        s = self.net.sensors[entity_id - 1]
        return {"name": f"{s.id} site", "description": f"Where {s.name} is installed",
                "encodingType": GEOJSON, "location": self._point(entity_id - 1)}

    def _feature_of_interest(self, entity_id: int) -> dict[str, Any]:
        s = self.net.sensors[entity_id - 1]
        return {"name": f"Water at {s.id}", "description": f"The water measured by {s.name}",
                "encodingType": GEOJSON, "feature": self._point(entity_id - 1)}

    def _historical_location(self, entity_id: int) -> dict[str, Any]:
        raise StaError(404, f"no HistoricalLocation with id {entity_id}")

    def _sensor(self, entity_id: int) -> dict[str, Any]:
        kind = SENSOR_KINDS[entity_id - 1]
        label = KIND_LABELS[kind]
        return {"name": label.capitalize(), "description": f"The demo city's {label}s",
                "encodingType": "text/html", "metadata": f"{DEFINITIONS}/sensor/{kind}"}

    def _observed_property(self, entity_id: int) -> dict[str, Any]:
        slug, name, description = PROPERTIES[entity_id - 1]
        return {"name": name, "definition": f"{DEFINITIONS}/observedProperty/{slug}",
                "description": description}

    def _datastream(self, entity_id: int) -> dict[str, Any]:
        d = self.net.datastreams[entity_id - 1]
        s = self.net.sensors[d.sensor]
        m = MEASUREMENTS[d.measurement]
        low, high = self.window
        first = low + (d.offset_s - low) % d.period_s
        last = high - (high - d.offset_s) % d.period_s
        span = f"{iso_utc(first, millis=True)}/{iso_utc(last, millis=True)}"
        properties: dict[str, Any] = {"measurement": m.name, "reportingIntervalSeconds": d.period_s}
        if s.zone >= 0:
            properties["supplyZone"] = self.net.zones[s.zone].code
        return {"name": f"{s.id} {m.label}", "description": f"{m.label} measured by {s.name}",
                "observationType": OM_MEASUREMENT,
                "unitOfMeasurement": {"name": m.unit_name, "symbol": m.unit,
                                      "definition": unit_definition(m.unit)},
                "observedArea": self._point(d.sensor), "phenomenonTime": span, "resultTime": span,
                "properties": properties}
