"""Settings of a CityOps installation, read from defaults, a TOML file and the environment.

Precedence, lowest first: built-in defaults, the TOML file named by ``CITYOPS_CONFIG``,
then ``CITYOPS_*`` environment variables. Every bad value raises :class:`ConfigError`
naming the key and what was expected, so an operator never has to read a traceback.
"""

from __future__ import annotations

import os
import re
import secrets
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SECRET_KEY_FILE = "secret_key"
MIN_SECRET_KEY_LENGTH = 32


class ConfigError(ValueError):
    """A configuration value is missing, malformed or out of range."""


@dataclass(frozen=True)
class Settings:
    """The resolved configuration of one CityOps installation."""

    data_dir: Path
    redis_url: str | None = None
    secret_key: str | None = None
    host: str = "127.0.0.1"
    port: int = 8050
    web_workers: int = 2
    web_threads: int = 8
    # A web worker past this resident memory is replaced after its current requests (0: never).
    web_worker_max_mb: int = 1024
    session_hours: int = 12
    secure_cookies: bool = False
    # How many reverse proxies stand in front of the web server; their X-Forwarded-* headers are
    # believed for that many hops (0: the headers are ignored, anyone could forge them).
    trusted_proxies: int = 0
    heartbeat_seconds: float = 5.0
    # The embedded Redis is killed and restarted when alive but silent this long (a hang).
    redis_hung_seconds: float = 30.0
    timezone: str = "Asia/Shanghai"
    # The alert rules file (docs/alerts.md); None: the shipped app/default_rules.toml.
    alert_rules: Path | None = None
    feeds: tuple[Mapping[str, Any], ...] = ()
    # A raster tile URL template for connected sites; None: the offline basemap only.
    map_tile_url: str | None = None
    demo_vehicles: int = 300
    demo_seed: int = 1
    demo_sensors: int = 120
    demo_hospitals: int = 8
    demo_ambulances: int = 12
    demo_requests: int = 200
    source: str = "defaults"
    extra: Mapping[str, Any] = field(default_factory=dict)
    # KPI targets and limits ([kpis] table, CITYOPS_KPI_* variables; docs/kpis.md explains each).
    kpi_water_max_age_s: float = 900.0
    kpi_pressure_min_bar: float = 2.0
    kpi_pressure_bad_bar: float = 1.5
    kpi_reservoir_min_m: float = 2.0
    kpi_reservoir_bad_m: float = 1.0
    kpi_turbidity_max_ntu: float = 1.0
    kpi_free_chlorine_min_mgl: float = 0.05
    kpi_free_chlorine_max_mgl: float = 5.0
    kpi_quality_target_pct: float = 100.0
    kpi_quality_bad_pct: float = 95.0
    kpi_night_window: tuple[int, int] = (120, 240)  # minutes after local midnight: 02:00-04:00
    kpi_leak_margin_pct: float = 20.0
    kpi_leak_min_excess_m3h: float = 1.0
    kpi_leak_learn_nights: int = 7
    kpi_night_flow_baseline_m3h: Mapping[str, float] = field(default_factory=dict)
    kpi_occupancy_target_pct: float = 85.0
    kpi_occupancy_bad_pct: float = 95.0
    kpi_ed_occupancy_target_pct: float = 100.0
    kpi_ed_occupancy_bad_pct: float = 120.0
    kpi_bed_report_max_age_h: float = 48.0
    kpi_ambulances_available_pct: float = 25.0
    kpi_sla_breach_target_pct: float = 10.0
    kpi_sla_breach_bad_pct: float = 25.0
    kpi_close_time_target_h: float = 72.0
    kpi_close_time_bad_h: float = 168.0
    kpi_close_window_days: int = 7

    @property
    def embedded_redis(self) -> bool:
        """True when CityOps runs its own redis-server instead of using ``redis_url``."""
        return not self.redis_url


# One row per setting: (TOML path, environment variable, parser, description of what is expected).
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


def _parse_baselines(value: Any) -> dict[str, float]:
    """Zone -> night-flow baseline (m3/h): a TOML table, or "zone=1.5, other=3" in a variable."""
    if isinstance(value, str):
        pairs = [part.partition("=") for part in value.split(",") if part.strip()]
        if any(not sep for _, sep, _ in pairs):
            raise ValueError
        value = {name.strip(): number.strip() for name, _, number in pairs}
    if not isinstance(value, dict):
        raise ValueError
    parse = _parse_float(0.0, 1e9)
    baselines = {}
    for zone, number in value.items():
        if not isinstance(zone, str) or not zone or len(zone) > 100:
            raise ValueError
        baselines[zone] = parse(number)
    return baselines


def _check_kpi_limits(values: Mapping[str, Any]) -> None:
    """Refuse KPI limits whose "bad" side is milder than their target (a status could never be ok)."""
    defaults = Settings(data_dir=Path("."))
    pairs = (("kpi_pressure_bad_bar", "kpi_pressure_min_bar", "kpis.pressure_bad_bar"),
             ("kpi_reservoir_bad_m", "kpi_reservoir_min_m", "kpis.reservoir_bad_m"),
             ("kpi_quality_bad_pct", "kpi_quality_target_pct", "kpis.quality_bad_pct"),
             ("kpi_free_chlorine_min_mgl", "kpi_free_chlorine_max_mgl", "kpis.free_chlorine_min_mgl"),
             ("kpi_occupancy_target_pct", "kpi_occupancy_bad_pct", "kpis.occupancy_target_pct"),
             ("kpi_ed_occupancy_target_pct", "kpi_ed_occupancy_bad_pct",
              "kpis.ed_occupancy_target_pct"),
             ("kpi_sla_breach_target_pct", "kpi_sla_breach_bad_pct", "kpis.sla_breach_target_pct"),
             ("kpi_close_time_target_h", "kpi_close_time_bad_h", "kpis.close_time_target_h"))
    for low, high, key in pairs:
        lo, hi = values.get(low, getattr(defaults, low)), values.get(high, getattr(defaults, high))
        if lo > hi:
            env = next(row[2] for row in _SETTINGS if row[0] == low)
            other = "kpis." + high.removeprefix("kpi_")
            raise ConfigError(f"{key} ({env}): expected at most {other} ({hi}), got {lo}")


_SETTINGS: tuple[tuple[str, str, str, Callable[[Any], Any], str], ...] = (
    # (attribute, TOML key, environment variable, parser, what is expected)
    ("data_dir", "data_dir", "CITYOPS_DATA_DIR", _parse_path, "a directory path"),
    ("redis_url", "redis.url", "CITYOPS_REDIS_URL", _parse_redis_url,
     "a URL like redis://host:6379/0, rediss://..., unix:///path/redis.sock or, for a Redis "
     "Cluster, redis+cluster://host:7000[,host2:7000]"),
    ("redis_hung_seconds", "redis.hung_seconds", "CITYOPS_REDIS_HUNG_SECONDS",
     _parse_float(2.0, 3600.0), "a number of seconds from 2 to 3600"),
    ("secret_key", "web.secret_key", "CITYOPS_SECRET_KEY", _parse_secret,
     f"a random string of at least {MIN_SECRET_KEY_LENGTH} characters (no template text, no "
     "repeated pattern)"),
    ("host", "web.host", "CITYOPS_HOST", _parse_host, "a host name or IP address"),
    ("port", "web.port", "CITYOPS_PORT", _parse_int(1, 65535), "an integer from 1 to 65535"),
    ("web_workers", "web.workers", "CITYOPS_WEB_WORKERS", _parse_int(1, 64),
     "an integer from 1 to 64"),
    ("web_threads", "web.threads", "CITYOPS_WEB_THREADS", _parse_int(1, 64),
     "an integer from 1 to 64"),
    ("web_worker_max_mb", "web.worker_max_mb", "CITYOPS_WEB_WORKER_MAX_MB",
     _parse_int(0, 1_048_576), "a number of MB (0: no limit)"),
    ("session_hours", "web.session_hours", "CITYOPS_SESSION_HOURS", _parse_int(1, 168),
     "an integer from 1 to 168"),
    ("secure_cookies", "web.secure_cookies", "CITYOPS_SECURE_COOKIES", _parse_bool,
     "true or false"),
    ("trusted_proxies", "web.trusted_proxies", "CITYOPS_TRUSTED_PROXIES", _parse_int(0, 5),
     "an integer from 0 to 5 (how many reverse proxies stand in front)"),
    ("heartbeat_seconds", "runner.heartbeat_seconds", "CITYOPS_HEARTBEAT_SECONDS",
     _parse_float(0.2, 300.0), "a number of seconds from 0.2 to 300"),
    ("timezone", "city.timezone", "CITYOPS_TIMEZONE", _parse_timezone,
     "an IANA time zone name such as Asia/Shanghai"),
    ("alert_rules", "alerts.rules_file", "CITYOPS_ALERT_RULES", _parse_path,
     "the path of a TOML alert rules file (docs/alerts.md)"),
    ("map_tile_url", "map.tile_url", "CITYOPS_MAP_TILE_URL", _parse_tile_url,
     "an http(s) tile URL template with {z}, {x} and {y}, such as "
     "https://tiles.example.org/{z}/{x}/{y}.png (empty: the offline basemap only)"),
    ("demo_vehicles", "demo.vehicles", "CITYOPS_DEMO_VEHICLES", _parse_int(1, 50_000),
     "an integer from 1 to 50000"),
    ("demo_seed", "demo.seed", "CITYOPS_DEMO_SEED", _parse_int(0, 2**31 - 1),
     "a non-negative integer"),
    ("demo_sensors", "demo.sensors", "CITYOPS_DEMO_SENSORS", _parse_int(15, 20_000),
     "an integer from 15 to 20000"),
    ("demo_hospitals", "demo.hospitals", "CITYOPS_DEMO_HOSPITALS", _parse_int(1, 2_000),
     "an integer from 1 to 2000"),
    ("demo_ambulances", "demo.ambulances", "CITYOPS_DEMO_AMBULANCES", _parse_int(0, 2_000),
     "an integer from 0 to 2000"),
    ("demo_requests", "demo.requests", "CITYOPS_DEMO_REQUESTS", _parse_int(0, 100_000),
     "an integer from 0 to 100000"),
    ("feeds", "feeds", "", _parse_feeds,
     "a list of [[feeds]] tables, each with a unique name (lowercase letters, digits, '-', '_') "
     "and an adapter"),
    # KPI targets and limits (docs/kpis.md).
    ("kpi_water_max_age_s", "kpis.water_max_age_s", "CITYOPS_KPI_WATER_MAX_AGE_S",
     _parse_float(10.0, 86_400.0), "a number of seconds from 10 to 86400"),
    ("kpi_pressure_min_bar", "kpis.pressure_min_bar", "CITYOPS_KPI_PRESSURE_MIN_BAR",
     _parse_float(0.0, 100.0), "a pressure in bar from 0 to 100"),
    ("kpi_pressure_bad_bar", "kpis.pressure_bad_bar", "CITYOPS_KPI_PRESSURE_BAD_BAR",
     _parse_float(0.0, 100.0), "a pressure in bar from 0 to 100"),
    ("kpi_reservoir_min_m", "kpis.reservoir_min_m", "CITYOPS_KPI_RESERVOIR_MIN_M",
     _parse_float(0.0, 1000.0), "a level in metres from 0 to 1000"),
    ("kpi_reservoir_bad_m", "kpis.reservoir_bad_m", "CITYOPS_KPI_RESERVOIR_BAD_M",
     _parse_float(0.0, 1000.0), "a level in metres from 0 to 1000"),
    ("kpi_turbidity_max_ntu", "kpis.turbidity_max_ntu", "CITYOPS_KPI_TURBIDITY_MAX_NTU",
     _parse_float(0.0, 4000.0), "a turbidity in NTU from 0 to 4000"),
    ("kpi_free_chlorine_min_mgl", "kpis.free_chlorine_min_mgl", "CITYOPS_KPI_FREE_CHLORINE_MIN_MGL",
     _parse_float(0.0, 100.0), "a concentration in mg/L from 0 to 100"),
    ("kpi_free_chlorine_max_mgl", "kpis.free_chlorine_max_mgl", "CITYOPS_KPI_FREE_CHLORINE_MAX_MGL",
     _parse_float(0.0, 100.0), "a concentration in mg/L from 0 to 100"),
    ("kpi_quality_target_pct", "kpis.quality_target_pct", "CITYOPS_KPI_QUALITY_TARGET_PCT",
     _parse_float(0.0, 100.0), "a percentage from 0 to 100"),
    ("kpi_quality_bad_pct", "kpis.quality_bad_pct", "CITYOPS_KPI_QUALITY_BAD_PCT",
     _parse_float(0.0, 100.0), "a percentage from 0 to 100"),
    ("kpi_night_window", "kpis.night_window", "CITYOPS_KPI_NIGHT_WINDOW", _parse_night_window,
     "local times \"HH:MM-HH:MM\", start before end, such as \"02:00-04:00\""),
    ("kpi_leak_margin_pct", "kpis.leak_margin_pct", "CITYOPS_KPI_LEAK_MARGIN_PCT",
     _parse_float(0.0, 1000.0), "a percentage from 0 to 1000"),
    ("kpi_leak_min_excess_m3h", "kpis.leak_min_excess_m3h", "CITYOPS_KPI_LEAK_MIN_EXCESS_M3H",
     _parse_float(0.0, 1e6), "a flow in m3/h from 0 to 1000000"),
    ("kpi_leak_learn_nights", "kpis.leak_learn_nights", "CITYOPS_KPI_LEAK_LEARN_NIGHTS",
     _parse_int(3, 60), "an integer from 3 to 60"),
    ("kpi_night_flow_baseline_m3h", "kpis.night_flow_baseline_m3h",
     "CITYOPS_KPI_NIGHT_FLOW_BASELINE_M3H", _parse_baselines,
     "a table of zone = flow in m3/h (in a variable: \"zone=1.5,other=3\")"),
    ("kpi_occupancy_target_pct", "kpis.occupancy_target_pct", "CITYOPS_KPI_OCCUPANCY_TARGET_PCT",
     _parse_float(0.0, 1000.0), "a percentage from 0 to 1000"),
    ("kpi_occupancy_bad_pct", "kpis.occupancy_bad_pct", "CITYOPS_KPI_OCCUPANCY_BAD_PCT",
     _parse_float(0.0, 1000.0), "a percentage from 0 to 1000"),
    ("kpi_ed_occupancy_target_pct", "kpis.ed_occupancy_target_pct",
     "CITYOPS_KPI_ED_OCCUPANCY_TARGET_PCT", _parse_float(0.0, 1000.0), "a percentage from 0 to 1000"),
    ("kpi_ed_occupancy_bad_pct", "kpis.ed_occupancy_bad_pct", "CITYOPS_KPI_ED_OCCUPANCY_BAD_PCT",
     _parse_float(0.0, 1000.0), "a percentage from 0 to 1000"),
    ("kpi_bed_report_max_age_h", "kpis.bed_report_max_age_h", "CITYOPS_KPI_BED_REPORT_MAX_AGE_H",
     _parse_float(0.1, 8760.0), "a number of hours from 0.1 to 8760"),
    ("kpi_ambulances_available_pct", "kpis.ambulances_available_pct",
     "CITYOPS_KPI_AMBULANCES_AVAILABLE_PCT", _parse_float(0.0, 100.0), "a percentage from 0 to 100"),
    ("kpi_sla_breach_target_pct", "kpis.sla_breach_target_pct", "CITYOPS_KPI_SLA_BREACH_TARGET_PCT",
     _parse_float(0.0, 100.0), "a percentage from 0 to 100"),
    ("kpi_sla_breach_bad_pct", "kpis.sla_breach_bad_pct", "CITYOPS_KPI_SLA_BREACH_BAD_PCT",
     _parse_float(0.0, 100.0), "a percentage from 0 to 100"),
    ("kpi_close_time_target_h", "kpis.close_time_target_h", "CITYOPS_KPI_CLOSE_TIME_TARGET_H",
     _parse_float(0.1, 8760.0), "a number of hours from 0.1 to 8760"),
    ("kpi_close_time_bad_h", "kpis.close_time_bad_h", "CITYOPS_KPI_CLOSE_TIME_BAD_H",
     _parse_float(0.1, 8760.0), "a number of hours from 0.1 to 8760"),
    ("kpi_close_window_days", "kpis.close_window_days", "CITYOPS_KPI_CLOSE_WINDOW_DAYS",
     _parse_int(1, 366), "an integer from 1 to 366"),
)

_TOML_KEYS = {row[1] for row in _SETTINGS}
# Keys whose value is itself a table (zone = number): kept whole, not flattened into dotted keys.
_TABLE_KEYS = frozenset({"kpis.night_flow_baseline_m3h"})


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and name not in _TABLE_KEYS:
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _read_toml(path_text: str) -> dict[str, Any]:
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
    flat = _flatten(table)
    unknown = sorted(set(flat) - _TOML_KEYS)
    if unknown:
        known = ", ".join(sorted(_TOML_KEYS))
        raise ConfigError(f"{path}: unknown key '{unknown[0]}' (known keys: {known})")
    return flat


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Resolve the settings from the environment (``os.environ`` by default) and its TOML file.

    Keyword overrides (e.g. ``host`` and ``port`` from the command line) win over both.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {"data_dir": Path("var").resolve()}
    source = "defaults"
    config_path = env.get("CITYOPS_CONFIG", "").strip()
    from_toml = _read_toml(config_path) if config_path else {}
    if config_path:
        source = config_path
    for attribute, toml_key, env_key, parse, expected in _SETTINGS:
        from_env = env.get(env_key) if env_key else None
        for origin, raw in ((toml_key, from_toml.get(toml_key)), (env_key, from_env)):
            if raw is None:
                continue
            try:
                values[attribute] = parse(raw)
            except (TypeError, ValueError, OverflowError):
                shown = "<hidden>" if attribute == "secret_key" else repr(raw)
                raise ConfigError(f"{origin}: expected {expected}, got {shown}") from None
    for attribute, value in overrides.items():
        if value is not None:
            values[attribute] = value
    _check_kpi_limits(values)
    return Settings(source=source, **values)


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
    if settings.secret_key:
        return settings.secret_key
    ensure_data_dir(settings)
    return write_private_file_once(
        settings.data_dir / SECRET_KEY_FILE, lambda: secrets.token_urlsafe(48)
    )


def settings_table() -> list[tuple[str, str, str]]:
    """(environment variable, TOML key, expected value) for each setting, for docs and --help."""
    return [(env_key, toml_key, expected) for _, toml_key, env_key, _, expected in _SETTINGS
            if env_key]
