"""Open311 GeoReport v2 requests built by hand, as JSON and XML."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.local_http import LocalHttpServer

UTC = timezone.utc


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0,
        micro: int = 0) -> float:
    """POSIX seconds of a UTC wall time (exact: built from whole microseconds like the parser)."""
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC).timestamp()


def request(**fields: Any) -> dict[str, Any]:
    """A complete, located GeoReport v2 request; ``fields`` override or (with None) null keys."""
    row: dict[str, Any] = {
        "service_request_id": "638344", "status": "open", "status_notes": None,
        "service_name": "Pothole", "service_code": "006", "description": "Big hole",
        "agency_responsible": "Roads", "service_notice": "",
        "requested_datetime": "2024-03-01T08:00:00+08:00",
        "updated_datetime": "2024-03-01T09:30:00+08:00",
        "expected_datetime": "2024-03-05T08:00:00+08:00",
        "address": "8 Taohualun Rd", "address_id": "", "zipcode": "413000",
        "lat": 28.55, "long": 112.36, "media_url": "",
    }
    row.update(fields)
    return row


def payload(*rows: Any) -> bytes:
    """A requests.json body."""
    return json.dumps(list(rows)).encode()


# -- XML --------------------------------------------------------------------------------------------
XML_REQUESTS = """<?xml version="1.0" encoding="utf-8"?>
<service_requests xmlns:m="http://org/sfgov/sf311v2part2/services">
<request><service_request_id>1129806</service_request_id><status>Closed</status>
<status_notes>Case resolved</status_notes><service_name>Straßenschäden</service_name>
<service_code>280</service_code><description/><agency_responsible/>
<requested_datetime>2012-05-22 23:57:23.97</requested_datetime>
<updated_datetime xsi:nil="true" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>
<expected_datetime>2012-05-31</expected_datetime>
<address>  Main  St </address><zipcode>0</zipcode><long>-122.404434</long><lat>37.77944</lat>
</request>
<request><service_request_id>1129807</service_request_id><status>open</status>
<description>two
lines</description><requested_datetime>2012-05-22T10:00:00Z</requested_datetime>
<lat>0.0</lat><long>0.0</long></request>
<request><status>open</status><service_code>no-id</service_code></request>
</service_requests>""".encode()


# -- the adapter ------------------------------------------------------------------------------------
class Open311Server(LocalHttpServer):
    """A local requests.json endpoint that records each request's path and query."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.seen: list[tuple[str, dict[str, list[str]]]] = []
        self.accept = ""
        super().__init__()
        self.base_url = f"{self.origin}/open311/v2"

    def respond(self, request: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        """Record the query, answer the body."""
        parts = urlsplit(request.path)
        self.seen.append((parts.path, parse_qs(parts.query)))
        self.accept = request.headers.get("Accept", "")
        return 200, {"Content-Type": "application/json"}, self.body
