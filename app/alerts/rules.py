"""Alert rules as a file: thresholds held for a duration (TOML), staleness, feed alerts, escalation.

A rules file is parsed and validated here (:class:`RulesError` names the file, rule and key);
app/alerts/evaluation.py evaluates a :class:`RuleSet` at an instant and app/alerts/ticker.py runs
it for the runner. Run ``cityops rules check FILE`` to validate a file.
"""

from __future__ import annotations

import math
import re
import string
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from app.model.alerts import MAX_TITLE, SEVERITIES
from app.model.domains import DOMAINS

MAX_RULES = 500
RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
TITLE_FIELDS = frozenset({"subject", "value", "unit", "threshold", "kpi", "metric"})
DEFAULT_ESCALATION: dict[str, float | None] = {"critical": 300.0, "major": 900.0,
                                               "minor": 3600.0, "warning": 14400.0, "info": None}


class RulesError(ValueError):
    """A rules file that does not validate; the message names the file, rule and key."""


@dataclass(frozen=True)
class ThresholdRule:
    """Fire when a KPI (every subject of a group) or an entity metric stays past a threshold."""

    id: str
    title: str
    domain: str
    severity: str
    kpi: str | None
    metric: str | None
    below: float | None
    above: float | None
    for_s: float
    scope: str = "city"  # KPI rules: "city" (the KPI named kpi) or "each" (every kpi:<subject>)
    # The title in Chinese (issue 19); "" when the file gives none, and then readers of Chinese
    # see ``title``.
    title_zh: str = ""

    def breached(self, value: float) -> bool:
        """True when ``value`` is on the wrong side of the threshold."""
        if self.below is not None:
            return value < self.below
        return self.above is not None and value > self.above

    @property
    def threshold(self) -> float:
        """The threshold value, whichever side it guards."""
        return self.below if self.below is not None else float(self.above or 0.0)


@dataclass(frozen=True)
class RuleSet:
    """A validated rules file."""

    thresholds: tuple[ThresholdRule, ...] = ()
    escalation: Mapping[str, float | None] = field(default_factory=lambda: dict(DEFAULT_ESCALATION))
    staleness: bool = True
    stale_severity: str = "major"
    service_alerts: bool = True
    cap_warnings: bool = True
    source: str = "defaults"
    # issue 19: every city-wide KPI past its critical limit (status bad, not a small sample) for
    # kpi_limit_for_s raises an alert of kpi_limit_severity ([kpi_limits]; on unless switched off).
    kpi_limits: bool = True
    kpi_limit_severity: str = "critical"
    kpi_limit_for_s: float = 300.0


# -- loading ---------------------------------------------------------------------------------------
def fmt(value: float) -> str:
    """A threshold or reading as rule texts show it: at most two decimals, no trailing zeros."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def parse_duration(value: Any, where: str) -> float:
    """"90s", "2m", "1.5h", "1d" or a number of seconds, as seconds."""
    if isinstance(value, bool):
        raise RulesError(f"{where}: expected a duration such as \"2m\", got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise RulesError(f"{where}: expected a duration such as \"90s\", \"2m\" or \"1h\", "
                             f"got {value!r}")
        seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    if not math.isfinite(seconds) or not 0 <= seconds <= 30 * 86400:
        raise RulesError(f"{where}: a duration from 0 s to 30 days, got {value!r}")
    return seconds


def _table(data: Mapping[str, Any], key: str, where: str, allowed: set[str]) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise RulesError(f"{where}: [{key}] must be a table")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise RulesError(f"{where}: [{key}]: unknown key '{unknown[0]}' "
                         f"(known: {', '.join(sorted(allowed))})")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise RulesError(f"{where}: expected true or false, got {value!r}")
    return value


def _severity(value: Any, where: str) -> str:
    if value not in SEVERITIES:
        raise RulesError(f"{where}: expected one of {', '.join(SEVERITIES)}, got {value!r}")
    return str(value)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RulesError(f"{where}: expected a number, got {value!r}")
    return float(value)


def _title(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TITLE:
        raise RulesError(f"{where}: expected a title of 1 to {MAX_TITLE} characters")
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
    except ValueError as exc:
        raise RulesError(f"{where}: {exc}") from None
    # Only plain names: "{subject.__class__}" would reach into Python objects.
    bad = [name for name in names if name not in TITLE_FIELDS]
    if bad:
        raise RulesError(f"{where}: unknown placeholder {{{bad[0]}}} (use "
                         f"{', '.join('{' + n + '}' for n in sorted(TITLE_FIELDS))})")
    return value


_THRESHOLD_KEYS = {"id", "title", "title_zh", "domain", "kpi", "metric", "below", "above", "for",
                   "severity", "enabled", "scope"}
SCOPES = ("city", "each")


def _threshold(raw: Any, index: int, source: str) -> ThresholdRule | None:
    where = f"{source}: [[threshold]] #{index + 1}"
    if not isinstance(raw, dict):
        raise RulesError(f"{where}: must be a table")
    if isinstance(raw.get("id"), str):
        where = f"{source}: rule '{raw['id']}'"
    unknown = sorted(set(raw) - _THRESHOLD_KEYS)
    if unknown:
        raise RulesError(f"{where}: unknown key '{unknown[0]}' "
                         f"(known: {', '.join(sorted(_THRESHOLD_KEYS))})")
    for key in ("id", "title", "domain", "severity"):
        if key not in raw:
            raise RulesError(f"{where}: '{key}' is missing")
    if not isinstance(raw["id"], str) or not RULE_ID.match(raw["id"]):
        raise RulesError(f"{where}: id: 1 to 64 lowercase letters, digits, '_' or '-'")
    if raw["domain"] not in DOMAINS:
        raise RulesError(f"{where}: domain: expected one of {', '.join(DOMAINS)}, "
                         f"got {raw['domain']!r}")
    if ("kpi" in raw) == ("metric" in raw):
        raise RulesError(f"{where}: give exactly one of 'kpi' and 'metric'")
    watched = raw.get("kpi", raw.get("metric"))
    if not isinstance(watched, str) or not NAME.match(watched):
        raise RulesError(f"{where}: kpi/metric: expected a name such as \"min_pressure\", "
                         f"got {watched!r}")
    if ("below" in raw) == ("above" in raw):
        raise RulesError(f"{where}: give exactly one of 'below' and 'above'")
    scope = raw.get("scope", "city")
    if scope not in SCOPES or ("metric" in raw and "scope" in raw):
        raise RulesError(f"{where}: scope: \"city\" (the KPI itself) or \"each\" (every "
                         f"subject of the KPI group), for kpi rules only; got {scope!r}")
    below = _number(raw["below"], f"{where}: below") if "below" in raw else None
    above = _number(raw["above"], f"{where}: above") if "above" in raw else None
    rule = ThresholdRule(
        id=raw["id"], title=_title(raw["title"], f"{where}: title"),
        title_zh=_title(raw["title_zh"], f"{where}: title_zh") if "title_zh" in raw else "",
        domain=raw["domain"],
        severity=_severity(raw["severity"], f"{where}: severity"),
        kpi=raw.get("kpi"), metric=raw.get("metric"), below=below, above=above,
        for_s=parse_duration(raw.get("for", 0), f"{where}: for"), scope=scope)
    return rule if _bool(raw.get("enabled", True), f"{where}: enabled") else None


def parse_rules(text: str, source: str = "rules") -> RuleSet:
    """Validate a rules file's text; :class:`RulesError` names what is wrong and where."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{source}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"escalation", "staleness", "feeds", "threshold", "kpi_limits"})
    if unknown:
        raise RulesError(f"{source}: unknown table '{unknown[0]}' "
                         "(known: escalation, staleness, feeds, threshold, kpi_limits)")
    escalation: dict[str, float | None] = dict(DEFAULT_ESCALATION)
    for severity, value in _table(data, "escalation", source, set(SEVERITIES)).items():
        where = f"{source}: escalation.{severity}"
        escalation[severity] = None if value == "never" else parse_duration(value, where)
    stale = _table(data, "staleness", source, {"enabled", "severity"})
    feeds = _table(data, "feeds", source, {"service_alerts", "cap_warnings"})
    limits = _table(data, "kpi_limits", source, {"enabled", "severity", "for"})
    raw_rules = data.get("threshold", [])
    if not isinstance(raw_rules, list):
        raise RulesError(f"{source}: threshold rules are [[threshold]] tables")
    if len(raw_rules) > MAX_RULES:
        raise RulesError(f"{source}: at most {MAX_RULES} threshold rules")
    rules = [rule for i, raw in enumerate(raw_rules) if (rule := _threshold(raw, i, source))]
    ids = [rule.id for rule in rules]
    duplicate = next((i for i in ids if ids.count(i) > 1), None)
    if duplicate:
        raise RulesError(f"{source}: rule id '{duplicate}' is used twice")
    return RuleSet(
        thresholds=tuple(rules), escalation=escalation,
        staleness=_bool(stale.get("enabled", True), f"{source}: staleness.enabled"),
        stale_severity=_severity(stale.get("severity", "major"), f"{source}: staleness.severity"),
        service_alerts=_bool(feeds.get("service_alerts", True), f"{source}: feeds.service_alerts"),
        cap_warnings=_bool(feeds.get("cap_warnings", True), f"{source}: feeds.cap_warnings"),
        source=source,
        kpi_limits=_bool(limits.get("enabled", True), f"{source}: kpi_limits.enabled"),
        kpi_limit_severity=_severity(limits.get("severity", "critical"),
                                     f"{source}: kpi_limits.severity"),
        kpi_limit_for_s=parse_duration(limits.get("for", "5m"), f"{source}: kpi_limits.for"))


def default_rules_text() -> str:
    """The shipped default rules file."""
    return resources.files("app.alerts").joinpath("default_rules.toml").read_text(encoding="utf-8")


def load_rules(path: Path | None = None) -> RuleSet:
    """The rules of ``path``, or the shipped defaults without one."""
    if path is None:
        return parse_rules(default_rules_text(), "default_rules.toml")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(f"{path}: cannot read: {exc}") from None
    return parse_rules(text, str(path))


def summary(rules: RuleSet) -> list[str]:
    """What `cityops rules check` prints of a valid file: a line for it, then one per rule."""
    lines = [f"{rules.source}: {len(rules.thresholds)} threshold rule(s) valid"]
    for rule in rules.thresholds:
        side = f"< {fmt(rule.below)}" if rule.below is not None else f"> {fmt(rule.threshold)}"
        lines.append(f"  {rule.id}: {rule.domain} {rule.kpi or rule.metric} {side} for "
                     f"{fmt(rule.for_s)} s -> {rule.severity}")
    return lines
