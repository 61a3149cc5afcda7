"""Writes the corpus cases that are awkward to type: protobuf, zips, and very deep nesting.

The corpus itself is the committed files; this script only documents how the binary and
repetitive ones were made, and remakes them (``python tests/cases/bad_input/make_binary_cases.py``).
Each ``.expect.toml`` beside a case is written by hand. Hand-written cases are not touched.
"""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

from google.transit import gtfs_realtime_pb2 as rt

HERE = Path(__file__).resolve().parent
HEADER_TS = 1_767_225_600  # 2026-01-01 00:00 UTC
CENTRE = (28.55, 112.36)  # Yiyang
NESTING = 10_000

STOPS = ("stop_id,stop_name,stop_lat,stop_lon\n"
         "yy-1,Taohualun,28.5561,112.3551\n"
         "yy-2,Huilongshan,28.5603,112.3702\n")
ROUTES = "route_id,route_short_name,route_long_name,route_type\nr1,1,Railway Station - Bridge,3\n"


# -- GTFS-Realtime --------------------------------------------------------------------------------
def _message(timestamp: int = HEADER_TS) -> rt.FeedMessage:
    message = rt.FeedMessage()
    message.header.gtfs_realtime_version = "2.0"
    message.header.incrementality = rt.FeedHeader.FULL_DATASET
    message.header.timestamp = timestamp
    return message


def _vehicle(message: rt.FeedMessage, vid: str, lat: float | None = CENTRE[0],
             lon: float | None = CENTRE[1], timestamp: int | None = HEADER_TS - 30) -> None:
    entity = message.entity.add()
    entity.id = f"e-{vid}"
    entity.vehicle.vehicle.id = vid
    entity.vehicle.trip.route_id = "r1"
    if lat is not None and lon is not None:
        entity.vehicle.position.latitude = lat
        entity.vehicle.position.longitude = lon
    else:
        entity.vehicle.current_status = rt.VehiclePosition.STOPPED_AT
    if timestamp is not None:
        entity.vehicle.timestamp = timestamp


def _good_rt() -> bytes:
    message = _message()
    for n in range(3):
        _vehicle(message, f"bus-{n}", CENTRE[0] + n / 100, CENTRE[1])
    return message.SerializeToString()


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def gtfs_rt_cases() -> dict[str, bytes]:
    """file name -> bytes of each GTFS-rt case."""
    good = _good_rt()
    out = {"empty.pb": b"", "truncated.pb": good[: len(good) * 3 // 5], "huge.pb": good}
    # Field 1 (header, a message) sent as a varint and field 2 (entity) as a fixed32: proto
    # readers keep both as unknown fields, so the message decodes with nothing in it.
    out["wrong_types.pb"] = b"\x08\x05" + b"\x15" + struct.pack("<I", 7)
    # A header, then an unknown field 15 that opens groups 200 deep (past upb's limit of 100).
    header = _message().header.SerializeToString()
    start, end = _varint(15 << 3 | 3), _varint(15 << 3 | 4)
    out["deeply_nested.pb"] = (b"\x0a" + _varint(len(header)) + header + start * 200 + end * 200)

    message = _message()
    _vehicle(message, "good")
    for vid, lat, lon in (("north-of-pole", 91.0, 112.36), ("west-of-dateline", 28.55, -181.0),
                          ("nan", float("nan"), 112.36), ("inf", 28.55, float("inf")),
                          ("null-island", 0.0, 0.0)):
        _vehicle(message, vid, lat, lon)
    _vehicle(message, "no-position", None, None)
    out["coordinates_out_of_range.pb"] = message.SerializeToString()

    message = _message()
    _vehicle(message, "@@VID@")
    message.entity[0].vehicle.vehicle.label = "@@LABEL@"
    alert = message.entity.add()
    alert.id = "alert-1"
    text = alert.alert.header_text.translation.add()
    text.language, text.text = "en", "@@TITLE@"
    payload = message.SerializeToString()
    for name in ("VID", "LABEL", "TITLE"):
        placeholder = f"@@{name}@".encode()
        # Same length, so no length prefix changes: a lone continuation byte and a bad lead byte.
        payload = payload.replace(placeholder, b"\xff" + name.encode()[:len(placeholder) - 3] + b"\xc0\x80")
    out["invalid_utf8.pb"] = payload

    message = _message(timestamp=2**63)  # a header time no calendar holds: treated as unset
    _vehicle(message, "good", timestamp=None)
    _vehicle(message, "far-future", timestamp=2**64 - 1)
    nameless = message.entity.add()
    nameless.id = ""
    nameless.alert.header_text.translation.add().text = "Alert without an id"
    forever = message.entity.add()
    forever.id = "alert-forever"
    forever.alert.header_text.translation.add().text = "Detour"
    forever.alert.active_period.add(start=HEADER_TS, end=2**64 - 1)
    empty = message.entity.add()
    empty.id = "nothing"
    message.entity.add(id="", is_deleted=True)  # deletes nothing it could name
    out["wrong_values.pb"] = message.SerializeToString()
    return out


# -- GTFS static ----------------------------------------------------------------------------------
def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            # A fixed date keeps remade files identical to the committed ones.
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data,
                             compress_type=method)
    return buffer.getvalue()


def _patch_headers(data: bytes, *, method: int | None = None, flags: int | None = None,
                   size: int | None = None, version: int | None = None) -> bytes:
    """Rewrite the first member's compression method, flag bits, uncompressed size or the
    version needed to extract it, in place."""
    out = bytearray(data)
    local, central = out.find(b"PK\x03\x04"), out.find(b"PK\x01\x02")
    if version is not None:
        struct.pack_into("<H", out, local + 4, version)
        struct.pack_into("<H", out, central + 6, version)
    if flags is not None:
        struct.pack_into("<H", out, local + 6, flags)
        struct.pack_into("<H", out, central + 8, flags)
    if method is not None:
        struct.pack_into("<H", out, local + 8, method)
        struct.pack_into("<H", out, central + 10, method)
    if size is not None:
        struct.pack_into("<I", out, local + 22, size)
        struct.pack_into("<I", out, central + 24, size)
    return bytes(out)


def gtfs_static_cases() -> dict[str, bytes]:
    """file name -> bytes of each GTFS static case."""
    good = _zip({"stops.txt": STOPS.encode(), "routes.txt": ROUTES.encode()})
    out = {"empty.zip": b"", "truncated.zip": good[: len(good) // 2], "huge.zip": good,
           "not_a_zip.zip": STOPS.encode()}
    out["missing_required_file.zip"] = _zip({
        "agency.txt": b"agency_id,agency_name,agency_url,agency_timezone\n"
                      b"yy,Yiyang Bus,https://bus.example.org,Asia/Shanghai\n",
        "calendar.txt": b"service_id,monday,start_date,end_date\nwk,1,20260101,20261231\n"})
    # Declares 3,000,000,000 bytes for a member that holds 70: refused before inflating.
    out["zip_bomb_declared.zip"] = _patch_headers(_zip({"stops.txt": STOPS.encode()}),
                                                  size=3_000_000_000)
    # 4 MB of one repeated row in 10 KB: a real inflation bomb, far under the size limits.
    rows = "stop_id,stop_name,stop_lat,stop_lon\n" + "yy-1,Taohualun,28.5561,112.3551\n" * 130_000
    out["zip_bomb_ratio.zip"] = _zip({"stops.txt": rows.encode()})
    out["bzip2_member.zip"] = _zip({"stops.txt": STOPS.encode()}, zipfile.ZIP_BZIP2)
    out["deflate64_member.zip"] = _patch_headers(_zip({"stops.txt": STOPS.encode()}), method=9)
    out["unsupported_zip_version.zip"] = _patch_headers(_zip({"stops.txt": STOPS.encode()}),
                                                        version=84)
    out["encrypted_member.zip"] = _patch_headers(_zip({"stops.txt": STOPS.encode()}), flags=1)
    corrupt = bytearray(_zip({"stops.txt": STOPS.encode() * 4}))
    start = corrupt.find(b"stops.txt") + len("stops.txt")
    corrupt[start:start + 12] = b"\xff" * 12  # the deflate stream's first bytes: invalid blocks
    out["corrupt_deflate.zip"] = bytes(corrupt)
    out["nested_zip.zip"] = _zip({"gtfs.zip": good})
    out["semicolon_separated.zip"] = _zip({"stops.txt": STOPS.replace(",", ";").encode()})
    out["invalid_utf8_csv.zip"] = _zip({
        "stops.txt": b"stop_id,stop_name,stop_lat,stop_lon\n"
                     b"yy-1,Taohua\xff\xfelun,28.5561,112.3551\nyy-2,Hui\xc0\x80longshan,28.5603,112.3702\n"})
    out["coordinates_out_of_range.zip"] = _zip({
        "stops.txt": ("stop_id,stop_name,stop_lat,stop_lon\n"
                      "ok-1,Taohualun,28.5561,112.3551\n"
                      "ok-2,Huilongshan,28.5603,112.3702\n"
                      "north,Beyond the pole,91.0,112.36\n"
                      "east,Beyond the dateline,28.55,181.0\n"
                      "nan,Not a number,NaN,112.36\n"
                      "inf,Infinite,28.55,inf\n"
                      "text,Text,north,east\n"
                      "blank,Blank,,\n"
                      "zero,Null island,0,0\n").encode(),
        "routes.txt": ROUTES.encode()})
    out["wrong_types.zip"] = _zip({
        "stops.txt": ("stop_id,stop_name,stop_lat,stop_lon,location_type\n"
                      "yy-1,Taohualun,28.5561,112.3551,station\n"
                      "yy-1,Taohualun again,28.5562,112.3552,0\n"
                      ",No id,28.5563,112.3553,0\n"
                      "yy-3,Too,many,fields,28.55,112.36,0\n"
                      "yy-4,Huge type,28.5564,112.3554,100000000000000000000000000000\n").encode(),
        "routes.txt": ("route_id,route_short_name,route_type,route_color\n"
                       "r1,1,100000000000000000000000000000,zzzzzz\n"
                       ",2,3,FF0000\n").encode()})
    deep = "/".join(f"d{n}" for n in range(40))
    out["deeply_nested_folders.zip"] = _zip({f"{deep}/stops.txt": STOPS.encode()})
    return out


# -- deep nesting of the text formats -------------------------------------------------------------
def nested_cases() -> dict[str, bytes]:
    """relative path -> bytes of the deeply nested JSON and XML cases."""
    opened, closed = b"[" * NESTING, b"]" * NESTING
    tags, ends = b"<a>" * NESTING, b"</a>" * NESTING
    return {
        "senml/deeply_nested.json": opened + closed,
        "sensorthings/deeply_nested.json": b'{"value":' + opened + closed + b"}",
        "fhir/deeply_nested.json": b'{"resourceType":"Bundle","type":"searchset","entry":'
                                   + opened + closed + b"}",
        "open311/deeply_nested.json": opened + closed,
        "open311/deeply_nested_xml.xml": (
            b'<?xml version="1.0" encoding="utf-8"?>\n<service_requests><request>'
            b"<service_request_id>deep-1</service_request_id><status>open</status>"
            b"<lat>28.55</lat><long>112.36</long></request>"
            b"<junk>" + tags + ends + b"</junk></service_requests>\n"),
        "cap/deeply_nested.xml": tags + ends,
        "cap/deeply_nested_in_alert.xml": (
            b'<?xml version="1.0" encoding="UTF-8"?>\n'
            b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>YY-DEEP-1</identifier>'
            b"<sender>warnings@yiyang.example.org</sender><sent>2026-01-01T08:00:00+08:00</sent>"
            b"<status>Actual</status><msgType>Alert</msgType><scope>Public</scope><info>"
            b"<category>Met</category><event>Rainstorm</event><urgency>Expected</urgency>"
            b"<severity>Severe</severity><certainty>Likely</certainty><headline>Rainstorm</headline>"
            b"<parameter>" + tags + ends + b"</parameter></info></alert>\n"),
    }


def main() -> None:
    """Write every generated case into its format's folder."""
    for folder, cases in (("gtfs_rt", gtfs_rt_cases()), ("gtfs_static", gtfs_static_cases())):
        for name, data in cases.items():
            (HERE / folder / name).write_bytes(data)
    for relative, data in nested_cases().items():
        (HERE / relative).write_bytes(data)


if __name__ == "__main__":
    main()
