"""Reading CAP XML safely (pure): defused parsing, the declared encoding, element helpers.

defusedxml refuses any DTD (so no entity expansion and no external entities); bytes are parsed
as received, so the document's own encoding declaration or BOM decides how its text is decoded,
and multi-byte encodings expat cannot read (Big5, GBK) are decoded by Python's codecs first.
Used for CAP alerts and for the Atom and RSS indexes that list them.
"""

from __future__ import annotations

import re
from typing import Any
from xml.etree.ElementTree import Element
from xml.etree.ElementTree import ParseError as XmlParseError

import defusedxml.ElementTree as DET
from defusedxml import DefusedXmlException

from data_adapters.base import ParseError

MAX_BYTES = 4 * 1024 * 1024

_ENCODING_DECL = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._\-]+)["']""")


def local(tag: Any) -> str:
    """The local name of an element tag (comments and PIs have none)."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def namespace(tag: str) -> str:
    """The namespace URI of an element tag ("" without one)."""
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def children(element: Element, name: str) -> list[Element]:
    """The direct children of ``element`` named ``name`` (in any namespace)."""
    return [child for child in element if local(child.tag) == name]


def text(element: Element, name: str) -> str | None:
    """The stripped text of the first child ``name``; None when absent or empty."""
    for child in element:
        if local(child.tag) == name:
            value = (child.text or "").strip()
            return value or None
    return None


def read_xml(data: bytes) -> Element:
    """The root element of ``data`` (defused: no DTD, no entities); ParseError if unusable."""
    if not data or not data.strip():
        raise ParseError("empty payload", data)
    if len(data) > MAX_BYTES:
        raise ParseError(f"payload of {len(data)} bytes is larger than {MAX_BYTES}", data)
    try:
        return DET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ParseError(f"refused XML: {type(exc).__name__}", data) from None
    except XmlParseError as exc:
        raise ParseError(f"not well-formed XML: {exc}", data) from None
    except LookupError as exc:
        raise ParseError(f"unknown encoding: {exc}", data) from None
    except ValueError as exc:
        # Expat reads only single-byte encodings besides UTF-8/16 ("multi-byte encodings are not
        # supported"): Big5/GBK/Shift_JIS alerts are decoded here by the declared codec instead.
        return _read_declared(data, exc)


def _read_declared(data: bytes, exc: Exception) -> Element:
    """Parse ``data`` decoded by its declared encoding (for what expat cannot decode itself)."""
    match = _ENCODING_DECL.match(data.lstrip())
    if not match:
        raise ParseError(f"cannot decode XML: {exc}", data)
    try:
        text = data.decode(match.group(1).decode("ascii"))
    except (LookupError, UnicodeDecodeError) as err:
        raise ParseError(f"cannot decode XML as {match.group(1)!r}: {err}", data) from None
    try:
        # A str is fed to expat as UTF-8, so the (now wrong) declaration is ignored.
        return DET.fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as err:
        raise ParseError(f"refused XML: {type(err).__name__}", data) from None
    except (XmlParseError, ValueError) as err:
        raise ParseError(f"not well-formed XML: {err}", data) from None
