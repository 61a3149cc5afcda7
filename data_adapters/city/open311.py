"""Open311 GeoReport v2 payloads (requests and services, JSON or XML) to normalized city records (pure).

- a service request -> Entity(domain="city", kind="request"), or Rejected (no service_request_id)
- a service         -> Event(domain="city", kind="service"), or Rejected (no service_code)
- an error answer   -> ParseError carrying the server's own description

XML is read with defusedxml behind :func:`safe_xml_root`: any DOCTYPE or ENTITY declaration is
refused, which rules out entity expansion ("billion laughs") and external entities, and the
payload size is capped.
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timezone, tzinfo
from typing import Any, Iterator, Mapping
from zoneinfo import ZoneInfo

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from app.model.geo import valid_position
from app.model.records import Entity, Event, FeedHeader, ParseItem, Rejected, valid_time
from data_adapters.base import ParseError
from data_adapters.json_payload import decode_text, load_json_text
from data_adapters.personal import masked_text, without

DOMAIN = "city"
DEFAULT_TZ = "Asia/Shanghai"
# A city's full request list is a few MB at most; anything far larger is not an Open311 answer.
MAX_PAYLOAD_BYTES = 32 * 1024 * 1024
_WHAT = "Open311 JSON or XML"
# Statuses some servers send besides the spec's open/closed; anything unknown counts as open,
# so that a request never silently disappears from the operators' list.
_CLOSED = frozenset({"closed", "resolved", "completed", "complete", "done", "fixed", "archived",
                     "cancelled", "canceled"})
_OPEN = frozenset({"open", "opened", "new", "submitted", "acknowledged", "in progress",
                   "in_progress", "assigned", "pending", "reopened"})
# Matches a DOCTYPE or ENTITY declaration anywhere, whatever its case and spacing.
_DECLARATION = re.compile(r"<!\s*(doctype|entity)", re.IGNORECASE)
_XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
_REQUEST_TEXT_FIELDS = ("service_code", "service_name", "agency_responsible", "status_notes")
# What a citizen tells the city about themselves when reporting (GeoReport v2's POST fields, which
# some servers echo in their listings): never stored, never kept in a dead letter (docs/data.md).
# A request keeps only the fields request_entity names.
PERSONAL_FIELDS = ("first_name", "last_name", "name", "email", "phone", "device_id", "account_id")


# -- decoding ---------------------------------------------------------------------------------------
def safe_xml_root(data: bytes, max_bytes: int = MAX_PAYLOAD_BYTES) -> ET.Element:
    """The root element of ``data``; ParseError for DOCTYPE/ENTITY declarations, size or syntax."""
    if len(data) > max_bytes:
        raise ParseError(f"XML payload larger than {max_bytes} bytes", data)
    # The checks run on the text expat will see: decoded here as UTF-8 and handed over as str,
    # which makes expat ignore any declared encoding, so a UTF-16 or UTF-7 payload cannot hide a
    # declaration from the pattern. NUL never occurs in XML text (it would mark UTF-16/32).
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(f"XML payload is not valid UTF-8: {exc}", data) from None
    if "\x00" in text:
        raise ParseError("XML payload contains NUL bytes", data)
    # defusedxml refuses DTDs, entity declarations and external references; the pattern check
    # before it gives the same clear message for the plain cases.
    if _DECLARATION.search(text):
        raise ParseError("XML with a DOCTYPE or ENTITY declaration is refused", data)
    try:
        return SafeET.fromstring(text.lstrip(), forbid_dtd=True)
    except DefusedXmlException as exc:
        raise ParseError(f"unsafe XML refused: {type(exc).__name__}", data) from None
    except ET.ParseError as exc:
        raise ParseError(f"not well-formed XML: {exc}", data) from None


def decode_document(data: bytes) -> Any:
    """The payload as JSON (list or dict) or an XML root element; ParseError when it is neither."""
    # One preamble for both: the size cap, UTF-8 (a BOM dropped) and emptiness.
    text = decode_text(data, what=_WHAT, limit=MAX_PAYLOAD_BYTES)
    head = text.lstrip()[:1]
    if head == "<":
        return safe_xml_root(data)
    if head not in ("[", "{"):
        raise ParseError("payload is neither Open311 JSON nor XML", data)
    return load_json_text(text, data, what=_WHAT)


def _local(tag: Any) -> str:
    """An element's tag without its namespace (SF wraps its answer in SOAP namespaces)."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _xml_row(element: ET.Element) -> dict[str, Any]:
    """One <request>/<service>/<error> as a dict: xsi:nil is None, an empty element is ""."""
    row: dict[str, Any] = {}
    for child in element:
        if child.get(_XSI_NIL, "").strip().lower() == "true":
            row[_local(child.tag)] = None
        else:
            row[_local(child.tag)] = child.text or ""
    return row


def _error_text(rows: list[Any]) -> str | None:
    """The description(s) of an Open311 error answer, or None when ``rows`` are not errors."""
    if not rows or not all(isinstance(row, Mapping) and "description" in row
                           and "code" in row and "service_request_id" not in row
                           and "service_code" not in row for row in rows):
        return None
    return "; ".join(f"{row.get('code')}: {row.get('description')}" for row in rows)


def _read_rows(data: bytes, list_tag: str, row_tag: str) -> list[Any]:
    """The rows of a request or service list, JSON or XML; ParseError for errors and other shapes."""
    document = decode_document(data)
    if isinstance(document, ET.Element):
        root = _local(document.tag)
        if root == "errors" or root == "error":
            errors = [_xml_row(e) for e in document if _local(e.tag) == "error"] or [
                _xml_row(document)]
            raise ParseError(f"Open311 error: {_error_text(errors) or 'unspecified'}", data)
        if root != list_tag:
            raise ParseError(f"XML root <{root}> is not <{list_tag}>", data)
        return [_xml_row(e) for e in document if _local(e.tag) == row_tag]
    if isinstance(document, dict):
        message = _error_text([document])
        if message is not None:
            raise ParseError(f"Open311 error: {message}", data)
        # Some servers wrap the list in an object named after it.
        wrapped = document.get(list_tag)
        if isinstance(wrapped, list):
            document = wrapped
        else:
            raise ParseError(f"JSON object is not a {list_tag} list", data)
    if not isinstance(document, list):
        raise ParseError(f"JSON is not a {list_tag} list", data)
    message = _error_text(document)
    if message is not None:
        raise ParseError(f"Open311 error: {message}", data)
    return document


# -- values -----------------------------------------------------------------------------------------
def _rows(data: bytes, list_tag: str, row_tag: str) -> list[Any]:
    """The rows of a payload; an unusable one raises ParseError whose excerpt (kept in the feed's
    dead letters) has the reporters' personal fields masked."""
    try:
        return _read_rows(data, list_tag, row_tag)
    except ParseError as exc:
        exc.excerpt = _private(exc.excerpt)
        raise


def zone(tz: str | tzinfo) -> tzinfo:
    """The time zone named ``tz`` (IANA name); ValueError when it is unknown."""
    if isinstance(tz, tzinfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (KeyError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tz!r}") from exc


def parse_datetime(value: Any, tz: str | tzinfo = DEFAULT_TZ) -> float | None:
    """POSIX seconds of an ISO 8601 date or datetime; None when blank, ValueError when unreadable.

    A value without a zone (SF's "2012-05-22 23:57:23.97", a bare date) is read in ``tz``.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"not a date string: {value!r}")
    text = value.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"unreadable date {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone(tz))
    try:
        seconds = moment.timestamp()
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"date out of range {value!r}") from None
    if not valid_time(seconds):  # 9999-12-31T23:00-05:00 is past every datetime in UTC
        raise ValueError(f"date out of range {value!r}")
    return seconds


def iso_utc(seconds: float) -> str:
    """POSIX seconds as a W3C datetime in UTC ("2012-05-23T19:55:30Z"), as updated_after wants."""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(value: Any) -> str | None:
    """A scalar field as text (ids may be numbers); None for null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else str(value)


def _blank_to_none(value: Any) -> str | None:
    """Text with its spacing tidied ("     SAN FRANCISCO , CA " -> "SAN FRANCISCO , CA"), or None."""
    text = _text(value)
    if text is None:
        return None
    tidy = " ".join(text.split())
    return tidy or None


def _coordinate(value: Any) -> tuple[float | None, bool]:
    """(number, readable): None for null/blank; (None, False) for text that is not a number."""
    if value is None or isinstance(value, bool):
        return None, value is None
    if isinstance(value, (int, float)):
        try:
            return float(value), True
        except OverflowError:  # an integer past float's range: a number, out of any range
            return math.inf, True
    if isinstance(value, str):
        if not value.strip():
            return None, True
        try:
            return float(value), True
        except ValueError:
            return None, False
    return None, False


def normalize_status(value: Any) -> str:
    """"open" or "closed" for a raw Open311 status (any case); unknown values count as open."""
    text = " ".join((_text(value) or "").lower().split())
    return "closed" if text in _CLOSED else "open"


# -- requests ---------------------------------------------------------------------------------------
def parse_requests(data: bytes, feed: str, fetched_at: float, *, tz: str = DEFAULT_TZ,
                   id_prefix: str | None = None) -> Iterator[ParseItem]:
    """Yield a FeedHeader, then one request Entity (or Rejected) per request of the payload.

    Accepts requests.json (a list, or an object wrapping "service_requests") and requests.xml.
    Raises ParseError for an Open311 error answer and for anything that is not a request list.
    """
    rows = _rows(data, "service_requests", "request")
    where = zone(tz)
    prefix = id_prefix or feed
    # Polling asks only for what changed (updated_after): never a full dataset.
    yield FeedHeader(timestamp=None, full_dataset=False)
    kept: dict[str, Entity] = {}
    for row in rows:
        item = request_entity(row, prefix, feed, fetched_at, where)
        if isinstance(item, Rejected):
            yield item
        elif item.id in kept:
            # One request listed twice: the later update wins, the other goes to the dead letters.
            older = kept[item.id]
            if item.observed_at > older.observed_at:
                kept[item.id], older = item, kept[item.id]
            yield Rejected.of(f"duplicate request {item.id}: kept the later update", repr(older))
        else:
            kept[item.id] = item
    yield from kept.values()


def _private(data: bytes | str) -> str:
    """A payload's text for a dead letter, the reporters' personal fields masked."""
    return masked_text(data, PERSONAL_FIELDS)


def _excerpt(row: Any) -> str:
    """A row as JSON text for a dead letter, without the reporter's personal fields."""
    if isinstance(row, Mapping):
        row = without(row, PERSONAL_FIELDS)
    try:
        return json.dumps(row, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return _private(repr(row))


def request_entity(row: Any, prefix: str, source: str, fetched_at: float,
                   tz: tzinfo) -> Entity | Rejected:
    """The Entity of one request row (a dict), or Rejected when it has no service_request_id."""
    if not isinstance(row, Mapping):
        return Rejected.of("request is not an object", _excerpt(row))
    request_id = _blank_to_none(row.get("service_request_id"))
    if request_id is None:
        return Rejected.of("request without service_request_id", _excerpt(row))
    notes: list[str] = []
    lat, lon = _position(row, notes)
    times: dict[str, float | None] = {}
    for field, key in (("requested_datetime", "requested_at"), ("updated_datetime", "updated_at"),
                       ("expected_datetime", "expected_at")):
        try:
            times[key] = parse_datetime(row.get(field), tz)
        except ValueError as exc:
            # One bad date must not cost the whole request: drop the date, say so.
            times[key] = None
            notes.append(f"{field} dropped: {exc}")
    raw_status = _text(row.get("status"))
    status = normalize_status(raw_status)
    known = " ".join((raw_status or "").lower().split())
    if known not in _CLOSED and known not in _OPEN:
        notes.append(f"unknown status {raw_status!r} read as open")
    description = row.get("description")
    attrs: dict[str, Any] = {
        "service_code": _text(row.get("service_code")),
        "service_name": _text(row.get("service_name")),
        # Free text: kept as sent (line breaks included); the UI escapes it on output.
        "description": None if description is None else _text(description),
        "address": _blank_to_none(row.get("address")),
        "requested_at": times["requested_at"],
        "updated_at": times["updated_at"],
        "expected_at": times["expected_at"],
        "agency_responsible": _blank_to_none(row.get("agency_responsible")),
        "status_notes": _blank_to_none(row.get("status_notes")),
        "raw_status": raw_status,
        "unlocated": lat is None,
    }
    if notes:
        attrs["notes"] = notes
    observed = times["updated_at"] or times["requested_at"] or float(fetched_at)
    return Entity(DOMAIN, "request", f"{prefix}:request:{request_id}", lat, lon, status,
                  observed, source, attrs)


def _position(row: Mapping[str, Any], notes: list[str]) -> tuple[float | None, float | None]:
    """(lat, lon) of a request, or (None, None) when it has no usable position (notes say why)."""
    lat, lat_ok = _coordinate(row.get("lat"))
    lon, lon_ok = _coordinate(row.get("long", row.get("lon")))
    if not (lat_ok and lon_ok):
        notes.append(f"non-numeric position {row.get('lat')!r},{row.get('long')!r}")
        return None, None
    if lat is None or lon is None:
        return None, None
    if abs(lat) < 1e-6 and abs(lon) < 1e-6:
        # Bloomington and SF send 0,0 for "unknown": the request is listed, never drawn off Africa.
        return None, None
    if not valid_position(lat, lon):
        notes.append(f"position out of range {lat},{lon}")
        return None, None
    return lat, lon


# -- services ---------------------------------------------------------------------------------------
def parse_services(data: bytes, feed: str, fetched_at: float, *,
                   id_prefix: str | None = None) -> Iterator[ParseItem]:
    """Yield a FeedHeader, then one service Event (or Rejected) per service of services.json/xml."""
    rows = _rows(data, "services", "service")
    prefix = id_prefix or feed
    yield FeedHeader(timestamp=None, full_dataset=False)
    for row in rows:
        yield service_event(row, prefix, feed, fetched_at)


def service_event(row: Any, prefix: str, source: str, fetched_at: float) -> Event | Rejected:
    """The Event of one service row, or Rejected when it has no service_code."""
    if not isinstance(row, Mapping):
        return Rejected.of("service is not an object", _excerpt(row))
    code = _blank_to_none(row.get("service_code"))
    if code is None:
        return Rejected.of("service without service_code", _excerpt(row))
    metadata = row.get("metadata")
    if isinstance(metadata, str):
        metadata = metadata.strip().lower() == "true"
    attrs = {
        "group": _blank_to_none(row.get("group")),
        "description": _text(row.get("description")),
        "type": _blank_to_none(row.get("type")),
        "keywords": _blank_to_none(row.get("keywords")),
        "metadata": bool(metadata),
    }
    title = _blank_to_none(row.get("service_name")) or code
    return Event(DOMAIN, "service", f"{prefix}:service:{code}", title, float(fetched_at), source,
                 attrs=attrs)
