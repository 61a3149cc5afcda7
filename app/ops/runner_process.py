"""The adapter runner process of `cityops up`: the pipeline's runner with the city's derived work.

After each stored batch the domain's map snapshot is published (first: a wall shows it within a
second) and its KPIs recomputed (at most every KPI_EVERY_S per domain); every few seconds the
alert rules are evaluated, and the incident jobs run, by whichever runner holds their lease.
"""

from __future__ import annotations

import logging
import signal
from types import FrameType
from typing import Sequence

import redis

from app import kpis, retention
from app.alerts import ticker
from app.config import Settings
from app.incidents import jobs as incident_jobs
from app.pipeline.runner import DerivedWork, Runner, throttled
from app.public import job as public_job
from app.situation.mapdata import Thresholds
from app.situation.mapdata import share as map_share
from data_adapters.base import Adapter

log = logging.getLogger("cityops.runner")
KPI_EVERY_S = 5.0


def derived_work(settings: Settings) -> DerivedWork:
    """The work every runner of this installation does besides storing feeds."""
    limits = Thresholds.of(settings.kpis)

    def publish_map(r: redis.Redis, domain: str) -> object:
        return map_share.publish(r, domain, limits)

    def publish_quiet_maps(r: redis.Redis, _owner: str) -> object:
        return map_share.publish_quiet(r, limits)

    def refresh_kpis(r: redis.Redis, domain: str) -> object:
        return kpis.refresh(r, domain, settings=settings)

    def evaluate_rules(r: redis.Redis, owner: str) -> object:
        return ticker.tick(r, settings.alerts.rules_file, owner)

    # Incidents (docs/incidents.md): new alerts linked to open incidents, clusters proposed,
    # due steps done by the system and overdue tasks escalated, by whoever holds their lease.
    sop_file = settings.incidents.sop_file

    def link_alerts(r: redis.Redis, owner: str) -> object:
        return incident_jobs.link_alerts(r, sop_file, owner)

    def propose_incidents(r: redis.Redis, owner: str) -> object:
        return incident_jobs.propose(r, sop_file, owner)

    def due_steps(r: redis.Redis, owner: str) -> object:
        return incident_jobs.due_steps(r, sop_file, owner)

    # What has been kept long enough goes ([retention]; docs/data.md).
    def enforce_retention(r: redis.Redis, owner: str) -> object:
        return retention.tick(r, settings, owner)

    # The public status page and its CAP feed, rendered once for every web worker (docs/public.md).
    def render_public(r: redis.Redis, owner: str) -> object:
        return public_job.render(r, settings, owner)

    return DerivedWork(after_batch=(publish_map, throttled(KPI_EVERY_S, refresh_kpis)),
                       periodic=((ticker.EVALUATE_EVERY_S, evaluate_rules),
                                 (incident_jobs.EVERY_S, link_alerts),
                                 (incident_jobs.EVERY_S, propose_incidents),
                                 (incident_jobs.EVERY_S, due_steps),
                                 (retention.RETENTION_EVERY_S, enforce_retention),
                                 (public_job.EVERY_S, render_public),
                                 # Things gone silent show on the map though no batch comes.
                                 (map_share.QUIET_EVERY_S, publish_quiet_maps)))


def build_runner(settings: Settings, redis_url: str, feeds: Sequence[Adapter] = (),
                 owner: str | None = None) -> Runner:
    """A runner of ``feeds`` that also keeps the map, KPIs and alerts up to date."""
    return Runner(settings, redis_url, feeds, owner=owner, derived=derived_work(settings))


def main(settings: Settings, redis_url: str, feeds: Sequence[Adapter] = ()) -> int:
    """Entry point of the runner process started by `cityops up`: runs until SIGTERM or SIGINT."""
    runner = build_runner(settings, redis_url, feeds)

    def handle(_signum: int, _frame: FrameType | None) -> None:
        runner.stop()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    if feeds:
        log.info("polling %d feed(s): %s", len(feeds), ", ".join(a.feed for a in feeds))
    runner.run()
    return 0
