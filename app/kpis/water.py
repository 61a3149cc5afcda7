"""Water KPIs: pressure per zone, flow, reservoir levels, water-quality compliance, suspected leaks.

Readings come from the store's newest value per sensor and metric (SenML and SensorThings feeds
give the same metrics); a reading older than ``kpi_water_max_age_s`` is not current and counts as
no data. Zones come from the sensors' ``zone`` attribute. Suspected leaks follow the minimum-night-
flow method described in docs/kpis.md, with the nightly minima kept in the KPI's own ``detail``.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo

import redis

from app import store
from app.config import Settings
from app.kpis.base import (
    Kpi,
    default_settings,
    fresh,
    headline_first,
    informational,
    judge_at_least,
    subject_kpi,
    target_words,
)

DOMAIN = "water"
PRESSURE, FLOW, LEVEL = "pressure_bar", "flow_m3h", "level_m"
TURBIDITY, CHLORINE = "turbidity_ntu", "free_chlorine_mgl"
METRICS = (PRESSURE, FLOW, LEVEL, TURBIDITY, CHLORINE)
# A learned baseline needs this many earlier nights that were not themselves suspect.
MIN_LEARN_NIGHTS = 3
# A night's minimum counts only when samples span at least this share of the night window.
MIN_NIGHT_COVERAGE = 0.5
# How many sensor ids a detail lists (the count is always complete).
DETAIL_IDS = 10


@dataclass
class Network:
    """What the live store says about the sensors: zones, what each measures, which are reservoirs."""

    zone_of: dict[str, str] = field(default_factory=dict)
    # metric -> zone -> ids of the zone's sensors that measure it (from the sensors' metrics attr)
    sensors: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    reservoirs: set[str] = field(default_factory=set)
    # zone -> its inlet flow meters (attribute role = "inlet"), where the feed says which they are
    inlets: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, entities: Iterable[Mapping[str, Any]]) -> Network:
        """The network of the water domain's live entities."""
        net = cls()
        for entity in entities:
            attrs = entity.get("attrs") or {}
            if entity.get("kind") == "reservoir":
                net.reservoirs.add(entity["id"])
            zone = attrs.get("zone")
            if not isinstance(zone, str) or not zone:
                continue
            net.zone_of[entity["id"]] = zone
            for metric in attrs.get("metrics") or ():
                net.sensors.setdefault(metric, {}).setdefault(zone, set()).add(entity["id"])
            if attrs.get("role") == "inlet":
                net.inlets.setdefault(zone, set()).add(entity["id"])
        return net

    def meters(self, zone: str) -> set[str]:
        """The flow meters that measure what enters ``zone``: its inlets when known, else all.

        A zone (a district metered area) is measured at its inlets; adding a meter inside the
        zone to them would count the same water twice.
        """
        return self.inlets.get(zone) or self.sensors.get(FLOW, {}).get(zone, set())

    def by_zone(self, metric: str, values: Mapping[str, float]) -> dict[str, dict[str, float]]:
        """zone -> {sensor id: current value}, with every zone that has sensors of ``metric``."""
        zones: dict[str, dict[str, float]] = {z: {} for z in self.sensors.get(metric, {})}
        for entity_id, value in values.items():
            zone = self.zone_of.get(entity_id)
            if zone is not None:
                zones.setdefault(zone, {})[entity_id] = value
        return zones


def label(entity_id: str) -> str:
    """A sensor's name as its feed gave it (the id without the ``<feed>:sensor:`` prefix)."""
    return entity_id.partition(":sensor:")[2] or entity_id


def _lowest(values: Mapping[str, float]) -> tuple[float | None, str | None]:
    if not values:
        return None, None
    worst = min(values, key=values.__getitem__)
    return values[worst], worst


def pressure_kpis(net: Network, values: Mapping[str, float], now: float, s: Settings) -> list[Kpi]:
    """The lowest current pressure, city-wide and per zone."""
    target = f">= {s.kpis.pressure_min_bar:g} bar"

    def one(vals: Mapping[str, float]) -> dict[str, Any]:
        low, worst = _lowest(vals)
        return {"value": low, "unit": "bar", "target": target, "computed_at": now, "domain": DOMAIN,
                "status": judge_at_least(low, s.kpis.pressure_min_bar, s.kpis.pressure_bad_bar),
                "detail": {"sensors": len(vals), "lowest": worst}}

    out = [Kpi(name="min_pressure", title="Lowest pressure", **one(values))]
    for zone, vals in sorted(net.by_zone(PRESSURE, values).items()):
        out.append(subject_kpi("min_pressure", zone, title=f"Lowest pressure: {zone}", **one(vals)))
    return out


def flow_kpis(net: Network, values: Mapping[str, float], now: float) -> list[Kpi]:
    """The total current inflow, per zone (its inlet meters) and city-wide (informational).

    The city-wide total adds the zones' totals and the meters that belong to no zone.
    """
    def one(vals: Mapping[str, float], known: int) -> dict[str, Any]:
        total = sum(vals.values()) if vals else None
        return {"value": total, "unit": "m3/h", "target": "", "status": informational(total),
                "computed_at": now, "domain": DOMAIN,
                "detail": {"sensors": len(vals), "silent": max(known - len(vals), 0)}}

    zones = sorted(set(net.sensors.get(FLOW, {})) | {net.zone_of[i] for i in values if i in net.zone_of})
    counted = {i for i in values if i not in net.zone_of}
    known = set(counted)
    per_zone = []
    for zone in zones:
        meters = net.meters(zone) or {i for i in values if net.zone_of.get(i) == zone}
        vals = {i: values[i] for i in meters if i in values}
        counted |= set(vals)
        known |= meters
        per_zone.append(subject_kpi("total_flow", zone, title=f"Flow: {zone}",
                                    **one(vals, len(meters))))
    city = {i: values[i] for i in counted}
    return [Kpi(name="total_flow", title="Total flow", **one(city, len(known))), *per_zone]


def reservoir_kpis(net: Network, levels: Mapping[str, float], known: Iterable[str], now: float,
                   s: Settings) -> list[Kpi]:
    """The lowest reservoir level, and each reservoir's level (unknown when it fell silent)."""
    target = f">= {s.kpis.reservoir_min_m:g} m"
    low, worst = _lowest(levels)
    out = [Kpi("reservoir_level", DOMAIN, "Lowest reservoir level", low, "m", target,
               judge_at_least(low, s.kpis.reservoir_min_m, s.kpis.reservoir_bad_m), now,
               detail={"reservoirs": len(levels), "lowest": worst})]
    for entity_id in sorted(net.reservoirs | set(known) | set(levels)):
        level = levels.get(entity_id)
        out.append(subject_kpi(
            "reservoir_level", entity_id, domain=DOMAIN, title=f"Reservoir level: {label(entity_id)}",
            value=level, unit="m", target=target, computed_at=now,
            status=judge_at_least(level, s.kpis.reservoir_min_m, s.kpis.reservoir_bad_m)))
    return out


def within_limits(turbidity: float | None, chlorine: float | None, s: Settings) -> bool:
    """True when every known quality reading of a sensor is within the configured limits."""
    if turbidity is not None and turbidity > s.kpis.turbidity_max_ntu:
        return False
    return chlorine is None or s.kpis.free_chlorine_min_mgl <= chlorine <= s.kpis.free_chlorine_max_mgl


def quality_kpis(net: Network, turbidity: Mapping[str, float], chlorine: Mapping[str, float],
                 now: float, s: Settings) -> list[Kpi]:
    """The share of quality sensors whose current readings are all within limits, city and zones."""
    target = (f">= {s.kpis.quality_target_pct:g} % (turbidity <= {s.kpis.turbidity_max_ntu:g} NTU, "
              f"free chlorine {s.kpis.free_chlorine_min_mgl:g}-{s.kpis.free_chlorine_max_mgl:g} mg/L)")
    words = target_words("quality", share=f"{s.kpis.quality_target_pct:g}",
                         ntu=f"{s.kpis.turbidity_max_ntu:g}", low=f"{s.kpis.free_chlorine_min_mgl:g}",
                         high=f"{s.kpis.free_chlorine_max_mgl:g}")
    compliant = {i: within_limits(turbidity.get(i), chlorine.get(i), s)
                 for i in set(turbidity) | set(chlorine)}

    def one(verdicts: Mapping[str, bool]) -> dict[str, Any]:
        outside = sorted(i for i, ok in verdicts.items() if not ok)
        share = 100.0 * (len(verdicts) - len(outside)) / len(verdicts) if verdicts else None
        return {"value": share, "unit": "%", "target": target, "target_words": words,
                "computed_at": now, "domain": DOMAIN,
                "status": judge_at_least(share, s.kpis.quality_target_pct, s.kpis.quality_bad_pct),
                "detail": {"sensors": len(verdicts), "outside_limits": len(outside),
                           "outside": outside[:DETAIL_IDS]}}

    out = [Kpi(name="water_quality_compliance", title="Water quality within limits",
               **one(compliant))]
    zones: dict[str, dict[str, bool]] = {z: {} for m in (TURBIDITY, CHLORINE)
                                         for z in net.sensors.get(m, {})}
    for entity_id, ok in compliant.items():
        zone = net.zone_of.get(entity_id)
        if zone is not None:
            zones.setdefault(zone, {})[entity_id] = ok
    for zone, verdicts in sorted(zones.items()):
        out.append(subject_kpi("water_quality_compliance", zone,
                               title=f"Water quality within limits: {zone}", **one(verdicts)))
    return out


# -- suspected leaks: minimum night flow ------------------------------------------------------------
def night_bounds(day: date, s: Settings, tz: ZoneInfo) -> tuple[float, float]:
    """Start and end (Unix time) of the night window of local date ``day``."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
    start, end = s.kpis.night_window
    # Wall-clock minutes, so a DST change before the window does not shift it.
    return ((midnight + timedelta(minutes=start)).timestamp(),
            (midnight + timedelta(minutes=end)).timestamp())


def _nights(stored: Any) -> dict[str, list[float]]:
    """The nightly minima kept in a stored night_flow KPI: date -> [minimum, first, last sample]."""
    nights = stored.get("nights") if isinstance(stored, Mapping) else None
    if not isinstance(nights, Mapping):
        return {}
    out = {}
    for day, entry in nights.items():
        try:
            date.fromisoformat(day)
        except (TypeError, ValueError):
            continue  # not a night this module wrote: ignored rather than trusted
        if (isinstance(entry, list) and len(entry) == 3
                and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in entry)):
            out[day] = [float(x) for x in entry]
    return out


@dataclass(frozen=True)
class NightVerdict:
    """One complete night of a zone judged against the baseline of the nights before it."""

    day: str
    minimum: float
    baseline: float | None
    source: str | None  # "configured", "learned" or None while too few nights are known
    threshold: float | None
    suspect: bool


def judge_nights(complete: Mapping[str, float], configured: float | None,
                 s: Settings) -> list[NightVerdict]:
    """Each complete night (oldest first) against its baseline.

    The baseline is the configured one, else the median of up to ``kpi_leak_learn_nights`` earlier
    nights that were not suspect themselves: a leak that lasts never becomes its own baseline.
    """
    verdicts: list[NightVerdict] = []
    clean: list[float] = []
    margin = 1.0 + s.kpis.leak_margin_pct / 100.0
    for day in sorted(complete):
        minimum = complete[day]
        if configured is not None:
            baseline, source = configured, "configured"
        elif len(clean) >= MIN_LEARN_NIGHTS:
            baseline, source = statistics.median(clean[-s.kpis.leak_learn_nights:]), "learned"
        else:
            baseline, source = None, None
        threshold = (None if baseline is None
                     else max(baseline * margin, baseline + s.kpis.leak_min_excess_m3h))
        suspect = threshold is not None and minimum > threshold
        verdicts.append(NightVerdict(day, minimum, baseline, source, threshold, suspect))
        if not suspect:
            clean.append(minimum)
    return verdicts


def add_sample(nights: dict[str, list[float]], meters: set[str], flows: Mapping[str, float],
               now: float, s: Settings, tz: ZoneInfo) -> dict[str, list[float]]:
    """The zone's nightly minima with this refresh's sample added (in the window, all meters
    current), trimmed to the nights a baseline can use."""
    local = datetime.fromtimestamp(now, tz)
    start, end = s.kpis.night_window
    current = [flows[i] for i in meters if i in flows]
    # A sample needs every meter of the zone: a silent one would make the night look quiet.
    if start <= local.hour * 60 + local.minute < end and meters and len(current) == len(meters):
        total, day = sum(current), local.date().isoformat()
        entry = nights.get(day)
        nights[day] = ([total, now, now] if entry is None
                       else [min(entry[0], total), min(entry[1], now), max(entry[2], now)])
    keep = 2 * s.kpis.leak_learn_nights + 2
    return {d: nights[d] for d in sorted(nights)[-keep:]}


def night_flow_kpi(zone: str, nights: Mapping[str, list[float]], meters: int, silent: int,
                   now: float, s: Settings, tz: ZoneInfo) -> Kpi:
    """The zone's minimum night flow of last night, judged against its baseline."""
    start, end = s.kpis.night_window
    coverage = MIN_NIGHT_COVERAGE * (end - start) * 60
    complete = {d: e[0] for d, e in nights.items()
                if e[2] - e[1] >= coverage and now >= night_bounds(date.fromisoformat(d), s, tz)[1]}
    verdicts = judge_nights(complete, s.kpis.night_flow_baseline_m3h.get(zone), s)
    last = verdicts[-1] if verdicts else None
    # Only last night (or tonight's finished window) says anything about a leak now.
    if last is not None and (date.fromisoformat(last.day)
                             < datetime.fromtimestamp(now, tz).date() - timedelta(days=1)):
        last = None
    status = "unknown"
    if last is not None and last.threshold is not None and last.baseline is not None:
        status = "ok"
        if last.suspect:
            # More than twice the allowed excess is no longer a borderline reading.
            twice = last.baseline + 2 * (last.threshold - last.baseline)
            status = "bad" if last.minimum > twice else "warn"
    words = None
    if last is not None and last.threshold is not None:
        target = f"<= {last.threshold:.1f} m3/h"
    else:
        earlier = sum(not v.suspect for v in verdicts[:-1])
        target = f"baseline being learned: needs {MIN_LEARN_NIGHTS} earlier nights, has {earlier}"
        words = target_words("learning", needs=MIN_LEARN_NIGHTS, has=earlier)
    return subject_kpi(
        "night_flow", zone, domain=DOMAIN, title=f"Minimum night flow: {zone}",
        value=last.minimum if last else None, unit="m3/h", target=target, target_words=words,
        status=status,
        computed_at=now,
        detail={"night": last.day if last else None, "baseline": last.baseline if last else None,
                "baseline_from": last.source if last else None,
                "suspected": bool(last and last.suspect), "meters": meters, "meters_silent": silent,
                "nights": dict(nights)})


def leak_kpis(net: Network, flows: Mapping[str, float], previous: Mapping[str, Any], now: float,
              s: Settings, tz: ZoneInfo) -> list[Kpi]:
    """Each zone's minimum night flow against its baseline, and the count of suspected leaks."""
    zones = []
    for zone in sorted(net.sensors.get(FLOW, {})):
        meters = net.meters(zone)
        nights = add_sample(_nights(previous.get(zone)), meters, flows, now, s, tz)
        silent = sum(i not in flows for i in meters)
        zones.append(night_flow_kpi(zone, nights, len(meters), silent, now, s, tz))
    judged = [k for k in zones if k.status != "unknown"]
    suspects = [k.subject for k in judged if k.status in ("warn", "bad")]
    status = ("unknown" if not judged else "bad" if any(k.status == "bad" for k in judged)
              else "warn" if suspects else "ok")
    count = Kpi("suspected_leaks", DOMAIN, "Zones with a suspected leak",
                float(len(suspects)) if judged else None, "{zone}", "0", status, now,
                detail={"zones": suspects, "judged": len(judged), "zones_metered": len(zones)})
    return [count, *zones]


def compute_water(r: redis.Redis, now: float | None = None,
                  settings: Settings | None = None) -> list[Kpi]:
    """Every water KPI from the live store (see docs/kpis.md)."""
    now = time.time() if now is None else now
    s = settings or default_settings()
    net = Network.of(store.entities.read_entities(r, DOMAIN))
    latest = {metric: store.entities.read_latest(r, DOMAIN, metric) for metric in METRICS}
    current = {metric: fresh(latest[metric], now, s.kpis.water_max_age_s) for metric in METRICS}
    previous = {k.get("subject"): k.get("detail") for k in store.kpis.read(r, DOMAIN)
                if k.get("group") == "night_flow" and k.get("subject")}
    return headline_first([
        *pressure_kpis(net, current[PRESSURE], now, s),
        *leak_kpis(net, current[FLOW], previous, now, s, ZoneInfo(s.city.timezone)),
        *quality_kpis(net, current[TURBIDITY], current[CHLORINE], now, s),
        *flow_kpis(net, current[FLOW], now),
        *reservoir_kpis(net, current[LEVEL], latest[LEVEL], now, s),
    ])

