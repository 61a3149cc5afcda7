"""The water network as an OGC SensorThings API v1.1 service (read-only, JSON), computed on request.

Entity sets: Things (one per sensor), Locations (GeoJSON points), Datastreams, Sensors (one per
sensor kind), ObservedProperties, FeaturesOfInterest (the Thing's place) and Observations (every
reading of the last 24 hours, nothing before). HistoricalLocations is served, always empty.
Paths: ``/Set``, ``/Set(id)``, ``/Set(id)/Navigation``. Query options: ``$top`` (default 100, at
most 1000), ``$skip``, ``$count``, ``$orderby``, ``$select``, ``$expand`` (nested, with options,
``A/B`` paths), and on Observations a ``$filter`` of ``phenomenonTime``/``resultTime`` comparisons
(``gt ge lt le eq``) and ``Datastream/@iot.id eq N`` joined by ``and``. Anything else is a 400
with an error document, an unknown entity a 404. Collections page with an absolute
``@iot.nextLink``. Observation ids encode (time, datastream), so a page is found by counting
readings per datastream (each reports on a fixed period) instead of storing any.

Modules: ``service`` (the entry point), ``request`` (path resolution, paging, $expand), ``query``
(query options, $filter, nextLink), ``model`` (entity sets, ids, relations), ``readings`` (counting
Observations), ``render`` (JSON documents) and ``errors``.
"""

from data_adapters.simulator.sta.errors import StaError
from data_adapters.simulator.sta.model import (
                                               NAVIGATION,
                                               OBSERVATION_ID_BASE,
                                               PROPERTIES,
                                               PROPERTY_OF_MEASUREMENT,
                                               SENSOR_KINDS,
                                               SET_OF,
                                               SETS,
)
from data_adapters.simulator.sta.query import (
                                               DEFAULT_TOP,
                                               MAX_TOP,
                                               OPTIONS,
                                               ObservationFilter,
                                               Query,
                                               parse_expand,
                                               parse_observation_filter,
                                               parse_query,
                                               parse_time,
                                               split_top,
)
from data_adapters.simulator.sta.readings import RETENTION_S
from data_adapters.simulator.sta.render import (
                                               CONFORMANCE,
                                               DEFINITIONS,
                                               GEOJSON,
                                               OM_MEASUREMENT,
                                               unit_definition,
)
from data_adapters.simulator.sta.service import ROOT_PATH, SensorThingsService

__all__ = ["CONFORMANCE", "DEFAULT_TOP", "DEFINITIONS", "GEOJSON", "MAX_TOP", "NAVIGATION",
           "OBSERVATION_ID_BASE", "OM_MEASUREMENT", "OPTIONS", "PROPERTIES", "PROPERTY_OF_MEASUREMENT",
           "RETENTION_S", "ROOT_PATH", "SENSOR_KINDS", "SETS", "SET_OF", "ObservationFilter", "Query",
           "SensorThingsService", "StaError", "parse_expand", "parse_observation_filter", "parse_query",
           "parse_time", "split_top", "unit_definition"]
