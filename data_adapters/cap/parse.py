"""OASIS CAP 1.1/1.2 alerts (bare, or in EDXL-DE, Atom, RSS and <alerts> envelopes) to Events (pure).

XML is read with defusedxml (data_adapters/cap/xml.py: no DTDs, so no entity expansion and no
external entities) from the raw bytes, so the document's own encoding declaration or BOM decides
how its text is decoded. An Atom or RSS index's embedded alerts are read here; its linked ones
are fetched by the adapter (follow.py) and read from its frame (frame.py).
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any, Iterable, Iterator, Sequence
from xml.etree.ElementTree import Element

from app.model.cap import cap_id, map_severity
from app.model.records import Event, ParseItem, Rejected, Removed, valid_time
from data_adapters.base import ParseError
from data_adapters.cap.index import index_entries
from data_adapters.cap.xml import MAX_BYTES, children, local, read_xml
from data_adapters.cap.xml import text as child_text

__all__ = ["MAX_BYTES", "circle_ring", "parse_cap", "parse_circle", "parse_polygon",
           "parse_references", "read_xml"]

KIND = "cap_warning"
CIRCLE_POINTS = 32
KM_PER_DEGREE = 111.32
# Half the Equator: a larger radius covers the whole Earth, and would overflow the ring's maths.
MAX_RADIUS_KM = 20_037.5
# CAP 1.2 section 3.2.2: an info block without <language> is in en-US.
DEFAULT_LANGUAGE = "en-US"
CAP_NAMESPACES = ("urn:oasis:names:tc:emergency:cap:1.0", "urn:oasis:names:tc:emergency:cap:1.1",
                  "urn:oasis:names:tc:emergency:cap:1.2")
EXCERPT_BYTES = 512

# Only Actual alerts are for the public; Test/Exercise/Draft/System never reach a screen.
SHOWN_STATUS = "Actual"
# Ack and Error answer other messages; they warn nobody of anything.
NOT_WARNINGS = frozenset({"Ack", "Error"})

_COMMA_SPACES = re.compile(r"\s*,\s*")
_SEPARATORS = re.compile(r"[\s,]+")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")


def parse_references(text: str | None) -> list[tuple[str, str, str]]:
    """CAP <references> ("sender,identifier,sent" separated by whitespace) as (sender, id, sent)."""
    out: list[tuple[str, str, str]] = []
    for token in (text or "").split():
        parts = token.split(",")
        if len(parts) == 3 and parts[0] and parts[1]:
            out.append((parts[0], parts[1], parts[2]))
    return out


def parse_time(text: str | None) -> float | None:
    """A CAP dateTime (with an offset; "-00:00" is UTC) as epoch seconds, None if absent/invalid."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    # CAP requires an offset; a time without one could be any zone's, so it is not guessed.
    if when.tzinfo is None:
        return None
    seconds = when.timestamp()
    # 9999-12-31T23:59:59-14:00 is past every datetime in UTC: no screen could show it.
    return seconds if valid_time(seconds) else None


def parse_polygon(text: str) -> list[list[float]]:
    """A CAP polygon ("lat,lon lat,lon ...") as a closed GeoJSON ring of [lon, lat]; ValueError if invalid."""
    # Pairs are read as a number sequence: NWS writes "lat,lon, lat,lon" (a comma before the
    # space), others "lat, lon"; both still alternate latitude and longitude.
    pieces = [piece for piece in _SEPARATORS.split(text.strip()) if piece]
    if not all(_NUMBER.fullmatch(piece) for piece in pieces):
        raise ValueError("a polygon is numbers separated by commas and spaces")
    numbers = [float(piece) for piece in pieces]
    if len(numbers) % 2:
        raise ValueError(f"odd count of coordinates ({len(numbers)})")
    ring: list[list[float]] = []
    for lat, lon in zip(numbers[::2], numbers[1::2], strict=True):
        if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90
                and -180 <= lon <= 180):
            raise ValueError(f"point {lat},{lon} is out of range")
        ring.append([lon, lat])
    if ring and ring[0] != ring[-1]:
        # CAP says first and last point are equal; feeds that forget it still mean a closed area.
        ring.append(list(ring[0]))
    if len({(x, y) for x, y in ring}) < 3:
        raise ValueError(f"a polygon needs at least 3 distinct points, got {len(ring)} points")
    return ring


def parse_circle(text: str) -> tuple[float, float, float]:
    """A CAP circle ("lat,lon radius_km") as (lat, lon, radius_km); ValueError if invalid."""
    parts = _COMMA_SPACES.sub(",", text.strip()).split()
    if len(parts) != 2:
        raise ValueError("a circle is 'lat,lon radius'")
    center = parts[0].split(",")
    if len(center) != 2:
        raise ValueError("a circle center is 'lat,lon'")
    lat, lon, radius = float(center[0]), float(center[1]), float(parts[1])
    if not all(math.isfinite(v) for v in (lat, lon, radius)):
        raise ValueError("not finite")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or radius < 0:
        raise ValueError("center out of range or negative radius")
    if radius > MAX_RADIUS_KM:
        raise ValueError(f"radius {radius} km is larger than the Earth ({MAX_RADIUS_KM} km)")
    return lat, lon, radius


def circle_ring(lat: float, lon: float, radius_km: float,
                points: int = CIRCLE_POINTS) -> list[list[float]]:
    """A closed GeoJSON ring of ``points`` vertices approximating a circle (equirectangular)."""
    # Warning circles are tens of km: a local equirectangular offset is well within what a map
    # draws, and stays cheap; cos(lat) is floored so that polar circles stay finite.
    dlat = radius_km / KM_PER_DEGREE
    dlon = radius_km / (KM_PER_DEGREE * max(math.cos(math.radians(lat)), 1e-6))
    ring = []
    for k in range(points):
        angle = 2 * math.pi * k / points
        y = max(-90.0, min(90.0, lat + dlat * math.sin(angle)))
        x = (lon + dlon * math.cos(angle) + 180.0) % 360.0 - 180.0
        ring.append([round(x, 6), round(y, 6)])
    ring.append(list(ring[0]))
    return ring


def alerts_of(root: Element, data: bytes) -> tuple[list[Element], int]:
    """The <alert> elements of a document and how many alerts an Atom or RSS index only links."""
    name = local(root.tag)
    if name == "alert":
        # Any namespace (1.0-1.2, none, or a misspelt one like ...:alerts:1.2) is read as CAP:
        # the element names are what the parser relies on.
        return [root], 0
    if name == "alerts":
        # A non-standard list (SMHI): several <alert> side by side.
        return children(root, "alert"), 0
    if name == "EDXLDistribution":
        found = [alert for content in root.iter() if local(content.tag) == "embeddedXMLContent"
                 for alert in content if local(alert.tag) == "alert"]
        if not found:
            raise ParseError("EDXL-DE distribution carries no CAP alert", data)
        return found, 0
    entries = index_entries(root)
    if entries is not None:  # an Atom feed or an RSS channel: read like each other
        alerts = [alert for entry in entries for alert in entry.alerts]
        return alerts, sum(1 for entry in entries if entry.link)
    raise ParseError(f"not CAP: root element <{name}>", data)


# -- records ----------------------------------------------------------------------------------------
def choose_info(infos: Sequence[Element], languages: Iterable[str]) -> Element | None:
    """The info block in the first preferred language (prefix match: en-US is en), else the first."""
    if not infos:
        return None
    tagged = [((child_text(info, "language") or DEFAULT_LANGUAGE).lower(), info) for info in infos]
    for wanted in languages:
        wanted = wanted.lower()
        for language, info in tagged:
            if language == wanted or language.startswith(wanted + "-"):
                return info
    return infos[0]


def _areas(info: Element, excerpt: str) -> tuple[dict[str, Any] | None, list[dict[str, float]],
                                                  list[str], list[Rejected]]:
    """(GeoJSON geometry, circles, area descriptions, rejections) of an info block's areas."""
    polygons: list[list[list[list[float]]]] = []
    circles: list[dict[str, float]] = []
    descriptions: list[str] = []
    rejected: list[Rejected] = []
    for area in children(info, "area"):
        desc = child_text(area, "areaDesc")
        if desc:
            descriptions.append(desc)
        for element in area:
            kind = local(element.tag)
            if kind not in ("polygon", "circle"):
                continue
            text = (element.text or "").strip()
            if not text:
                # An empty element (NWS writes <polygon></polygon>) says no more than its absence.
                continue
            try:
                if kind == "polygon":
                    polygons.append([parse_polygon(text)])
                    continue
                lat, lon, radius = parse_circle(text)
            except ValueError as exc:
                rejected.append(Rejected.of(f"invalid {kind}: {exc}", f"{excerpt} {text}"))
                continue
            circles.append({"lat": lat, "lon": lon, "radius_km": radius})
            # Radius 0 (USGS epicentres) is a point, not an area: kept in attrs, drawn as nothing.
            if radius > 0:
                polygons.append([circle_ring(lat, lon, radius)])
    if not polygons:
        geometry = None
    elif len(polygons) == 1:
        geometry = {"type": "Polygon", "coordinates": polygons[0]}
    else:
        geometry = {"type": "MultiPolygon", "coordinates": polygons}
    return geometry, circles, descriptions, rejected


def parse_alert(alert: Element, feed: str, fetched_at: float, *,
                languages: Sequence[str] = ("en", "zh"), id_prefix: str | None = None,
                domain: str = "city") -> Iterator[ParseItem]:
    """The Event, Removed and Rejected items of one <alert> element."""
    prefix = id_prefix or feed
    identifier = child_text(alert, "identifier")
    sender = child_text(alert, "sender")
    status = child_text(alert, "status")
    msg_type = child_text(alert, "msgType")
    excerpt = f"identifier={identifier} sender={sender} status={status} msgType={msg_type}"
    if not identifier or not sender:
        yield Rejected.of("alert without identifier or sender", excerpt)
        return
    if status != SHOWN_STATUS:
        yield Rejected.of("not an actual alert", excerpt)
        return
    if msg_type in NOT_WARNINGS:
        yield Rejected.of(f"{msg_type} message: not a warning", excerpt)
        return
    own_id = cap_id(prefix, identifier, sender)
    references = parse_references(child_text(alert, "references"))
    # Update and Cancel replace what they reference (CAP 1.2 section 3.2.1, msgType).
    removed = [Removed(domain, rid) for rid in dict.fromkeys(
        cap_id(prefix, ref_id, ref_sender) for ref_sender, ref_id, _sent in references)
        if rid != own_id] if msg_type in ("Update", "Cancel") else []
    info = choose_info(children(alert, "info"), languages)
    if info is None:
        if msg_type != "Cancel":
            yield Rejected.of("alert without an info block: nothing to show", excerpt)
        # A Cancel needs no info: it only closes what it references.
        yield from removed
        return
    geometry, circles, descriptions, rejected = _areas(info, excerpt)
    yield from rejected
    sent_text = child_text(alert, "sent")
    sent = parse_time(sent_text)
    event_name = child_text(info, "event")
    cap_severity = child_text(info, "severity")
    urgency = child_text(info, "urgency")
    certainty = child_text(info, "certainty")
    starts_at = next((t for t in (parse_time(child_text(info, "onset")),
                                  parse_time(child_text(info, "effective")), sent) if t is not None),
                     None)
    attrs: dict[str, Any] = {
        "identifier": identifier, "sender": sender, "sent": sent_text, "status": status,
        "msgType": msg_type, "scope": child_text(alert, "scope"), "references": references,
        "urgency": urgency, "certainty": certainty, "cap_severity": cap_severity,
        "event": event_name,
        "category": [c.text.strip() for c in children(info, "category")
                     if c.text and c.text.strip()],
        "description": child_text(info, "description"), "instruction": child_text(info, "instruction"),
        "areaDesc": "; ".join(descriptions) or None,
        "language": child_text(info, "language") or DEFAULT_LANGUAGE, "web": child_text(info, "web"),
        "circles": circles,
    }
    yield Event(domain=domain, kind=KIND, id=own_id,
                title=child_text(info, "headline") or event_name or identifier,
                observed_at=sent if sent is not None else fetched_at, source=feed,
                severity=map_severity(cap_severity, urgency, certainty), starts_at=starts_at,
                ends_at=parse_time(child_text(info, "expires")), area=geometry, attrs=attrs)
    yield from removed


def parse_cap(data: bytes, feed: str, fetched_at: float, *, languages: Sequence[str] = ("en", "zh"),
              id_prefix: str | None = None, domain: str = "city",
              links_followed: bool = False) -> Iterator[ParseItem]:
    """Events (and Removed, Rejected) of a CAP document or envelope; ParseError if it is not CAP.

    ``links_followed``: the index's linked alerts were fetched beside it (the adapter's frame),
    so its links are not reported as unread.
    """
    root = read_xml(data)
    alerts, linked = alerts_of(root, data)
    # Checked before anything is yielded, so that a ParseError never follows partial output.
    if alerts and not any(local(child.tag) in ("identifier", "sender", "info")
                          for alert in alerts for child in alert):
        raise ParseError("<alert> elements without CAP content", data)
    if linked and not links_followed:
        # A recorded index (`cityops ingest cap`): only a poll follows links (adapter.fetch()).
        yield Rejected.of(f"index links {linked} alert(s) that are not fetched (links are "
                          "followed when the feed is polled)", data[:EXCERPT_BYTES])
    for alert in alerts:
        yield from parse_alert(alert, feed, fetched_at, languages=languages, id_prefix=id_prefix,
                               domain=domain)

