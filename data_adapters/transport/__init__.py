"""The transport feed's parsers: GTFS static zips and GTFS-Realtime messages, told apart by detect_kind."""

from __future__ import annotations

from data_adapters.transport.gtfs_rt import parse_feed_message
from data_adapters.transport.gtfs_static import parse_gtfs_zip

__all__ = ["detect_kind", "parse_feed_message", "parse_gtfs_zip"]

# A zip starts with a local file header, or (empty archive) with the end-of-central-directory record.
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def detect_kind(data: bytes) -> str:
    """"static" for a GTFS zip archive, else "realtime" (a GTFS-rt protobuf message)."""
    return "static" if data.startswith(_ZIP_MAGIC) else "realtime"
