"""Every adapter CityOps knows, one line each: name -> "module:Class".

A feed in the configuration names its adapter here (``adapter = "gtfs_rt"``); adding a feed
type is one new folder under data_adapters/ and one line below.
"""

from __future__ import annotations

import importlib
from typing import Any, Mapping

from data_adapters.base import Adapter, FeedConfigError, feed_name_of
from data_adapters.feed_settings import FeedSettings, shown

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
    """The adapter class registered as ``name``; KeyError when there is none."""
    module_name, _, class_name = ADAPTERS[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def build(config: Mapping[str, Any], defaults: Mapping[str, Any] | None = None) -> Adapter:
    """An adapter instance for one feed's configuration (it names its ``adapter``).

    ``defaults`` are installation-wide values (the city's ``bounds``) for the keys the adapter's
    schema declares and the table leaves unset; other adapters never see them, so a default
    cannot make a table fail a schema that has no such key.

    Raises FeedConfigError, one line naming the feed and the key, when the adapter is unknown or
    the table does not fit the adapter's schema (an unknown key, a wrong type, a value out of
    range): `cityops up` stops with it before starting anything.
    """
    name = config.get("adapter")
    feed = feed_name_of(config, name if isinstance(name, str) and name else "?")
    known = ", ".join(sorted(ADAPTERS))
    if name is None:
        raise FeedConfigError(feed, f"missing key 'adapter' (known adapters: {known})", "adapter")
    if not isinstance(name, str) or name not in ADAPTERS:
        raise FeedConfigError(feed, f"unknown adapter {shown(name)} (known: {known})", "adapter")
    cls = adapter_class(name)
    declared = cls.settings_model.model_fields
    given = {key: value for key, value in (defaults or {}).items()
             if key in declared and key not in config and value is not None}
    return cls({**given, **config})


def settings_model(name: str) -> type[FeedSettings]:
    """The configuration schema of the adapter registered as ``name`` (KeyError if none)."""
    return adapter_class(name).settings_model
