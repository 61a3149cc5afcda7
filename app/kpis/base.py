"""The KPI model and the judging helpers every domain's KPIs share (docs/kpis.md is the catalogue)."""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Protocol

import redis

from app.config import Settings, load_settings

# The judges live in app.kpis.status (the one rule set); domain modules import them from here.
from app.kpis.status import informational as informational
from app.kpis.status import judge as judge
from app.kpis.status import judge_at_least as judge_at_least
from app.kpis.status import judge_at_most as judge_at_most

# Subjects come from feeds (a request category is free text): long ones are cut so that a KPI
# name stays a short hash field. Screens escape them like any feed text.
MAX_SUBJECT_CHARS = 80


@dataclass(frozen=True)
class Kpi:
    """One indicator: its value against its target, and whether that is ok, warn or bad.

    Per-subject indicators (one per zone, hospital or request category) are named
    ``<group>:<subject>``; ``group`` is the base name (``min_pressure``) so that screens and alert
    rules can pick a group for every subject, and the city-wide figure of a group has no subject.
    ``detail`` carries the evidence behind the value (how many reported, which sensor is worst).
    """

    name: str
    domain: str
    title: str
    value: float | None
    unit: str
    target: str
    status: str  # "ok", "warn", "bad" or "unknown" (no data to judge)
    computed_at: float
    subject: str | None = None
    group: str = ""
    detail: Mapping[str, Any] | None = None
    # How many observations the value rests on (requests, sensors), when it counts any: below
    # kpis.min_sample it is a small sample (app.kpis.status). None: not a count of observations.
    sample: int | None = None
    # The target in words, for screens in the reader's language: a catalogue key and its values
    # (``target`` keeps the English for the API and machine exports). None: ``target`` is only
    # a comparison and a number (">= 2 bar"), the same in every language.
    target_words: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if not self.group:
            object.__setattr__(self, "group", self.name.partition(":")[0])

    def as_json(self) -> dict[str, Any]:
        """The stored and API form."""
        return asdict(self)


class Computer(Protocol):
    """What computes one domain's KPIs from the live store."""

    def __call__(self, r: redis.Redis, now: float | None = None,
                 settings: Settings | None = None) -> list[Kpi]: ...


def target_words(key: str, **values: Any) -> dict[str, Any]:
    """A target in words (``Kpi.target_words``): catalogue key ``kpi_target.<key>`` and its values."""
    return {"key": f"kpi_target.{key}", "values": values}


def subject_kpi(group: str, subject: str, **fields: Any) -> Kpi:
    """A per-subject KPI named ``<group>:<subject>`` (the subject cut to MAX_SUBJECT_CHARS)."""
    subject = subject[:MAX_SUBJECT_CHARS]
    return Kpi(name=f"{group}:{subject}", subject=subject, group=group, **fields)


def headline_first(kpis: list[Kpi]) -> list[Kpi]:
    """The city-wide KPIs (no subject) first, then the per-subject ones group by group.

    Otherwise the given order stands: groups in the order they first appear, subjects as listed.
    """
    groups: dict[str, int] = {}
    for kpi in kpis:
        groups.setdefault(kpi.group, len(groups))
    return sorted(kpis, key=lambda k: (k.subject is not None, groups[k.group] if k.subject else 0))


def fresh(latest: Mapping[str, tuple[float, str, float]], now: float,
          max_age_s: float) -> dict[str, float]:
    """entity id -> value of the readings of ``latest`` no older than ``max_age_s``."""
    oldest = now - max_age_s
    return {entity_id: float(value) for entity_id, (value, _unit, at) in latest.items()
            if at >= oldest}


@functools.lru_cache(maxsize=1)
def default_settings() -> Settings:
    """The process's settings (environment and CITYOPS_CONFIG), read once."""
    return load_settings()
