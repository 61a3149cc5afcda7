"""The demo city's citizen service requests as an Open311 GeoReport v2 server.

Requests arrive by the hour following a daily pattern (many by day, few at night); each has a
category with an expected resolution time (its SLA), is acknowledged after 10-100 minutes and
closed after 0.15 to 1.5 times its expected time, so about a quarter run past their SLA.
A few have no coordinates and some have multi-line descriptions or text with markup characters
(feed text is untrusted: screens must escape it). In the rainstorm, flooding and blocked-drain
reports pour in from the flooded district; the trickle (trickle.py) reports a flooded underpass now
and then. The arrival rate is chosen so that about ``target``
requests are open at any time, and everything is drawn per (hour, n) from the seed, so the list
at any time is computed, never stored.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import parse_qsl

import numpy as np

from data_adapters.simulator.city import CityModel, points_in_polygon
from data_adapters.simulator.patterns import local_hours, request_arrivals, uniform, utc_offset, zone
from data_adapters.simulator.scenario import Scenario
from data_adapters.simulator.trickle import Trickle, is_underpass_report

DEFAULT_REQUESTS = 200
MAX_REQUESTS = 100_000
CLOSED_LISTED_S = 24 * 3600   # a closed request stays in the full list this long
CHANGES_KEPT_S = 3 * 86_400    # updated_after reaches back this far completely
FACTOR_RANGE = (0.15, 1.5)    # resolution time / expected time: past the SLA above 1
UNLOCATED_SHARE = 0.03
MULTILINE_SHARE = 0.06
MARKUP_SHARE = 0.03
STORM_BUCKET_S = 600
POSTCODE = "413000"
HOTLINE = "Reported through the 12345 government service hotline."


@dataclass(frozen=True)
class Service:
    """A request category: Open311 service with its expected resolution time."""

    code: str
    name: str
    group: str
    expected_h: float
    weight: float
    agency: str
    texts: tuple[str, ...]


ROADS, LIGHTS = "Yiyang Road Maintenance Office", "Yiyang Municipal Lighting Office"
URBAN, DRAINS = "Yiyang Urban Management Bureau", "Yiyang Drainage Management Office"
SERVICES: tuple[Service, ...] = (
    Service("pothole", "Pothole", "Roads", 72, 0.16, ROADS,
            ("Deep pothole in the right lane", "Road surface broken after the works",
             "Sunken road surface")),
    Service("streetlight", "Street light out", "Streets and lighting", 48, 0.12, LIGHTS,
            ("Street light not working", "Three lamps dark on this block", "Light flickers all night")),
    Service("garbage", "Missed garbage collection", "Sanitation", 24, 0.14, URBAN,
            ("Bins not emptied since Monday", "Overflowing bins at the market",
             "Bulky waste left on pavement")),
    Service("graffiti", "Graffiti or illegal posters", "Sanitation", 120, 0.08, URBAN,
            ("Graffiti on the underpass wall", "Small ads pasted on the bus shelter",
             "Posters on the bridge rail")),
    Service("noise", "Noise complaint", "Public order", 12, 0.10, URBAN,
            ("Construction noise after 22:00", "Loud music from a shop", "Square dancing speakers too loud")),
    Service("water_leak", "Water leak in the street", "Water", 8, 0.07, "Yiyang Water Supply Company",
            ("Water bubbling up from the pavement", "Leaking hydrant", "Clean water running in the gutter")),
    Service("blocked_drain", "Blocked drain", "Drainage", 24, 0.07, DRAINS,
            ("Drain blocked with leaves", "Gully smells and does not drain",
             "Standing water over the drain")),
    Service("flooding", "Street flooding", "Drainage", 6, 0.02, DRAINS,
            ("Street under water", "Water up to the kerb, cars stalling", "Underpass flooded")),
    Service("fallen_tree", "Fallen tree or branch", "Parks and trees", 24, 0.05, "Yiyang Landscaping Bureau",
            ("Large branch across the cycle lane", "Tree leaning over the road",
             "Fallen tree blocks the pavement")),
    Service("illegal_parking", "Illegal parking", "Traffic", 4, 0.12, "Yiyang Traffic Police Detachment",
            ("Cars parked on the pavement", "Truck blocking the fire lane",
             "Double parking at the school gate")),
    Service("manhole", "Missing manhole cover", "Roads", 6, 0.07, ROADS,
            ("Manhole cover missing", "Cover broken and rocking", "Open manhole near the crossing")),
)
# Rainstorm reports: (service code, share).
STORM_MIX: tuple[tuple[str, float], ...] = (("flooding", 0.6), ("blocked_drain", 0.3), ("fallen_tree", 0.1))
MULTILINE_EXTRAS: tuple[str, ...] = (
    "It has been like this since yesterday.\nChildren walk here to school.",
    "Second report.\r\nThe first one was closed but nothing changed.",
    "Near the bus stop.\nPlease send someone before the evening rush.",
)
MARKUP_TEXTS: tuple[str, ...] = (
    'Poster says "<b>CALL NOW</b>" & lists a phone number',
    "Sign bent: <- arrow points the wrong way, drivers turn into the one-way street",
    "Shop writes 'sale 50% & more' in paint on the pavement; `script` kids copied it",
)


class RequestBook:
    """All service requests of the city at any time (``target`` open on average)."""

    def __init__(self, city: CityModel, seed: int = 1, target: int = DEFAULT_REQUESTS,
                 scenario: Scenario | None = None, trickle: Trickle | None = None) -> None:
        if not 0 <= target <= MAX_REQUESTS:
            raise ValueError(f"requests must be from 0 to {MAX_REQUESTS}")
        self.city, self.seed, self.target, self.scenario = city, seed, target, scenario
        self.trickle = trickle  # its flooded underpasses are reported here
        self.tz = zone(city.timezone)
        weights = np.array([s.weight for s in SERVICES])
        self._cumulative = np.cumsum(weights / weights.sum())
        self._expected_s = np.array([s.expected_h * 3600.0 for s in SERVICES])
        mean_factor = sum(FACTOR_RANGE) / 2
        mean_open_h = float((weights / weights.sum() * self._expected_s).sum()) * mean_factor / 3600.0
        self.rate_per_hour = target / mean_open_h
        # Requests filed earlier than this have no change within CHANGES_KEPT_S of any time.
        self.horizon_s = int(max(self._expected_s) * FACTOR_RANGE[1]) + CHANGES_KEPT_S
        self._nodes = np.array(city.nodes)
        self._node_xy = np.column_stack(city.to_xy(self._nodes[:, 0], self._nodes[:, 1]))
        self._code_index = {s.code: k for k, s in enumerate(SERVICES)}
        flooded = scenario.district.polygon if scenario else None
        self._flood_nodes = (np.flatnonzero(points_in_polygon(self._nodes[:, 0], self._nodes[:, 1], flooded))
                             if flooded else np.zeros(0, dtype=np.int64))

    # -- generation ----------------------------------------------------------------------------
    def generate(self, now: float) -> dict[str, np.ndarray]:
        """Every request filed in the horizon before ``now``, as columns (all filed at or before now)."""
        now_i = int(math.floor(now))
        first = (now_i - self.horizon_s) // 3600
        hours = np.arange(first, now_i // 3600 + 1, dtype=np.int64)
        expected = self.rate_per_hour * request_arrivals(local_hours(hours * 3600 + 1800, self.tz))
        jitter = 0.85 + 0.3 * uniform(self.seed, 90, hours, 0)
        # Rounded at random (floor of value + uniform), so fractional rates still arrive on average.
        counts = np.floor(expected * jitter + uniform(self.seed, 91, hours, 1)).astype(np.int64)
        counts = np.minimum(counts, 9999)
        bucket = np.repeat(hours, counts)
        n = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        key = bucket * 10_000 + n
        filed = bucket * 3600 + np.floor(uniform(self.seed, 92, key, 0) * 3600).astype(np.int64)
        service = np.searchsorted(self._cumulative, uniform(self.seed, 93, key, 0), side="right")
        node = np.floor(uniform(self.seed, 94, key, 0) * len(self._nodes)).astype(np.int64)
        service = np.minimum(service, len(SERVICES) - 1)
        columns = {"key": key, "filed": filed, "service": service, "node": node}
        if self.scenario is not None:
            columns = _concat(columns, self._storm(now_i))
        if self.trickle is not None:
            columns = _concat(columns, self.trickle.requests(now_i, self.horizon_s, self._nodes,
                                                             self._code_index["flooding"]))
        keep = columns["filed"] <= now_i
        columns = {k: v[keep] for k, v in columns.items()}
        key = columns["key"]
        factor = FACTOR_RANGE[0] + (FACTOR_RANGE[1] - FACTOR_RANGE[0]) * uniform(self.seed, 95, key, 0)
        expected_s = self._expected_s[columns["service"]]
        columns["expected"] = columns["filed"] + expected_s.astype(np.int64)
        columns["closed"] = columns["filed"] + np.rint(expected_s * factor).astype(np.int64)
        ack_delay = 600 + np.floor(5400 * uniform(self.seed, 96, key, 0)).astype(np.int64)
        columns["acked"] = columns["filed"] + ack_delay
        columns["style"] = uniform(self.seed, 97, key, 0)
        if self.trickle is not None:
            self.trickle.settle_requests(columns)
        return columns

    def _storm(self, now: int) -> dict[str, np.ndarray]:
        """The rainstorm's extra reports from the flooded district, in 10-minute buckets."""
        scenario = self.scenario
        assert scenario is not None
        begin = int(scenario.start) // STORM_BUCKET_S
        buckets = np.arange(begin, begin + 6 * 3600 // STORM_BUCKET_S, dtype=np.int64)
        normal = self.rate_per_hour * STORM_BUCKET_S / 3600.0
        peak = max(6.0, 3.0 * normal)
        level = scenario.level("requests", buckets * STORM_BUCKET_S + STORM_BUCKET_S / 2)
        counts = np.floor(peak * level + uniform(self.seed, 98, buckets, 0)).astype(np.int64)
        counts = np.where(level > 0, counts, 0)
        bucket = np.repeat(buckets, counts)
        n = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        # Their own key space (bucket numbers of 10 minutes are far above hour numbers * 10,000).
        key = 9 * 10 ** 12 + bucket * 1000 + n
        within = np.floor(uniform(self.seed, 99, key, 0) * STORM_BUCKET_S).astype(np.int64)
        filed = bucket * STORM_BUCKET_S + within
        shares = np.cumsum([share for _, share in STORM_MIX])
        pick = np.searchsorted(shares, uniform(self.seed, 100, key, 0) * shares[-1], side="right")
        codes = np.array([self._code_index[code] for code, _ in STORM_MIX], dtype=np.int64)
        service = codes[np.minimum(pick, len(STORM_MIX) - 1)]
        pool = self._flood_nodes if len(self._flood_nodes) else np.arange(len(self._nodes))
        node = pool[np.floor(uniform(self.seed, 101, key, 0) * len(pool)).astype(np.int64)]
        return {"key": key, "filed": filed, "service": service, "node": node}

    def open_count(self, now: float) -> int:
        """How many requests are open at ``now``."""
        columns = self.generate(now)
        return int((columns["closed"] > int(math.floor(now))).sum())

    # -- selection and output ------------------------------------------------------------------
    def select(self, now: float, params: Mapping[str, str]) -> dict[str, np.ndarray]:
        """The requests a GeoReport query asks for, newest filed first (ValueError for bad parameters)."""
        now_i = int(math.floor(now))
        c = self.generate(now)
        closed = c["closed"] <= now_i
        updated = np.where(closed, c["closed"], np.where(c["acked"] <= now_i, c["acked"], c["filed"]))
        c["updated"], c["is_closed"] = updated, closed
        after = _when(params.get("updated_after"), "updated_after", self.tz)
        before = _when(params.get("updated_before"), "updated_before", self.tz)
        start = _when(params.get("start_date"), "start_date", self.tz)
        end = _when(params.get("end_date"), "end_date", self.tz)
        if after is not None:
            keep = updated > after
        else:
            # The full list: what is open, and what closed within a day.
            keep = ~closed | (c["closed"] > now_i - CLOSED_LISTED_S)
        if before is not None:
            keep &= updated < before
        if start is not None:
            keep &= c["filed"] >= start
        if end is not None:
            keep &= c["filed"] <= end
        if params.get("status"):
            wanted = {s.strip().lower() for s in params["status"].split(",")}
            if not wanted <= {"open", "closed"}:
                raise ValueError("status must be open, closed or both")
            keep &= np.where(closed, "closed" in wanted, "open" in wanted)
        if params.get("service_code"):
            codes = [self._code_index.get(s.strip(), -1) for s in params["service_code"].split(",")]
            keep &= np.isin(c["service"], codes)
        if params.get("service_request_id"):
            ids = [int(s) for s in params["service_request_id"].split(",") if s.strip().isdigit()]
            keep &= np.isin(c["key"], ids)
        order = np.argsort(-c["filed"][keep], kind="stable")
        return {k: v[keep][order] for k, v in c.items()}

    def rows(self, columns: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
        """GeoReport v2 request objects for selected columns."""
        city, seed = self.city, self.seed
        n = len(columns["key"])
        stamps = {name: _iso_many(columns[name], self.tz) for name in ("filed", "updated", "expected")}
        style = columns["style"]
        key = columns["key"]
        node = columns["node"]
        dx = 240.0 * uniform(seed, 102, key, 0) - 120.0
        dy = 240.0 * uniform(seed, 102, key, 1) - 120.0
        at_node = is_underpass_report(key)  # an underpass is at the crossing itself
        dx, dy = np.where(at_node, 0.0, dx), np.where(at_node, 0.0, dy)
        lon, lat = city.to_lonlat(self._node_xy[node, 0] + dx, self._node_xy[node, 1] + dy)
        text_pick = np.floor(uniform(seed, 103, key, 0) * 3).astype(np.int64)
        out: list[dict[str, Any]] = []
        for k in range(n):
            service = SERVICES[int(columns["service"][k])]
            s = float(style[k])
            column, row = city.node_lines[int(node[k])]
            address: str | None = f"{city.row_names[row]} near {city.column_names[column]}"
            located = s >= UNLOCATED_SHARE
            if not located and s < UNLOCATED_SHARE / 2:
                address = None
            description = service.texts[int(text_pick[k])]
            if UNLOCATED_SHARE <= s < UNLOCATED_SHARE + MULTILINE_SHARE:
                description = f"{description}.\n{MULTILINE_EXTRAS[int(text_pick[k])]}\r\n{HOTLINE}"
            elif UNLOCATED_SHARE + MULTILINE_SHARE <= s < UNLOCATED_SHARE + MULTILINE_SHARE + MARKUP_SHARE:
                description = MARKUP_TEXTS[int(text_pick[k])]
            if self.trickle is not None and at_node[k]:
                description, address = self.trickle.underpass_report(int(key[k]))
            closed = bool(columns["is_closed"][k])
            acked = int(columns["acked"][k]) <= int(columns["updated"][k])
            notes = (f"Closed by {service.agency}" if closed else
                     f"Assigned to {service.agency}" if acked else None)
            out.append({
                "service_request_id": str(int(key[k])), "status": "closed" if closed else "open",
                "status_notes": notes, "service_name": service.name, "service_code": service.code,
                "description": description, "agency_responsible": service.agency, "service_notice": None,
                "requested_datetime": stamps["filed"][k], "updated_datetime": stamps["updated"][k],
                "expected_datetime": stamps["expected"][k], "address": address, "address_id": None,
                "zipcode": POSTCODE, "lat": round(float(lat[k]), 6) if located else None,
                "long": round(float(lon[k]), 6) if located else None, "media_url": None,
            })
        return out

    def services(self) -> list[dict[str, Any]]:
        """The GeoReport v2 service list."""
        return [{"service_code": s.code, "service_name": s.name,
                 "description": f"{s.name}: expected within {s.expected_h:g} hours by {s.agency}",
                 "metadata": False, "type": "realtime", "keywords": s.code.replace("_", " "),
                 "group": s.group}
                for s in SERVICES]

    # -- HTTP ----------------------------------------------------------------------------------
    def handle(self, path: str, query_string: str, now: float) -> tuple[int, bytes]:
        """(HTTP status, JSON) for a path below ``/open311/v2``; errors in the GeoReport error format."""
        params = dict(parse_qsl(query_string, keep_blank_values=True))
        if path == "/services.json":
            return 200, _json(self.services())
        try:
            if path == "/requests.json":
                return 200, _json(self.rows(self.select(now, params)))
            if path.startswith("/requests/") and path.endswith(".json"):
                wanted = path[len("/requests/"):-len(".json")]
                if wanted.isdigit():
                    found = self.rows(self.select(now, {"service_request_id": wanted,
                                                        "updated_after": "1970-01-01T00:00:00Z"}))
                    if found:
                        return 200, _json(found)
                return 404, _json([{"code": 404, "description": f"no service request {wanted}"}])
        except ValueError as exc:
            return 400, _json([{"code": 400, "description": str(exc)}])
        return 404, _json([{"code": 404, "description": f"no such endpoint: {path}"}])


def _concat(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([a[k], b[k]]) for k in a}


def _when(value: str | None, name: str, tz: dt.tzinfo) -> int | None:
    """A W3C date-time query parameter as whole POSIX seconds (zone-less ones in the city's zone)."""
    if value is None or value == "":
        return None
    try:
        moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name} must be a W3C date-time such as 2026-01-01T09:00:00Z, "
                         f"not {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return int(math.floor(moment.timestamp()))


def _iso_many(times: np.ndarray, tz: dt.tzinfo) -> list[str]:
    """ISO 8601 local date-times with offset for many POSIX times (vectorised for one offset)."""
    if len(times) == 0:
        return []
    low, high = utc_offset(float(times.min()), tz), utc_offset(float(times.max()), tz)
    if low != high:
        return [dt.datetime.fromtimestamp(int(t), tz).isoformat(timespec="seconds") for t in times.tolist()]
    sign = "+" if low >= 0 else "-"
    suffix = f"{sign}{abs(low) // 3600:02d}:{abs(low) % 3600 // 60:02d}"
    text = np.datetime_as_string((times + low).astype("datetime64[s]"), unit="s")
    return [f"{t}{suffix}" for t in text.tolist()]


def _json(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
