"""SensorThingsService: turns a request (path, query string, time) into an HTTP status and JSON body."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from data_adapters.simulator.sta.errors import StaError
from data_adapters.simulator.sta.model import Entities
from data_adapters.simulator.sta.readings import Readings
from data_adapters.simulator.sta.request import Request
from data_adapters.simulator.water import WaterNetwork

ROOT_PATH = "/sta/v1.1"


class SensorThingsService:
    """Answers SensorThings requests over a :class:`WaterNetwork` at a given time."""

    def __init__(self, network: WaterNetwork) -> None:
        self.network = network
        self.entities = Entities(network)
        self.readings = Readings(network)

    def handle(self, root: str, path: str, query_string: str, now: float) -> tuple[int, bytes]:
        """(HTTP status, JSON body) for ``path`` (below the service root) and its query string."""
        try:
            options = dict(parse_qsl(query_string, keep_blank_values=True))
            request = Request(self.entities, self.readings, root.rstrip("/"), float(now), options)
            document = request.resolve(path)
            return 200, json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
        except StaError as exc:
            return exc.status, json.dumps(exc.document()).encode()
