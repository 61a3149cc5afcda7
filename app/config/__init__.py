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
import secrets
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from app.config.kpis import KPI_ORDER, KpiSettings
from app.config.parsers import (
    MIN_SECRET_KEY_LENGTH,
    SECRET_KEY_FILE,
    ConfigError,
    parse_feeds,
    parse_path,
    section,
    setting,
    weak_secret_reason,
)
from app.config.sections import (
    AlertSettings,
    CitySettings,
    DemoSettings,
    HistorySettings,
    IncidentSettings,
    MailSettings,
    MapSettings,
    OutboundSettings,
    RedisSettings,
    RetentionSettings,
    RunnerSettings,
    WebSettings,
)

__all__ = ["KPI_ORDER", "MIN_SECRET_KEY_LENGTH", "AlertSettings", "CitySettings", "ConfigError",
           "Declared", "DemoSettings", "HistorySettings", "IncidentSettings", "KpiSettings",
           "MailSettings", "MapSettings", "OutboundSettings", "RedisSettings", "RetentionSettings",
           "RunnerSettings", "Settings", "WebSettings", "declared", "ensure_data_dir", "load_settings",
           "resolve_secret_key", "settings_table", "updated", "weak_secret_reason",
           "write_private_file_once"]


@dataclass(frozen=True)
class Settings:
    """The resolved configuration of one CityOps installation."""

    data_dir: Path = setting(Path("var"), "CITYOPS_DATA_DIR", parse_path, "a directory path")
    feeds: tuple[Mapping[str, Any], ...] = setting(
        (), "", parse_feeds, "a list of [[feeds]] tables, each with a unique name (lowercase "
        "letters, digits, '-', '_') and an adapter")
    web: WebSettings = section(WebSettings)
    redis: RedisSettings = section(RedisSettings)
    runner: RunnerSettings = section(RunnerSettings)
    city: CitySettings = section(CitySettings)
    alerts: AlertSettings = section(AlertSettings)
    incidents: IncidentSettings = section(IncidentSettings)
    map: MapSettings = section(MapSettings)
    demo: DemoSettings = section(DemoSettings)
    history: HistorySettings = section(HistorySettings)
    outbound: OutboundSettings = section(OutboundSettings)
    mail: MailSettings = section(MailSettings)
    retention: RetentionSettings = section(RetentionSettings)
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
