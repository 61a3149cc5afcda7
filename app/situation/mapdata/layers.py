"""The live map's layers: what each draws, its marker classes (colour, size), the limits that class them."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

import numpy as np

from app.config import KpiSettings
from app.model.domains import DOMAINS

MAX_MARKERS = 5000  # individually drawn markers in a view; beyond it the largest layers are grouped
ALERTS = "alerts"  # the pseudo-domain whose version is the alerts' version


HOVER_LIMIT = 60  # characters of one feed string in a hover label


# Ranks order classes by how bad they are: a cell shows its worst member's rank.
OK, UNKNOWN, WARN, BAD = 0, 1, 2, 3


RANK_COLOURS = ("#009E73", "#8C8C8C", "#E69F00", "#D55E00")  # Okabe-Ito, colour-blind safe


RANK_LABELS = ("ok", "unknown", "warning", "bad")


@dataclass(frozen=True)
class MarkerClass:
    """One state of a layer's markers: its colour and size (size is the second, non-colour cue)."""

    key: str
    label: str
    colour: str
    size: int
    rank: int


@dataclass(frozen=True)
class Layer:
    """A layer of the map: which entities it draws, and the classes they fall into."""

    key: str
    title: str
    domain: str  # a domain, or ALERTS
    kinds: tuple[str, ...]
    noun: str  # plural, for grouped cells ("12 vehicles")
    geometry: str = "points"  # points, lines (routes) or areas (CAP warnings)
    classes: tuple[MarkerClass, ...] = ()
    opacity: float = 0.9

    @property
    def ranks(self) -> np.ndarray:
        """Each class's rank, indexable by class code."""
        return np.array([c.rank for c in self.classes], dtype=np.uint8)


def _classes(*rows: tuple[str, str, str, int, int]) -> tuple[MarkerClass, ...]:
    return tuple(MarkerClass(*row) for row in rows)


GREEN, BLUE, SKY, ORANGE, VERMILLION, PURPLE, YELLOW, GREY = (
    "#009E73", "#0072B2", "#56B4E9", "#E69F00", "#D55E00", "#CC79A7", "#F0E442", "#8C8C8C")


SEVERITY_CLASSES = _classes(
    ("critical", "critical", VERMILLION, 34, BAD), ("major", "major", ORANGE, 30, BAD),
    ("minor", "minor", YELLOW, 26, WARN), ("warning", "warning", PURPLE, 24, WARN),
    ("info", "info", SKY, 22, OK))


SEVERITY_RANK = {c.key: i for i, c in enumerate(SEVERITY_CLASSES)}


# Things that report their own state (vehicles, ambulances, sensors, reservoirs, hospitals) and
# have not for longer than their feed's freshness budget: drawn as such, pale and small, whatever
# their last report said (issue 18: stale data dimmed on the map too). Always the layer's last class.
QUIET = "quiet"
QUIET_COLOUR = "#C9CED3"
QUIET_ROW = (QUIET, "no recent report", QUIET_COLOUR, 6, UNKNOWN)


LAYERS: tuple[Layer, ...] = (
    Layer("routes", "Bus routes", "transport", ("route",), "routes", geometry="lines"),
    Layer("warnings", "Warning areas", "city", ("cap_warning",), "warnings", geometry="areas",
          classes=SEVERITY_CLASSES),
    Layer("stops", "Stops", "transport", ("stop",), "stops",
          classes=_classes(("stop", "stop", "#5F6B76", 5, OK))),
    Layer("requests", "City requests", "city", ("request",), "requests", classes=_classes(
        ("open", "open", BLUE, 7, OK), ("overdue", "past due", VERMILLION, 10, WARN))),
    Layer("sensors", "Water sensors", "water", ("sensor",), "sensors", classes=_classes(
        ("ok", "pressure ok", GREEN, 8, OK), ("low", "pressure low", ORANGE, 11, WARN),
        ("very_low", "pressure very low", VERMILLION, 14, BAD),
        ("unknown", "pressure sensor, no reading", GREY, 7, UNKNOWN),
        # Flow, level and quality meters: no pressure to judge, and not broken (issue 19).
        ("other", "flow, level or quality meter", SKY, 7, OK), QUIET_ROW)),
    Layer("reservoirs", "Reservoirs", "water", ("reservoir",), "reservoirs", classes=_classes(
        ("ok", "level ok", GREEN, 13, OK), ("low", "level low", ORANGE, 16, WARN),
        ("very_low", "level very low", VERMILLION, 19, BAD),
        ("unknown", "no level reading", GREY, 12, UNKNOWN), QUIET_ROW)),
    Layer("hospitals", "Hospitals", "medical", ("hospital",), "hospitals", classes=_classes(
        ("free", "beds free", GREEN, 14, OK), ("filling", "filling up", ORANGE, 17, WARN),
        ("full", "full", VERMILLION, 20, BAD), ("unknown", "no capacity report", GREY, 12, UNKNOWN),
        QUIET_ROW)),
    Layer("ambulances", "Ambulances", "medical", ("ambulance",), "ambulances", classes=_classes(
        ("available", "available", SKY, 10, OK), ("on_call", "on call", PURPLE, 13, WARN), QUIET_ROW)),
    Layer("vehicles", "Vehicles", "transport", ("vehicle",), "vehicles", classes=_classes(
        ("early", "early", BLUE, 9, OK), ("on_time", "on time", GREEN, 9, OK),
        ("late", "late", ORANGE, 12, WARN), ("very_late", "very late", VERMILLION, 15, BAD),
        ("unknown", "delay unknown", GREY, 8, UNKNOWN), QUIET_ROW)),
    Layer("alerts", "Alerts", ALERTS, ("alert",), "alerts", classes=SEVERITY_CLASSES, opacity=0.55),
)


LAYER_BY_KEY: dict[str, Layer] = {layer.key: layer for layer in LAYERS}


def quiet_code(layer: Layer) -> int | None:
    """The class code of ``layer``'s things that have not reported lately (None: not judged)."""
    return len(layer.classes) - 1 if layer.classes and layer.classes[-1].key == QUIET else None


VERSION_KEYS: tuple[str, ...] = DOMAINS + (ALERTS,)


# Delay classes of vehicles: early below -60 s, on time below 300 s, late below 600 s, then very
# late; class 4 when no delay is known.
DELAY_EDGES = np.array([-60.0, 300.0, 600.0])


UNKNOWN_DELAY = 4


# The readings a domain's classes need, read once per version.
DOMAIN_METRICS: dict[str, tuple[str, ...]] = {
    "transport": ("delay_s",), "water": ("pressure_bar", "level_m"),
    "medical": ("beds_available", "beds_total", "beds_occupied"), "city": (),
}


WARNING_KIND = "cap_warning"


@dataclass(frozen=True)
class Thresholds:
    """The limits that colour sensors, reservoirs and hospitals: the KPI settings' own, taken
    from them (:meth:`of`), so the map and the KPIs never judge by different numbers."""

    pressure_low_bar: float
    pressure_bad_bar: float
    level_low_m: float
    level_bad_m: float
    occupancy_warn_pct: float
    occupancy_bad_pct: float

    @classmethod
    def of(cls, kpis: KpiSettings | None = None) -> Thresholds:
        """The thresholds of an installation's KPI settings (the defaults without any)."""
        kpis = kpis or KpiSettings()
        return cls(kpis.pressure_min_bar, kpis.pressure_bad_bar, kpis.reservoir_min_m,
                   kpis.reservoir_bad_m, kpis.occupancy_target_pct, kpis.occupancy_bad_pct)


def hover_text(value: Any, limit: int = HOVER_LIMIT) -> str:
    """Feed text for a hover label: shortened, then HTML-escaped."""
    text = " ".join(str(value).split())
    if len(text) > limit:
        text = text[:limit - 1] + "…"
    # Plotly decodes &lt; &gt; &amp; and numeric entities but not &quot;: with the brackets
    # escaped no tag can form, so quotes are harmless and must stay quotes.
    return escape(text, quote=False)


def short_id(entity_id: str) -> str:
    """The part of an id after its source prefix (``demo:vehicle:12`` -> ``12``)."""
    return entity_id.rsplit(":", 1)[-1]
