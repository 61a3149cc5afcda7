"""Every adapter CityOps knows, one line each: name -> "module:Class".

A feed in the configuration names its adapter here (``adapter = "gtfs_rt"``); adding a feed
type is one new folder under data_adapters/ and one line below.
"""

from __future__ import annotations

import importlib
from typing import Any, Mapping

from data_adapters.base import Adapter, FatalFeedError

ADAPTERS: dict[str, str] = {
    "gtfs_static": "data_adapters.transport.adapter:GtfsStaticAdapter",
    "gtfs_rt": "data_adapters.transport.adapter:GtfsRealtimeAdapter",
    "senml_http": "data_adapters.water.adapter:SenmlHttpAdapter",
    "senml_mqtt": "data_adapters.water.mqtt:SenmlMqttAdapter",
    "sensorthings": "data_adapters.water.sta_adapter:SensorThingsAdapter",
    "open311": "data_adapters.city.adapter:Open311Adapter",
    "cap": "data_adapters.cap.adapter:CapAdapter",
    "fhir": "data_adapters.medical.adapter:FhirAdapter",
    "ambulance_avl": "data_adapters.medical.ambulances:AmbulanceAvlAdapter",
}


def adapter_class(name: str) -> type[Adapter]:
    """The adapter class registered as ``name``."""
    try:
        module_name, _, class_name = ADAPTERS[name].partition(":")
    except KeyError:
        raise FatalFeedError(f"unknown adapter '{name}': known are {', '.join(ADAPTERS)}") from None
    return getattr(importlib.import_module(module_name), class_name)


def build(config: Mapping[str, Any]) -> Adapter:
    """An adapter instance for one feed's configuration (it names its ``adapter``)."""
    return adapter_class(str(config.get("adapter", "")))(config)
