"""The sections of the settings, one dataclass per TOML table: each field declares its default,
variable, parser and what it expects."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from app.config.parsers import (
    MIN_SECRET_KEY_LENGTH,
    parse_address_table,
    parse_addresses,
    parse_bool,
    parse_bounds,
    parse_float,
    parse_host,
    parse_int,
    parse_language,
    parse_metric_days,
    parse_optional_text,
    parse_path,
    parse_public_url,
    parse_redis_url,
    parse_secret,
    parse_sender,
    parse_tile_url,
    parse_timezone,
    setting,
)


@dataclass(frozen=True)
class WebSettings:
    """The web server ([web])."""

    host: str = setting("127.0.0.1", "CITYOPS_HOST", parse_host, "a host name or IP address")
    port: int = setting(8050, "CITYOPS_PORT", parse_int(1, 65535), "an integer from 1 to 65535")
    workers: int = setting(2, "CITYOPS_WEB_WORKERS", parse_int(1, 64), "an integer from 1 to 64")
    threads: int = setting(8, "CITYOPS_WEB_THREADS", parse_int(1, 64), "an integer from 1 to 64")
    # A web worker past this resident memory is replaced after its current requests (0: never).
    worker_max_mb: int = setting(1024, "CITYOPS_WEB_WORKER_MAX_MB", parse_int(0, 1_048_576),
                                 "a number of MB (0: no limit)")
    session_hours: int = setting(12, "CITYOPS_SESSION_HOURS", parse_int(1, 168),
                                 "an integer from 1 to 168")
    secure_cookies: bool = setting(False, "CITYOPS_SECURE_COOKIES", parse_bool, "true or false")
    # How many reverse proxies stand in front of the web server; their X-Forwarded-* headers are
    # believed for that many hops (0: the headers are ignored, anyone could forge them).
    trusted_proxies: int = setting(0, "CITYOPS_TRUSTED_PROXIES", parse_int(0, 5),
                                   "an integer from 0 to 5 (how many reverse proxies stand in front)")
    secret_key: str | None = setting(
        None, "CITYOPS_SECRET_KEY", parse_secret,
        f"a random string of at least {MIN_SECRET_KEY_LENGTH} characters (no template text, no "
        "repeated pattern)")
    # Issue 18: the CJK font the web serves (a subset) to machines with none of their own.
    cjk_font: Path = setting(Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"), "CITYOPS_CJK_FONT",
                             parse_path, "the path of a TTF, OTF or TTC font file")


@dataclass(frozen=True)
class RedisSettings:
    """Where the data lives ([redis]); no URL means the embedded redis-server."""

    url: str | None = setting(
        None, "CITYOPS_REDIS_URL", parse_redis_url,
        "a URL like redis://host:6379/0, rediss://..., unix:///path/redis.sock or, for a Redis "
        "Cluster, redis+cluster://host:7000[,host2:7000]")
    # The embedded Redis is killed and restarted when alive but silent this long (a hang).
    hung_seconds: float = setting(30.0, "CITYOPS_REDIS_HUNG_SECONDS", parse_float(2.0, 3600.0),
                                  "a number of seconds from 2 to 3600")

    @property
    def embedded(self) -> bool:
        """True when CityOps runs its own redis-server instead of using ``url``."""
        return not self.url


@dataclass(frozen=True)
class RunnerSettings:
    """The adapter runner ([runner])."""

    heartbeat_seconds: float = setting(5.0, "CITYOPS_HEARTBEAT_SECONDS", parse_float(0.2, 300.0),
                                       "a number of seconds from 0.2 to 300")


@dataclass(frozen=True)
class CitySettings:
    """The city ([city])."""

    timezone: str = setting("Asia/Shanghai", "CITYOPS_TIMEZONE", parse_timezone,
                            "an IANA time zone name such as Asia/Shanghai")
    # Handed by the ops layer to every feed declaring a bounds key (app/ops/feed_defaults.py).
    bounds: tuple[float, float, float, float] | None = setting(
        None, "CITYOPS_CITY_BOUNDS", parse_bounds, "four numbers min_lat, min_lon, max_lat, "
        "max_lon (a box on Earth), such as [28.2, 111.9, 28.9, 112.8] or \"28.2,111.9,28.9,112.8\"")


@dataclass(frozen=True)
class AlertSettings:
    """Alert rules ([alerts]); no file means the shipped app/alerts/default_rules.toml."""

    rules_file: Path | None = setting(None, "CITYOPS_ALERT_RULES", parse_path,
                                      "the path of a TOML alert rules file (docs/alerts.md)")
    # How often a screen sounds again while a critical alert stays unacknowledged (0: once only).
    sound_repeat_s: int = setting(30, "CITYOPS_ALERT_SOUND_REPEAT_S", parse_int(0, 3600),
                                  "an integer from 0 to 3600 (seconds; 0: sound once only)")


@dataclass(frozen=True)
class IncidentSettings:
    """Incidents ([incidents]); no file means the shipped app/incidents/default_sops.toml."""

    sop_file: Path | None = setting(None, "CITYOPS_SOP_FILE", parse_path, "the path of a TOML SOP catalogue")


@dataclass(frozen=True)
class MapSettings:
    """The map ([map]); no tile URL means the offline basemap only."""

    tile_url: str | None = setting(
        None, "CITYOPS_MAP_TILE_URL", parse_tile_url,
        "an http(s) tile URL template with {z}, {x} and {y}, such as "
        "https://tiles.example.org/{z}/{x}/{y}.png (empty: the offline basemap only)")


@dataclass(frozen=True)
class DemoSettings:
    """The demo city ([demo]): how large it is, its seed and how often an ordinary incident happens."""

    vehicles: int = setting(300, "CITYOPS_DEMO_VEHICLES", parse_int(1, 50_000),
                            "an integer from 1 to 50000")
    seed: int = setting(1, "CITYOPS_DEMO_SEED", parse_int(0, 2**31 - 1), "a non-negative integer")
    sensors: int = setting(120, "CITYOPS_DEMO_SENSORS", parse_int(15, 20_000),
                           "an integer from 15 to 20000")
    hospitals: int = setting(8, "CITYOPS_DEMO_HOSPITALS", parse_int(1, 2_000),
                             "an integer from 1 to 2000")
    ambulances: int = setting(12, "CITYOPS_DEMO_AMBULANCES", parse_int(0, 2_000),
                              "an integer from 0 to 2000")
    requests: int = setting(200, "CITYOPS_DEMO_REQUESTS", parse_int(0, 100_000),
                            "an integer from 0 to 100000")
    # issue 19: an ordinary incident (a main break, a bus breakdown, a full hospital, a flooded
    # underpass) about this often, the first within two minutes; none while a scenario plays.
    trickle_minutes: float = setting(5.0, "CITYOPS_DEMO_TRICKLE_MINUTES", parse_float(0.0, 1440.0),
                                     "a number of minutes from 0 (no incidents) to 1440")


@dataclass(frozen=True)
class HistorySettings:
    """How long the history of readings and KPIs is kept ([history]; docs/data.md)."""

    readings_days: float = setting(7.0, "CITYOPS_HISTORY_READINGS_DAYS", parse_float(0.0, 366.0),
                                   "a number of days from 0 (none kept) to 366")
    kpis_days: float = setting(90.0, "CITYOPS_HISTORY_KPIS_DAYS", parse_float(0.0, 3660.0),
                               "a number of days from 0 (none kept) to 3660")
    # A vehicle's delay every few seconds would cost gigabytes a week: on-time performance is a
    # KPI, kept 90 days; the readings of places (sensors, hospitals) are the history worth having.
    metric_days: Mapping[str, float] = setting(
        {"delay_s": 0.0}, "CITYOPS_HISTORY_METRIC_DAYS", parse_metric_days,
        "a table of metric = days, overriding readings_days (in a variable: \"delay_s=0,level_m=30\")")

    def days_of(self, metric: str) -> float:
        """How many days the readings of ``metric`` are kept."""
        return self.metric_days.get(metric, self.readings_days)


@dataclass(frozen=True)
class OutboundSettings:
    """Webhooks ([outbound]; receivers are added by an admin, docs/outbound.md)."""

    # The command center's address for links in webhooks and e-mails ("": links left out).
    public_url: str | None = setting(None, "CITYOPS_PUBLIC_URL", parse_public_url,
                                     "an http(s) address such as https://cityops.example.org")
    queue_limit: int = setting(10_000, "CITYOPS_WEBHOOK_QUEUE_LIMIT", parse_int(10, 1_000_000),
                               "an integer from 10 to 1000000 (deliveries kept per receiver)")
    timeout_s: float = setting(5.0, "CITYOPS_WEBHOOK_TIMEOUT_S", parse_float(0.5, 60.0),
                               "a number of seconds from 0.5 to 60")
    max_backoff_s: float = setting(300.0, "CITYOPS_WEBHOOK_MAX_BACKOFF_S", parse_float(1.0, 3600.0),
                                   "a number of seconds from 1 to 3600")
    # A receiver failing this long is marked down on /admin (retries go on).
    down_after_s: float = setting(120.0, "CITYOPS_WEBHOOK_DOWN_AFTER_S", parse_float(1.0, 86_400.0),
                                  "a number of seconds from 1 to 86400")


@dataclass(frozen=True)
class MailSettings:
    """E-mail over SMTP ([mail]): escalations and tasks for departments; no host: none sent."""

    host: str | None = setting(None, "CITYOPS_MAIL_HOST", parse_optional_text,
                               "the SMTP server's host name (empty: no e-mail)")
    port: int = setting(587, "CITYOPS_MAIL_PORT", parse_int(1, 65535), "an integer from 1 to 65535")
    starttls: bool = setting(True, "CITYOPS_MAIL_STARTTLS", parse_bool, "true or false")
    # The authority the server's certificate is checked against (none: the system's).
    ca_file: Path | None = setting(None, "CITYOPS_MAIL_CA_FILE", parse_path,
                                   "the path of a PEM file of certificate authorities")
    username: str | None = setting(None, "CITYOPS_MAIL_USERNAME", parse_optional_text,
                                   "the SMTP user name (empty: no login)")
    password: str | None = setting(None, "CITYOPS_MAIL_PASSWORD", parse_optional_text,
                                   "the SMTP password (better in the environment than in a file)")
    sender: str = setting("cityops@localhost", "CITYOPS_MAIL_SENDER", parse_sender,
                          "an e-mail address")
    escalations_to: tuple[str, ...] = setting((), "CITYOPS_MAIL_ESCALATIONS_TO", parse_addresses,
                                              "a list of e-mail addresses")
    departments: Mapping[str, str] = setting(
        {}, "CITYOPS_MAIL_DEPARTMENTS", parse_address_table,
        "a table of department = e-mail address (in a variable: \"water=w@city.org,medical=m@city.org\")")
    language: str = setting("zh", "CITYOPS_MAIL_LANGUAGE", parse_language, "en or zh")
    timeout_s: float = setting(10.0, "CITYOPS_MAIL_TIMEOUT_S", parse_float(1.0, 120.0),
                               "a number of seconds from 1 to 120")
    queue_limit: int = setting(10_000, "CITYOPS_MAIL_QUEUE_LIMIT", parse_int(10, 1_000_000),
                               "an integer from 10 to 1000000 (e-mails kept waiting)")


_DAYS = "a number of days from 1 to 36600"


@dataclass(frozen=True)
class RetentionSettings:
    """How long records are kept once they are done ([retention]; docs/data.md). Live data is
    replaced by the feeds, readings' history follows [history]."""

    alerts_days: float = setting(400.0, "CITYOPS_RETENTION_ALERTS_DAYS", parse_float(1.0, 36_600.0),
                                 _DAYS)
    incidents_days: float = setting(400.0, "CITYOPS_RETENTION_INCIDENTS_DAYS",
                                    parse_float(1.0, 36_600.0), _DAYS)
    shifts_days: float = setting(400.0, "CITYOPS_RETENTION_SHIFTS_DAYS", parse_float(1.0, 36_600.0),
                                 _DAYS)
    dead_letters_days: float = setting(30.0, "CITYOPS_RETENTION_DEAD_LETTERS_DAYS",
                                       parse_float(1.0, 36_600.0), _DAYS)
    notices_days: float = setting(90.0, "CITYOPS_RETENTION_NOTICES_DAYS",
                                  parse_float(1.0, 36_600.0), _DAYS)
    # Audit entries leave only after an admin archived them (docs/security.md), and only past this.
    audit_days: float = setting(400.0, "CITYOPS_RETENTION_AUDIT_DAYS", parse_float(30.0, 36_600.0),
                                "a number of days from 30 to 36600")
