"""Key names: every Redis key CityOps uses is spelt here and nowhere else.

Every key carries a hash tag (``co:{transport}:...``, ``co:{auth}:...``) so that the keys one
operation touches share a Redis Cluster slot.
"""

from __future__ import annotations


class Keys:
    """Key names. Hash tags group keys that are used together into one cluster slot."""

    users = "co:{auth}:users"
    tokens = "co:{auth}:tokens"
    audit = "co:{audit}:log"
    runner_heartbeat = "co:{system}:runner:heartbeat"

    @staticmethod
    def user(name: str) -> str:
        return f"co:{{auth}}:user:{name}"

    @staticmethod
    def token(token_id: str) -> str:
        return f"co:{{auth}}:token:{token_id}"

    @staticmethod
    def login_failures(kind: str, subject: str) -> str:
        return f"co:{{auth}}:loginfail:{kind}:{subject}"

    @staticmethod
    def domain_meta(domain: str) -> str:
        return f"co:{{{domain}}}:meta"

    # Live state of a domain: one hash of packed records, one of their observation times, a GEO
    # set, and per feed the ids it last reported (to retire what a full dataset no longer lists;
    # a string holding one MessagePack array of ids).
    @staticmethod
    def live(domain: str) -> str:
        return f"co:{{{domain}}}:live"

    # string: a feed's live entities' observation times (one MessagePack map, id -> time)
    @staticmethod
    def live_times(domain: str, feed: str) -> str:
        return f"co:{{{domain}}}:live:ts:{feed}"

    # the per-domain times map of earlier versions (read once per feed, then expires)
    @staticmethod
    def live_times_legacy(domain: str) -> str:
        return f"co:{{{domain}}}:live:ts"

    @staticmethod
    def geo(domain: str) -> str:
        return f"co:{{{domain}}}:geo"

    @staticmethod
    def feed_entities(domain: str, feed: str, kind: str) -> str:
        return f"co:{{{domain}}}:feed:{feed}:ids:{kind}"

    # A digest of that id set as the feed's last full listing left it.
    @staticmethod
    def feed_entities_digest(domain: str, feed: str, kind: str) -> str:
        return f"co:{{{domain}}}:feed:{feed}:ids:{kind}:digest"

    @staticmethod
    def feed_events(domain: str, feed: str) -> str:
        return f"co:{{{domain}}}:feed:{feed}:events"

    @staticmethod
    def latest(domain: str, metric: str) -> str:
        return f"co:{{{domain}}}:latest:{metric}"

    # set: the metrics a domain's feeds have reported (which latest:<metric> hashes exist)
    @staticmethod
    def metrics(domain: str) -> str:
        return f"co:{{{domain}}}:metrics"

    @staticmethod
    def events(domain: str) -> str:
        return f"co:{{{domain}}}:events"

    @staticmethod
    def kpis(domain: str) -> str:
        return f"co:{{{domain}}}:kpis"

    @staticmethod
    def kpi_history(domain: str) -> str:
        return f"co:{{{domain}}}:kpis:history"

    # Time series (app/store/series.py): one string per series and UTC day, expiring with the
    # series' retention. A reading's series is an entity's metric; a KPI's is its name.
    @staticmethod
    def reading_series(domain: str, metric: str, entity_id: str, day: int) -> str:
        return f"co:{{{domain}}}:ts:r:{metric}:{entity_id}:{day}"

    @staticmethod
    def kpi_series(domain: str, name: str, day: int) -> str:
        return f"co:{{{domain}}}:ts:k:{name}:{day}"

    # The live map's arrays of a domain, built once per batch by the runner (app/map_share.py):
    # the snapshot (positions, classes) and, by digest, its slowly changing parts (ids, labels).
    @staticmethod
    def map_snapshot(domain: str) -> str:
        return f"co:{{{domain}}}:map"

    @staticmethod
    def map_parts(domain: str) -> str:
        return f"co:{{{domain}}}:map:parts"

    # Feeds: health, dead letters and the lease that keeps one runner per feed.
    @staticmethod
    def feed_health(feed: str) -> str:
        return f"co:{{feeds}}:health:{feed}"

    feeds_index = "co:{feeds}:index"
    # feed -> compact health (JSON), so the 1 s status tick reads all feeds with one HGETALL.
    feeds_summary = "co:{feeds}:summary"

    @staticmethod
    def dead_letters(feed: str) -> str:
        return f"co:{{feeds}}:deadletter:{feed}"

    @staticmethod
    def lease(feed: str) -> str:
        return f"co:{{feeds}}:lease:{feed}"

    # Alerts: one hash tag, so every lifecycle script touches one cluster slot. Durable: no
    # live-data retention ever trims these keys (no TTL, no MAXLEN).
    alerts_index = "co:{alerts}:index"  # zset: alert id -> time of its last change
    alerts_open = "co:{alerts}:open"  # zset: ids of alerts that are not closed (cleared_ack)
    alerts_meta = "co:{alerts}:meta"  # hash: version, bumped by every change (cheap polling)
    alert_rule_state = "co:{alerts}:rulestate"  # hash: rule|subject -> pending/firing (JSON)
    alert_settings = "co:{alerts}:settings"  # hash: sound:<severity> -> on/off
    alerts_lease = "co:{alerts}:lease"  # string: the runner that evaluates the rules

    @staticmethod
    def alert(alert_id: str) -> str:
        return f"co:{{alerts}}:alert:{alert_id}"

    @staticmethod
    def alert_timeline(alert_id: str) -> str:
        return f"co:{{alerts}}:timeline:{alert_id}"
