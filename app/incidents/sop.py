"""The SOP catalogue as a file: departments, incident types with their steps, the proposal rule (TOML).

A catalogue is parsed and validated here (:class:`SopError` names the file, the type, the step and
the key); the shipped app/incidents/default_sops.toml applies unless ``incidents.sop_file`` names a
city's own. Run ``cityops sop check FILE`` to validate a file. :func:`current` re-reads the file
when it changes and keeps the catalogue in force when a new version does not validate.
"""

from __future__ import annotations

import logging
import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from app.alerts.rules import RulesError, parse_duration
from app.model.domains import DOMAINS
from app.model.incidents import (
    LEVELS,
    MAX_DUE_MINUTES,
    MAX_RADIUS_M,
    MAX_STEPS,
    MAX_TITLE,
    MIN_RADIUS_M,
    SLUG,
    SOP_ACTIONS,
)

log = logging.getLogger("cityops.incidents")
DEFAULT_FILE = "default_sops.toml"
MAX_NAME = 100
MAX_KEYWORDS = 50


class SopError(ValueError):
    """A catalogue that does not validate; the message names the file, type, step and key."""


@dataclass(frozen=True)
class Department:
    """A department that owns steps; users belong to departments."""

    id: str
    name: str
    name_zh: str


@dataclass(frozen=True)
class Step:
    """One step of a procedure: who owns it, when it is due after the declaration, and what the
    system does itself when it falls due and nobody has taken it (``action``, optional)."""

    id: str
    title: str
    title_zh: str
    department: str
    due_s: float
    required: bool = True
    action: str = ""
    notify: tuple[str, ...] = ()  # departments a "notify" step tells (empty: the incident's)


@dataclass(frozen=True)
class IncidentType:
    """An incident type: its names, the domains its auto-link watches, its starting level, the
    words that suggest it for a proposal, and its procedure."""

    id: str
    name: str
    name_zh: str
    domains: tuple[str, ...]
    level: str
    keywords: tuple[str, ...]
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class ProposalRule:
    """When clustered alerts are proposed as an incident."""

    enabled: bool = True
    min_alerts: int = 3
    min_domains: int = 2
    radius_m: float = 500.0
    window_s: float = 900.0
    warning_areas: bool = True


@dataclass(frozen=True)
class Catalogue:
    """A validated SOP catalogue."""

    departments: Mapping[str, Department]
    types: Mapping[str, IncidentType]
    proposals: ProposalRule = field(default_factory=ProposalRule)
    radius_m: float = 500.0
    source: str = DEFAULT_FILE


# -- checking values -------------------------------------------------------------------------------
def _unknown(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise SopError(f"{where}: unknown key '{unknown[0]}' (known: {', '.join(sorted(allowed))})")


def _text(table: Mapping[str, Any], key: str, where: str, most: int = MAX_NAME,
          default: str | None = None) -> str:
    if key not in table:
        if default is not None:
            return default
        raise SopError(f"{where}: key '{key}' is missing")
    value = table[key]
    if not isinstance(value, str) or not value.strip() or len(value) > most:
        raise SopError(f"{where}: key '{key}': expected a text of 1 to {most} characters, "
                       f"got {str(value)[:40]!r}")
    return value.strip()


def _bool(table: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise SopError(f"{where}: key '{key}': expected true or false, got {value!r}")
    return value


def _number(table: Mapping[str, Any], key: str, where: str, default: float, low: float,
            high: float, whole: bool = False) -> float:
    value = table.get(key, default)
    kinds = (int,) if whole else (int, float)
    if (isinstance(value, bool) or not isinstance(value, kinds)
            or not math.isfinite(value) or not low <= value <= high):
        what = "a whole number" if whole else "a number"
        raise SopError(f"{where}: key '{key}': expected {what} from {low:g} to {high:g}, "
                       f"got {value!r}")
    return float(value)


def _duration(table: Mapping[str, Any], key: str, where: str, default: Any, most_s: float) -> float:
    try:
        seconds = parse_duration(table.get(key, default), f"{where}: key '{key}'")
    except RulesError as exc:
        raise SopError(str(exc)) from None
    if seconds > most_s:
        raise SopError(f"{where}: key '{key}': at most {most_s / 60:g} minutes")
    return seconds


def _slug(value: Any, where: str, what: str) -> str:
    if not isinstance(value, str) or not SLUG.match(value):
        raise SopError(f"{where}: {what} {str(value)[:40]!r}: 1 to 40 lowercase letters, digits "
                       "or '_', starting with a letter")
    return value


def _list(table: Mapping[str, Any], key: str, where: str, allowed: Mapping[str, Any] | tuple[str, ...]
          | None = None, most: int = MAX_KEYWORDS) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or len(value) > most or not all(
            isinstance(v, str) and v.strip() and len(v) <= MAX_NAME for v in value):
        raise SopError(f"{where}: key '{key}': expected a list of at most {most} texts")
    if allowed is not None:
        unknown = [v for v in value if v not in allowed]
        if unknown:
            raise SopError(f"{where}: key '{key}': unknown '{unknown[0][:40]}' (known: "
                           f"{', '.join(sorted(allowed))})")
    return tuple(dict.fromkeys(value))


# -- the tables --------------------------------------------------------------------------------------
_PROPOSAL_KEYS = {"enabled", "min_alerts", "min_domains", "radius_m", "window", "warning_areas"}
_DEPARTMENT_KEYS = {"name", "name_zh"}
_TYPE_KEYS = {"name", "name_zh", "domains", "level", "keywords", "steps"}
_STEP_KEYS = {"id", "title", "title_zh", "department", "due", "required", "action", "departments"}


def _proposals(raw: Any, source: str) -> ProposalRule:
    where = f"{source}: [proposals]"
    if not isinstance(raw, dict):
        raise SopError(f"{where}: must be a table")
    _unknown(raw, _PROPOSAL_KEYS, where)
    return ProposalRule(
        enabled=_bool(raw, "enabled", where, True),
        min_alerts=int(_number(raw, "min_alerts", where, 3, 2, 50, whole=True)),
        min_domains=int(_number(raw, "min_domains", where, 2, 1, len(DOMAINS), whole=True)),
        radius_m=_number(raw, "radius_m", where, 500, MIN_RADIUS_M, MAX_RADIUS_M),
        window_s=_duration(raw, "window", where, "15m", 86400.0),
        warning_areas=_bool(raw, "warning_areas", where, True))


def _departments(raw: Any, source: str) -> dict[str, Department]:
    if not isinstance(raw, dict) or not raw:
        raise SopError(f"{source}: [departments]: expected at least one [departments.<id>] table")
    found = {}
    for key, table in raw.items():
        where = f"{source}: department '{str(key)[:40]}'"
        _slug(key, f"{source}: [departments]", "department id")
        if not isinstance(table, dict):
            raise SopError(f"{where}: must be a table")
        _unknown(table, _DEPARTMENT_KEYS, where)
        found[key] = Department(key, _text(table, "name", where), _text(table, "name_zh", where))
    return found


def _step(raw: Any, index: int, where: str, departments: Mapping[str, Department]) -> Step:
    here = f"{where}: step #{index + 1}"
    if not isinstance(raw, dict):
        raise SopError(f"{here}: must be a table ([[types.<type>.steps]])")
    if isinstance(raw.get("id"), str):
        here = f"{where}: step '{raw['id'][:40]}'"
    _unknown(raw, _STEP_KEYS, here)
    if "id" not in raw:
        raise SopError(f"{here}: key 'id' is missing")
    step_id = _slug(raw["id"], here, "key 'id':")
    department = raw.get("department")
    if department not in departments:
        raise SopError(f"{here}: key 'department': unknown department {str(department)[:40]!r} "
                       f"(known: {', '.join(sorted(departments))})")
    action = raw.get("action", "")
    if action != "" and action not in SOP_ACTIONS:
        raise SopError(f"{here}: key 'action': expected one of {', '.join(SOP_ACTIONS)}, "
                       f"got {str(action)[:40]!r}")
    notify = _list(raw, "departments", here, departments)
    if notify and action != "notify":
        raise SopError(f"{here}: key 'departments': only a step with action = \"notify\" names "
                       "departments to notify")
    return Step(id=step_id, title=_text(raw, "title", here, MAX_TITLE),
                title_zh=_text(raw, "title_zh", here, MAX_TITLE), department=department,
                due_s=_duration(raw, "due", here, None, MAX_DUE_MINUTES * 60.0),
                required=_bool(raw, "required", here, True), action=action, notify=notify)


def _type(key: Any, raw: Any, source: str, departments: Mapping[str, Department]) -> IncidentType:
    _slug(key, f"{source}: [types]", "type id")
    where = f"{source}: type '{key}'"
    if not isinstance(raw, dict):
        raise SopError(f"{where}: must be a table")
    _unknown(raw, _TYPE_KEYS, where)
    domains = _list(raw, "domains", where, DOMAINS, len(DOMAINS))
    if not domains:
        raise SopError(f"{where}: key 'domains': name at least one of {', '.join(DOMAINS)}")
    level = raw.get("level", "IV")
    if level not in LEVELS:
        raise SopError(f"{where}: key 'level': expected one of {', '.join(LEVELS)}, got {level!r}")
    steps_raw = raw.get("steps", [])
    if not isinstance(steps_raw, list) or len(steps_raw) > MAX_STEPS:
        raise SopError(f"{where}: key 'steps': expected at most {MAX_STEPS} [[types.{key}.steps]] "
                       "tables")
    steps = tuple(_step(step, i, where, departments) for i, step in enumerate(steps_raw))
    ids = [s.id for s in steps]
    twice = next((i for i in ids if ids.count(i) > 1), None)
    if twice:
        raise SopError(f"{where}: step '{twice}': key 'id': used twice")
    return IncidentType(id=key, name=_text(raw, "name", where), name_zh=_text(raw, "name_zh", where),
                        domains=domains, level=level, keywords=_list(raw, "keywords", where),
                        steps=steps)


def parse_catalogue(text: str, source: str = DEFAULT_FILE) -> Catalogue:
    """Validate a catalogue's text; :class:`SopError` names what is wrong and where."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SopError(f"{source}: not valid TOML: {exc}") from None
    _unknown(data, {"proposals", "area", "departments", "types"}, source)
    area = data.get("area", {})
    if not isinstance(area, dict):
        raise SopError(f"{source}: [area]: must be a table")
    _unknown(area, {"radius_m"}, f"{source}: [area]")
    radius = _number(area, "radius_m", f"{source}: [area]", 500, MIN_RADIUS_M, MAX_RADIUS_M)
    departments = _departments(data.get("departments"), source)
    types_raw = data.get("types")
    if not isinstance(types_raw, dict) or not types_raw:
        raise SopError(f"{source}: [types]: expected at least one [types.<type>] table")
    types = {key: _type(key, raw, source, departments) for key, raw in types_raw.items()}
    return Catalogue(departments=departments, types=types,
                     proposals=_proposals(data.get("proposals", {}), source), radius_m=radius,
                     source=source)


def default_text() -> str:
    """The shipped default catalogue."""
    return resources.files("app.incidents").joinpath(DEFAULT_FILE).read_text(encoding="utf-8")


def load_catalogue(path: Path | None = None) -> Catalogue:
    """The catalogue of ``path``, or the shipped default without one."""
    if path is None:
        return parse_catalogue(default_text(), DEFAULT_FILE)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SopError(f"{path}: cannot read: {exc}") from None
    return parse_catalogue(text, str(path))


def summary(catalogue: Catalogue) -> list[str]:
    """What `cityops sop check` prints of a valid file: a line for it, then one per type."""
    lines = [f"{catalogue.source}: {len(catalogue.types)} incident type(s), "
             f"{len(catalogue.departments)} department(s) valid"]
    for kind in catalogue.types.values():
        actions = sum(1 for s in kind.steps if s.action)
        lines.append(f"  {kind.id}: level {kind.level}, {len(kind.steps)} step(s) "
                     f"({actions} done by the system), domains {', '.join(kind.domains)}")
    return lines


def catalogue_json(catalogue: Catalogue) -> dict[str, Any]:
    """The catalogue as the API gives it: departments and incident types with their steps."""
    return {
        "source": catalogue.source, "radius_m": catalogue.radius_m,
        "departments": [{"id": d.id, "name": d.name, "name_zh": d.name_zh}
                        for d in catalogue.departments.values()],
        "types": [{"id": t.id, "name": t.name, "name_zh": t.name_zh, "level": t.level,
                   "domains": list(t.domains), "keywords": list(t.keywords),
                   "steps": [{"id": s.id, "title": s.title, "title_zh": s.title_zh,
                              "department": s.department, "due_minutes": s.due_s / 60.0,
                              "required": s.required, "action": s.action,
                              "departments": list(s.notify)} for s in t.steps]}
                  for t in catalogue.types.values()],
        "proposals": {"enabled": catalogue.proposals.enabled,
                      "min_alerts": catalogue.proposals.min_alerts,
                      "min_domains": catalogue.proposals.min_domains,
                      "radius_m": catalogue.proposals.radius_m,
                      "window_minutes": catalogue.proposals.window_s / 60.0,
                      "warning_areas": catalogue.proposals.warning_areas},
    }


# -- the catalogue in force ------------------------------------------------------------------------------
_loaded: dict[str, Any] = {}


def current(path: Path | None) -> tuple[Catalogue, str | None]:
    """The catalogue of ``path`` (the default without one), re-read when the file changes, and
    the error of a version that was refused (the catalogue loaded before stays in force)."""
    try:
        stamp = (str(path), path.stat().st_mtime_ns) if path is not None else ("defaults", 0)
        error: str | None = None
    except OSError as exc:
        stamp, error = (str(path), -1), f"{path}: cannot read: {exc.strerror or exc}"
    if _loaded.get("stamp") == stamp:
        return _loaded["catalogue"], _loaded["error"]
    catalogue: Catalogue | None = None
    if error is None:
        try:
            catalogue = load_catalogue(path)
        except SopError as exc:
            error = str(exc)
    if catalogue is None:
        log.error("SOP catalogue not loaded: %s (keeping the catalogue in force)", error)
        catalogue = _loaded.get("catalogue") or load_catalogue()
    _loaded.update(stamp=stamp, catalogue=catalogue, error=error)
    return catalogue, error
