"""Medical KPIs: beds and ICU beds available, ward and ED occupancy, diversion, ambulances.

Capacity comes from the newest SANER counts per hospital (FHIR feed). A count that is absent,
marked data-absent, or older than ``kpi_bed_report_max_age_h`` is unknown, never zero: city-wide
sums add up the hospitals that reported and say in ``detail`` how many did.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import redis

from app import store
from app.config import Settings
from app.kpis.base import (
    Kpi,
    default_settings,
    headline_first,
    judge_at_most,
    subject_kpi,
    target_words,
)

DOMAIN = "medical"
# Counts of one report share its date: occupancy is taken only from a total and an occupied
# count of the same report, never from two reports of different days.
SAME_REPORT_S = 1.0
# An ambulance not heard from for this long is not counted as available (its state is unknown).
AMBULANCE_SILENT_AFTER_S = 300.0
# Hospitals on diversion: one is a warning; more than this share of the city's is bad.
DIVERSION_BAD_PCT = 25.0
DETAIL_IDS = 10


@dataclass(frozen=True)
class Pair:
    """A count of something available out of a total, from one report."""

    available: float | None
    occupied: float | None
    total: float | None

    @property
    def occupancy(self) -> float | None:
        """Occupied share of the total (%), when both come from one report and the total is > 0."""
        if self.occupied is None or not self.total:
            return None
        return 100.0 * self.occupied / self.total


def _reading(latest: Mapping[str, tuple[float, str, float]], entity_id: str,
             oldest: float) -> tuple[float, float] | None:
    entry = latest.get(entity_id)
    if entry is None or entry[2] < oldest:
        return None
    return float(entry[0]), float(entry[2])


def pair_of(entity_id: str, latest: Mapping[str, Mapping[str, tuple[float, str, float]]],
            available: str, occupied: str, total: str, oldest: float) -> Pair:
    """The current (available, occupied, total) of one hospital; None for what is unknown."""
    got = {m: _reading(latest.get(m, {}), entity_id, oldest) for m in (available, occupied, total)}
    tot, occ, avail = got[total], got[occupied], got[available]
    occupied_value = None
    if tot is not None and occ is not None and abs(tot[1] - occ[1]) <= SAME_REPORT_S:
        occupied_value = occ[0]
    return Pair(avail[0] if avail else None, occupied_value,
                tot[0] if tot is not None and occupied_value is not None else None)


def _sum(values: Iterable[float | None]) -> tuple[float | None, int]:
    known = [v for v in values if v is not None]
    return (float(sum(known)) if known else None), len(known)


def _share(pairs: Iterable[Pair]) -> float | None:
    with_both = [p for p in pairs if p.occupancy is not None]
    total = sum(p.total or 0.0 for p in with_both)
    return 100.0 * sum(p.occupied or 0.0 for p in with_both) / total if total else None


def availability_status(available: float | None, occupancy: float | None, target: float,
                        bad: float) -> str:
    """Judged by the occupancy behind it; with no total known, none available is bad."""
    if occupancy is not None:
        return judge_at_most(occupancy, target, bad)
    if available is None:
        return "unknown"
    return "bad" if available <= 0 else "ok"


def _capacity_kpis(subjects: Mapping[str, str], pairs: Mapping[str, Pair], group: str, title: str,
                   unit: str, target: float, bad: float, now: float,
                   occupancy_group: str | None, occupancy_title: str) -> list[Kpi]:
    """City-wide and per-hospital availability of one kind of bed, and its occupancy."""
    goal = f"occupancy <= {target:g} %"
    goal_words = target_words("occupancy", target=f"{target:g}")
    out: list[Kpi] = []
    if group:
        value, reporting = _sum(p.available for p in pairs.values())
        missing = sorted(i for i in subjects if pairs[i].available is None)
        out.append(Kpi(group, DOMAIN, title, value, unit, goal,
                       availability_status(value, _share(pairs.values()), target, bad), now,
                       detail={"reporting": reporting, "hospitals": len(subjects),
                               "not_reporting": missing[:DETAIL_IDS]}, target_words=goal_words))
    if occupancy_group:
        share = _share(pairs.values())
        out.append(Kpi(occupancy_group, DOMAIN, occupancy_title, share, "%", f"<= {target:g} %",
                       judge_at_most(share, target, bad), now,
                       detail={"reporting": sum(p.occupancy is not None for p in pairs.values()),
                               "hospitals": len(subjects)}))
    for entity_id, name in subjects.items():
        pair = pairs[entity_id]
        if group:
            out.append(subject_kpi(group, entity_id, domain=DOMAIN, title=f"{title}: {name}",
                                   value=pair.available, unit=unit, target=goal, computed_at=now,
                                   target_words=goal_words,
                                   status=availability_status(pair.available, pair.occupancy,
                                                              target, bad)))
        if occupancy_group:
            out.append(subject_kpi(occupancy_group, entity_id, domain=DOMAIN,
                                   title=f"{occupancy_title}: {name}", value=pair.occupancy,
                                   unit="%", target=f"<= {target:g} %", computed_at=now,
                                   status=judge_at_most(pair.occupancy, target, bad)))
    return out


def diversion_kpi(hospitals: list[Mapping[str, Any]], events: list[Mapping[str, Any]],
                  now: float) -> Kpi:
    """How many hospitals are on diversion; unknown when no feed says anything about diversion.

    A hospital says it through a boolean ``diversion`` attribute; an event of kind ``diversion``
    whose active period includes now puts the hospital named in its ``hospital`` attribute on it.
    """
    known = False
    on: set[str] = set()
    for hospital in hospitals:
        flag = (hospital.get("attrs") or {}).get("diversion")
        if isinstance(flag, bool):
            known = True
            if flag:
                on.add(hospital["id"])
    for event in events:
        if event.get("kind") != "diversion":
            continue
        known = True
        hospital = (event.get("attrs") or {}).get("hospital")
        if (isinstance(hospital, str) and (event.get("starts_at") is None or event["starts_at"] <= now)
                and (event.get("ends_at") is None or now <= event["ends_at"])):
            on.add(hospital)
    value = float(len(on)) if known else None
    share = 100.0 * len(on) / max(len(hospitals), 1)
    status = ("unknown" if value is None else "ok" if not on
              else "warn" if share <= DIVERSION_BAD_PCT else "bad")
    return Kpi("hospitals_on_diversion", DOMAIN, "Hospitals on diversion", value, "{hospital}", "0",
               status, now, detail={"hospitals": sorted(on)[:DETAIL_IDS]})


def ambulance_kpi(fleet: list[Mapping[str, Any]], now: float, s: Settings) -> Kpi:
    """Ambulances heard from lately that are not on a call."""
    heard = [a for a in fleet if now - float(a.get("observed_at") or 0) <= AMBULANCE_SILENT_AFTER_S]

    def state(a: Mapping[str, Any]) -> str:
        # The adapter may put the call state in attrs (the entity status then being the feed's own).
        return str((a.get("attrs") or {}).get("status") or a.get("status") or "")

    available = sum(state(a) == "available" for a in heard)
    on_call = sum(state(a) == "on_call" for a in heard)
    value = float(available) if heard else None
    share = 100.0 * available / len(heard) if heard else 0.0
    status = ("unknown" if value is None else "ok" if share >= s.kpis.ambulances_available_pct
              else "warn" if available else "bad")
    return Kpi("ambulances_available", DOMAIN, "Ambulances available", value, "{ambulance}",
               f">= {s.kpis.ambulances_available_pct:g} % of the fleet", status, now,
               detail={"heard": len(heard), "on_call": on_call,
                       "other": len(heard) - available - on_call, "silent": len(fleet) - len(heard)},
               target_words=target_words("fleet_share", target=f"{s.kpis.ambulances_available_pct:g}"))


CAPACITY_METRICS = ("beds_available", "beds_occupied", "beds_total", "icu_beds_available",
                    "icu_beds_occupied", "icu_beds_total", "ed_patients", "ed_beds_total")


def compute_medical(r: redis.Redis, now: float | None = None,
                    settings: Settings | None = None) -> list[Kpi]:
    """Every medical KPI from the live store (see docs/kpis.md)."""
    now = time.time() if now is None else now
    s = settings or default_settings()
    entities = store.entities.read_entities(r, DOMAIN)
    latest = {metric: store.entities.read_latest(r, DOMAIN, metric) for metric in CAPACITY_METRICS}
    oldest = now - s.kpis.bed_report_max_age_h * 3600.0
    hospitals = [e for e in entities if e.get("kind") == "hospital"]
    names = {e["id"]: str((e.get("attrs") or {}).get("name") or e["id"]) for e in entities}
    # Every hospital, and whatever else a report was about (an Organization running several sites).
    ids = {e["id"] for e in hospitals} | {i for metric in latest.values() for i in metric}
    subjects = {i: names.get(i, i) for i in sorted(ids)}
    beds = {i: pair_of(i, latest, "beds_available", "beds_occupied", "beds_total", oldest)
            for i in subjects}
    icu = {i: pair_of(i, latest, "icu_beds_available", "icu_beds_occupied", "icu_beds_total", oldest)
           for i in subjects}
    ed = {i: pair_of(i, latest, "", "ed_patients", "ed_beds_total", oldest) for i in subjects}
    return headline_first([
        *_capacity_kpis(subjects, beds, "beds_available", "Beds available", "{bed}",
                        s.kpis.occupancy_target_pct, s.kpis.occupancy_bad_pct, now,
                        "ward_occupancy", "Ward occupancy"),
        *_capacity_kpis(subjects, icu, "icu_beds_available", "ICU beds available", "{bed}",
                        s.kpis.occupancy_target_pct, s.kpis.occupancy_bad_pct, now, None, ""),
        *_capacity_kpis(subjects, ed, "", "", "", s.kpis.ed_occupancy_target_pct,
                        s.kpis.ed_occupancy_bad_pct, now, "ed_occupancy", "ED occupancy"),
        diversion_kpi(hospitals, store.entities.read_events(r, DOMAIN), now),
        ambulance_kpi([e for e in entities if e.get("kind") == "ambulance"], now, s),
    ])
