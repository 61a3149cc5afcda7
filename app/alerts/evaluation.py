"""Evaluating the rules at one instant: threshold, staleness and feed-event conditions raise, clear
and escalate alerts.

:func:`evaluate` takes the clock as an argument, so tests control time. One evaluation is one
pipelined read; Redis is written only when something changes: a condition starts to hold, an
alert fires, clears or escalates. Conditions are edge-triggered: an alert is raised when its
condition has held for the rule's duration and cleared when it stops holding; while it keeps
holding nothing is written. The rules' memory (since when a condition holds, whether it fired)
lives in Redis, so a restarted or replacement runner carries on where the last one stopped.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import orjson
import redis

from app import alerts, i18n, store
from app.alerts.rules import RuleSet, ThresholdRule, fmt, load_rules
from app.kpis import status as kpi_status
from app.model.alerts import SEVERITIES
from app.model.cap import cap_id, map_severity
from app.model.domains import DOMAINS
from app.model.feeds import STALE_STATES, UNJUDGED_STATES, feed_state
from app.model.geo import area_center

log = logging.getLogger("cityops.rules")


SERVICE_ALERT = "service_alert"
CAP_WARNING = "cap_warning"


# -- evaluation --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Condition:
    """What one rule says about one subject now: whether its condition holds, and the alert."""

    key: str  # the rules' memory key
    holds: bool
    for_s: float
    alert: dict[str, Any]  # keyword arguments of alerts.raise_alert (fingerprint, title, ...)
    refs: tuple[str, ...] = ()  # memory keys of the conditions this one continues (CAP Update)
    # What the alert is about (the stale feeds of a source): a new one raises it again, updated.
    members: tuple[str, ...] = ()


@dataclass
class Evaluation:
    """What one evaluation changed, and the stored records it could not use."""

    raised: list[str] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)
    escalated: list[str] = field(default_factory=list)
    pending: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (reason, excerpt)



def _threshold_conditions(rule: ThresholdRule, inputs: store.alerts.RuleInputs,
                          rejected: list[tuple[str, str]]) -> list[Condition]:
    """One condition per subject with a known value (an unknown value says nothing either way)."""
    samples: list[tuple[str, float, str, dict[str, Any]]] = []  # subject, value, unit, extra
    if rule.kpi is not None:
        for kpi in inputs.kpis.get(rule.domain, []):
            # "city" watches the group's own figure, "each" every subject's (a zone, a hospital).
            if rule.scope == "each":
                matches = kpi.get("group") == rule.kpi and bool(kpi.get("subject"))
            else:
                matches = kpi.get("name") == rule.kpi and not kpi.get("subject")
            value = kpi.get("value")
            if not matches or value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                rejected.append((f"KPI {str(kpi.get('name'))[:100]}: value is not a number",
                                 orjson.dumps(kpi).decode()))
                continue
            extra: dict[str, Any] = {k: kpi[k] for k in ("lat", "lon")
                                     if isinstance(kpi.get(k), (int, float))}
            detail = kpi.get("detail") if isinstance(kpi.get("detail"), dict) else {}
            if isinstance(detail.get("lowest"), str):
                # The entity behind the figure (the zone's worst sensor) places the alert.
                extra["hint"] = detail["lowest"]
            samples.append((str(kpi.get("subject") or ""), float(value), str(kpi.get("unit") or ""),
                            extra))
    else:
        assert rule.metric is not None
        for entity_id, reading in inputs.latest.get((rule.domain, rule.metric), {}).items():
            if (isinstance(reading, list) and len(reading) >= 2 and not isinstance(reading[0], bool)
                    and isinstance(reading[0], (int, float))):
                samples.append((entity_id, float(reading[0]), str(reading[1] or ""), {}))
            else:
                rejected.append((f"reading of {entity_id[:100]}: not [value, unit, time]",
                                 orjson.dumps(reading).decode()))
    out = []
    watched = rule.kpi or rule.metric or ""
    for subject, value, unit, extra in samples:
        if not math.isfinite(value):
            continue
        side = "below" if rule.below is not None else "above"
        names = {"subject": subject or "city", "value": fmt(value), "unit": unit,
                 "threshold": fmt(rule.threshold), "kpi": watched, "metric": watched}
        title = rule.title.format_map(names)
        out.append(Condition(
            key=f"rule|{rule.id}|{subject}", holds=rule.breached(value), for_s=rule.for_s,
            alert={"fingerprint": f"rule:{rule.id}:{subject or watched}", "title": title,
                   "title_zh": rule.title_zh.format_map(names) if rule.title_zh else "",
                   "severity": rule.severity, "domain": rule.domain, "source": "rule",
                   "rule": rule.id, "entity": subject or watched,
                   "description": f"{watched}{' of ' + subject if subject else ''} is "
                                  f"{fmt(value)} {unit}, {side} {fmt(rule.threshold)} "
                                  f"{unit} for {fmt(rule.for_s)} s or more".replace("  ", " "),
                   "lat": extra.get("lat"), "lon": extra.get("lon"),
                   # Where it is: a metric's entity, a subject that is an entity (a hospital),
                   # or the entity the KPI names as its worst (a zone's lowest sensor).
                   "locate": [e for e in (subject, extra.get("hint")) if e]}))
    return out


def _stale_conditions(rules: RuleSet, inputs: store.alerts.RuleInputs, now: float) -> list[Condition]:
    """One condition per source host (a feed without a URL, or alone on its host, is its own
    source): one outage that makes several feeds of a host stale is one alert to acknowledge,
    naming the feeds; another feed of the host going stale later raises it again, updated. A
    feed an admin paused is not judged: its alert clears and none is raised while it stays so."""
    groups: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for feed, row in sorted(inputs.feeds.items()):
        state = feed_state(row, now)
        if state in UNJUDGED_STATES:  # no first data yet, or paused by an admin (issue 19)
            continue
        source = str(row.get("source") or "")
        groups.setdefault(f"source:{source}" if source else feed, []).append((feed, state, row))
    # A source with one feed keeps the feed's own alert (the same fingerprint as before groups).
    groups = {(members[0][0] if len(members) == 1 else key): members
              for key, members in groups.items()}
    out = []
    for key, members in groups.items():
        stale = [(feed, state, row) for feed, state, row in members if state in STALE_STATES]
        shown = stale or members
        domains = {row.get("domain") if row.get("domain") in DOMAINS else "city"
                   for _, _, row in shown}
        domain = domains.pop() if len(domains) == 1 else "city"
        names = [feed for feed, _, _ in shown]
        fingerprint = f"stale:{key}"
        if key.startswith("source:"):
            host = key.removeprefix("source:")
            words = (("alert_title.feed_of_host_stale", {"feed": names[0], "host": host})
                     if len(names) == 1 else ("alert_title.feeds_of_host_stale", {
                         "count": len(names), "host": host, "feeds": ", ".join(names)}))
        else:
            words = ("alert_title.feed_stale", {"feed": key})
        # Both languages are stored on the alert (issue 19): a reader of Chinese sees Chinese.
        title, title_zh = (i18n.t(words[0], lang=lang, **words[1]) for lang in (i18n.EN, i18n.ZH))
        description = " ".join(
            f"Feed {feed} is {state}: no fresh data within its freshness budget of "
            f"{fmt(float(row.get('freshness_budget_s') or 0))} s." for feed, state, row in shown)
        out.append(Condition(
            key=f"stale|{key}", holds=bool(stale), for_s=0.0, members=tuple(names) if stale else (),
            alert={"fingerprint": fingerprint, "title": title, "title_zh": title_zh,
                   "severity": rules.stale_severity,
                   "domain": domain, "source": "staleness", "rule": "feed_stale",
                   "entity": ",".join(names), "description": description}))
    return out


def event_active(event: Mapping[str, Any], now: float) -> bool:
    """True while an event's active period includes ``now`` (open ends are unbounded)."""
    starts, ends = event.get("starts_at"), event.get("ends_at")
    return (starts is None or starts <= now) and (ends is None or now <= ends)


def cap_severity(event: Mapping[str, Any]) -> str:
    """Our severity of a CAP warning event: the CAP import's documented mapping of its
    severity/urgency/certainty (docs/alerts.md), or the event's own when it carries none."""
    attrs = event.get("attrs") or {}
    if attrs.get("cap_severity"):
        return map_severity(attrs.get("cap_severity"), attrs.get("urgency"), attrs.get("certainty"))
    severity = event.get("severity")
    return severity if severity in SEVERITIES else "info"


def _checked_area(area: Any) -> dict[str, Any] | None:
    """A stored event's area if it is a well-formed Polygon/MultiPolygon; ValueError if not."""
    if area is None:
        return None
    polygons = ([area.get("coordinates")] if isinstance(area, dict) and area.get("type") == "Polygon"
                else area.get("coordinates") if isinstance(area, dict)
                and area.get("type") == "MultiPolygon" else None)
    if not isinstance(polygons, list) or not polygons:
        raise ValueError("area is not a GeoJSON Polygon or MultiPolygon")
    for polygon in polygons:
        for ring in polygon:
            if len(ring) < 4 or not all(
                    isinstance(point, list) and len(point) >= 2
                    and all(isinstance(v, (int, float)) and math.isfinite(v) for v in point[:2])
                    for point in ring):
                raise ValueError("area ring with fewer than 4 points or a non-numeric point")
    return area


def _event_condition(rules: RuleSet, domain: str, event: Mapping[str, Any],
                     now: float) -> Condition | None:
    """The condition of one stored event (None when it is not an alert, or not active now)."""
    kind = event.get("kind")
    attrs = event.get("attrs") or {}
    if kind == SERVICE_ALERT and rules.service_alerts:
        severity, source = event.get("severity") or "info", "gtfs_rt"
        if severity not in SEVERITIES:
            severity = "info"
        description = attrs.get("description") or ""
    elif kind == CAP_WARNING and rules.cap_warnings and attrs.get("msgType") != "Cancel":
        severity, source = cap_severity(event), "cap"
        description = attrs.get("description") or attrs.get("areaDesc") or ""
    else:
        return None
    if not event_active(event, now):
        return None
    area = _checked_area(event.get("area"))
    center = area_center(area)
    circles = attrs.get("circles") or []
    if center is None and circles:
        center = (float(circles[0]["lat"]), float(circles[0]["lon"]))
    event_id = str(event["id"])
    refs: list[str] = []
    if source == "cap" and ":cap:" in event_id:
        # An Update names the messages it replaces: their alert carries on (see evaluate).
        prefix = event_id.split(":cap:", 1)[0]
        refs = [f"event|{domain}|{cap_id(prefix, str(ref[1]), str(ref[0]))}"
                for ref in attrs.get("references") or [] if isinstance(ref, list) and len(ref) >= 2]
    return Condition(
        key=f"event|{domain}|{event_id}", holds=True, for_s=0.0, refs=tuple(refs),
        alert={"fingerprint": f"event:{domain}:{event_id}",
               "title": str(event.get("title") or event_id), "severity": severity,
               "domain": domain, "source": source, "rule": str(kind), "entity": event_id,
               "description": str(description),
               "lat": center[0] if center else None, "lon": center[1] if center else None,
               "area": area, "stop_ids": [
                   str(sel["stop_id"]) for sel in attrs.get("informed_entities") or []
                   if isinstance(sel, dict) and sel.get("stop_id")]})


_RECORD_ERRORS = (KeyError, TypeError, ValueError, IndexError, AttributeError)


def _event_conditions(rules: RuleSet, inputs: store.alerts.RuleInputs, now: float,
                      rejected: list[tuple[str, str]]) -> list[Condition]:
    """Conditions of every stored event; a malformed one is rejected alone, the rest stand."""
    out = []
    for domain, events in inputs.events.items():
        for event in events:
            try:
                condition = _event_condition(rules, domain, event, now)
            except _RECORD_ERRORS as exc:
                rejected.append((f"event {str(event.get('id', '?'))[:100]} in {domain}: "
                                 f"{type(exc).__name__}: {exc}", orjson.dumps(event).decode()))
                continue
            if condition is not None:
                out.append(condition)
    return out


def _limit_conditions(rules: RuleSet, inputs: store.alerts.RuleInputs) -> list[Condition]:
    """issue 19: one condition per judged city-wide KPI, holding while it is past its critical
    limit (app.kpis.status.raises_alert: bad and not a small sample), so that a domain shown
    Critical always has its alert. An unknown KPI says nothing either way."""
    out = []
    for domain in DOMAINS:
        for kpi in inputs.kpis.get(domain, []):
            if not kpi_status.is_city_wide(kpi) or kpi_status.effective_status(kpi) == "unknown":
                continue
            name = str(kpi.get("name") or "")
            title = str(kpi.get("title") or name)[:100]
            value = kpi.get("value")
            shown = fmt(float(value)) if isinstance(value, (int, float)) and not isinstance(
                value, bool) and math.isfinite(value) else "?"
            unit = str(kpi.get("unit") or "")
            with i18n.use_language(i18n.ZH):
                title_zh = i18n.t("alert_title.kpi_limit", kpi=i18n.kpi_title(dict(kpi))[:100])
            out.append(Condition(
                key=f"limit|{domain}|{name}", holds=kpi_status.raises_alert(kpi),
                for_s=rules.kpi_limit_for_s,
                alert={"fingerprint": f"limit:{domain}:{name}",
                       "title": i18n.t("alert_title.kpi_limit", lang=i18n.EN, kpi=title),
                       "title_zh": title_zh,
                       "severity": rules.kpi_limit_severity, "domain": domain, "source": "rule",
                       "rule": "kpi_limit", "entity": name,
                       "description": f"{title} is {shown} {unit} against the target "
                                      f"{kpi.get('target') or '-'}, past its critical limit for "
                                      f"{fmt(rules.kpi_limit_for_s)} s or more".replace("  ", " "),
                       "lat": None, "lon": None, "locate": []}))
    return out


def _locate(r: redis.Redis, spec: dict[str, Any]) -> dict[str, Any]:
    """Raise-time positions: the first known of the rule's candidate entities, or the first
    informed stop of a service alert."""
    spec = dict(spec)
    candidates = [str(e) for e in spec.pop("locate", None) or []]
    stops = spec.pop("stop_ids", None) or []
    if spec.get("lat") is not None:
        return spec
    if stops and ":alert:" in spec["entity"]:
        prefix = spec["entity"].split(":alert:", 1)[0]
        candidates += [f"{prefix}:stop:{stop}" for stop in stops[:20]]
    positions = store.entities.read_live_positions(r, spec["domain"], candidates[:22])
    position = next((positions[c] for c in candidates if c in positions), None)
    if position is not None:
        spec["lat"], spec["lon"] = position
    return spec


def _memory(raw: str) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def evaluate(r: redis.Redis, now: float, rules: RuleSet | None = None) -> Evaluation:
    """Evaluate every rule at time ``now``: raise, clear and escalate alerts as due."""
    rules = rules or load_rules()
    metrics = list(dict.fromkeys((t.domain, t.metric) for t in rules.thresholds if t.metric))
    inputs = store.alerts.read_rule_inputs(r, metrics)
    memory = {key: _memory(raw) for key, raw in inputs.rule_state.items()}
    conditions: list[Condition] = []
    result = Evaluation()
    for rule in rules.thresholds:
        conditions.extend(_threshold_conditions(rule, inputs, result.rejected))
    if rules.staleness:
        conditions.extend(_stale_conditions(rules, inputs, now))
    if rules.kpi_limits:
        conditions.extend(_limit_conditions(rules, inputs))
    conditions.extend(_event_conditions(rules, inputs, now, result.rejected))
    _dead_letter_once(r, result.rejected)
    seen = {c.key for c in conditions}
    rule_ids = {rule.id for rule in rules.thresholds}
    changes: dict[str, str | None] = {}
    held: set[str] = set()  # alerts that a holding condition keeps: never cleared this round
    for condition in conditions:
        entry = memory.get(condition.key, {})
        continued = next((memory[ref] for ref in condition.refs
                          if memory.get(ref, {}).get("fingerprint")), None)
        if continued is not None and not entry:
            # A CAP Update: the same alert, updated (a repeat), not a new one beside a cleared one.
            condition.alert["fingerprint"] = continued["fingerprint"]
        if not condition.holds:
            if entry.get("firing") and alerts.clear(r, entry.get("alert", ""), now=now):
                result.cleared.append(entry["alert"])
            if entry:
                changes[condition.key] = None
            continue
        since = float(entry.get("since", now))
        grown = bool(set(condition.members) - set(entry.get("members") or ()))
        if entry.get("firing") and not grown:
            held.add(str(entry.get("alert")))
            continue
        if now - since >= condition.for_s:
            raised = alerts.raise_alert(r, now=now, **_locate(r, condition.alert))
            result.raised.append(raised.alert_id)
            held.add(raised.alert_id)
            memo: dict[str, Any] = {"since": since, "firing": True, "alert": raised.alert_id,
                                    "fingerprint": condition.alert["fingerprint"]}
            if condition.members:
                memo["members"] = list(condition.members)
            changes[condition.key] = orjson.dumps(memo).decode()
        else:
            result.pending += 1
            if not entry:
                changes[condition.key] = orjson.dumps({"since": since, "firing": False}).decode()
    # What is no longer there: an event the feed retired or that ended, a feed's staleness when
    # staleness is switched off, a rule taken out of the file. An unknown KPI value, or a subject
    # that is missing for now, says nothing: those alerts stay as they are.
    for key, entry in memory.items():
        kind, _, rest = key.partition("|")
        # A stale key no longer evaluated: staleness switched off, a feed gone, or a feed now
        # counted with the other feeds of its source.
        gone = (kind == "event" or kind == "stale" or (kind == "limit" and not rules.kpi_limits)
                or (kind == "rule" and rest.partition("|")[0] not in rule_ids))
        if key in seen or not gone:
            continue
        if entry.get("firing") and entry.get("alert") not in held and alerts.clear(
                r, entry.get("alert", ""), now=now):
            result.cleared.append(entry["alert"])
        changes[key] = None
    store.alerts.write_rule_state(r, changes)
    result.escalated = escalate_due(r, inputs.open_alerts, rules, now)
    return result


# Reasons already kept in the dead-letter stream by this process: a bad stored record is seen
# again every few seconds until its feed replaces it, but it is reported once.
_reported: set[str] = set()
DEAD_LETTER_FEED = "alert-rules"


def _dead_letter_once(r: redis.Redis, rejected: list[tuple[str, str]]) -> None:
    """Keep each new rejection (reason, excerpt) in the dead-letter stream of "alert-rules"."""
    fresh = [(reason, excerpt) for reason, excerpt in rejected if reason not in _reported]
    if fresh:
        log.warning("alert rules skipped %d malformed record(s): %s", len(fresh), fresh[0][0])
        store.feeds.dead_letter(r, DEAD_LETTER_FEED, fresh)
        if len(_reported) > 10_000:
            _reported.clear()
        _reported.update(reason for reason, _ in fresh)


def escalate_due(r: redis.Redis, open_alerts: Iterable[Mapping[str, str]], rules: RuleSet,
                 now: float) -> list[str]:
    """Escalate every alert still unacknowledged past its severity's deadline."""
    escalated = []
    for row in open_alerts:
        if row.get("state") != "active_unack" or row.get("escalated") == "1":
            continue
        deadline = rules.escalation.get(row.get("severity", ""))
        opened = float(row.get("opened_at") or now)
        if deadline is not None and opened + deadline <= now and alerts.escalate(
                r, row["id"], deadline, now=now):
            escalated.append(row["id"])
    return escalated
