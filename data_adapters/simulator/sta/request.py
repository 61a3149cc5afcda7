"""One SensorThings request: resolving its path, paging collections and Observations, and $expand."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from data_adapters.simulator.sta.errors import StaError
from data_adapters.simulator.sta.model import NAVIGATION, SET_OF, SETS, Entities
from data_adapters.simulator.sta.query import Query, next_link, parse_observation_filter, parse_query
from data_adapters.simulator.sta.readings import Readings, window
from data_adapters.simulator.sta.render import (
    Bodies,
    Links,
    entity_document,
    observation_document,
    select,
    service_document,
)

_PATH = re.compile(r"^/([A-Za-z]+)(?:\(([^)]*)\))?(?:/([A-Za-z]+))?/?$")


class Request:
    """One request at one instant: resolves the path and renders entities with the request's options."""

    def __init__(self, entities: Entities, readings: Readings, root: str, now: float,
                 options: dict[str, str]) -> None:
        self.entities, self.readings, self.options = entities, readings, options
        self.net = entities.network
        self.links = Links(root)
        self.window = window(now)
        self.bodies = Bodies(self.net, self.window)
        self._datastream_cache: dict[tuple[int, int], dict[str, Any]] = {}

    # -- paths ---------------------------------------------------------------------------------
    def resolve(self, path: str) -> dict[str, Any]:
        """The JSON document of a resource path (StaError for what is not there or not supported)."""
        if path in ("", "/"):
            return service_document(self.links)
        match = _PATH.match(path)
        if match is None or match.group(1) not in SETS:
            raise StaError(404, f"no such resource: {path}")
        name, id_text, nav = match.groups()
        kind = SETS[name]
        query = parse_query(self.options)
        if id_text is None:
            if nav:
                raise StaError(404, f"no such resource: {path}")
            url = self.links.collection(name)
            if kind == "Observation":
                return self.observations(None, query, url)
            return self.collection(kind, list(range(1, self.entities.count(kind) + 1)), query, url)
        entity_id = self.entities.lookup(kind, id_text, self.window)
        if nav is None:
            return self.entity(kind, entity_id, query.expand, query.select)
        return self.navigate(kind, entity_id, nav, query)

    def navigate(self, kind: str, entity_id: int, nav: str, query: Query) -> dict[str, Any]:
        """``Set(id)/Navigation``: the related entity, or a page of the related entities."""
        if nav not in NAVIGATION[kind]:
            raise StaError(404, f"{kind} has no navigation property {nav}")
        target, many = NAVIGATION[kind][nav]
        url = self.links.entity(kind, entity_id, nav)
        if target == "Observation":
            return self.observations(self.entities.streams_for(kind, entity_id), query, url)
        related = self.entities.related(kind, entity_id, nav)
        if many:
            return self.collection(target, related, query, url)
        return self.entity(target, related[0], query.expand, query.select)

    # -- collections ---------------------------------------------------------------------------
    def collection(self, kind: str, ids: list[int], query: Query, url: str | None) -> dict[str, Any]:
        """A page of a finite entity set (no nextLink without ``url``: inside an $expand)."""
        if query.filter:
            raise StaError(400, f"$filter is supported on Observations only, not on {SET_OF[kind]}")
        if not query.order_by_id:
            raise StaError(400, f"{SET_OF[kind]} are ordered by @iot.id only")
        ordered = ids[::-1] if query.descending else ids
        top = query.page_size
        chosen = ordered[query.skip:query.skip + top]
        document = self._page_head(query, len(ids), url)
        document["value"] = [self.entity(kind, k, query.expand, query.select) for k in chosen]
        return document

    def observations(self, ds: np.ndarray | None, query: Query, url: str | None) -> dict[str, Any]:
        """A page of Observations of ``ds`` (all datastreams when None), ordered by time."""
        bounds = parse_observation_filter(query.filter)
        streams = np.arange(len(self.net.datastreams), dtype=np.int64) if ds is None else ds
        if bounds.datastream is not None:
            streams = streams[streams == bounds.datastream - 1]
        low, high = self.window
        low, high = int(max(low, bounds.low)), int(min(high, bounds.high))
        got_ds, got_t, total = self.readings.page(streams, low, high, query.skip, query.page_size,
                                                  query.descending)
        values = self.net.values(got_ds, got_t)
        document = self._page_head(query, total, url)
        rows = zip(got_ds.tolist(), got_t.tolist(), values.tolist(), strict=True)
        document["value"] = [self.observation(d, t, v, query.expand, query.select) for d, t, v in rows]
        return document

    def _page_head(self, query: Query, total: int, url: str | None) -> dict[str, Any]:
        """``@iot.count`` when asked for, and ``@iot.nextLink`` when more follow this page."""
        document: dict[str, Any] = {}
        top = query.page_size
        if query.count:
            document["@iot.count"] = total
        if url is not None and query.skip + top < total:
            document["@iot.nextLink"] = next_link(url, self.options, query.skip + top, top)
        return document

    # -- entities ------------------------------------------------------------------------------
    def entity(self, kind: str, entity_id: int, expand: dict[str, Query],
               fields: list[str] | None) -> dict[str, Any]:
        """One entity with its navigation links, expanded properties and $select applied."""
        if kind == "Observation":
            key = self.entities.observation_key(entity_id, self.window)
            if key is None:
                raise StaError(404, f"no Observation with id {entity_id}")
            value = float(self.net.values(np.array([key[0]]), np.array([key[1]]))[0])
            return self.observation(key[0], key[1], value, expand, fields)
        document = entity_document(self.links, kind, entity_id, self.bodies.body(kind, entity_id))
        document = select(document, fields)
        self.expand_into(document, kind, entity_id, expand)
        return document

    def expand_into(self, document: dict[str, Any], kind: str, entity_id: int,
                    expand: dict[str, Query]) -> None:
        """Embed the expanded navigation properties of an entity."""
        for nav, sub in expand.items():
            if nav not in NAVIGATION[kind]:
                raise StaError(400, f"{kind} has no navigation property {nav} to expand")
            target, many = NAVIGATION[kind][nav]
            if target == "Observation":
                page = self.observations(self.entities.streams_for(kind, entity_id), sub, None)
                document[nav] = page["value"]
                continue
            related = self.entities.related(kind, entity_id, nav)
            if many:
                document[nav] = self.collection(target, related, sub, None)["value"]
            else:
                document[nav] = self.entity(target, related[0], sub.expand, sub.select)

    def observation(self, ds: int, when: int, value: float, expand: dict[str, Query],
                    fields: list[str] | None) -> dict[str, Any]:
        """One Observation (a reading of datastream index ``ds`` at ``when``) with $select and $expand."""
        document = select(observation_document(self.links, ds, when, value), fields)
        for nav, sub in expand.items():
            if nav == "Datastream":
                key = (ds, id(sub))
                if key not in self._datastream_cache:  # one rendering per datastream per page
                    self._datastream_cache[key] = self.entity("Datastream", ds + 1, sub.expand, sub.select)
                document[nav] = self._datastream_cache[key]
            elif nav == "FeatureOfInterest":
                sensor = self.net.datastreams[ds].sensor
                document[nav] = self.entity("FeatureOfInterest", sensor + 1, sub.expand, sub.select)
            else:
                raise StaError(400, f"Observation has no navigation property {nav} to expand")
        return document
