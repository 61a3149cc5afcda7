"""The runner's timer: the rules file re-read when it changes, evaluated by the runner holding the lease."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import orjson
import redis

from app import store
from app.alerts.evaluation import Evaluation, evaluate
from app.alerts.rules import RulesError, RuleSet, load_rules

log = logging.getLogger("cityops.rules")


EVALUATE_EVERY_S = 5.0
LEASE_MS = int(EVALUATE_EVERY_S * 3 * 1000)
# -- the runner's timer ------------------------------------------------------------------------------
_loaded: dict[str, Any] = {}


def current_rules(r: redis.Redis, path: Path | None) -> RuleSet:
    """The rules of ``path`` (the defaults without one), re-read when the file changes.

    A file that does not validate is refused: the rules loaded before stay in force, and the
    error is logged and kept in Redis for the /alerts page to show to admins.
    """
    try:
        stamp = (str(path), path.stat().st_mtime_ns) if path is not None else ("defaults", 0)
    except OSError as exc:
        stamp = (str(path), -1)
        error: str | None = f"{path}: cannot read: {exc.strerror or exc}"
    else:
        error = None
    if _loaded.get("stamp") == stamp:
        return _loaded["rules"]  # type: ignore[no-any-return]
    rules: RuleSet | None = None
    if error is None:
        try:
            rules = load_rules(path)
        except RulesError as exc:
            error = str(exc)
    if rules is None:
        log.error("alert rules not loaded: %s (keeping the rules in force)", error)
        rules = _loaded.get("rules") or load_rules()
    else:
        log.info("alert rules loaded from %s: %d threshold rule(s)", rules.source,
                 len(rules.thresholds))
    _loaded.update(stamp=stamp, rules=rules)
    store.alerts.write_settings(r, {"rules_status": orjson.dumps({
        "source": rules.source, "rules": len(rules.thresholds), "error": error or "",
        "at": time.time()}).decode()})
    return rules


def tick(r: redis.Redis, rules_file: Path | None, owner: str) -> Evaluation | None:
    """The runner's timer: evaluate the rules of ``rules_file`` (None: the shipped defaults) if
    this runner holds the rules lease."""
    if not store.alerts.acquire_rules_lease(r, owner, LEASE_MS):
        return None
    try:
        return evaluate(r, time.time(), current_rules(r, rules_file))
    except redis.RedisError:
        raise
    except Exception:  # a rule bug must not stop the feeds
        log.exception("alert rule evaluation failed")
        return None
