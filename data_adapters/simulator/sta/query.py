"""SensorThings query options ($top, $skip, $count, $orderby, $select, $expand), $filter and nextLink."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import quote, urlencode

from data_adapters.simulator.sta.errors import StaError

DEFAULT_TOP = 100
MAX_TOP = 1000
OPTIONS = frozenset({"$top", "$skip", "$count", "$orderby", "$select", "$expand", "$filter",
                     "$resultFormat"})
_TIME_CLAUSE = re.compile(r"^(phenomenonTime|resultTime)\s+(gt|ge|lt|le|eq)\s+(\S+)$", re.IGNORECASE)
_DATASTREAM_CLAUSE = re.compile(r"^Datastream/(?:@iot\.)?id\s+eq\s+'?(\d+)'?$", re.IGNORECASE)
_ORDER = re.compile(r"^(phenomenonTime|resultTime|@iot\.id|id)(?:\s+(asc|desc))?$", re.IGNORECASE)


@dataclass
class Query:
    """The query options of a request, or of one $expand item."""

    top: int | None = None
    skip: int = 0
    count: bool = False
    descending: bool = False
    order_by_id: bool = True
    filter: str | None = None
    select: list[str] | None = None
    expand: dict[str, "Query"] = field(default_factory=dict)

    @property
    def page_size(self) -> int:
        """$top, or the default page size without one."""
        return DEFAULT_TOP if self.top is None else self.top


def split_top(text: str, separator: str) -> list[str]:
    """``text`` split at ``separator`` outside parentheses and quotes."""
    parts, depth, quoted, start = [], 0, False, 0
    for k, char in enumerate(text):
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
            if depth < 0:
                raise StaError(400, f"unbalanced parentheses in {text!r}")
        elif not quoted and depth == 0 and char == separator:
            parts.append(text[start:k])
            start = k + 1
    if depth != 0 or quoted:
        raise StaError(400, f"unbalanced parentheses or quotes in {text!r}")
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def parse_query(options: Mapping[str, str]) -> Query:
    """The Query of a request's (or an expand item's) options; StaError(400) when one is invalid."""
    unknown = sorted(k for k in options if k not in OPTIONS)
    if unknown:
        raise StaError(400, f"unsupported query option(s): {', '.join(unknown)}")
    query = Query()
    if "$top" in options:
        query.top = min(_non_negative(options["$top"], "$top"), MAX_TOP)
    if "$skip" in options:
        query.skip = _non_negative(options["$skip"], "$skip")
    if "$count" in options:
        query.count = _parse_bool(options["$count"], "$count")
    if "$orderby" in options:
        query.order_by_id, query.descending = _parse_orderby(options["$orderby"])
    if options.get("$filter", "").strip():
        query.filter = options["$filter"].strip()
    if "$select" in options:
        query.select = [s.strip() for s in options["$select"].split(",") if s.strip()]
    if options.get("$resultFormat") not in (None, "", "default"):
        raise StaError(400, "only the default $resultFormat is supported")
    if options.get("$expand", "").strip():
        query.expand = parse_expand(options["$expand"])
    return query


def parse_expand(text: str) -> dict[str, Query]:
    """``Datastream($expand=Thing;$select=name),FeatureOfInterest`` or ``Datastream/Thing`` as a tree."""
    tree: dict[str, Query] = {}
    for item in split_top(text, ","):
        head, _, inner = item.partition("(")
        if inner and not inner.endswith(")"):
            raise StaError(400, f"malformed $expand item {item!r}")
        path = [p.strip() for p in head.split("/")]
        leaf = parse_query(_expand_options(inner[:-1]) if inner else {})
        node = tree
        for name in path[:-1]:
            node = node.setdefault(name, Query()).expand
        if path[-1] in node:
            node[path[-1]].expand.update(leaf.expand)
        else:
            node[path[-1]] = leaf
    return tree


def _expand_options(text: str) -> dict[str, str]:
    """The ``;``-separated options inside an $expand item's parentheses."""
    options: dict[str, str] = {}
    for option in split_top(text, ";"):
        key, eq, value = option.partition("=")
        if not eq:
            raise StaError(400, f"malformed option {option!r} in $expand")
        options[key.strip()] = value.strip()
    return options


def _non_negative(text: str, name: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise StaError(400, f"{name} must be a non-negative integer, not {text!r}") from None
    if value < 0:
        raise StaError(400, f"{name} must be a non-negative integer, not {text!r}")
    return value


def _parse_bool(text: str, name: str) -> bool:
    value = text.strip().lower()
    if value not in ("true", "false"):
        raise StaError(400, f"{name} must be true or false")
    return value == "true"


def _parse_orderby(text: str) -> tuple[bool, bool]:
    """(by @iot.id rather than time, descending) of a one-key $orderby."""
    keys = split_top(text, ",")
    match = _ORDER.match(keys[0]) if len(keys) == 1 else None
    if match is None:
        raise StaError(400, f"unsupported $orderby {text!r}: use phenomenonTime, "
                            "resultTime or @iot.id, asc or desc")
    return match.group(1).lower() in ("@iot.id", "id"), (match.group(2) or "asc").lower() == "desc"


def parse_time(text: str) -> float:
    """An ISO 8601 date-time with a zone as POSIX seconds (StaError 400 otherwise)."""
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise StaError(400, f"not an ISO 8601 date-time: {text!r}") from None
    if moment.tzinfo is None:
        raise StaError(400, f"a date-time in $filter needs a time zone: {text!r}")
    return moment.timestamp()


@dataclass
class ObservationFilter:
    """Whole-second bounds (inclusive) and a datastream restriction from a $filter."""

    low: float = -math.inf
    high: float = math.inf
    datastream: int | None = None

    def narrow(self, op: str, when: float) -> None:
        """Apply ``time op when``: readings fall on whole seconds, so strict bounds become inclusive ones."""
        if op in ("gt", "ge", "eq"):
            self.low = max(self.low, math.floor(when) + 1 if op == "gt" else math.ceil(when))
        if op in ("lt", "le", "eq"):
            self.high = min(self.high, math.ceil(when) - 1 if op == "lt" else math.floor(when))


def parse_observation_filter(text: str | None) -> ObservationFilter:
    """The bounds of an Observations $filter; StaError(400) for anything outside the supported subset."""
    found = ObservationFilter()
    if not text:
        return found
    for clause in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        # Grouping parentheses change nothing in a conjunction; dates never contain any.
        clause = clause.strip().strip("()").strip()
        time_match = _TIME_CLAUSE.match(clause)
        if time_match:
            found.narrow(time_match.group(2).lower(), parse_time(time_match.group(3)))
            continue
        ds_match = _DATASTREAM_CLAUSE.match(clause)
        if ds_match:
            found.datastream = int(ds_match.group(1))
            continue
        raise StaError(400, f"unsupported $filter clause {clause!r}: the demo server filters "
                            "Observations on phenomenonTime/resultTime and Datastream/@iot.id")
    return found


def next_link(url: str, options: Mapping[str, str], skip: int, top: int) -> str:
    """The URL of the next page: the request's options with $top and $skip moved on."""
    moved = {k: v for k, v in options.items() if k not in ("$skip", "$top")}
    moved.update({"$top": str(top), "$skip": str(skip)})
    return f"{url}?{urlencode(moved, quote_via=quote, safe='$/,:()')}"
