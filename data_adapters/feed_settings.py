"""Feed configuration schemas: the keys every [[feeds]] table has, and one-line errors naming the key.

Each adapter declares its ``[[feeds]]`` keys as a pydantic model (``settings_model``), derived from
:class:`FeedSettings` (the keys every feed has) or :class:`HttpFeedSettings` (plus ``url`` and
``timeout_s``). A field says its type, default, range and allowed values, and its meaning in
``description``: the adapters' README tables are rendered from the same fields
(data_adapters/config_docs.py), so the documentation and the checks cannot drift apart.

Models forbid unknown keys (a misspelt key is an error, not a silently ignored line) and are
strict: TOML gives typed values, so ``"30"`` is not a number and ``2.0`` is not an integer.
:func:`describe_error` turns pydantic's report into one line such as
``interval_s: expected a number from 0.1 to 604800, got 'soon'``; base.Adapter prefixes the feed.
"""

from __future__ import annotations

import difflib
import types
from typing import Any, Literal, Mapping, Union, get_args, get_origin
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

# The names app/config.py accepts for [[feeds]]; id prefixes follow the same rule, since both
# start every entity id ("<prefix>:<kind>:<id>") and a ':' in them would split ids wrongly.
FEED_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"  # pydantic-core regex: $ is the very end
# Any scheme: `cityops ingest` builds HTTP adapters for a recorded file ("file://recorded");
# http_get refuses other schemes when a feed is polled.
URL_PATTERN = r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$"
NAME_EXPECTED = "lowercase letters, digits, '-' and '_' (at most 64, starting with a letter or digit)"
MIN_INTERVAL_S = 0.1
MAX_INTERVAL_S = 7 * 86_400.0  # weekly: the slowest schedule a feed (a GTFS zip) plausibly has
MAX_AGE_S = 31 * 86_400.0
MAX_TIMEOUT_S = 600.0
_SHOWN_CHARS = 80  # a value quoted in an error is cut here: one line, whatever was configured


def setting(default: Any = PydanticUndefined, *, description: str, expected: str | None = None,
            default_text: str | None = None, secret: bool = False, **constraints: Any) -> Any:
    """A configuration field: ``Field`` with its description and the documentation extras.

    ``expected`` words what a valid value is, where the type and range do not say it well
    (a time zone, a topic filter); ``default_text`` documents a default computed from other keys
    ("3 × interval_s"); ``secret`` keeps the value out of error messages.
    """
    extra: dict[str, Any] = {}
    if expected is not None:
        extra["expected"] = expected
    if default_text is not None:
        extra["default_text"] = default_text
    if secret:
        extra["secret"] = True
    return Field(default, description=description, json_schema_extra=extra or None, **constraints)


def interval_setting(default: float, description: str = "seconds between polls") -> Any:
    """The ``interval_s`` field with an adapter's own default."""
    return setting(default, ge=MIN_INTERVAL_S, le=MAX_INTERVAL_S, description=description)


def timeout_setting() -> Any:
    """The ``timeout_s`` field of adapters that poll over HTTP."""
    return setting(None, ge=MIN_INTERVAL_S, le=MAX_TIMEOUT_S, default_text="min(interval_s, 10)",
                   description="seconds to wait for each HTTP answer")


def tz_setting(default: str, description: str) -> Any:
    """A time zone field (checked by :func:`check_time_zone` in the model)."""
    return setting(default, min_length=1, description=description,
                   expected="an IANA time zone name such as 'Asia/Shanghai' or 'UTC'")


def check_time_zone(value: str) -> str:
    """``value`` when it names a time zone this system knows; for a field validator."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError() from None  # the expected text says what a zone name is
    return value


def check_url(value: str, schemes: tuple[str, ...]) -> str:
    """``value`` when it is a URL of one of ``schemes`` with a host (and a valid port)."""
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError(f"the scheme must be {' or '.join(schemes)}, with a host")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when it is read
    except ValueError:
        raise ValueError("invalid port") from None
    return value


# -- the keys every feed has ------------------------------------------------------------------------
class FeedSettings(BaseModel):
    """The keys of every feed's [[feeds]] table."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)

    name: str | None = setting(
        None, pattern=FEED_NAME_PATTERN, expected=NAME_EXPECTED, default_text="required",
        description="unique feed name; prefixes the feed's ids and names its health record and "
                    "dead letters")
    adapter: str | None = setting(
        None, default_text="required",
        description="which adapter reads the feed (a name in data_adapters/registry.py)")
    interval_s: float = interval_setting(15.0)
    freshness_budget_s: float | None = setting(
        None, ge=MIN_INTERVAL_S, le=MAX_AGE_S, default_text="3 × interval_s",
        description="age after which the feed shows as stale when no poll has succeeded")
    max_lag_s: float | None = setting(
        None, ge=MIN_INTERVAL_S, le=MAX_AGE_S,
        description="an answer whose own timestamp is older than this is not fresh data (a feed "
                    "frozen on one snapshot goes stale); not checked when unset")
    id_prefix: str | None = setting(
        None, pattern=FEED_NAME_PATTERN, expected=NAME_EXPECTED, default_text="the feed name",
        description="starts every id instead of the feed name, so that feeds of one system "
                    "(vehicles and trip updates, a utility's gateways) meet")


class OpenFeedSettings(FeedSettings):
    """For an adapter that declares no schema of its own (a test double): other keys pass unchecked.

    Every registered adapter declares its own model (tests/unit/test_feed_schemas.py checks it).
    """

    model_config = ConfigDict(extra="allow")


class HttpFeedSettings(FeedSettings):
    """A feed polled with one HTTP GET of ``url``."""

    url: str = setting(
        pattern=URL_PATTERN,
        expected="an http(s) URL such as 'https://host/path'",
        description="the URL polled with GET")
    timeout_s: float | None = timeout_setting()


# -- one line per problem ---------------------------------------------------------------------------
def _constraints(field: FieldInfo) -> dict[str, Any]:
    """The bounds and length limits of a field, by name (ge, gt, le, lt, min_length, ...)."""
    out: dict[str, Any] = {}
    for item in field.metadata:
        for name in ("ge", "gt", "le", "lt", "min_length", "max_length"):
            value = getattr(item, name, None)
            if value is not None:
                out[name] = value
    return out


def _number(value: Any) -> str:
    """A bound as a person writes it: 86400, not 86400.0."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _range(limits: Mapping[str, Any]) -> str:
    """" from 0.1 to 86400", " greater than 0 and at most 600", ... ("" without bounds)."""
    low = next(((name, limits[name]) for name in ("ge", "gt") if name in limits), None)
    high = next(((name, limits[name]) for name in ("le", "lt") if name in limits), None)
    if low and high and (low[0], high[0]) == ("ge", "le"):
        return f" from {_number(low[1])} to {_number(high[1])}"
    parts = []
    if low:
        parts.append(f"{'of at least' if low[0] == 'ge' else 'greater than'} {_number(low[1])}")
    if high:
        word = ("at most" if low else "of at most") if high[0] == "le" else "below"
        parts.append(f"{word} {_number(high[1])}")
    return " " + " and ".join(parts) if parts else ""


def _members(annotation: Any) -> list[Any]:
    """The types of a union, without None (TOML cannot write null: None is only a default)."""
    if get_origin(annotation) in (Union, types.UnionType):
        return [arg for arg in get_args(annotation) if arg is not type(None)]
    return [annotation]


def _kind(annotation: Any, limits: Mapping[str, Any]) -> str:
    """What a value of ``annotation`` is, in words ("a number from 0.1 to 60", "text")."""
    phrases = []
    for member in _members(annotation):
        origin = get_origin(member)
        if origin is Literal:
            phrases.append("one of " + ", ".join(repr(v) for v in get_args(member)))
        elif member is bool:
            phrases.append("true or false")
        elif member is int:
            phrases.append("an integer" + _range(limits))
        elif member is float:
            phrases.append("a number" + _range(limits))
        elif member is str:
            phrases.append("non-empty text" if limits.get("min_length") else "text")
        elif origin is list:
            (item,) = get_args(member)
            phrases.append("a list of " + ("text" if item is str else "numbers" if item is float
                                           else str(item)))
        elif origin is dict:
            phrases.append("a table of text = text")
        else:
            phrases.append(getattr(member, "__name__", str(member)))
    return " or ".join(phrases)


def _extra(field: FieldInfo) -> Mapping[str, Any]:
    return field.json_schema_extra if isinstance(field.json_schema_extra, Mapping) else {}


def expected_of(field: FieldInfo) -> str:
    """What a valid value of ``field`` is, in words: its ``expected`` text, else type and range."""
    return str(_extra(field).get("expected") or _kind(field.annotation, _constraints(field)))


def default_of(field: FieldInfo) -> str | None:
    """How the default is documented when it is not a plain value ("3 × interval_s"), else None."""
    text = _extra(field).get("default_text")
    return str(text) if text is not None else None


def shown(value: Any, *, secret: bool = False) -> str:
    """A configured value as an error message quotes it: repr, cut to one short line."""
    if secret:
        return f"a value of type {type(value).__name__} (not shown: a secret)"
    text = repr(value).replace("\n", "\\n")
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS - 3] + "..."


def _one(model: type[FeedSettings], config: Mapping[str, Any], error: Any) -> str:
    """One pydantic error as a phrase naming the key."""
    loc = error.get("loc") or ()
    kind = error.get("type", "")
    context_error = (error.get("ctx") or {}).get("error")
    reason = str(context_error) if context_error is not None else ""
    if not loc:  # a check across keys (a model validator): its message names the keys
        return reason or str(error.get("msg", "invalid configuration"))
    key = loc[0]
    fields = model.model_fields
    if kind == "extra_forbidden":
        known = sorted(fields)
        close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.7)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"unknown key {key!r} ({hint}known: {', '.join(known)})"
    field = fields.get(str(key))
    if field is None:  # not reachable with forbidden extras; kept so that a message results
        return f"{key}: {error.get('msg', 'invalid value')}"
    if kind == "missing":
        return f"missing key {key!r}: expected {expected_of(field)}"
    secret = bool(_extra(field).get("secret"))
    text = f"{key}: expected {expected_of(field)}, got {shown(config.get(str(key)), secret=secret)}"
    # A validator's reason says which part is wrong (an entry of a table, the port of a URL).
    return f"{text} ({reason})" if kind == "value_error" and reason else text


def describe_error(model: type[FeedSettings], config: Mapping[str, Any],
                   exc: ValidationError) -> tuple[str | None, str]:
    """(the first bad key, one line saying what is wrong with it and what is expected).

    An unknown key comes first (a misspelt key usually also makes its correct spelling missing);
    further problems are counted, not listed, so the line stays one line.
    """
    errors = sorted(exc.errors(include_url=False), key=lambda e: e.get("type") != "extra_forbidden")
    first = errors[0]
    keys = {str(e["loc"][0]) if e.get("loc") else "" for e in errors}
    key = str(first["loc"][0]) if first.get("loc") else None
    more = len(keys) - 1
    suffix = f"; and {more} more problem{'s' if more > 1 else ''}" if more > 0 else ""
    return key, _one(model, config, first) + suffix
