"""Feed health as every screen shows it: ok, stale, down, waiting or paused, judged against the
freshness budget (a feed an admin paused is paused, never stale or down: issue 19)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

DOWN_AFTER_FAILURES = 3
STALE_STATES = frozenset({"stale", "down"})
# Every state a feed can be in; "waiting" (no first success yet, still within budget) and "paused"
# (an admin stopped its polling) say nothing about the feed's source, so no alert judges them.
FEED_STATES: tuple[str, ...] = ("ok", "stale", "down", "waiting", "paused")
UNJUDGED_STATES = frozenset({"waiting", "paused"})


def feed_source(url: object) -> str:
    """The host (and port) a feed is fetched from, lower-cased: feeds of one source go stale
    together in one outage, so they share one alert. Empty when the feed has no URL."""
    if not isinstance(url, str) or "://" not in url:
        return ""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        return f"{host}:{parts.port}" if host and parts.port else host
    except ValueError:
        return ""


@dataclass(frozen=True)
class FeedHealth:
    """One feed's health, with its state computed against its freshness budget."""

    feed: str
    domain: str
    adapter: str
    state: str  # "ok", "stale", "down", "waiting" (never succeeded yet, still within budget), "paused"
    last_success: float | None
    last_attempt: float | None
    last_error: str
    last_error_at: float | None
    consecutive_failures: int
    accepted: int
    rejected: int
    lag_s: float | None
    interval_s: float
    freshness_budget_s: float
    owner: str
    paused: bool = False  # an admin paused it: the runner does not poll it (issue 19)
    paused_at: float | None = None
    paused_by: str = ""

    def as_json(self) -> dict[str, Any]:
        """The JSON form (GET /api/v1/feeds, `cityops feeds --json`)."""
        return asdict(self)


def _num(row: dict[str, str], key: str) -> float | None:
    value = row.get(key, "")
    try:
        return float(value) if value != "" else None
    except ValueError:
        return None


def feed_state(row: dict[str, str], now: float) -> str:
    """ok / stale / down / waiting / paused for a stored health record at time ``now``."""
    if row.get("paused") == "1":
        return "paused"
    budget = _num(row, "freshness_budget_s") or 0.0
    last_success = _num(row, "last_success")
    failures = int(row.get("consecutive_failures") or 0)
    resumed, attempted = _num(row, "resumed_at"), _num(row, "last_attempt")
    if resumed is not None and (attempted is None or attempted < resumed) and \
            now - resumed <= budget:
        return "waiting"  # resumed, its first poll still to come: not stale for having paused
    if row.get("fatal") == "1":
        return "down"
    if last_success is None:
        started = _num(row, "first_attempt") or now
        if now - started <= budget:
            return "waiting"
        return "down" if failures >= DOWN_AFTER_FAILURES else "stale"
    if now - last_success <= budget:
        return "ok"
    return "down" if failures >= DOWN_AFTER_FAILURES else "stale"


def health_of(row: dict[str, str], now: float) -> FeedHealth:
    """A stored health record (its feed name under "feed") with its state judged at ``now``."""
    return FeedHealth(
        feed=row["feed"], domain=row.get("domain", ""), adapter=row.get("adapter", ""),
        state=feed_state(row, now), last_success=_num(row, "last_success"),
        last_attempt=_num(row, "last_attempt"), last_error=row.get("last_error", ""),
        last_error_at=_num(row, "last_error_at"),
        consecutive_failures=int(row.get("consecutive_failures") or 0),
        accepted=int(row.get("accepted") or 0), rejected=int(row.get("rejected") or 0),
        lag_s=_num(row, "lag_s"), interval_s=_num(row, "interval_s") or 0.0,
        freshness_budget_s=_num(row, "freshness_budget_s") or 0.0,
        owner=row.get("owner", ""), paused=row.get("paused") == "1",
        paused_at=_num(row, "paused_at"), paused_by=row.get("paused_by", ""))
