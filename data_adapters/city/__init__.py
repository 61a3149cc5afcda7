"""The city-management feed's parsers: Open311 GeoReport v2 service requests and services."""

from __future__ import annotations

from data_adapters.city.open311 import parse_requests, parse_services, safe_xml_root

__all__ = ["parse_requests", "parse_services", "safe_xml_root"]
