"""The one module that knows Redis key names, and the operations CityOps performs on them.

Every key carries a hash tag (``co:{transport}:...``, ``co:{auth}:...``) so that the keys one
operation touches share a Redis Cluster slot. Nothing outside this module spells a key.
Atomic pipelines say ``transaction=True``: redis-py's cluster pipeline defaults to none.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import msgpack
import orjson
import redis
from redis.client import NEVER_DECODE

DOMAINS: tuple[str, ...] = ("transport", "water", "medical", "city")


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

    @staticmethod
    def live_times(domain: str) -> str:
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

    @staticmethod
    def events(domain: str) -> str:
        return f"co:{{{domain}}}:events"

    @staticmethod
    def kpis(domain: str) -> str:
        return f"co:{{{domain}}}:kpis"

    @staticmethod
    def kpi_history(domain: str) -> str:
        return f"co:{{{domain}}}:kpis:history"

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


class AlreadyExists(Exception):
    """The record to create exists already."""


class NotFound(Exception):
    """The record to change does not exist."""


# -- users ---------------------------------------------------------------------------------------
def create_user(r: redis.Redis, name: str, fields: Mapping[str, str]) -> None:
    """Create user ``name`` with ``fields``; :class:`AlreadyExists` if the name is taken."""
    key = Keys.user(name)
    with r.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(key)
                if pipe.exists(key):
                    raise AlreadyExists(name)
                pipe.multi()
                pipe.hset(key, mapping={"name": name, **fields})
                pipe.sadd(Keys.users, name)
                pipe.execute()
                return
            except redis.WatchError:
                continue


def get_user(r: redis.Redis, name: str) -> dict[str, str] | None:
    """The stored fields of user ``name``, or None."""
    data = r.hgetall(Keys.user(name))
    return data or None


def update_user(r: redis.Redis, name: str, fields: Mapping[str, str],
                bump_epoch: bool = False) -> None:
    """Change fields of an existing user; ``bump_epoch`` ends all of the user's sessions."""
    key = Keys.user(name)
    with r.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(key)
                if not pipe.exists(key):
                    raise NotFound(name)
                pipe.multi()
                if fields:
                    pipe.hset(key, mapping=dict(fields))
                if bump_epoch:
                    pipe.hincrby(key, "epoch", 1)
                pipe.execute()
                return
            except redis.WatchError:
                continue


def list_users(r: redis.Redis) -> list[dict[str, str]]:
    """All users' stored fields, sorted by name."""
    names = sorted(r.smembers(Keys.users))
    with r.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hgetall(Keys.user(name))
        rows = pipe.execute()
    return [row for row in rows if row]


def count_users(r: redis.Redis) -> int:
    """How many users exist."""
    return int(r.scard(Keys.users))


# -- API and display tokens ------------------------------------------------------------------------
def create_token(r: redis.Redis, token_id: str, fields: Mapping[str, str]) -> None:
    """Store a token record (its secret only as a hash)."""
    key = Keys.token(token_id)
    if not r.hsetnx(key, "id", token_id):
        raise AlreadyExists(token_id)
    with r.pipeline(transaction=True) as pipe:
        pipe.hset(key, mapping=dict(fields))
        pipe.sadd(Keys.tokens, token_id)
        pipe.execute()


def get_token(r: redis.Redis, token_id: str) -> dict[str, str] | None:
    """The stored fields of token ``token_id``, or None."""
    return r.hgetall(Keys.token(token_id)) or None


def list_tokens(r: redis.Redis) -> list[dict[str, str]]:
    """All token records (without secrets), sorted by creation time."""
    ids = list(r.smembers(Keys.tokens))
    with r.pipeline(transaction=False) as pipe:
        for token_id in ids:
            pipe.hgetall(Keys.token(token_id))
        rows = [row for row in pipe.execute() if row]
    return sorted(rows, key=lambda row: row.get("created_at", ""))


def update_token(r: redis.Redis, token_id: str, fields: Mapping[str, str]) -> None:
    """Change fields of an existing token record."""
    key = Keys.token(token_id)
    if not r.exists(key):
        raise NotFound(token_id)
    r.hset(key, mapping=dict(fields))


# -- login throttling -----------------------------------------------------------------------------
def login_failures(r: redis.Redis, subjects: Iterable[tuple[str, str]]) -> list[tuple[int, int]]:
    """(failures in the current window, seconds until it ends) for each (kind, subject)."""
    subjects = list(subjects)
    with r.pipeline(transaction=False) as pipe:
        for kind, subject in subjects:
            key = Keys.login_failures(kind, subject)
            pipe.get(key)
            pipe.ttl(key)
        raw = pipe.execute()
    return [(int(raw[i] or 0), max(int(raw[i + 1]), 0)) for i in range(0, len(raw), 2)]


def record_login_failure(r: redis.Redis, subjects: Iterable[tuple[str, str]],
                         window_s: int) -> None:
    """Count one failed login against each (kind, subject); a window starts at its first failure."""
    with r.pipeline(transaction=False) as pipe:
        for kind, subject in subjects:
            key = Keys.login_failures(kind, subject)
            # SET NX EX opens the window once; INCR keeps its expiry (EXPIRE NX needs Redis 7).
            pipe.set(key, 0, ex=window_s, nx=True)
            pipe.incr(key)
        pipe.execute()


def clear_login_failures(r: redis.Redis, kind: str, subject: str) -> None:
    """Forget the failures counted against one subject (after a successful login)."""
    r.delete(Keys.login_failures(kind, subject))


# -- audit ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AuditEntry:
    """One line of the append-only audit stream."""

    id: str
    at: float
    actor: str
    action: str
    target: str
    addr: str
    outcome: str
    detail: str


def audit(r: redis.Redis, actor: str, action: str, *, target: str = "", addr: str = "",
          outcome: str = "ok", detail: str = "") -> str:
    """Append an entry to the audit stream (never trimmed) and return its id."""
    return r.xadd(Keys.audit, {
        "at": f"{time.time():.3f}", "actor": actor, "action": action, "target": target,
        "addr": addr, "outcome": outcome, "detail": detail[:500],
    })


def read_audit(r: redis.Redis, count: int = 100) -> list[AuditEntry]:
    """The newest ``count`` audit entries, newest first."""
    rows = r.xrevrange(Keys.audit, count=count)
    return [AuditEntry(id=entry_id, at=float(f.get("at", 0)), actor=f.get("actor", ""),
                       action=f.get("action", ""), target=f.get("target", ""),
                       addr=f.get("addr", ""), outcome=f.get("outcome", ""),
                       detail=f.get("detail", "")) for entry_id, f in rows]


# -- live data versions ---------------------------------------------------------------------------
def bump_domain_version(r: redis.Redis, domain: str, updated_at: float | None = None) -> int:
    """Mark that ``domain``'s live data changed; returns its new version number."""
    key = Keys.domain_meta(domain)
    with r.pipeline(transaction=True) as pipe:
        pipe.hincrby(key, "version", 1)
        pipe.hset(key, "updated_at", f"{time.time() if updated_at is None else updated_at:.3f}")
        version, _ = pipe.execute()
    return int(version)


def _meta_pipeline(pipe: redis.client.Pipeline) -> None:
    for domain in DOMAINS:
        pipe.hmget(Keys.domain_meta(domain), "version", "updated_at")


def _meta_rows(rows: list[Any]) -> dict[str, tuple[int, float | None]]:
    return {domain: (int(version or 0), float(updated_at) if updated_at else None)
            for domain, (version, updated_at) in zip(DOMAINS, rows, strict=True)}


def domain_versions(r: redis.Redis) -> dict[str, tuple[int, float | None]]:
    """(version, updated_at) of every domain; version 0 and None when it never had data."""
    with r.pipeline(transaction=False) as pipe:
        _meta_pipeline(pipe)
        return _meta_rows(pipe.execute())


@dataclass(frozen=True)
class LiveStatus:
    """What every page's status strip shows, read in one round trip."""

    versions: dict[str, tuple[int, float | None]]
    runner_alive: bool
    feeds: dict[str, dict[str, str]]  # feed -> compact health (see SUMMARY_FIELDS)


def live_status(r: redis.Redis) -> LiveStatus:
    """Every domain's (version, updated_at), the runner's heartbeat and the feeds' health."""
    with r.pipeline(transaction=False) as pipe:
        _meta_pipeline(pipe)
        pipe.exists(Keys.runner_heartbeat)
        pipe.hgetall(Keys.feeds_summary)
        rows = pipe.execute()
    feeds = {feed: orjson.loads(raw) for feed, raw in (rows[-1] or {}).items()}
    return LiveStatus(_meta_rows(rows[:-2]), bool(rows[-2]), feeds)


# -- runner heartbeat -----------------------------------------------------------------------------
def write_runner_heartbeat(r: redis.Redis, fields: Mapping[str, Any], ttl_s: int) -> None:
    """Record that an adapter runner is alive; the record expires when it stops beating."""
    key = Keys.runner_heartbeat
    with r.pipeline(transaction=True) as pipe:
        pipe.hset(key, mapping={k: str(v) for k, v in fields.items()})
        pipe.expire(key, ttl_s)
        pipe.execute()


def read_runner_heartbeat(r: redis.Redis) -> dict[str, str] | None:
    """The newest runner heartbeat, or None when no runner beat recently."""
    return r.hgetall(Keys.runner_heartbeat) or None


# -- live entities, observations and events ---------------------------------------------------------
# Shared Lua helpers. The ids a feed last listed, per kind: one MessagePack array in a string (a
# set costs three times the memory per id, and is only read when a full listing differs from the
# last). feed_ids() also reads the set an earlier CityOps left there, and removes it.
_FEED_IDS_LUA = """
-- Each live entity's observation time: one MessagePack map (id -> time) per domain in a string.
-- Decoding and re-encoding it in C costs less than 20,000 HMGET and HSET field operations, and a
-- third of a hash's memory. Reads the hash an earlier CityOps left there, and removes it.
local function times_of(key)
  if redis.call('TYPE', key).ok == 'hash' then
    local flat = redis.call('HGETALL', key)
    local t = {}
    for i = 1, #flat, 2 do t[flat[i]] = tonumber(flat[i + 1]) end
    redis.call('DEL', key)
    return t
  end
  local packed = redis.call('GET', key)
  if not packed then return {} end
  return cmsgpack.unpack(packed)
end
local function feed_ids(key)
  if redis.call('TYPE', key).ok == 'set' then
    local members = redis.call('SMEMBERS', key)
    redis.call('DEL', key)
    return members
  end
  local packed = redis.call('GET', key)
  if not packed then return {} end
  return cmsgpack.unpack(packed)
end
"""
# Upserts a batch of entities of one feed. Older data never overwrites newer (per-entity time
# check against the domain's times map; within a batch too); a full dataset retires the feed's
# entities of that kind it no longer lists. One script, so a reader never sees half a batch.
# KEYS: live, live_times, geo, feed_entities, meta, feed_entities_digest
# ARGV: full (0/1), now, batch, indexed (0/1: keep the GEO set for this kind), digest of the
# batch's id set (full batches). The batch is one MessagePack array of five columns: ids, times,
# lons, lats (false without a position; both empty for kinds not GEO-indexed), packed JSON (a
# list, or one body of the entities joined by commas, see _packed_entities). One
# argument instead of five per entity (encoding 100,000 arguments in redis-py costs more than the
# whole write); Redis's own C MessagePack decoder hands the columns to the script as they are.
_UPSERT_ENTITIES = """
local full = ARGV[1] == '1'
local indexed = ARGV[4] == '1'
local cols = cmsgpack.unpack(ARGV[3])
local CHUNK = 2000
local ids, tss, lons, lats, packs = cols[1], cols[2], cols[3], cols[4], cols[5]
local n = #ids
if type(packs) == 'string' then
  -- One JSON body: cut it where one entity ends and the next begins (checked by the caller).
  local body, list, pos = packs, {}, 1
  for i = 1, n - 1 do
    local e = string.find(body, '},{"domain":', pos, true)
    list[i] = string.sub(body, pos, e)
    pos = e + 2
  end
  list[n] = string.sub(body, pos)
  packs = list
end
""" + _FEED_IDS_LUA + """
local times = times_of(KEYS[2])
local accepted, older = 0, 0
local live, geo, nogeo = {}, {}, {}
for i = 1, n do
  local id = ids[i]
  local p = times[id]
  if p and p > tss[i] then
    older = older + 1
  else
    accepted = accepted + 1
    live[#live + 1] = id; live[#live + 1] = packs[i]
    times[id] = tss[i]
    if indexed then
      if lons[i] then
        geo[#geo + 1] = lons[i]; geo[#geo + 1] = lats[i]; geo[#geo + 1] = id
      else
        nogeo[#nogeo + 1] = id
      end
    end
  end
end
local function chunked(cmd, key, args, width)
  local step = CHUNK * width
  for c = 1, #args, step do
    redis.call(cmd, key, unpack(args, c, math.min(c + step - 1, #args)))
  end
end
chunked('HSET', KEYS[1], live, 2)
if indexed then
  chunked('GEOADD', KEYS[3], geo, 3)
  chunked('ZREM', KEYS[3], nogeo, 1)
end
local retired = 0
if full then
  -- A full listing of the same ids as the last one (the steady state of a fleet) has nothing
  -- to retire and leaves the id set as it is: skip reading and rewriting 20,000 members.
  if redis.call('GET', KEYS[6]) ~= ARGV[5] then
    local seen = {}
    for i = 1, n do seen[ids[i]] = true end
    local gone = {}
    for _, id in ipairs(feed_ids(KEYS[4])) do
      if not seen[id] then gone[#gone + 1] = id end
    end
    retired = #gone
    chunked('HDEL', KEYS[1], gone, 1)
    for _, id in ipairs(gone) do times[id] = nil end
    chunked('ZREM', KEYS[3], gone, 1)
    redis.call('SET', KEYS[4], cmsgpack.pack(ids))
    redis.call('SET', KEYS[6], ARGV[5])
  end
else
  local list = feed_ids(KEYS[4])
  local seen = {}
  for _, id in ipairs(list) do seen[id] = true end
  for i = 1, n do
    if not seen[ids[i]] then seen[ids[i]] = true; list[#list + 1] = ids[i] end
  end
  redis.call('SET', KEYS[4], cmsgpack.pack(list))
  redis.call('DEL', KEYS[6])
end
if accepted > 0 or retired > 0 then
  redis.call('SET', KEYS[2], cmsgpack.pack(times))
  redis.call('HINCRBY', KEYS[5], 'version', 1)
  redis.call('HSET', KEYS[5], 'updated_at', ARGV[2])
end
return {accepted, older, retired}
"""
# Takes ids (ARGV) out of a domain's observation times (KEYS[1]).
_FORGET_TIMES = _FEED_IDS_LUA + """
local times = times_of(KEYS[1])
for i = 1, #ARGV do times[ARGV[i]] = nil end
redis.call('SET', KEYS[1], cmsgpack.pack(times))
return 1
"""
# Takes ids (ARGV) out of a feed's id list (KEYS[1]).
_FORGET_FEED_IDS = _FEED_IDS_LUA + """
local gone = {}
for i = 1, #ARGV do gone[ARGV[i]] = true end
local kept = {}
for _, id in ipairs(feed_ids(KEYS[1])) do
  if not gone[id] then kept[#kept + 1] = id end
end
redis.call('SET', KEYS[1], cmsgpack.pack(kept))
return #kept
"""
_ENTITY_JOINT = b'},{"domain":'


def _packed_entities(group: Sequence[Any]) -> bytes | list[bytes]:
    """The entities of ``group`` as compact JSON: one body that the upsert script splits, from one
    orjson call for the whole list, or (when that body cannot be split safely) one per entity.

    orjson packs a list of 20,000 dataclasses in a few ms but takes 3x longer one call at a time,
    and cutting the body into 20,000 pieces costs Python more than it costs Lua. The body splits
    exactly at ``},{"domain":``: inside a JSON string a quote is always escaped, so that sequence
    only occurs where one entity ends and the next begins. Should an attribute hold a nested
    object that starts with "domain", the count is off and each is packed alone.
    """
    if not group:
        return []
    body = orjson.dumps(list(group))[1:-1]
    if body.count(_ENTITY_JOINT) != len(group) - 1 or not body.startswith(b'{"domain":'):
        return [orjson.dumps(e) for e in group]
    return body


def _id_set_digest(ids: Sequence[str]) -> str:
    """A digest of the set of ``ids``, equal for equal sets whatever their order."""
    # Python's string hash is keyed per process: another runner (or a restart) computes other
    # digests, which costs it one full comparison, never a wrong skip. 64 bits and the count
    # make an accidental match between different sets practically impossible.
    unique = set(ids)
    return f"{len(unique)}:{sum(map(hash, unique)) & 0xFFFFFFFFFFFFFFFF:x}"


def _batch_blob(group: Sequence[Any], ids: list[str], indexed: bool = True) -> bytes:
    """The entities of one kind (and their ``ids``) as the upsert script's MessagePack columns."""
    limit = GEO_LAT_LIMIT
    lons: list[Any] = []
    lats: list[Any] = []
    if indexed:
        for e in group:
            lat, lon = e.lat, e.lon
            # Redis GEO covers the Web Mercator band only; polar entities are stored, not indexed.
            if lat is not None and lon is not None and -limit <= lat <= limit and -180 <= lon <= 180:
                lons.append(float(lon))
                lats.append(float(lat))
            else:
                lons.append(False)
                lats.append(False)
    columns = [ids, [float(e.observed_at) for e in group], lons, lats,
               _packed_entities(group)]
    # Redis's cmsgpack reads the classic raw type, not the newer bin type.
    return msgpack.packb(columns, use_bin_type=False)


GEO_LAT_LIMIT = 85.05112878
# Things that move every few seconds are located from their live records; re-indexing tens of
# thousands of them in the GEO set on every poll would cost more than the rest of the write.
# The GEO set indexes places: stops, sensors, reservoirs, hospitals, requests.
MOVING_KINDS = frozenset({"vehicle", "ambulance"})


@dataclass(frozen=True)
class BatchResult:
    """What a batch write changed."""

    accepted: int
    older: int
    retired: int
    removed: int
    observations: int
    events: int


def _dumps(value: Any) -> bytes:
    # orjson: packing is most of the cost of a 20,000-vehicle batch with the json module.
    return orjson.dumps(value)


def pack_entity(entity: Any) -> bytes:
    """The stored form of an Entity: its dataclass fields as compact JSON (orjson packs
    dataclasses natively, which is most of the speed of a large batch)."""
    return orjson.dumps(entity)


def pack_event(event: Any) -> bytes:
    """The stored form of an Event (compact JSON)."""
    return _dumps({"id": event.id, "kind": event.kind, "title": event.title,
                   "severity": event.severity, "observed_at": event.observed_at,
                   "source": event.source, "starts_at": event.starts_at, "ends_at": event.ends_at,
                   "area": event.area, "attrs": dict(event.attrs)})


def write_batch(r: redis.Redis, domain: str, feed: str, *, entities: Sequence[Any] = (),
                observations: Sequence[Any] = (), events: Sequence[Any] = (),
                removed: Sequence[str] = (), replaces: Iterable[str] = (),
                retire_events: bool = False) -> BatchResult:
    """Write one feed's parsed batch of a domain atomically (MULTI/EXEC).

    ``replaces`` names the entity kinds this batch lists in full: the feed's entities of those
    kinds that it no longer lists are retired. ``retire_events`` does the same for its events.
    """
    now = f"{time.time():.3f}"
    full_kinds = set(replaces)
    by_kind: dict[str, list[Any]] = {kind: [] for kind in full_kinds}
    for e in entities:
        by_kind.setdefault(e.kind, []).append(e)
    old_events: set[str] = set()
    if retire_events:
        old_events = set(r.smembers(Keys.feed_events(domain, feed)))
    with r.pipeline(transaction=True) as pipe:
        for kind, group in by_kind.items():
            full = kind in full_kinds
            ids = [e.id for e in group]
            # EVAL by name: redis-py's cluster pipeline has no eval() (what redis.Redis's sends).
            pipe.execute_command(
                "EVAL", _UPSERT_ENTITIES, 6, Keys.live(domain), Keys.live_times(domain),
                Keys.geo(domain), Keys.feed_entities(domain, feed, kind),
                Keys.domain_meta(domain), Keys.feed_entities_digest(domain, feed, kind),
                "1" if full else "0", now, _batch_blob(group, ids, kind not in MOVING_KINDS),
                "0" if kind in MOVING_KINDS else "1", _id_set_digest(ids) if full else "")
        if removed:
            pipe.hdel(Keys.live(domain), *removed)
            pipe.execute_command("EVAL", _FORGET_TIMES, 1, Keys.live_times(domain), *removed)
            pipe.zrem(Keys.geo(domain), *removed)
            for kind in by_kind:
                pipe.execute_command("EVAL", _FORGET_FEED_IDS, 1,
                                     Keys.feed_entities(domain, feed, kind), *removed)
                pipe.delete(Keys.feed_entities_digest(domain, feed, kind))
            # A deleted entity may be an event (a GTFS-rt alert with is_deleted).
            pipe.hdel(Keys.events(domain), *removed)
            pipe.srem(Keys.feed_events(domain, feed), *removed)
        # The newest reading of each entity and metric in the batch (a FHIR Bundle may carry
        # several reports of one hospital, in any order).
        newest: dict[tuple[str, str], Any] = {}
        for o in observations:
            key = (o.metric, o.entity_id)
            held = newest.get(key)
            if held is None or o.observed_at >= held.observed_at:
                newest[key] = o
        by_metric: dict[str, dict[str, bytes]] = {}
        for (metric, entity_id), o in newest.items():
            by_metric.setdefault(metric, {})[entity_id] = _dumps([o.value, o.unit, o.observed_at])
        for metric, mapping in by_metric.items():
            pipe.hset(Keys.latest(domain, metric), mapping=mapping)
        if events:
            pipe.hset(Keys.events(domain), mapping={ev.id: pack_event(ev) for ev in events})
        gone_events = old_events - {ev.id for ev in events} if retire_events else set()
        if gone_events:
            pipe.hdel(Keys.events(domain), *gone_events)
        if retire_events:
            pipe.delete(Keys.feed_events(domain, feed))
        if events:
            pipe.sadd(Keys.feed_events(domain, feed), *(ev.id for ev in events))
        if removed or observations or events or gone_events:
            pipe.hincrby(Keys.domain_meta(domain), "version", 1)
            pipe.hset(Keys.domain_meta(domain), "updated_at", now)
        results = pipe.execute()
    accepted = older = retired = 0
    for counts in results[:len(by_kind)]:
        accepted, older, retired = (accepted + int(counts[0]), older + int(counts[1]),
                                    retired + int(counts[2]))
    return BatchResult(accepted, older, retired, len(removed), len(observations),
                       len(events) + len(gone_events))


# Retires a feed's entities of one kind whose status is ARGV[1] and whose time is before ARGV[2]
# (a retention limit: closed service requests). Only the old ones are decoded, so a pass over
# 30,000 requests of which few expire costs little more than reading the times map.
# KEYS: live, live_times, geo, feed_entities, meta, feed_entities_digest
# ARGV: status, cutoff time, now
_PRUNE_ENTITIES = _FEED_IDS_LUA + """
local cutoff = tonumber(ARGV[2])
local times = times_of(KEYS[2])
local kept, gone = {}, {}
for _, id in ipairs(feed_ids(KEYS[4])) do
  local t = times[id]
  local expired = false
  if t and t < cutoff then
    local packed = redis.call('HGET', KEYS[1], id)
    if packed then
      local ok, record = pcall(cjson.decode, packed)
      expired = ok and type(record) == 'table' and record.status == ARGV[1]
    end
  end
  if expired then gone[#gone + 1] = id else kept[#kept + 1] = id end
end
if #gone == 0 then return 0 end
for c = 1, #gone, 2000 do
  local last = math.min(c + 1999, #gone)
  redis.call('HDEL', KEYS[1], unpack(gone, c, last))
  redis.call('ZREM', KEYS[3], unpack(gone, c, last))
end
for _, id in ipairs(gone) do times[id] = nil end
redis.call('SET', KEYS[2], cmsgpack.pack(times))
redis.call('SET', KEYS[4], cmsgpack.pack(kept))
redis.call('DEL', KEYS[6])
redis.call('HINCRBY', KEYS[5], 'version', 1)
redis.call('HSET', KEYS[5], 'updated_at', ARGV[3])
return #gone
"""


def prune_entities(r: redis.Redis, domain: str, feed: str, kind: str, status: str,
                   older_than: float) -> int:
    """Retire ``feed``'s entities of ``kind`` with ``status`` last observed before ``older_than``
    (POSIX s), as a retention limit; returns how many went. One script: readers never see half."""
    return int(r.execute_command(
        "EVAL", _PRUNE_ENTITIES, 6, Keys.live(domain), Keys.live_times(domain), Keys.geo(domain),
        Keys.feed_entities(domain, feed, kind), Keys.domain_meta(domain),
        Keys.feed_entities_digest(domain, feed, kind), status, repr(float(older_than)),
        f"{time.time():.3f}"))


def read_entities(r: redis.Redis, domain: str) -> list[dict[str, Any]]:
    """Every live entity of ``domain`` as stored (parsed JSON)."""
    return [orjson.loads(v) for v in r.hvals(Keys.live(domain))]


def read_entity(r: redis.Redis, domain: str, entity_id: str) -> dict[str, Any] | None:
    """One live entity of ``domain`` as stored, or None."""
    raw = r.hget(Keys.live(domain), entity_id)
    return None if raw is None else orjson.loads(raw)


def read_reading(r: redis.Redis, domain: str, metric: str, entity_id: str
                 ) -> tuple[float, str, float] | None:
    """The newest reading of ``metric`` of one entity: (value, unit, observed_at), or None."""
    raw = r.hget(Keys.latest(domain, metric), entity_id)
    return None if raw is None else tuple(orjson.loads(raw))  # type: ignore[return-value]


def read_event(r: redis.Redis, domain: str, event_id: str) -> dict[str, Any] | None:
    """One stored event of ``domain``, or None."""
    raw = r.hget(Keys.events(domain), event_id)
    return None if raw is None else orjson.loads(raw)


def read_latest(r: redis.Redis, domain: str, metric: str) -> dict[str, tuple[float, str, float]]:
    """entity id -> (value, unit, observed_at) of the newest reading of ``metric``."""
    return {k: tuple(orjson.loads(v)) for k, v in r.hgetall(Keys.latest(domain, metric)).items()}  # type: ignore[misc]


def read_events(r: redis.Redis, domain: str) -> list[dict[str, Any]]:
    """Every stored event of ``domain`` (parsed JSON)."""
    return [orjson.loads(v) for v in r.hvals(Keys.events(domain))]


def count_entities(r: redis.Redis, domain: str) -> int:
    """How many live entities ``domain`` has."""
    return int(r.hlen(Keys.live(domain)))


# -- the live map's shared snapshots ----------------------------------------------------------------
# Stores a domain's map snapshot unless a newer one is there, with the parts it references, and
# drops parts neither this snapshot nor the previous one references (a reader between the two
# still finds its parts). Answers the referenced digests it lacks, so a writer that assumed a part
# was stored (Redis lost it) sends it again.
# KEYS: meta, map, parts. ARGV: version, snapshot, referenced digests (space-separated), then
# digest/part pairs.
_PUBLISH_MAP = """
local v = tonumber(ARGV[1])
local cur = tonumber(redis.call('HGET', KEYS[1], 'map_version') or '0')
if cur >= v then return {0} end
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
local missing = {}
local keep = {}
for d in string.gmatch(ARGV[3], '%S+') do
  keep[d] = true
  if redis.call('HEXISTS', KEYS[3], d) == 0 then missing[#missing + 1] = d end
end
if #missing > 0 then return {2, unpack(missing)} end
for d in string.gmatch(redis.call('HGET', KEYS[1], 'map_parts') or '', '%S+') do keep[d] = true end
for _, d in ipairs(redis.call('HKEYS', KEYS[3])) do
  if not keep[d] then redis.call('HDEL', KEYS[3], d) end
end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[1], 'map_version', v, 'map_parts', ARGV[3])
return {1}
"""


def write_map_snapshot(r: redis.Redis, domain: str, version: int, snapshot: bytes,
                       digests: Sequence[str], parts: Mapping[str, bytes]) -> tuple[bool, list[str]]:
    """Publish ``domain``'s map snapshot at ``version``; (stored, digests Redis lacks).

    Nothing is stored when a snapshot of the same or a newer version is already there, or when a
    referenced part is neither in Redis nor in ``parts`` (then send those parts again).
    """
    args: list[Any] = [version, snapshot, " ".join(digests)]
    for key, part in parts.items():
        args += [key, part]
    answer = r.eval(_PUBLISH_MAP, 3, Keys.domain_meta(domain), Keys.map_snapshot(domain),
                    Keys.map_parts(domain), *args)
    status = int(answer[0])
    return status == 1, [d.decode() if isinstance(d, bytes) else str(d) for d in answer[1:]]


def read_map_snapshot(r: redis.Redis, domain: str) -> bytes | None:
    """The published map snapshot of ``domain`` (None before the first)."""
    return r.execute_command("GET", Keys.map_snapshot(domain), **{NEVER_DECODE: True})


def read_map_parts(r: redis.Redis, domain: str, digests: Sequence[str]) -> list[bytes | None]:
    """The published parts with these digests (None for any that is gone)."""
    if not digests:
        return []
    return list(r.execute_command("HMGET", Keys.map_parts(domain), *digests, **{NEVER_DECODE: True}))


def map_versions(r: redis.Redis) -> tuple[dict[str, tuple[int, float | None, int]], int]:
    """(version, updated_at, published map version) of every domain, and the alerts' version,
    in one round trip (the wall's map asks every second)."""
    with r.pipeline(transaction=False) as pipe:
        for domain in DOMAINS:
            pipe.hmget(Keys.domain_meta(domain), "version", "updated_at", "map_version")
        pipe.hget(Keys.alerts_meta, "version")
        rows = pipe.execute()
    domains = {domain: (int(version or 0), float(updated_at) if updated_at else None,
                        int(mapped or 0))
               for domain, (version, updated_at, mapped) in zip(DOMAINS, rows, strict=False)}
    return domains, int(rows[-1] or 0)


# -- feeds: health, dead letters, leases --------------------------------------------------------------
DEAD_LETTER_MAXLEN = 1000
SUMMARY_FIELDS = ("domain", "last_success", "first_attempt", "freshness_budget_s",
                  "consecutive_failures", "fatal")


def write_feed_health(r: redis.Redis, feed: str, fields: Mapping[str, Any],
                      incr_failures: bool = False) -> None:
    """Update a feed's health record; ``incr_failures`` counts one more consecutive failure."""
    key = Keys.feed_health(feed)
    with r.pipeline(transaction=True) as pipe:
        pipe.sadd(Keys.feeds_index, feed)
        pipe.hset(key, mapping={k: "" if v is None else str(v) for k, v in fields.items()})
        if incr_failures:
            pipe.hincrby(key, "consecutive_failures", 1)
        else:
            pipe.hset(key, "consecutive_failures", 0)
        pipe.hgetall(key)
        record = pipe.execute()[-1]
    r.hset(Keys.feeds_summary, feed, _dumps({k: record.get(k, "") for k in SUMMARY_FIELDS}))


def read_feed_health(r: redis.Redis) -> list[dict[str, str]]:
    """Every feed's health record, sorted by feed name."""
    feeds = sorted(r.smembers(Keys.feeds_index))
    with r.pipeline(transaction=False) as pipe:
        for feed in feeds:
            pipe.hgetall(Keys.feed_health(feed))
        rows = pipe.execute()
    return [dict(row, feed=feed) for feed, row in zip(feeds, rows, strict=True) if row]


def dead_letter(r: redis.Redis, feed: str, letters: Iterable[tuple[str, str]]) -> int:
    """Keep rejected rows/payloads (reason, excerpt) in the feed's capped dead-letter stream."""
    count = 0
    with r.pipeline(transaction=False) as pipe:
        for reason, excerpt in letters:
            pipe.xadd(Keys.dead_letters(feed), {"at": f"{time.time():.3f}", "reason": reason[:500],
                                                "excerpt": excerpt[:2048]},
                      maxlen=DEAD_LETTER_MAXLEN, approximate=True)
            count += 1
        pipe.execute()
    return count


def read_dead_letters(r: redis.Redis, feed: str, count: int = 50) -> list[dict[str, str]]:
    """The newest dead letters of a feed, newest first."""
    return [dict(f, id=i) for i, f in r.xrevrange(Keys.dead_letters(feed), count=count)]


_RENEW_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


def acquire_lease(r: redis.Redis, feed: str, owner: str, ttl_ms: int) -> bool:
    """Hold the feed's lease (take it if free, renew it if ours); False when another runner has it."""
    if r.set(Keys.lease(feed), owner, nx=True, px=ttl_ms):
        return True
    return bool(r.eval(_RENEW_LEASE, 1, Keys.lease(feed), owner, ttl_ms))


def release_lease(r: redis.Redis, feed: str, owner: str) -> None:
    """Give the lease up at a clean stop so another runner need not wait for it to expire."""
    r.eval("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end "
           "return 0", 1, Keys.lease(feed), owner)


# -- KPIs ---------------------------------------------------------------------------------------------
KPI_HISTORY_EVERY_S = 60.0
KPI_HISTORY_MAXLEN = 120_000  # 8 days of 10 KPIs a minute: enough for 24 h and 7 d trends


def write_kpis(r: redis.Redis, domain: str, kpis: Sequence[Mapping[str, Any]]) -> None:
    """Store a domain's current KPIs, and once a minute append them to its capped history."""
    if not kpis:
        return
    newest = r.xrevrange(Keys.kpi_history(domain), count=1)
    last_ms = int(newest[0][0].split("-")[0]) if newest else 0
    with r.pipeline(transaction=True) as pipe:
        # Replaced whole: a zone, hospital or category that is gone takes its KPIs with it.
        pipe.delete(Keys.kpis(domain))
        pipe.hset(Keys.kpis(domain), mapping={k["name"]: _dumps(k) for k in kpis})
        # History keeps the city-wide KPIs: hundreds of per-subject ones a minute would cut
        # the 8 days it holds to hours.
        for k in kpis if time.time() * 1000 - last_ms >= KPI_HISTORY_EVERY_S * 1000 else ():
            if k.get("subject") is None:
                pipe.xadd(Keys.kpi_history(domain), {"name": k["name"],
                                                      "value": _dumps(k["value"]),
                                                      "status": k["status"]},
                          maxlen=KPI_HISTORY_MAXLEN, approximate=True)
        pipe.execute()


def read_kpis(r: redis.Redis, domain: str) -> list[dict[str, Any]]:
    """A domain's current KPIs (as stored), in the order their definitions rank them."""
    rows = [orjson.loads(v) for v in r.hvals(Keys.kpis(domain))]
    return sorted(rows, key=lambda k: (k.get("rank", 0), k.get("name", "")))


def read_kpi_history(r: redis.Redis, domain: str, since: float) -> list[tuple[float, str, Any]]:
    """(time, name, value) of a domain's KPI history since Unix time ``since``, oldest first."""
    rows = r.xrange(Keys.kpi_history(domain), min=f"{int(since * 1000)}-0")
    return [(int(entry_id.split("-")[0]) / 1000, f["name"], orjson.loads(f["value"]))
            for entry_id, f in rows]


# -- alerts -------------------------------------------------------------------------------------------
# Every lifecycle step is one Lua script over the alert's keys (KEYS: alert hash, its timeline
# stream, the index, the open set, the meta hash), so two people acting at once meet one winner,
# and the loser is answered from the same atomic read: who did it and when. The timeline entry is
# written in the same step as the change it records.
ALERT_STATES: tuple[str, ...] = ("active_unack", "active_ack", "cleared_unack", "cleared_ack")
ALERT_LEASE_NAME = "alert-rules"

_ALERT_PRELUDE = """
local id, now, actor, addr = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local function log(action, state, detail)
  redis.call('XADD', KEYS[2], '*', 'at', now, 'actor', actor, 'action', action, 'addr', addr,
             'state', state, 'detail', detail)
end
local function touch(state)
  redis.call('HINCRBY', KEYS[1], 'version', 1)
  redis.call('HSET', KEYS[1], 'state', state, 'updated_at', now)
  redis.call('ZADD', KEYS[3], now, id)
  if state == 'cleared_ack' then
    redis.call('ZREM', KEYS[4], id)
  else
    redis.call('ZADD', KEYS[4], now, id)
  end
  redis.call('HINCRBY', KEYS[5], 'version', 1)
end
"""

# ARGV: id, now, actor, addr, fingerprint, then field/value pairs describing the alert.
# Returns {outcome, state}: created, repeated (still active: count and last_seen bumped),
# reopened (it had cleared: the same alert is active and unacknowledged again) or collision.
_ALERT_RAISE = _ALERT_PRELUDE + """
local fp = ARGV[5]
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  redis.call('HSET', KEYS[1], 'id', id, 'fingerprint', fp, 'count', 1, 'first_seen', now,
    'last_seen', now, 'opened_at', now, 'version', 0, 'escalated', '0', 'escalated_at', '',
    'acked_by', '', 'acked_at', '', 'ack_note', '', 'assignee', '', 'assigned_by', '',
    'assigned_at', '', 'cleared_at', '', 'closed_by', '', 'closed_at', '', 'resolved_by', '',
    'resolved_at', '', 'notes', 0, 'created_by', actor)
  redis.call('HSET', KEYS[1], unpack(ARGV, 6))
  touch('active_unack')
  log('raised', 'active_unack', '')
  return {'created', 'active_unack'}
end
if redis.call('HGET', KEYS[1], 'fingerprint') ~= fp then
  return {'collision', state}
end
redis.call('HINCRBY', KEYS[1], 'count', 1)
redis.call('HSET', KEYS[1], 'last_seen', now)
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
if state == 'active_unack' or state == 'active_ack' then
  touch(state)
  log('repeated', state, '')
  return {'repeated', state}
end
redis.call('HSET', KEYS[1], 'opened_at', now, 'escalated', '0', 'escalated_at', '', 'acked_by', '',
  'acked_at', '', 'ack_note', '', 'cleared_at', '', 'closed_by', '', 'closed_at', '',
  'resolved_by', '', 'resolved_at', '')
touch('active_unack')
log('reopened', 'active_unack', '')
return {'reopened', 'active_unack'}
"""

# ARGV: id, now, actor, addr, action, text, arg, expected.
# ack (text: note), assign (arg: the new assignee; expected: the assignee the caller saw),
# note (text), resolve (text: note), clear, escalate (arg: the severity's deadline in seconds).
# Returns {'ok', state}, {'noop', state}, {'missing'} or {'conflict', why, by, at}.
_ALERT_ACT = _ALERT_PRELUDE + """
local action, text, arg, expected = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local f = redis.call('HMGET', KEYS[1], 'state', 'acked_by', 'acked_at', 'assignee', 'assigned_by',
                     'assigned_at', 'closed_by', 'closed_at', 'escalated', 'opened_at', 'cleared_at')
local state = f[1]
if not state then
  return {'missing'}
end
local function conflict(why, by, at)
  return {'conflict', why, by or '', at or ''}
end
local new = state
if action == 'ack' then
  if state == 'active_unack' then
    new = 'active_ack'
  elseif state == 'cleared_unack' then
    new = 'cleared_ack'
    redis.call('HSET', KEYS[1], 'closed_by', actor, 'closed_at', now)
  else
    return conflict('already acknowledged', f[2], f[3])
  end
  redis.call('HSET', KEYS[1], 'acked_by', actor, 'acked_at', now, 'ack_note', text)
elseif action == 'assign' then
  if state == 'cleared_ack' then
    return conflict('the alert is closed', f[7], f[8])
  end
  if f[4] == arg then
    return conflict('already assigned to ' .. arg, f[5], f[6])
  end
  if f[4] ~= '' and f[4] ~= expected then
    return conflict('assigned to ' .. f[4] .. ' meanwhile', f[5], f[6])
  end
  redis.call('HSET', KEYS[1], 'assignee', arg, 'assigned_by', actor, 'assigned_at', now)
  text = arg
elseif action == 'note' then
  redis.call('HINCRBY', KEYS[1], 'notes', 1)
elseif action == 'resolve' then
  if state == 'cleared_ack' then
    return conflict('already closed', f[7], f[8])
  end
  new = 'cleared_ack'
  redis.call('HSET', KEYS[1], 'resolved_by', actor, 'resolved_at', now, 'closed_by', actor,
             'closed_at', now)
  if f[11] == '' then redis.call('HSET', KEYS[1], 'cleared_at', now) end
  if f[2] == '' then redis.call('HSET', KEYS[1], 'acked_by', actor, 'acked_at', now) end
elseif action == 'clear' then
  if state == 'active_unack' then
    new = 'cleared_unack'
  elseif state == 'active_ack' then
    new = 'cleared_ack'
    redis.call('HSET', KEYS[1], 'closed_by', actor, 'closed_at', now)
  else
    return {'noop', state}
  end
  redis.call('HSET', KEYS[1], 'cleared_at', now)
elseif action == 'escalate' then
  if state ~= 'active_unack' or f[9] == '1'
     or tonumber(f[10]) + tonumber(arg) > tonumber(now) then
    return {'noop', state}
  end
  redis.call('HSET', KEYS[1], 'escalated', '1', 'escalated_at', now)
  text = arg
else
  return {'error', 'unknown action ' .. action}
end
touch(new)
log(action, new, text)
return {'ok', new}
"""


def _alert_keys(alert_id: str) -> list[str]:
    return [Keys.alert(alert_id), Keys.alert_timeline(alert_id), Keys.alerts_index,
            Keys.alerts_open, Keys.alerts_meta]


def alert_raise(r: redis.Redis, alert_id: str, fingerprint: str, fields: Mapping[str, str], *,
                actor: str, addr: str, now: float) -> tuple[str, str]:
    """Create, repeat or reopen the alert ``alert_id`` atomically: (outcome, state)."""
    pairs = [item for key_value in fields.items() for item in key_value]
    if not pairs:
        raise ValueError("an alert needs at least one field")
    outcome = r.eval(_ALERT_RAISE, 5, *_alert_keys(alert_id), alert_id, f"{now:.3f}", actor, addr,
                     fingerprint, *pairs)
    return str(outcome[0]), str(outcome[1])


def alert_act(r: redis.Redis, alert_id: str, action: str, *, actor: str, addr: str, now: float,
              text: str = "", arg: str = "", expected: str = "") -> list[str]:
    """One lifecycle step on an alert, atomically (see _ALERT_ACT for the answers)."""
    return [str(v) for v in r.eval(_ALERT_ACT, 5, *_alert_keys(alert_id), alert_id, f"{now:.3f}",
                                   actor, addr, action, text, arg, expected)]


def read_alert(r: redis.Redis, alert_id: str) -> dict[str, str] | None:
    """The stored fields of one alert, or None."""
    return r.hgetall(Keys.alert(alert_id)) or None


def read_alerts(r: redis.Redis, alert_ids: Sequence[str]) -> list[dict[str, str]]:
    """The stored fields of several alerts (missing ones left out), in the order asked."""
    with r.pipeline(transaction=False) as pipe:
        for alert_id in alert_ids:
            pipe.hgetall(Keys.alert(alert_id))
        return [row for row in pipe.execute() if row]


def alert_ids(r: redis.Redis, open_only: bool = False, limit: int = 200) -> list[str]:
    """Alert ids, most recently changed first: every alert, or only those not closed."""
    key = Keys.alerts_open if open_only else Keys.alerts_index
    return list(r.zrevrange(key, 0, max(limit, 1) - 1))


def read_alert_timeline(r: redis.Redis, alert_id: str,
                        count: int | None = None) -> list[dict[str, str]]:
    """An alert's timeline, oldest first (all of it unless ``count`` limits it)."""
    return [dict(fields, id=entry_id)
            for entry_id, fields in r.xrange(Keys.alert_timeline(alert_id), count=count)]


def alerts_version(r: redis.Redis) -> int:
    """A number that changes whenever any alert (or the alert settings) changed."""
    return int(r.hget(Keys.alerts_meta, "version") or 0)


def read_alert_settings(r: redis.Redis) -> dict[str, str]:
    """Settings of the alert screens (which severities sound)."""
    return r.hgetall(Keys.alert_settings)


def write_alert_settings(r: redis.Redis, fields: Mapping[str, str]) -> None:
    """Change alert screen settings; screens see the change with the next version."""
    with r.pipeline(transaction=True) as pipe:
        pipe.hset(Keys.alert_settings, mapping=dict(fields))
        pipe.hincrby(Keys.alerts_meta, "version", 1)
        pipe.execute()


def read_rule_state(r: redis.Redis) -> dict[str, str]:
    """The rules' memory: rule|subject -> JSON (since when a condition holds, whether it fired)."""
    return r.hgetall(Keys.alert_rule_state)


def write_rule_state(r: redis.Redis, changes: Mapping[str, str | None]) -> None:
    """Set (a JSON text) or forget (None) entries of the rules' memory."""
    if not changes:
        return
    gone = [key for key, value in changes.items() if value is None]
    kept = {key: value for key, value in changes.items() if value is not None}
    with r.pipeline(transaction=True) as pipe:
        if gone:
            pipe.hdel(Keys.alert_rule_state, *gone)
        if kept:
            pipe.hset(Keys.alert_rule_state, mapping=kept)
        pipe.execute()


def acquire_alerts_lease(r: redis.Redis, owner: str, ttl_ms: int) -> bool:
    """Hold the lease of rule evaluation, so that one runner across hosts evaluates the rules."""
    if r.set(Keys.alerts_lease, owner, nx=True, px=ttl_ms):
        return True
    return bool(r.eval(_RENEW_LEASE, 1, Keys.alerts_lease, owner, ttl_ms))


@dataclass(frozen=True)
class RuleInputs:
    """Everything one rule evaluation reads, fetched in one round trip."""

    kpis: dict[str, list[dict[str, Any]]]  # domain -> current KPIs
    events: dict[str, list[dict[str, Any]]]  # domain -> stored events
    feeds: dict[str, dict[str, str]]  # feed -> compact health (SUMMARY_FIELDS)
    latest: dict[tuple[str, str], dict[str, Any]]  # (domain, metric) -> entity id -> reading
    rule_state: dict[str, str]
    open_alerts: list[dict[str, str]]


def read_rule_inputs(r: redis.Redis, metrics: Sequence[tuple[str, str]] = ()) -> RuleInputs:
    """KPIs, events, feed health, the named metrics' readings, the rules' memory, open alerts."""
    with r.pipeline(transaction=False) as pipe:
        for domain in DOMAINS:
            pipe.hvals(Keys.kpis(domain))
        for domain in DOMAINS:
            pipe.hvals(Keys.events(domain))
        pipe.hgetall(Keys.feeds_summary)
        for domain, metric in metrics:
            pipe.hgetall(Keys.latest(domain, metric))
        pipe.hgetall(Keys.alert_rule_state)
        pipe.zrange(Keys.alerts_open, 0, -1)
        rows = pipe.execute()
    n = len(DOMAINS)
    kpis = {d: [orjson.loads(v) for v in rows[i]] for i, d in enumerate(DOMAINS)}
    events = {d: [orjson.loads(v) for v in rows[n + i]] for i, d in enumerate(DOMAINS)}
    feeds = {feed: orjson.loads(raw) for feed, raw in (rows[2 * n] or {}).items()}
    latest = {key: {entity: orjson.loads(v) for entity, v in rows[2 * n + 1 + i].items()}
              for i, key in enumerate(metrics)}
    return RuleInputs(kpis, events, feeds, latest, rows[-2] or {},
                      read_alerts(r, rows[-1]) if rows[-1] else [])


def read_live_positions(r: redis.Redis, domain: str,
                        entity_ids: Sequence[str]) -> dict[str, tuple[float, float]]:
    """entity id -> (lat, lon) of the live entities that have a position."""
    if not entity_ids:
        return {}
    out: dict[str, tuple[float, float]] = {}
    for entity_id, raw in zip(entity_ids, r.hmget(Keys.live(domain), list(entity_ids)), strict=True):
        record = orjson.loads(raw) if raw else {}
        if isinstance(record, dict) and record.get("lat") is not None and record.get("lon") is not None:
            out[entity_id] = (float(record["lat"]), float(record["lon"]))
    return out
