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

    # -- sign-in back-off and audit aggregation (issue 17, web hardening) ----------------------
    # hash: a user name's slow budget from devices not known to it: level (of the exponential
    # back-off) and until (end of the current back-off); expires a day after the last back-off.
    @staticmethod
    def login_backoff(subject: str) -> str:
        return f"co:{{auth}}:loginbackoff:{subject}"

    # string: the audit entry id that counts one anonymous client's refusals of one kind in the
    # current window (expires with the window); <digest> of address, action and target.
    @staticmethod
    def audit_refusing(digest: str) -> str:
        return f"co:{{audit}}:refusing:{digest}"

    audit_refusing_new = "co:{audit}:refusing:new"  # string: windows opened in the current window
    audit_counts = "co:{audit}:counts"  # hash: aggregated entry id -> refusals beyond its first
    audit_archived = "co:{audit}:archived"  # string: id of the newest entry archived by an admin

    # -- administration in the browser (issue 19) -----------------------------------------------
    # hash: deleted user name -> the session epoch it had, so that a new account of that name
    # starts past it and a deleted person's copied session cookie ("name:epoch") stays worthless.
    users_retired = "co:{auth}:users:retired"

    # hash: a wall display's pairing request by its short code (the display's secret as a digest,
    # when and from where it was opened, and once an admin confirmed it, the token it gets);
    # expires after the pairing's time to live.
    @staticmethod
    def pairing(code: str) -> str:
        return f"co:{{auth}}:pairing:{code}"

    # string: pairing requests opened from one address in the current window (expires with it)
    @staticmethod
    def pairing_opened(addr: str) -> str:
        return f"co:{{auth}}:pairing-opened:{addr}"

    # hash: CAP version -> the CAP message issued for it (identifier, sent, msgType, references)
    @staticmethod
    def alert_cap(alert_id: str) -> str:
        return f"co:{{alerts}}:cap:{alert_id}"

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

    # hash: feed -> who paused it and when (JSON: by, at); the runner polls no feed listed here
    # (issue 19, /admin's feeds and `cityops feeds pause`). Mirrored in the health record's
    # "paused" field by the same transaction, so every screen judges the feed as paused.
    feeds_paused = "co:{feeds}:paused"

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

    # -- incidents (docs/incidents.md) ------------------------------------------------------------
    # One hash tag, so that declaring an incident with its tasks, and every later step, is one
    # script in one cluster slot. Durable like the alert keys: no TTL, no MAXLEN.
    incidents_index = "co:{incidents}:index"  # zset: incident id -> time of its last change
    incidents_open = "co:{incidents}:open"  # zset: ids of incidents not closed
    incidents_meta = "co:{incidents}:meta"  # hash: version (cheap polling), seq (numbers), sop_status
    incidents_linked = "co:{incidents}:linked"  # hash: alert id -> the open incident it is linked to (JSON)
    incident_tasks_open = "co:{incidents}:tasks:open"  # zset: open/accepted task ids of open incidents -> due
    incident_proposals = "co:{incidents}:proposals"  # zset: pending proposal ids -> time proposed
    incident_proposals_index = "co:{incidents}:proposals:index"  # zset: every proposal -> last change
    incident_proposed = "co:{incidents}:proposed"  # hash: alert id -> the proposal it is in
    incidents_lease = "co:{incidents}:lease"  # string: the runner doing the incident jobs

    @staticmethod
    def incident(incident_id: str) -> str:
        return f"co:{{incidents}}:incident:{incident_id}"

    @staticmethod
    def incident_timeline(incident_id: str) -> str:
        return f"co:{{incidents}}:timeline:{incident_id}"

    # zset: the incident's task ids -> their order
    @staticmethod
    def incident_tasks(incident_id: str) -> str:
        return f"co:{{incidents}}:incident:{incident_id}:tasks"

    # hash: alert id -> how it is (or was) linked to the incident (JSON: state, by, at, how)
    @staticmethod
    def incident_alerts(incident_id: str) -> str:
        return f"co:{{incidents}}:incident:{incident_id}:alerts"

    @staticmethod
    def task(task_id: str) -> str:
        return f"co:{{incidents}}:task:{task_id}"

    # zset: a department's open and accepted tasks -> due time
    @staticmethod
    def department_tasks(department: str) -> str:
        return f"co:{{incidents}}:dept:{department}:tasks"

    # stream: what the system told a department (the SOP's "notify" action)
    @staticmethod
    def department_notices(department: str) -> str:
        return f"co:{{incidents}}:dept:{department}:notices"

    @staticmethod
    def proposal(proposal_id: str) -> str:
        return f"co:{{incidents}}:proposal:{proposal_id}"

    # -- what leaves the system: webhooks and e-mail (docs/outbound.md) --------------------------
    # Every lifecycle step of an alert, written by the same script as the step: the dispatcher
    # tails it (trimmed to about 100,000 entries; a step is also in its timeline).
    alerts_changes = "co:{alerts}:changes"
    outbound_receivers = "co:{outbound}:receivers"  # hash: receiver id -> configuration (JSON)
    outbound_meta = "co:{outbound}:meta"  # hash: version (bumped when a receiver changes)
    outbound_cursors = "co:{outbound}:cursors"  # hash: change stream -> last entry fanned out
    outbound_feeds = "co:{outbound}:feeds"  # hash: feed -> up/down, as last announced
    outbound_mail = "co:{outbound}:mail"  # list: e-mails waiting to be sent (JSON)
    outbound_mail_status = "co:{outbound}:mail:status"  # hash: the mail server's delivery state
    outbound_lease = "co:{outbound}:lease"  # string: the dispatcher delivering
    # hash: incident id -> the last entry of its timeline that was announced (dropped a day after
    # the incident's last change)
    outbound_incidents_seen = "co:{outbound}:incidents:seen"

    # list: deliveries waiting for one receiver, oldest first (JSON: id, type, body)
    @staticmethod
    def outbound_queue(receiver_id: str) -> str:
        return f"co:{{outbound}}:queue:{receiver_id}"

    # hash: one receiver's delivery state (app/model/outbound.ReceiverStatus)
    @staticmethod
    def outbound_status(receiver_id: str) -> str:
        return f"co:{{outbound}}:status:{receiver_id}"

    # -- shifts and handover (docs/shifts.md) -----------------------------------------------------
    shifts_on_duty = "co:{shifts}:onduty"  # hash: user name -> since (POSIX seconds) and role (JSON)
    shifts_log = "co:{shifts}:log"  # stream: the shift log (at, actor, kind, text, notable)
    shifts_handovers = "co:{shifts}:handovers"  # zset: handover id -> time it was written
    shifts_meta = "co:{shifts}:meta"  # hash: version (bumped by every change)
    retention_lease = "co:{system}:retention:lease"  # string: the runner removing old records

    # hash: one handover sheet (sheet JSON, created_by/at, acknowledged_by/at, ack_note)
    @staticmethod
    def shift_handover(handover_id: str) -> str:
        return f"co:{{shifts}}:handover:{handover_id}"

    # -- the public status page (docs/public.md) --------------------------------------------------
    # Rendered by one runner every few seconds; the web serves these bytes as they are.
    public_meta = "co:{public}:meta"  # hash: version, etag:<document>, rendered_at, renders, atom_*
    public_lease = "co:{public}:lease"  # string: the runner rendering the public documents

    # string: one rendered document (the page in one language, or the Atom feed), UTF-8 bytes
    @staticmethod
    def public_document(name: str) -> str:
        return f"co:{{public}}:doc:{name}"
