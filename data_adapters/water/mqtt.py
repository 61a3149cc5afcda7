"""The water feed over MQTT: SenML (RFC 8428) packs from a subscription, drained on each poll.

The runner polls, MQTT pushes: the adapter keeps one background paho-mqtt client subscribed to the
configured topic filters and buffers what arrives (bounded: when full the oldest message is dropped
and counted). fetch() drains the buffer into one *batch frame*, a JSON object:

    {"format": "cityops-mqtt-batch/1", "broker": "mqtt://host:1883", "buffer_size": 10000,
     "dropped": 0, "last_message_at": 1767225600.25,
     "messages": [{"topic": "city/water/pz2-p1/senml", "received_at": 1767225600.25, "qos": 1,
                   "retain": false, "payload": "<base64 of the message bytes>"}]}

(an entry whose message was larger than ``max_message_bytes`` carries the first bytes only and
``"size"``, its real length). parse() is pure: it runs parse_senml on each message, with that
message's own receipt time as "now" for relative SenML times.
"""

from __future__ import annotations

import base64
import binascii
import collections
import json
import logging
import math
import re
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar, Iterator, Mapping, Sequence
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from app.model.records import EXCERPT_LIMIT, FeedHeader, Observation, ParseItem, RawPayload, Rejected
from data_adapters.base import Adapter, FatalFeedError, ParseError, RetryableFeedError
from data_adapters.water.senml import decode_pack, parse_senml, zones_config

log = logging.getLogger("cityops.water.mqtt")

BATCH_FORMAT = "cityops-mqtt-batch/1"
BATCH_CONTENT_TYPE = "application/vnd.cityops.mqtt-batch+json"
DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
DEFAULT_BUFFER = 10_000
DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024
# CONNACK answers that no reconnect can fix: someone has to change the credentials, the client id
# or the broker's rules. Anything else (server unavailable, busy) is worth retrying.
FATAL_CONNACK = frozenset({"Bad user name or password", "Not authorized", "Client identifier not valid",
                           "Bad authentication method", "Banned"})
# RFC 8428 4.5.1: a topic-derived base name must itself be a valid SenML name.
_SENML_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-:./_]*\Z")
_TOPIC_SHOWN = 200
# A bare measurement name ("pressure", "flow_rate"): no path or URN separators.
_BARE = re.compile(r"[A-Za-z][A-Za-z0-9\-._]*\Z")


# -- the batch frame (pure) -------------------------------------------------------------------------
@dataclass(frozen=True)
class MqttMessage:
    """One received message: its topic, bytes and receipt time (``size`` when it was cut short)."""

    topic: str
    payload: bytes
    received_at: float
    qos: int = 0
    retain: bool = False
    size: int | None = None


@dataclass(frozen=True)
class Batch:
    """A decoded frame: the messages (or why an entry is unusable) and the buffer's own report."""

    messages: list[MqttMessage | Rejected]
    dropped: int = 0
    last_message_at: float | None = None
    buffer_size: int | None = None
    broker: str = ""


def encode_batch(messages: Sequence[MqttMessage], *, dropped: int = 0,
                 last_message_at: float | None = None, buffer_size: int | None = None,
                 broker: str = "") -> bytes:
    """The batch frame of ``messages`` (JSON; payloads in base64, so any bytes travel intact)."""
    entries = []
    for msg in messages:
        entry: dict[str, Any] = {"topic": msg.topic, "received_at": msg.received_at, "qos": msg.qos,
                                 "retain": msg.retain,
                                 "payload": base64.b64encode(msg.payload).decode("ascii")}
        if msg.size is not None:
            entry["size"] = msg.size
        entries.append(entry)
    return json.dumps({"format": BATCH_FORMAT, "broker": broker, "buffer_size": buffer_size,
                       "dropped": dropped, "last_message_at": last_message_at,
                       "messages": entries}, separators=(",", ":")).encode("utf-8")


def _finite(value: Any) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer past float's range
        return False


def _entry(raw: Any) -> MqttMessage | Rejected:
    """One frame entry as a message, or a Rejected saying what is wrong with it."""
    if not isinstance(raw, dict):
        return Rejected.of("batch entry is not an object", json.dumps(raw)[:EXCERPT_LIMIT])
    topic, when, payload = raw.get("topic"), raw.get("received_at"), raw.get("payload")
    size, qos = raw.get("size"), raw.get("qos", 0)
    if not isinstance(topic, str) or not _finite(when) or not isinstance(payload, str):
        return Rejected.of("batch entry needs a string topic, a numeric received_at and a payload",
                           json.dumps(raw)[:EXCERPT_LIMIT])
    if size is not None and not (_finite(size) and size >= 0):
        return Rejected.of("batch entry has an invalid size", json.dumps(raw)[:EXCERPT_LIMIT])
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return Rejected.of(f"topic {_shown(topic)}: payload is not base64", payload)
    return MqttMessage(topic, data, float(when), qos if qos in (0, 1, 2) else 0,
                       bool(raw.get("retain", False)), None if size is None else int(size))


def decode_batch(data: bytes) -> Batch:
    """The frame in ``data``; ParseError when it is not a batch frame at all."""
    if not data:
        raise ParseError("empty payload (not an MQTT batch frame)", data)
    try:
        frame = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"not an MQTT batch frame: {exc}", data) from None
    if not isinstance(frame, dict) or frame.get("format") != BATCH_FORMAT:
        raise ParseError(f"not an MQTT batch frame (expected format {BATCH_FORMAT!r})", data)
    messages, dropped = frame.get("messages"), frame.get("dropped", 0)
    last, size = frame.get("last_message_at"), frame.get("buffer_size")
    if not isinstance(messages, list) or not (_finite(dropped) and dropped >= 0):
        raise ParseError("MQTT batch frame without a message list or a valid drop count", data)
    return Batch([_entry(raw) for raw in messages], int(dropped),
                 float(last) if _finite(last) else None, int(size) if _finite(size) else None,
                 str(frame.get("broker") or ""))


# -- topics (pure) ----------------------------------------------------------------------------------
def _shown(topic: str) -> str:
    """A topic as quoted in a reason: repr-quoted and cut, since topics are sender-chosen text."""
    return repr(topic if len(topic) <= _TOPIC_SHOWN else topic[:_TOPIC_SHOWN] + "...")


def valid_filter(topic_filter: str) -> bool:
    """True for a valid MQTT topic filter (wildcards only as whole levels, '#' only last)."""
    if not topic_filter or "\x00" in topic_filter or len(topic_filter.encode("utf-8")) > 65535:
        return False
    levels = topic_filter.split("/")
    for n, level in enumerate(levels):
        if "#" in level and (level != "#" or n != len(levels) - 1):
            return False
        if "+" in level and level != "+":
            return False
    return True


def _plain_filter(topic_filter: str) -> str:
    """The filter without a shared-subscription prefix ("$share/group/a/+" -> "a/+")."""
    if topic_filter.startswith("$share/"):
        parts = topic_filter.split("/", 2)
        return parts[2] if len(parts) == 3 else topic_filter
    return topic_filter


def topic_name(filters: Sequence[str], topic: str) -> str | None:
    """The sensor name a topic gives: the levels its filter's wildcards matched, else the topic.

    ``city/water/+/senml`` on ``city/water/pz2-p1/senml`` gives ``pz2-p1``; ``plant/#`` on
    ``plant/north/p3`` gives ``north/p3``; a filter without wildcards gives the whole topic.
    None when no filter matches or the result is not a valid SenML name.
    """
    for raw_filter in filters:
        topic_filter = _plain_filter(raw_filter)
        if not mqtt.topic_matches_sub(topic_filter, topic):
            continue
        topic_levels = topic.split("/")
        parts: list[str] = []
        for n, level in enumerate(topic_filter.split("/")):
            if level == "+":
                parts.append(topic_levels[n])
            elif level == "#":
                parts.extend(topic_levels[n:])
                break
        name = "/".join(parts) if parts else topic
        return name if _SENML_NAME.match(name) else None
    return None


def with_base_name(data: bytes, name: str) -> bytes:
    """The pack with ``name/`` as its base name when it does not name its sensors itself.

    A pack names its sensors when a record has a ``bn`` or an ``n`` that is more than a bare
    measurement (a path or URN such as ``urn:dev:ow:10e2073a01080063``, RFC 8428 example 1).
    """
    pack = decode_pack(data)
    if any("bn" in record or not _bare(record.get("n", "")) for record in pack):
        return data
    pack[0] = {"bn": f"{name}/", **pack[0]}
    return json.dumps(pack).encode("utf-8")


def _bare(name: Any) -> bool:
    """True for a missing or bare measurement name (non-strings are left to the SenML checks)."""
    return not isinstance(name, str) or name == "" or bool(_BARE.match(name))


# -- configuration ----------------------------------------------------------------------------------
def _topics(config: Mapping[str, Any], feed: str) -> tuple[str, ...]:
    raw = config.get("topic")
    topics = [raw] if isinstance(raw, str) else raw
    if not isinstance(topics, (list, tuple)) or not topics or not all(
            isinstance(t, str) and valid_filter(t) for t in topics):
        raise FatalFeedError(f"feed {feed}: topic must be an MQTT topic filter or a list of them "
                             "(wildcards '+' and '#' only as whole levels, '#' last)")
    return tuple(topics)


def _number(config: Mapping[str, Any], key: str, default: float, feed: str,
            minimum: float = 0.0) -> float:
    value = config.get(key, default)
    if not _finite(value) or value < minimum:
        raise FatalFeedError(f"feed {feed}: {key} must be a number of at least {minimum:g}")
    return float(value)


# -- the adapter ------------------------------------------------------------------------------------
class SenmlMqttAdapter(Adapter):
    """SenML packs from MQTT topic filters: a background subscription, drained on every poll."""

    name: ClassVar[str] = "senml_mqtt"
    domain: ClassVar[str] = "water"
    default_interval_s: ClassVar[float] = 5.0

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        feed, cfg = self.feed, self.config
        self.url = str(cfg.get("url") or "")
        parts = urlsplit(self.url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise FatalFeedError(f"feed {feed}: url must be mqtt://host[:port] or mqtts://host[:port]")
        try:
            self.host, self.port = parts.hostname, parts.port or DEFAULT_PORTS[parts.scheme]
        except ValueError:
            raise FatalFeedError(f"feed {feed}: invalid port in url {self.url!r}") from None
        self.tls = parts.scheme == "mqtts"
        self.topics = _topics(cfg, feed)
        self.qos = cfg.get("qos", 1)
        if self.qos not in (0, 1, 2) or isinstance(self.qos, bool):
            raise FatalFeedError(f"feed {feed}: qos must be 0, 1 or 2")
        self.username = cfg.get("username")
        self.password = cfg.get("password")
        if self.password is not None and not self.username:
            raise FatalFeedError(f"feed {feed}: a password needs a username")
        # Unique by default: a broker disconnects the older of two clients with one id.
        self.client_id = str(cfg.get("client_id") or f"cityops-{feed}-{uuid.uuid4().hex[:8]}")
        self.clean_session = bool(cfg.get("clean_session", True))
        self.ca_file = cfg.get("ca_file")
        self.buffer_size = int(_number(cfg, "buffer_size", DEFAULT_BUFFER, feed, 1))
        self.max_message_bytes = int(_number(cfg, "max_message_bytes", DEFAULT_MAX_MESSAGE_BYTES,
                                             feed, 1))
        self.keepalive_s = int(_number(cfg, "keepalive_s", 30, feed, 5))
        self.reconnect_min_s = _number(cfg, "reconnect_min_s", 1.0, feed, 0.05)
        self.reconnect_max_s = max(_number(cfg, "reconnect_max_s", 60.0, feed, 0.05),
                                   self.reconnect_min_s)
        self.connect_wait_s = _number(cfg, "connect_wait_s", min(self.interval_s, 5.0), feed)
        silence = cfg.get("max_silence_s")
        self.max_silence_s = None if silence in (None, "") else _number(cfg, "max_silence_s", 0, feed)
        self.id_prefix = str(cfg.get("id_prefix") or feed)
        self.zones = zones_config(cfg, feed)
        # Everything below is shared with paho's network thread: guarded by _lock.
        self._lock = threading.Lock()
        self._buffer: collections.deque[MqttMessage] = collections.deque()
        self._client: mqtt.Client | None = None
        self._generation = 0
        self._settled = threading.Event()  # the first attempt of a (re)start has an outcome
        self._connected = self._subscribed = False
        self._error = ""
        self._fatal = ""
        self._first_connected_at: float | None = None
        self._last_message_at: float | None = None
        self._dropped_pending = 0
        self._dropped_total = 0
        self._received_total = 0

    # -- lifecycle ------------------------------------------------------------------------------
    def _start(self) -> None:
        """A fresh paho client, connecting in its own thread (paho reconnects it by itself)."""
        with self._lock:
            self._generation += 1
            generation = self._generation
            self._connected = self._subscribed = False
            self._fatal = ""
            self._settled.clear()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             clean_session=self.clean_session, userdata=generation,
                             protocol=mqtt.MQTTv311)
        if self.username:
            client.username_pw_set(str(self.username),
                                    None if self.password is None else str(self.password))
        if self.tls:
            client.tls_set(ca_certs=None if self.ca_file is None else str(self.ca_file))
        # paho's hint says int, but it only does arithmetic with the values.
        client.reconnect_delay_set(self.reconnect_min_s, self.reconnect_max_s)  # type: ignore[arg-type]
        client.connect_timeout = max(min(self.connect_wait_s, 10.0), 1.0)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.connect_async(self.host, self.port, keepalive=self.keepalive_s)
        client.loop_start()
        self._client = client

    def close(self) -> None:
        """Stop the subscription and its thread; the next fetch() would start a new one."""
        client = self._client
        with self._lock:
            self._generation += 1  # callbacks of the old client from now on are ignored
            self._connected = self._subscribed = False
            self._client = None
        if client is not None:
            client.disconnect()
            client.loop_stop()

    def status(self) -> dict[str, Any]:
        """A snapshot of the link: connected, subscribed, counts, last message time, last error."""
        with self._lock:
            return {"connected": self._connected, "subscribed": self._subscribed,
                    "buffered": len(self._buffer), "received_total": self._received_total,
                    "dropped_total": self._dropped_total, "last_message_at": self._last_message_at,
                    "error": self._fatal or self._error}

    # -- paho callbacks (network thread) ----------------------------------------------------------
    def _current(self, generation: int) -> bool:
        return generation == self._generation

    def _on_connect(self, client: mqtt.Client, generation: int, _flags: Any, reason: ReasonCode,
                    _properties: Any) -> None:
        with self._lock:
            if not self._current(generation):
                return
            if reason.is_failure:
                name = reason.getName()
                self._connected = False
                self._error = f"broker refused the connection: {name}"
                if name in FATAL_CONNACK:
                    self._fatal = self._error
            else:
                self._connected, self._error = True, ""
                if self._first_connected_at is None:
                    self._first_connected_at = time.time()
            fatal = bool(self._fatal)
        if reason.is_failure:
            self._settled.set()
            if fatal:
                # Stop paho's own retries: the same credentials will be refused again.
                client.disconnect()
            return
        # Subscribing on every connect: a clean session (or a restarted broker) forgets them.
        client.subscribe([(topic, self.qos) for topic in self.topics])

    def _on_connect_fail(self, _client: mqtt.Client, generation: int) -> None:
        # paho calls this inside its `except OSError`, so the exception is still at hand.
        exc = sys.exc_info()[1]
        with self._lock:
            if not self._current(generation):
                return
            self._connected = False
            self._error = f"cannot connect: {exc or 'connection failed'}"
        self._settled.set()

    def _on_disconnect(self, _client: mqtt.Client, generation: int, _flags: Any,
                       reason: ReasonCode, _properties: Any) -> None:
        with self._lock:
            if not self._current(generation):
                return
            if self._connected:  # after a refused CONNACK, keep the refusal as the reason
                self._error = f"connection lost: {reason.getName()}"
            self._connected = self._subscribed = False

    def _on_subscribe(self, client: mqtt.Client, generation: int, _mid: int,
                      reasons: list[ReasonCode], _properties: Any) -> None:
        refused = [topic for topic, reason in zip(self.topics, reasons, strict=False)
                   if reason.is_failure]
        with self._lock:
            if not self._current(generation):
                return
            if refused:
                self._fatal = f"broker refused the subscription to {', '.join(refused)}"
            else:
                self._subscribed = True
        self._settled.set()
        if refused:
            client.disconnect()

    def _on_message(self, _client: mqtt.Client, generation: int, msg: mqtt.MQTTMessage) -> None:
        received_at = time.time()
        try:
            topic = msg.topic
        except UnicodeDecodeError:  # brokers should refuse such topics; keep the message anyway
            topic = bytes(msg._topic).decode("utf-8", errors="replace")
        payload = bytes(msg.payload)
        size = None
        if len(payload) > self.max_message_bytes:
            size, payload = len(payload), payload[:EXCERPT_LIMIT]
        message = MqttMessage(topic, payload, received_at, msg.qos, bool(msg.retain), size)
        with self._lock:
            if not self._current(generation):
                return
            if len(self._buffer) >= self.buffer_size:
                self._buffer.popleft()
                self._dropped_pending += 1
                self._dropped_total += 1
            self._buffer.append(message)
            self._received_total += 1
            self._last_message_at = received_at

    # -- the contract ---------------------------------------------------------------------------------
    def fetch(self) -> RawPayload:
        """Drain the buffer into one batch frame; Retryable while disconnected, Fatal if refused."""
        if self._client is None:
            self._start()
            self._settled.wait(self.connect_wait_s)
        with self._lock:
            fatal = self._fatal
        if fatal:
            # Next time (the runner waits long after a fatal error) try afresh: the broker's users
            # or rules may have been fixed by then.
            self.close()
            raise FatalFeedError(f"{self.url}: {fatal}")
        now = time.time()
        with self._lock:
            messages = list(self._buffer)
            self._buffer.clear()
            dropped, self._dropped_pending = self._dropped_pending, 0
            connected, error = self._connected, self._error
            last, since = self._last_message_at, self._first_connected_at
        if dropped:
            log.warning("feed %s: %d message(s) dropped, the buffer of %d was full",
                        self.feed, dropped, self.buffer_size)
        # Buffered messages are delivered even when the link has just dropped: they are data.
        if not messages and not connected:
            raise RetryableFeedError(f"{self.url}: {error or 'not connected yet'}")
        quiet_since = last if last is not None else since
        if (not messages and self.max_silence_s is not None and quiet_since is not None
                and now - quiet_since > self.max_silence_s):
            raise RetryableFeedError(f"connected to {self.url}, but no message on "
                                     f"{', '.join(self.topics)} for {now - quiet_since:.0f} s")
        data = encode_batch(messages, dropped=dropped, last_message_at=last,
                            buffer_size=self.buffer_size, broker=self.url)
        return RawPayload(data=data, source=self.url, fetched_at=now,
                          content_type=BATCH_CONTENT_TYPE,
                          meta={"messages": str(len(messages)), "dropped": str(dropped)})

    def _parse_message(self, msg: MqttMessage) -> list[ParseItem]:
        """The items of one message; a message with nothing usable is one Rejected."""
        where = f"topic {_shown(msg.topic)}"
        if msg.size is not None:
            return [Rejected.of(f"{where}: message of {msg.size} bytes is larger than "
                                f"max_message_bytes", msg.payload)]
        try:
            data = msg.payload
            name = topic_name(self.topics, msg.topic)
            if name:
                data = with_base_name(data, name)
            items = list(parse_senml(data, self.feed, msg.received_at, id_prefix=self.id_prefix,
                                     zones=self.zones))
        except ParseError as exc:
            return [Rejected.of(f"{where}: {exc}", msg.payload)]
        return [Rejected(f"{where}: {item.reason}", item.excerpt) if isinstance(item, Rejected)
                else item for item in items]

    def parse(self, raw: RawPayload) -> Iterator[ParseItem]:
        """Split the frame and parse each message; ParseError only if no message is usable."""
        batch = decode_batch(raw.data)
        header_times: list[float] = []
        observations: list[Observation] = []
        others: list[ParseItem] = []
        rejected: list[Rejected] = []
        if batch.dropped:
            rejected.append(Rejected(f"{batch.dropped} message(s) dropped before this poll: the "
                                     f"buffer of {batch.buffer_size} messages was full"))
        first_bad: tuple[str, bytes] | None = None
        for entry in batch.messages:
            items = [entry] if isinstance(entry, Rejected) else self._parse_message(entry)
            for item in items:
                if isinstance(item, FeedHeader):
                    if item.timestamp is not None:
                        header_times.append(item.timestamp)
                elif isinstance(item, Observation):
                    observations.append(item)
                elif isinstance(item, Rejected):
                    rejected.append(item)
                else:
                    others.append(item)
            if first_bad is None and all(isinstance(i, Rejected) for i in items):
                first_bad = (items[0].reason if isinstance(items[0], Rejected) else "",
                             entry.payload if isinstance(entry, MqttMessage) else b"")
        if batch.messages and not observations and not others:
            reason, excerpt = first_bad or ("", b"")
            raise ParseError(f"none of the {len(batch.messages)} message(s) holds a usable record"
                             f"{f' ({batch.dropped} dropped)' if batch.dropped else ''}; first: "
                             f"{reason}", excerpt)
        # Newest data time; with no message in this poll, the last receipt bounds the data's age.
        yield FeedHeader(max(header_times) if header_times else batch.last_message_at)
        yield from others
        # Oldest first: the store keeps the last reading it is given per sensor and metric.
        yield from sorted(observations, key=lambda obs: obs.observed_at)
        yield from rejected

