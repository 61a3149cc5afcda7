"""Feed health as every screen, the API and the CLI show it (ok, stale, down, waiting, paused, and
since when), and pausing and resuming a feed, as admins do it on /admin or with `cityops feeds`.

Pausing is role-checked and audited here, so the page and the CLI cannot differ on who may pause
a feed or what is recorded: a refused attempt is audited as denied, a change as ok. A paused feed
is not polled by any runner (app/pipeline/runner.py reads the list every loop) and raises no
"feed stale" alert; a resumed one is polled again within one loop of the runner.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Iterable, Sequence

import redis

from app import audit, store
from app.model import roles
from app.model.feeds import FeedHealth, health_of
from app.model.principal import Principal

FEED_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")  # as [[feeds]] names are checked
DEAD_LETTERS_SHOWN = 5


class FeedError(ValueError):
    """A pause or resume that cannot be done (an unknown feed); the message says why."""


class NotPermitted(FeedError):
    """The actor's role may not pause or resume feeds."""


def read_health(r: redis.Redis, now: float | None = None) -> list[FeedHealth]:
    """Every feed's health, stale ones marked as such."""
    now = time.time() if now is None else now
    return [health_of(row, now) for row in store.feeds.read_health(r)]


@dataclass(frozen=True)
class FeedOverview:
    """One feed as /admin shows it: its health, and the rows it rejected (newest first)."""

    health: FeedHealth
    dead_letters: int
    newest_rejected: tuple[dict[str, str], ...]  # at, reason, excerpt (feed text: untrusted)


def overview(r: redis.Redis, configured: Iterable[str] = (), now: float | None = None,
             shown: int = DEAD_LETTERS_SHOWN) -> list[FeedOverview]:
    """Every feed the runners recorded and every ``configured`` one (waiting when it never
    reported), by name, with its dead letters' count and the newest ``shown`` of them."""
    now = time.time() if now is None else now
    found = {h.feed: h for h in read_health(r, now)}
    for name in configured:
        if name not in found:
            found[name] = health_of({"feed": name}, now)
    names = sorted(found)
    counts = store.feeds.dead_letter_counts(r, names)
    return [FeedOverview(found[name], counts[name],
                         tuple(store.feeds.read_dead_letters(r, name, shown) if counts[name] else ()))
            for name in names]


def _require_admin(r: redis.Redis, actor: Principal, action: str, feed: str, addr: str) -> None:
    if actor.role != roles.ADMIN:
        audit.record(r, actor.name, action, target=feed[:64], addr=addr, outcome="denied")
        raise NotPermitted("only admins may pause and resume feeds")


def _known(r: redis.Redis, feed: str, configured: Sequence[str]) -> str:
    """The feed's name once it is one a runner recorded or the settings configure."""
    name = feed.strip() if isinstance(feed, str) else ""
    if not FEED_NAME.match(name) or not (name in configured or store.feeds.is_known(r, name)):
        raise FeedError(f"no feed named '{name[:64]}'")
    return name


def pause(r: redis.Redis, actor: Principal, feed: str, configured: Sequence[str] = (),
          addr: str = "", now: float | None = None) -> bool:
    """Pause a feed: no runner polls it until it is resumed. False when it already was paused
    (nothing changes, nothing recorded)."""
    return _set_paused(r, actor, feed, True, configured, addr, now)


def resume(r: redis.Redis, actor: Principal, feed: str, configured: Sequence[str] = (),
           addr: str = "", now: float | None = None) -> bool:
    """Resume a paused feed: its runner polls it again within one loop, and until that poll it is
    waiting (not stale for having been paused). False when it was not paused (nothing changes,
    nothing recorded)."""
    return _set_paused(r, actor, feed, False, configured, addr, now)


def _set_paused(r: redis.Redis, actor: Principal, feed: str, paused: bool,
                configured: Sequence[str], addr: str, now: float | None) -> bool:
    """Pause or resume for an admin, audited when it changed something."""
    action = "feed_pause" if paused else "feed_resume"
    _require_admin(r, actor, action, str(feed), addr)
    name = _known(r, feed, configured)
    changed = store.feeds.set_paused(r, name, paused, by=actor.name,
                                     at=time.time() if now is None else now)
    if changed:
        audit.record(r, actor.name, action, target=name, addr=addr)
    return changed
