"""Settings of a CityOps installation, read from defaults, a TOML file and the environment.

Precedence, lowest first: built-in defaults, the TOML file named by ``CITYOPS_CONFIG``,
then ``CITYOPS_*`` environment variables. Each setting is declared once, as a field of its
section (``settings.web.port`` is the TOML key ``web.port``) carrying its default, variable,
parser and what it expects; the loader, the README's table and ``cityops --help`` read those
declarations. Every bad value raises :class:`ConfigError` naming the key and what was expected,
so an operator never has to read a traceback.
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SECRET_KEY_FILE = "secret_key"
MIN_SECRET_KEY_LENGTH = 32


class ConfigError(ValueError):
    """A configuration value is missing, malformed or out of range."""


# -- parsers: each takes a TOML value or an environment string, raises ValueError when it is wrong --
def _parse_int(lo: int, hi: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError
        number = int(str(value).strip()) if isinstance(value, str) else value
        if not isinstance(number, int) or not lo <= number <= hi:
            raise ValueError
        return number

    return parse


def _parse_float(lo: float, hi: float) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
        if not lo <= number <= hi:
            raise ValueError
        return number

    return parse


def _parse_bool(value: Any) -> bool:
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


def _parse_redis_url(value: Any) -> str | None:
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


def _parse_secret(value: Any) -> str | None:
    text = str(value).strip()
    if not text:
        return None
    # Refused here, so `cityops up` stops with the reason instead of booting a web server that
    # cannot start.
    if len(text) < MIN_SECRET_KEY_LENGTH or weak_secret_reason(text) is not None:
        raise ValueError
    return text


_HOST = re.compile(r"^[A-Za-z0-9.:\-\[\]]{1,253}$")


def _parse_host(value: Any) -> str:
    text = str(value).strip()
    if not _HOST.match(text):
        raise ValueError
    return text


def _parse_path(value: Any) -> Path:
    text = str(value).strip()
    if not text or "\x00" in text:
        raise ValueError
    return Path(text).expanduser().resolve()


def _parse_timezone(value: Any) -> str:
    text = str(value).strip()
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError from None
    return text


_TILE_URL = re.compile(r"^https?://[^\s\"'<>]+$")


def _parse_tile_url(value: Any) -> str | None:
    """An http(s) tile URL template naming {z}, {x} and {y}; empty means none."""
    text = str(value).strip()
    if not text:
        return None
    if not _TILE_URL.match(text) or not all(part in text for part in ("{z}", "{x}", "{y}")):
        raise ValueError
    return text


_FEED_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def _parse_feeds(value: Any) -> tuple[Mapping[str, Any], ...]:
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


def _parse_night_window(value: Any) -> tuple[int, int]:
    """"HH:MM-HH:MM" (start before end, within one local day) as minutes after midnight."""
    match = _CLOCK.match(str(value)) if isinstance(value, str) else None
    if not match:
        raise ValueError
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if m1 > 59 or m2 > 59 or not 0 <= start < end <= 24 * 60:
        raise ValueError
    return start, end


def _parse_number_table(value: Any, parse: Callable[[Any], float]) -> dict[str, float]:
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


def _parse_baselines(value: Any) -> dict[str, float]:
    """Zone -> night-flow baseline (m3/h)."""
    return _parse_number_table(value, _parse_float(0.0, 1e9))


def _parse_metric_days(value: Any) -> dict[str, float]:
    """Metric -> days its readings' history is kept (0: none)."""
    return _parse_number_table(value, _parse_float(0.0, 366.0))



def setting(default: Any, env: str, parse: Callable[[Any], Any], expected: str) -> Any:
    """Declare one setting: its default, environment variable, parser and what it expects."""
    meta = {"env": env, "parse": parse, "expected": expected}
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def section(kind: type) -> Any:
    """A section of settings (the TOML table of the same name)."""
    return field(default_factory=kind, metadata={"section": True})


@dataclass(frozen=True)
class WebSettings:
    """The web server ([web])."""

    host: str = setting("127.0.0.1", "CITYOPS_HOST", _parse_host, "a host name or IP address")
    port: int = setting(8050, "CITYOPS_PORT", _parse_int(1, 65535), "an integer from 1 to 65535")
    workers: int = setting(2, "CITYOPS_WEB_WORKERS", _parse_int(1, 64), "an integer from 1 to 64")
    threads: int = setting(8, "CITYOPS_WEB_THREADS", _parse_int(1, 64), "an integer from 1 to 64")
    # A web worker past this resident memory is replaced after its current requests (0: never).
    worker_max_mb: int = setting(1024, "CITYOPS_WEB_WORKER_MAX_MB", _parse_int(0, 1_048_576),
                                 "a number of MB (0: no limit)")
    session_hours: int = setting(12, "CITYOPS_SESSION_HOURS", _parse_int(1, 168),
                                 "an integer from 1 to 168")
    secure_cookies: bool = setting(False, "CITYOPS_SECURE_COOKIES", _parse_bool, "true or false")
    # How many reverse proxies stand in front of the web server; their X-Forwarded-* headers are
    # believed for that many hops (0: the headers are ignored, anyone could forge them).
    trusted_proxies: int = setting(0, "CITYOPS_TRUSTED_PROXIES", _parse_int(0, 5),
                                   "an integer from 0 to 5 (how many reverse proxies stand in front)")
    secret_key: str | None = setting(
        None, "CITYOPS_SECRET_KEY", _parse_secret,
        f"a random string of at least {MIN_SECRET_KEY_LENGTH} characters (no template text, no "
        "repeated pattern)")


@dataclass(frozen=True)
class RedisSettings:
    """Where the data lives ([redis]); no URL means the embedded redis-server."""

    url: str | None = setting(
        None, "CITYOPS_REDIS_URL", _parse_redis_url,
        "a URL like redis://host:6379/0, rediss://..., unix:///path/redis.sock or, for a Redis "
        "Cluster, redis+cluster://host:7000[,host2:7000]")
    # The embedded Redis is killed and restarted when alive but silent this long (a hang).
    hung_seconds: float = setting(30.0, "CITYOPS_REDIS_HUNG_SECONDS", _parse_float(2.0, 3600.0),
                                  "a number of seconds from 2 to 3600")

    @property
    def embedded(self) -> bool:
        """True when CityOps runs its own redis-server instead of using ``url``."""
        return not self.url


@dataclass(frozen=True)
class RunnerSettings:
    """The adapter runner ([runner])."""

    heartbeat_seconds: float = setting(5.0, "CITYOPS_HEARTBEAT_SECONDS", _parse_float(0.2, 300.0),
                                       "a number of seconds from 0.2 to 300")


@dataclass(frozen=True)
class CitySettings:
    """The city ([city])."""

    timezone: str = setting("Asia/Shanghai", "CITYOPS_TIMEZONE", _parse_timezone,
                            "an IANA time zone name such as Asia/Shanghai")


@dataclass(frozen=True)
class AlertSettings:
    """Alert rules ([alerts]); no file means the shipped app/alerts/default_rules.toml."""

    rules_file: Path | None = setting(None, "CITYOPS_ALERT_RULES", _parse_path,
                                      "the path of a TOML alert rules file (docs/alerts.md)")


@dataclass(frozen=True)
class MapSettings:
    """The map ([map]); no tile URL means the offline basemap only."""

    tile_url: str | None = setting(
        None, "CITYOPS_MAP_TILE_URL", _parse_tile_url,
        "an http(s) tile URL template with {z}, {x} and {y}, such as "
        "https://tiles.example.org/{z}/{x}/{y}.png (empty: the offline basemap only)")


@dataclass(frozen=True)
class DemoSettings:
    """The demo city ([demo]): how large it is and its seed."""

    vehicles: int = setting(300, "CITYOPS_DEMO_VEHICLES", _parse_int(1, 50_000),
                            "an integer from 1 to 50000")
    seed: int = setting(1, "CITYOPS_DEMO_SEED", _parse_int(0, 2**31 - 1), "a non-negative integer")
    sensors: int = setting(120, "CITYOPS_DEMO_SENSORS", _parse_int(15, 20_000),
                           "an integer from 15 to 20000")
    hospitals: int = setting(8, "CITYOPS_DEMO_HOSPITALS", _parse_int(1, 2_000),
                             "an integer from 1 to 2000")
    ambulances: int = setting(12, "CITYOPS_DEMO_AMBULANCES", _parse_int(0, 2_000),
                              "an integer from 0 to 2000")
    requests: int = setting(200, "CITYOPS_DEMO_REQUESTS", _parse_int(0, 100_000),
                            "an integer from 0 to 100000")


@dataclass(frozen=True)
class HistorySettings:
    """How long the history of readings and KPIs is kept ([history]; docs/data.md)."""

    readings_days: float = setting(7.0, "CITYOPS_HISTORY_READINGS_DAYS", _parse_float(0.0, 366.0),
                                   "a number of days from 0 (none kept) to 366")
    kpis_days: float = setting(90.0, "CITYOPS_HISTORY_KPIS_DAYS", _parse_float(0.0, 3660.0),
                               "a number of days from 0 (none kept) to 3660")
    # A vehicle's delay every few seconds would cost gigabytes a week: on-time performance is a
    # KPI, kept 90 days; the readings of places (sensors, hospitals) are the history worth having.
    metric_days: Mapping[str, float] = setting(
        {"delay_s": 0.0}, "CITYOPS_HISTORY_METRIC_DAYS", _parse_metric_days,
        "a table of metric = days, overriding readings_days (in a variable: \"delay_s=0,level_m=30\")")

    def days_of(self, metric: str) -> float:
        """How many days the readings of ``metric`` are kept."""
        return self.metric_days.get(metric, self.readings_days)


_PCT_100 = (_parse_float(0.0, 100.0), "a percentage from 0 to 100")
_PCT_1000 = (_parse_float(0.0, 1000.0), "a percentage from 0 to 1000")
_HOURS = (_parse_float(0.1, 8760.0), "a number of hours from 0.1 to 8760")


def _kpi(default: Any, parse_expected: tuple[Callable[[Any], Any], str], name: str) -> Any:
    return setting(default, f"CITYOPS_KPI_{name.upper()}", *parse_expected)


@dataclass(frozen=True)
class KpiSettings:
    """KPI targets and limits ([kpis]; docs/kpis.md explains each). The map classes its sensors,
    reservoirs and hospitals by the same limits."""

    water_max_age_s: float = _kpi(900.0, (_parse_float(10.0, 86_400.0),
                                          "a number of seconds from 10 to 86400"), "water_max_age_s")
    pressure_min_bar: float = _kpi(2.0, (_parse_float(0.0, 100.0), "a pressure in bar from 0 to 100"),
                                   "pressure_min_bar")
    pressure_bad_bar: float = _kpi(1.5, (_parse_float(0.0, 100.0), "a pressure in bar from 0 to 100"),
                                   "pressure_bad_bar")
    reservoir_min_m: float = _kpi(2.0, (_parse_float(0.0, 1000.0), "a level in metres from 0 to 1000"),
                                  "reservoir_min_m")
    reservoir_bad_m: float = _kpi(1.0, (_parse_float(0.0, 1000.0), "a level in metres from 0 to 1000"),
                                  "reservoir_bad_m")
    turbidity_max_ntu: float = _kpi(1.0, (_parse_float(0.0, 4000.0), "a turbidity in NTU from 0 to 4000"),
                                    "turbidity_max_ntu")
    free_chlorine_min_mgl: float = _kpi(0.05, (_parse_float(0.0, 100.0),
                                               "a concentration in mg/L from 0 to 100"),
                                        "free_chlorine_min_mgl")
    free_chlorine_max_mgl: float = _kpi(5.0, (_parse_float(0.0, 100.0),
                                              "a concentration in mg/L from 0 to 100"),
                                        "free_chlorine_max_mgl")
    quality_target_pct: float = _kpi(100.0, _PCT_100, "quality_target_pct")
    quality_bad_pct: float = _kpi(95.0, _PCT_100, "quality_bad_pct")
    night_window: tuple[int, int] = _kpi(
        (120, 240), (_parse_night_window, "local times \"HH:MM-HH:MM\", start before end, such as "
                                          "\"02:00-04:00\""), "night_window")  # 02:00-04:00
    leak_margin_pct: float = _kpi(20.0, _PCT_1000, "leak_margin_pct")
    leak_min_excess_m3h: float = _kpi(1.0, (_parse_float(0.0, 1e6), "a flow in m3/h from 0 to 1000000"),
                                      "leak_min_excess_m3h")
    leak_learn_nights: int = _kpi(7, (_parse_int(3, 60), "an integer from 3 to 60"), "leak_learn_nights")
    night_flow_baseline_m3h: Mapping[str, float] = _kpi(
        {}, (_parse_baselines, "a table of zone = flow in m3/h (in a variable: \"zone=1.5,other=3\")"),
        "night_flow_baseline_m3h")
    occupancy_target_pct: float = _kpi(85.0, _PCT_1000, "occupancy_target_pct")
    occupancy_bad_pct: float = _kpi(95.0, _PCT_1000, "occupancy_bad_pct")
    ed_occupancy_target_pct: float = _kpi(100.0, _PCT_1000, "ed_occupancy_target_pct")
    ed_occupancy_bad_pct: float = _kpi(120.0, _PCT_1000, "ed_occupancy_bad_pct")
    bed_report_max_age_h: float = _kpi(48.0, _HOURS, "bed_report_max_age_h")
    ambulances_available_pct: float = _kpi(25.0, _PCT_100, "ambulances_available_pct")
    sla_breach_target_pct: float = _kpi(10.0, _PCT_100, "sla_breach_target_pct")
    sla_breach_bad_pct: float = _kpi(25.0, _PCT_100, "sla_breach_bad_pct")
    close_time_target_h: float = _kpi(72.0, _HOURS, "close_time_target_h")
    close_time_bad_h: float = _kpi(168.0, _HOURS, "close_time_bad_h")
    close_window_days: int = _kpi(7, (_parse_int(1, 366), "an integer from 1 to 366"), "close_window_days")


# Pairs of KPI limits whose "bad" side must not be milder than the target (a status could never
# be ok): (the lower one, the higher one).
KPI_ORDER: tuple[tuple[str, str], ...] = (
    ("pressure_bad_bar", "pressure_min_bar"), ("reservoir_bad_m", "reservoir_min_m"),
    ("quality_bad_pct", "quality_target_pct"), ("free_chlorine_min_mgl", "free_chlorine_max_mgl"),
    ("occupancy_target_pct", "occupancy_bad_pct"), ("ed_occupancy_target_pct", "ed_occupancy_bad_pct"),
    ("sla_breach_target_pct", "sla_breach_bad_pct"), ("close_time_target_h", "close_time_bad_h"))


@dataclass(frozen=True)
class Settings:
    """The resolved configuration of one CityOps installation."""

    data_dir: Path = setting(Path("var"), "CITYOPS_DATA_DIR", _parse_path, "a directory path")
    feeds: tuple[Mapping[str, Any], ...] = setting(
        (), "", _parse_feeds, "a list of [[feeds]] tables, each with a unique name (lowercase "
        "letters, digits, '-', '_') and an adapter")
    web: WebSettings = section(WebSettings)
    redis: RedisSettings = section(RedisSettings)
    runner: RunnerSettings = section(RunnerSettings)
    city: CitySettings = section(CitySettings)
    alerts: AlertSettings = section(AlertSettings)
    map: MapSettings = section(MapSettings)
    demo: DemoSettings = section(DemoSettings)
    history: HistorySettings = section(HistorySettings)
    kpis: KpiSettings = section(KpiSettings)
    # Where the values came from: "defaults" or the TOML file's path (not a setting).
    source: str = field(default="defaults", compare=False)


@dataclass(frozen=True)
class Declared:
    """One declared setting as the loader, the docs and --help see it."""

    key: str  # the TOML key, e.g. "web.port"
    env: str  # the environment variable ("" for [[feeds]], which only a file can hold)
    parse: Callable[[Any], Any]
    expected: str
    default: Any


def declared(kind: type = Settings, prefix: str = "") -> Iterator[Declared]:
    """Every setting of ``kind`` and its sections, in declaration order."""
    defaults = kind()
    for f in dataclasses.fields(kind):
        if f.metadata.get("section"):
            yield from declared(f.type if isinstance(f.type, type) else type(getattr(defaults, f.name)),
                                f"{prefix}{f.name}.")
        elif "parse" in f.metadata:
            yield Declared(f"{prefix}{f.name}", f.metadata["env"], f.metadata["parse"],
                           f.metadata["expected"], getattr(defaults, f.name))


def _check_kpi_limits(kpis: KpiSettings) -> None:
    """Refuse KPI limits whose "bad" side is milder than their target (a status could never be ok)."""
    for low, high in KPI_ORDER:
        lo, hi = getattr(kpis, low), getattr(kpis, high)
        if lo > hi:
            raise ConfigError(f"kpis.{low} (CITYOPS_KPI_{low.upper()}): expected at most "
                              f"kpis.{high} ({hi}), got {lo}")


def _flatten(table: Mapping[str, Any], tables: frozenset[str], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        # A setting whose value is itself a table (zone = number) is kept whole.
        if isinstance(value, dict) and name not in tables:
            flat.update(_flatten(value, tables, f"{name}."))
        else:
            flat[name] = value
    return flat


def _read_toml(path_text: str, keys: set[str], tables: frozenset[str]) -> dict[str, Any]:
    path = Path(path_text).expanduser()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"CITYOPS_CONFIG: cannot read {path}: {exc.strerror or exc}") from None
    try:
        table = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"CITYOPS_CONFIG: {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"CITYOPS_CONFIG: {path} is not valid TOML: {exc}") from None
    flat = _flatten(table, tables)
    unknown = sorted(set(flat) - keys)
    if unknown:
        raise ConfigError(f"{path}: unknown key '{unknown[0]}' (known keys: {', '.join(sorted(keys))})")
    return flat


def _build(kind: type, values: Mapping[str, Any], prefix: str = "") -> Any:
    """An instance of ``kind`` from dotted values, its sections built the same way."""
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(kind):
        key = f"{prefix}{f.name}"
        if f.metadata.get("section"):
            kwargs[f.name] = _build(type(getattr(kind(), f.name)), values, f"{key}.")
        elif key in values:
            kwargs[f.name] = values[key]
    return kind(**kwargs)


def load_settings(environ: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Any] | None = None) -> Settings:
    """Resolve the settings from the environment (``os.environ`` by default) and its TOML file.

    ``overrides`` by TOML key (``{"web.port": 9000}`` from the command line) win over both.
    """
    env = os.environ if environ is None else environ
    settings = list(declared())
    values: dict[str, Any] = {"data_dir": Path("var").resolve()}
    source = "defaults"
    config_path = env.get("CITYOPS_CONFIG", "").strip()
    tables = frozenset(d.key for d in settings if isinstance(d.default, Mapping))
    from_toml = _read_toml(config_path, {d.key for d in settings}, tables) if config_path else {}
    if config_path:
        source = config_path
    for item in settings:
        from_env = env.get(item.env) if item.env else None
        for origin, raw in ((item.key, from_toml.get(item.key)), (item.env, from_env)):
            if raw is None:
                continue
            try:
                values[item.key] = item.parse(raw)
            except (TypeError, ValueError, OverflowError):
                shown = "<hidden>" if item.key == "web.secret_key" else repr(raw)
                raise ConfigError(f"{origin}: expected {item.expected}, got {shown}") from None
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
    built = _build(Settings, values)
    _check_kpi_limits(built.kpis)
    return dataclasses.replace(built, source=source)


def updated(settings: Settings, values: Mapping[str, Any]) -> Settings:
    """``settings`` with some values changed, by TOML key (``{"kpis.pressure_min_bar": 1.0}``);
    the values are taken as they are (already parsed)."""
    flat = {d.key: value for d in declared() for value in [_value_at(settings, d.key)]}
    unknown = sorted(set(values) - set(flat))
    if unknown:
        raise ConfigError(f"unknown setting '{unknown[0]}'")
    return dataclasses.replace(_build(Settings, {**flat, **values}), source=settings.source)


def _value_at(settings: Settings, key: str) -> Any:
    value: Any = settings
    for part in key.split("."):
        value = getattr(value, part)
    return value


def ensure_data_dir(settings: Settings) -> Path:
    """Create the data directory (owner-only) if needed and return it."""
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise ConfigError(
            f"CITYOPS_DATA_DIR: cannot create {settings.data_dir}: {exc.strerror or exc}"
        ) from None
    return settings.data_dir


def write_private_file_once(path: Path, make_value: Callable[[], str]) -> str:
    """Return the content of ``path``, creating it owner-readable with ``make_value()`` first.

    Creation uses O_EXCL so that several processes starting at once agree on one value.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):
            text = path.read_text(encoding="utf-8").strip()
            if text:
                return text
            # Another process created the file and is about to write to it.
            time.sleep(0.02)
        raise ConfigError(f"{path} exists but is empty: remove it and start again") from None
    value = make_value()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value


def resolve_secret_key(settings: Settings) -> str:
    """The configured secret key, or the one generated once and kept in the data directory."""
    if settings.web.secret_key:
        return settings.web.secret_key
    ensure_data_dir(settings)
    return write_private_file_once(
        settings.data_dir / SECRET_KEY_FILE, lambda: secrets.token_urlsafe(48)
    )


def settings_table() -> list[tuple[str, str, str]]:
    """(environment variable, TOML key, expected value) for each setting, for docs and --help."""
    return [(d.env, d.key, d.expected) for d in declared() if d.env]
