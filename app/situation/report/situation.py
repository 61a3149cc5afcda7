"""The situation: each domain's status (colour and reasons), the KPIs and the open alerts, read at once.

The officials' page (layouts/official.py) and the exports read the same :class:`Situation`, so the
page and a report printed from it never disagree.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import redis

from app import alerts as alert_store
from app import i18n, store
from app.kpis import status as kpi_status
from app.live.feeds import read_health
from app.model.alerts import ACTIVE, most_urgent_first
from app.model.domains import DOMAINS
from app.model.feeds import FeedHealth
from app.situation.report.formats import clock, kpi_label, plural, value_text

GREEN, AMBER, RED, GREY = "green", "amber", "red", "grey"
# The colour is never the only cue: every status also carries a word and a symbol. The English
# words, for code that needs them; people read them through i18n ("city_status.<colour>").
STATUS_LABELS: dict[str, str] = {GREEN: "Normal", AMBER: "Attention", RED: "Critical",
                                 GREY: "Unknown"}
STATUS_SYMBOLS: dict[str, str] = {GREEN: "●", AMBER: "▲", RED: "■", GREY: "○"}
KPI_ORDER: dict[str, int] = {"bad": 0, "warn": 1, "unknown": 2, "ok": 3}
MAX_OPEN_ALERTS = 1000


@dataclass(frozen=True)
class DomainStatus:
    """One domain's colour, the reasons for it (worst first) and the age of its data."""

    domain: str
    colour: str  # green, amber, red or grey (no data to judge)
    reasons: tuple[str, ...]
    updated_at: float | None

    @property
    def title(self) -> str:
        """The domain's name in the reader's language."""
        return i18n.label("domain", self.domain)

    @property
    def label(self) -> str:
        """The status in words, in the reader's language (the colour is never the only cue)."""
        return i18n.t(f"city_status.{self.colour}")


@dataclass(frozen=True)
class Situation:
    """Everything the officials' view and the exports show, read at one moment."""

    generated_at: float
    timezone: str
    statuses: tuple[DomainStatus, ...]
    kpis: tuple[dict[str, Any], ...]
    alerts: tuple[dict[str, Any], ...]
    feeds: tuple[FeedHealth, ...] = ()

    def worst_kpis(self, limit: int = 10) -> list[dict[str, Any]]:
        """KPIs off target, bad before warn, in domain and definition order."""
        domain_rank = {d: i for i, d in enumerate(DOMAINS)}
        off = [k for k in self.kpis if kpi_status.effective_status(k) in ("bad", "warn")]
        return sorted(off, key=lambda k: (KPI_ORDER[kpi_status.effective_status(k)],
                                          domain_rank.get(k.get("domain"), 9),
                                          k.get("rank", 0), str(k.get("name"))))[:limit]

    def top_alerts(self, limit: int = 10) -> list[dict[str, Any]]:
        """The most urgent open alerts: unacknowledged first, then by severity, newest first."""
        return sorted(self.alerts, key=most_urgent_first)[:limit]


# Reasons are written in the language of the request that reads the situation (the officials'
# page and the exports each read it afresh); feed and KPI names inside them stay as sent.
def _feed_reason(feed: FeedHealth, tz: str) -> str:
    state = i18n.label("feed_state", feed.state)
    if feed.last_success is None:
        return i18n.t("reason.feed_never", feed=feed.feed, state=state)
    return i18n.t("reason.feed_since", feed=feed.feed, state=state, time=clock(feed.last_success, tz))


def _kpi_reason(kpi: Mapping[str, Any]) -> str:
    value = value_text(kpi.get("value"), str(kpi.get("unit") or ""))
    if kpi.get("target"):
        text = i18n.t("reason.kpi_target", kpi=kpi_label(kpi), value=value, target=i18n.kpi_target(kpi))
    else:
        text = i18n.t("reason.kpi", kpi=kpi_label(kpi), value=value)
    if kpi.get("small_sample"):
        text = i18n.t("reason.small_sample", reason=text)
    return text


def judge_domain(domain: str, *, kpis: Sequence[Mapping[str, Any]], feeds: Sequence[FeedHealth],
                 alerts: Sequence[Mapping[str, Any]], updated_at: float | None,
                 tz: str) -> DomainStatus:
    """A domain's colour and reasons by the one rule set of docs/kpis.md ("From a KPI to a status").

    Only city-wide KPIs count (app.kpis.status.deciding), each by its effective status (a small
    sample's bad counts as warn). Red: a feed down or an active critical alert, so "Critical"
    always comes with something on /alerts (a KPI past its critical limit raises one once it has
    stayed there for its rule's duration). Amber: a feed stale, a city-wide KPI warn or bad, an
    active major alert. A stale feed is never green: its KPIs describe the past. Grey: nothing
    to judge yet. Green only when at least one city-wide KPI is judged and nothing above holds.
    """
    red: list[str] = []
    amber: list[str] = []
    for feed in feeds:
        if feed.state == "down":
            red.append(_feed_reason(feed, tz))
        elif feed.state == "stale":
            amber.append(_feed_reason(feed, tz))
    ranked = sorted(kpi_status.deciding(kpis), key=lambda k: (
        kpi_status.SEVERITY_ORDER[kpi_status.effective_status(k)], k.get("rank", 0)))
    amber += [_kpi_reason(k) for k in ranked if kpi_status.effective_status(k) in ("bad", "warn")]
    active = [a for a in alerts if a.get("state") in ACTIVE]
    critical = sum(1 for a in active if a.get("severity") == "critical")
    major = sum(1 for a in active if a.get("severity") == "major")
    if critical:
        red.append(plural(critical, "reason.critical_open"))
    if major:
        amber.append(plural(major, "reason.major_open"))
    if red:
        return DomainStatus(domain, RED, tuple(red + amber), updated_at)
    if amber:
        return DomainStatus(domain, AMBER, tuple(amber), updated_at)
    judged = [k for k in kpi_status.deciding(kpis) if kpi_status.effective_status(k) == "ok"]
    if updated_at is None and not judged:
        waiting = any(f.state == "waiting" for f in feeds)
        return DomainStatus(domain, GREY, (i18n.t("reason.waiting" if waiting else "reason.no_data"),),
                            updated_at)
    if not judged:
        return DomainStatus(domain, GREY, (i18n.t("reason.unjudged"),), updated_at)
    key = "reason.on_target_fresh" if feeds else "reason.on_target"
    return DomainStatus(domain, GREEN, (plural(len(judged), key),), updated_at)


def open_alerts(r: redis.Redis) -> list[dict[str, Any]]:
    """Every alert that is not closed, most urgent first (app/alerts.py's public read)."""
    rows = alert_store.list_alerts(r, open_only=True, limit=MAX_OPEN_ALERTS)
    return sorted(rows, key=most_urgent_first)


def read_situation(r: redis.Redis, tz: str, now: float | None = None) -> Situation:
    """The situation now: every domain's status, all current KPIs, the open alerts, feed health."""
    now = time.time() if now is None else now
    versions = store.status.domain_versions(r)
    kpis = {d: store.kpis.read(r, d) for d in DOMAINS}
    feeds = read_health(r, now)
    alerts = open_alerts(r)
    statuses = tuple(
        judge_domain(d, kpis=kpis[d], feeds=[f for f in feeds if f.domain == d],
                     alerts=[a for a in alerts if a.get("domain") == d],
                     updated_at=versions[d][1], tz=tz)
        for d in DOMAINS)
    return Situation(generated_at=now, timezone=tz, statuses=statuses,
                     kpis=tuple(k for d in DOMAINS for k in kpis[d]), alerts=tuple(alerts),
                     feeds=tuple(feeds))
