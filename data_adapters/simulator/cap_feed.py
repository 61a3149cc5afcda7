"""The demo city's public warnings: an Atom feed of OASIS CAP 1.2 alerts, built with xml.etree.

Usually empty. On about one day in four a Minor "blue" advisory (high temperature from May to
September, strong wind otherwise) runs from 09:00 to 18:00 over the whole city. The rainstorm
scenario issues a Severe rainstorm warning (orange) over the flooded district, raises it by an
Update to Extreme (red), and finally cancels it; each message replaces the previous one in the
feed, as a warning service lists only the current message of each warning. The XML is built
with xml.etree, which escapes all text; the Atom and CAP namespaces are default namespaces on
their own elements.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from data_adapters.simulator.city import CityModel
from data_adapters.simulator.patterns import DAY_S, iso_local, local_day, unit, utc_offset, zone
from data_adapters.simulator.scenario import Scenario

CAP_NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM_NAMESPACE = "http://www.w3.org/2005/Atom"
SENDER = "warnings@yiyang-met.cityops.invalid"
ADVISORY_SHARE = 0.25
MAX_POLYGON_POINTS = 60
RAINSTORM_EXPIRES_S = 6 * 3600


@dataclass(frozen=True)
class Info:
    """One language's text of a warning."""

    language: str
    event: str
    headline: str
    description: str
    instruction: str
    area: str


@dataclass(frozen=True)
class Message:
    """One CAP message as the feed lists it."""

    identifier: str
    sent: float
    msg_type: str
    severity: str
    urgency: str
    certainty: str
    onset: float
    expires: float
    polygon: str
    infos: tuple[Info, ...]
    references: tuple[tuple[str, float], ...] = ()   # (identifier, sent) of earlier messages


class WarningFeed:
    """The warnings in force at any time, as CAP messages and as an Atom document."""

    def __init__(self, city: CityModel, seed: int = 1, scenario: Scenario | None = None) -> None:
        self.city, self.seed, self.scenario = city, seed, scenario
        self.tz = zone(city.timezone)
        west, south, east, north = city.bbox
        self._city_polygon = cap_polygon([(west, south), (east, south), (east, north), (west, north),
                                          (west, south)])

    # -- messages ------------------------------------------------------------------------------
    def current(self, now: float) -> list[Message]:
        """The messages listed at ``now`` (at most an advisory and the rainstorm's latest message)."""
        found = []
        advisory = self.advisory(local_day(now, self.tz))
        if advisory is not None and advisory.sent <= now < advisory.expires:
            found.append(advisory)
        found += self.rainstorm(now)
        return found

    def advisory(self, day: int) -> Message | None:
        """The blue advisory of local day ``day``, if that day has one (none near the rainstorm)."""
        if unit(self.seed, 110, day) >= ADVISORY_SHARE:
            return None
        midnight = day * DAY_S - utc_offset(day * DAY_S, self.tz)
        if self.scenario is not None and abs(self.scenario.start - (midnight + DAY_S / 2)) < DAY_S:
            return None  # one weather story at a time
        month = int(iso_local(midnight + 3600, self.tz)[5:7])
        stamp = iso_local(midnight, self.tz)[:10].replace("-", "")
        city = self.city.name
        if 5 <= month <= 9:
            kind, en = "HEAT", ("High Temperature Blue Warning", f"High temperature advisory for {city}",
                                "Maximum temperature of 35 C or more expected this afternoon.",
                                "Avoid outdoor work at midday; drink enough water; look in on older "
                                "neighbours.")
            zh = ("高温蓝色预警", f"{city}市高温蓝色预警", "预计今天下午最高气温将达35℃以上。",
                  "避免在午间进行户外作业，注意补充水分，关心老人。")
        else:
            kind, en = "WIND", ("Strong Wind Blue Warning", f"Strong wind advisory for {city}",
                                "Gusts of force 7 (50-61 km/h) expected over the city today.",
                                "Secure loose objects on balconies and scaffolding; take care near trees.")
            zh = ("大风蓝色预警", f"{city}市大风蓝色预警", "预计今天全市将出现7级阵风。",
                  "请加固阳台及脚手架上的松动物品，注意远离树木。")
        area_en, area_zh = f"{city} urban area", f"{city}市城区"
        return Message(f"CN-YIYANG-MET-{stamp}-{kind}-1", midnight + 8.5 * 3600, "Alert", "Minor", "Expected",
                       "Likely", midnight + 9 * 3600, midnight + 18 * 3600, self._city_polygon,
                       (Info("en-US", *en, area_en), Info("zh-CN", *zh, area_zh)))

    def rainstorm(self, now: float) -> list[Message]:
        """The rainstorm warning's message listed at ``now`` (the newest one, until it ends)."""
        scenario = self.scenario
        if scenario is None or not scenario.start <= now < scenario.warnings_end:
            return []
        district = scenario.district
        polygon = cap_polygon(district.polygon)
        stamp = iso_local(scenario.start, self.tz)[:16].replace("-", "").replace(":", "").replace("T", "")
        sent_so_far: list[tuple[str, float]] = []
        listed: Message | None = None
        for k, (when, msg_type) in enumerate(scenario.warnings(), start=1):
            if when > now:
                break
            identifier = f"CN-YIYANG-MET-{stamp}-RAIN-{k}"
            red = msg_type != "Alert"
            en, zh = self._rainstorm_texts(red)
            listed = Message(identifier, when, msg_type, "Extreme" if red else "Severe",
                             "Immediate" if red else "Expected", "Observed" if red else "Likely",
                             scenario.start, scenario.start + RAINSTORM_EXPIRES_S, polygon, (en, zh),
                             tuple(sent_so_far) if msg_type != "Alert" else ())
            sent_so_far.append((identifier, when))
        return [listed] if listed is not None else []

    def _rainstorm_texts(self, red: bool) -> tuple[Info, Info]:
        """The English and Chinese texts of the orange (first) or red (raised) rainstorm warning."""
        assert self.scenario is not None
        district, city = self.scenario.district, self.city
        colour_en, colour_zh = ("Red", "红色") if red else ("Orange", "橙色")
        rain_en = ("More than 100 mm of rain has fallen in 3 hours and heavy rain continues; " if red
                   else "More than 50 mm of rain expected within 3 hours; ")
        rain_zh = ("3小时内降雨量已超过100毫米，强降雨仍将持续；" if red
                   else "预计3小时内降雨量将达50毫米以上；")
        en = Info("en-US", f"Rainstorm {colour_en} Warning",
                  f"Rainstorm {colour_en.lower()} warning for {district.name} District",
                  rain_en + f"the {city.river_name} is rising and low-lying streets are flooding.",
                  "Stay away from underpasses, riverbanks and low-lying streets; do not drive "
                  "through water; move valuables upstairs.", f"{district.name} District, {city.name}")
        zh = Info("zh-CN", f"暴雨{colour_zh}预警", f"{district.name_zh}区暴雨{colour_zh}预警",
                  rain_zh + "资江水位上涨，低洼路段出现积水。",
                  "请远离下穿通道、河岸及低洼路段，切勿涉水行车，将贵重物品转移至高处。",
                  f"{city.name}市{district.name_zh}区")
        return en, zh

    # -- XML -----------------------------------------------------------------------------------
    def alert_element(self, message: Message) -> ET.Element:
        """The <alert> element of a message (a Cancel carries no info: it only closes others)."""
        alert = ET.Element("alert", {"xmlns": CAP_NAMESPACE})
        for name, value in (("identifier", message.identifier), ("sender", SENDER),
                            ("sent", iso_local(message.sent, self.tz)), ("status", "Actual"),
                            ("msgType", message.msg_type), ("scope", "Public")):
            _child(alert, name, value)
        if message.references:
            _child(alert, "references", " ".join(f"{SENDER},{identifier},{iso_local(sent, self.tz)}"
                                                 for identifier, sent in message.references))
        if message.msg_type == "Cancel":
            _child(alert, "note", "The warning is cancelled: the rain has stopped.")
            return alert
        for info in message.infos:
            block = ET.SubElement(alert, "info")
            for name, value in (("language", info.language), ("category", "Met"), ("event", info.event),
                                ("responseType", "Avoid" if message.severity != "Minor" else "Monitor"),
                                ("urgency", message.urgency), ("severity", message.severity),
                                ("certainty", message.certainty),
                                ("effective", iso_local(message.sent, self.tz)),
                                ("onset", iso_local(message.onset, self.tz)),
                                ("expires", iso_local(message.expires, self.tz)),
                                ("senderName", "Yiyang Meteorological Observatory (CityOps demo)"),
                                ("headline", info.headline), ("description", info.description),
                                ("instruction", info.instruction)):
                _child(block, name, value)
            area = ET.SubElement(block, "area")
            _child(area, "areaDesc", info.area)
            _child(area, "polygon", message.polygon)
        return alert

    def atom(self, now: float, feed_url: str) -> bytes:
        """An Atom feed with one entry per current message, the CAP alert embedded in its content."""
        messages = self.current(now)
        day_start = local_day(now, self.tz) * DAY_S - utc_offset(now, self.tz)
        updated = max([m.sent for m in messages], default=float(day_start))
        feed = ET.Element("feed", {"xmlns": ATOM_NAMESPACE})
        _child(feed, "id", feed_url)
        _child(feed, "title", f"{self.city.name} Meteorological Observatory: warnings in force "
                              "(CityOps demo)")
        _child(feed, "updated", iso_local(updated, self.tz))
        author = ET.SubElement(feed, "author")
        _child(author, "name", "Yiyang Meteorological Observatory (CityOps demo)")
        ET.SubElement(feed, "link", {"rel": "self", "href": feed_url})
        for message in messages:
            entry = ET.SubElement(feed, "entry")
            _child(entry, "id", f"{feed_url}#{message.identifier}")
            title = message.infos[0].headline if message.msg_type != "Cancel" else \
                f"Cancelled: {message.infos[0].headline}"
            _child(entry, "title", title)
            _child(entry, "updated", iso_local(message.sent, self.tz))
            content = ET.SubElement(entry, "content", {"type": "application/cap+xml"})
            content.append(self.alert_element(message))
        return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def _child(parent: ET.Element, name: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, name)
    element.text = text
    return element


def cap_polygon(ring: Any) -> str:
    """A closed ring of (lon, lat) as a CAP polygon ("lat,lon lat,lon ..."), thinned to <= 60 points."""
    points = [(float(lon), float(lat)) for lon, lat in ring]
    if points[0] == points[-1]:
        points = points[:-1]
    step = max(1, math.ceil(len(points) / (MAX_POLYGON_POINTS - 1)))
    kept = points[::step] + [points[0]]
    return " ".join(f"{lat:.5f},{lon:.5f}" for lon, lat in kept)
