"""A domain's status as the wall and the overview show it: the same judgement as /official (issue 19).

The colour, word and symbol come from :func:`app.situation.report.read_situation`, which judges
every domain by the one rule set of docs/kpis.md ("From a KPI to a status"), so the wall, the
overview and /official cannot disagree about a domain.
"""

from __future__ import annotations

import time

import redis
from dash import html

from app import i18n
from app.situation.report import STATUS_SYMBOLS, read_situation
from app.situation.report.situation import DomainStatus
from app.web.context import redis_client, settings
from layouts.components import domain_title


def read_statuses(r: redis.Redis | None = None, now: float | None = None) -> dict[str, DomainStatus]:
    """domain -> its status now (empty while Redis cannot be read: nothing is shown then)."""
    try:
        r = redis_client() if r is None else r
        situation = read_situation(r, settings().city.timezone, time.time() if now is None else now)
    except redis.RedisError:
        return {}
    return {s.domain: s for s in situation.statuses}


def badge(status: DomainStatus) -> html.Span:
    """The status as a badge: colour, symbol and word (the colour is never the only cue); its
    first reason as the tooltip."""
    word = i18n.t("wall.domain_status", status=status.label)
    return html.Span(f"{STATUS_SYMBOLS[status.colour]} {word}",
                     className=f"domain-status status-{status.colour}",
                     title=status.reasons[0] if status.reasons else "",
                     **{"data-status": status.colour, "data-domain": status.domain})


def strip(statuses: dict[str, DomainStatus]) -> list[html.Span]:
    """One badge per domain, each with its domain's name (the overview's status line)."""
    return [html.Span(className="domain-status-item", children=[
        html.Span(domain_title(domain), className="domain-status-name"), " ", badge(status)])
        for domain, status in statuses.items()]
