"""How each setting is declared (``setting``, ``section``) and read: one parser per kind of value,
each raising ValueError for the loader to turn into a ConfigError naming the key."""

from __future__ import annotations

import re
from dataclasses import field
from pathlib import Path
from typing import Any, Callable, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SECRET_KEY_FILE = "secret_key"
MIN_SECRET_KEY_LENGTH = 32


class ConfigError(ValueError):
    """A configuration value is missing, malformed or out of range."""


# -- parsers: each takes a TOML value or an environment string, raises ValueError when it is wrong --
def parse_int(lo: int, hi: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError
        number = int(str(value).strip()) if isinstance(value, str) else value
        if not isinstance(number, int) or not lo <= number <= hi:
            raise ValueError
        return number

    return parse


def parse_float(lo: float, hi: float) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
        if not lo <= number <= hi:
            raise ValueError
        return number

    return parse


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError


# redis+cluster:// and rediss+cluster:// name a Redis Cluster by one or more seed nodes.
_REDIS_URL = re.compile(r"^(redis|rediss|unix|redis\+cluster|rediss\+cluster)://\S+$")


def parse_redis_url(value: Any) -> str | None:
    text = str(value).strip()
    if not text:
        return None
    if not _REDIS_URL.match(text):
        raise ValueError
    return text


# Parts of keys copied from examples and templates: such a key is public, whatever its length.
WEAK_SECRET_MARKERS = ("changeme", "change-me", "change_me", "replaceme", "replace-me", "insecure",
                       "example", "secretkey", "secret-key", "secret_key", "password", "default",
                       "notsecret", "not-secret", "development", "0123456789")
MIN_SECRET_DISTINCT = 8


def weak_secret_reason(key: str) -> str | None:
    """Why ``key`` cannot sign sessions (a template value, too few kinds of character, a repeated
    pattern), or None when it may. The reason never quotes the key."""
    lowered = key.lower()
    marker = next((m for m in WEAK_SECRET_MARKERS if m in lowered), None)
    if marker is not None:
        return f"it contains the placeholder text '{marker}'"
    if len(set(key)) < MIN_SECRET_DISTINCT:
        return f"it uses fewer than {MIN_SECRET_DISTINCT} different characters"
    for period in range(1, len(key) // 2 + 1):
        if len(key) % period == 0 and key == key[:period] * (len(key) // period):
            return "it repeats a short pattern"
    return None


def parse_secret(value: Any) -> str | None:
    text = str(value).strip()
    if not text:
        return None
    # Refused here, so `cityops up` stops with the reason instead of booting a web server that
    # cannot start.
    if len(text) < MIN_SECRET_KEY_LENGTH or weak_secret_reason(text) is not None:
        raise ValueError
    return text


_HOST = re.compile(r"^[A-Za-z0-9.:\-\[\]]{1,253}$")


def parse_host(value: Any) -> str:
    text = str(value).strip()
    if not _HOST.match(text):
        raise ValueError
    return text


def parse_path(value: Any) -> Path:
    text = str(value).strip()
    if not text or "\x00" in text:
        raise ValueError
    return Path(text).expanduser().resolve()


def parse_timezone(value: Any) -> str:
    text = str(value).strip()
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError from None
    return text


def parse_bounds(value: Any) -> tuple[float, float, float, float] | None:
    """[min_lat, min_lon, max_lat, max_lon] (a TOML array, or "28.2,111.9,28.9,112.8"); "": none."""
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()] or None
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 4 or any(isinstance(v, bool) for v in value):
        raise ValueError
    box = tuple(float(v) for v in value)
    if not (-90 <= box[0] < box[2] <= 90 and -180 <= box[1] < box[3] <= 180):
        raise ValueError
    return box  # type: ignore[return-value]


_TILE_URL = re.compile(r"^https?://[^\s\"'<>]+$")


def parse_tile_url(value: Any) -> str | None:
    """An http(s) tile URL template naming {z}, {x} and {y}; empty means none."""
    text = str(value).strip()
    if not text:
        return None
    if not _TILE_URL.match(text) or not all(part in text for part in ("{z}", "{x}", "{y}")):
        raise ValueError
    return text


_FEED_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def parse_feeds(value: Any) -> tuple[Mapping[str, Any], ...]:
    if not isinstance(value, list):
        raise ValueError
    feeds = []
    for table in value:
        if (not isinstance(table, dict) or not _FEED_NAME.match(str(table.get("name", "")))
                or not isinstance(table.get("adapter"), str)):
            raise ValueError
        feeds.append(dict(table))
    names = [f["name"] for f in feeds]
    if len(set(names)) != len(names):
        raise ValueError
    return tuple(feeds)


_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_night_window(value: Any) -> tuple[int, int]:
    """"HH:MM-HH:MM" (start before end, within one local day) as minutes after midnight."""
    match = _CLOCK.match(str(value)) if isinstance(value, str) else None
    if not match:
        raise ValueError
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if m1 > 59 or m2 > 59 or not 0 <= start < end <= 24 * 60:
        raise ValueError
    return start, end


def parse_number_table(value: Any, parse: Callable[[Any], float]) -> dict[str, float]:
    """name -> number: a TOML table, or "name=1.5, other=3" in a variable."""
    if isinstance(value, str):
        pairs = [part.partition("=") for part in value.split(",") if part.strip()]
        if any(not sep for _, sep, _ in pairs):
            raise ValueError
        value = {name.strip(): number.strip() for name, _, number in pairs}
    if not isinstance(value, dict):
        raise ValueError
    table = {}
    for name, number in value.items():
        if not isinstance(name, str) or not name or len(name) > 100:
            raise ValueError
        table[name] = parse(number)
    return table


def parse_baselines(value: Any) -> dict[str, float]:
    """Zone -> night-flow baseline (m3/h)."""
    return parse_number_table(value, parse_float(0.0, 1e9))


def parse_metric_days(value: Any) -> dict[str, float]:
    """Metric -> days its readings' history is kept (0: none)."""
    return parse_number_table(value, parse_float(0.0, 366.0))



def setting(default: Any, env: str, parse: Callable[[Any], Any], expected: str) -> Any:
    """Declare one setting: its default, environment variable, parser and what it expects."""
    meta = {"env": env, "parse": parse, "expected": expected}
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def section(kind: type) -> Any:
    """A section of settings (the TOML table of the same name)."""
    return field(default_factory=kind, metadata={"section": True})


_EMAIL = re.compile(r"^[^@\s<>\"',;]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def parse_public_url(value: Any) -> str | None:
    """The command center's address as people and other systems reach it (links in webhooks,
    e-mails and the public feed); "" for none."""
    text = str(value).strip().rstrip("/")
    if not text:
        return None
    if not re.fullmatch(r"https?://[^\s\"'<>?#]+", text):
        raise ValueError
    return text


def parse_optional_text(value: Any) -> str | None:
    text = str(value).strip()
    if any(ord(c) < 32 for c in text):
        raise ValueError
    return text or None


def parse_language(value: Any) -> str:
    if value not in ("en", "zh"):
        raise ValueError
    return str(value)


def parse_addresses(value: Any) -> tuple[str, ...]:
    """E-mail addresses: a TOML array, or "a@x.org,b@y.org"."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) and _EMAIL.match(v) for v in value):
        raise ValueError
    return tuple(value)


def parse_sender(value: Any) -> str:
    if not isinstance(value, str) or not (_EMAIL.match(value) or re.fullmatch(r"[^@\s]+@localhost", value)):
        raise ValueError
    return value


def parse_address_table(value: Any) -> dict[str, str]:
    """Department -> e-mail address: a TOML table, or "water=w@x.org,medical=m@x.org"."""
    if isinstance(value, str):
        pairs = [part.split("=", 1) for part in value.split(",") if part.strip()]
        if any(len(pair) != 2 for pair in pairs):
            raise ValueError
        value = {k.strip(): v.strip() for k, v in pairs}
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and k and isinstance(v, str) and _EMAIL.match(v) for k, v in value.items()):
        raise ValueError
    return dict(value)
