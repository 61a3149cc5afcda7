"""The water feed over MQTT: SenML (RFC 8428) packs from a subscription, drained on each poll.

The runner polls, MQTT pushes: the adapter keeps one background paho-mqtt client subscribed to the
configured topic filters and buffers what arrives (bounded: when full the oldest message is dropped
and counted). fetch() drains the buffer into one *batch frame*, a JSON object:

    {"format": "cityops-mqtt-batch/1", "broker": "mqtt://host:1883", "buffer_size": 10000,
     "dropped": 0, "last_message_at": 1767225600.25, "topics": ["city/water/+/senml"],
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
from pydantic import field_validator, model_validator

from app.model.records import EXCERPT_LIMIT, FeedHeader, Observation, ParseItem, RawPayload, Rejected
from data_adapters.base import (
    MAX_PAYLOAD_BYTES,
    Adapter,
    FatalFeedError,
    ParseError,
    RetryableFeedError,
)
from data_adapters.feed_settings import FeedSettings, check_url, interval_setting, setting
from data_adapters.json_payload import decode_json
from data_adapters.water.senml import decode_pack, parse_senml, zones_setting

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
                 broker: str = "", topics: Sequence[str] = ()) -> bytes:
    """The batch frame of ``messages`` (JSON; payloads in base64, so any bytes travel intact).

    ``topics`` are the subscription's filters: they name the sensors of packs without a base
    name, so a frame saved to a file replays (`cityops ingest water`) with the same names.
    """
    entries = []
    for msg in messages:
        entry: dict[str, Any] = {"topic": msg.topic, "received_at": msg.received_at, "qos": msg.qos,
                                 "retain": msg.retain,
                                 "payload": base64.b64encode(msg.payload).decode("ascii")}
        if msg.size is not None:
            entry["size"] = msg.size
        entries.append(entry)
    frame: dict[str, Any] = {"format": BATCH_FORMAT, "broker": broker, "buffer_size": buffer_size,
                             "dropped": dropped, "last_message_at": last_message_at}
    if topics:
        frame["topics"] = list(topics)
    frame["messages"] = entries
    return json.dumps(frame, separators=(",", ":")).encode("utf-8")


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
    # No size cap: fetch() built the frame from messages each capped at max_message_bytes, and
    # refusing a large burst would lose every message in it.
    frame = decode_json(data, what="an MQTT batch frame", limit=None)
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
    if not pack or any("bn" in record or not _bare(record.get("n", "")) for record in pack):
        return data
    pack[0] = {"bn": f"{name}/", **pack[0]}
    return json.dumps(pack).encode("utf-8")


def _bare(name: Any) -> bool:
    """True for a missing or bare measurement name (non-strings are left to the SenML checks)."""
    return not isinstance(name, str) or name == "" or bool(_BARE.match(name))


# -- configuration ----------------------------------------------------------------------------------
TOPIC_EXPECTED = ("an MQTT topic filter or a list of them (wildcards '+' and '#' only as whole "
                  "levels, '#' last)")


class SenmlMqttSettings(FeedSettings):
    """The [[feeds]] keys of SenML packs received over MQTT."""

    url: str = setting(expected="mqtt://host[:port] or mqtts://host[:port]",
                       description="the broker; mqtts:// is TLS (system CAs, or ca_file)")
    topic: list[str] = setting(
        expected=TOPIC_EXPECTED,
        description="the topic filter(s) subscribed to ('+', '#', $share/group/...); the levels "
                    "a wildcard matched name the sensor of a pack without a base name")
    # An int range, not Literal[0, 1, 2]: a Literal would take true for 1.
    qos: int = setting(1, ge=0, le=2, description="subscription QoS")
    username: str | None = setting(None, description="broker user name")
    password: str | None = setting(None, secret=True,
                                   description="broker password (needs a username)")
    client_id: str | None = setting(
        None, min_length=1, default_text="`cityops-<feed>-<random>`",
        description="MQTT client id; set it (with clean_session = false) for a persistent "
                    "session the broker keeps while the runner is away")
    clean_session: bool = setting(True, description="MQTT 3.1.1 clean session")
    ca_file: str | None = setting(None, min_length=1, description="CA bundle for mqtts://")
    interval_s: float = interval_setting(5.0, "how often the buffered messages are stored")
    buffer_size: int = setting(DEFAULT_BUFFER, ge=1, le=1_000_000,
                               description="messages kept between polls; beyond, the oldest are "
                                           "dropped and counted")
    max_message_bytes: int = setting(DEFAULT_MAX_MESSAGE_BYTES, ge=1, le=MAX_PAYLOAD_BYTES,
                                     description="a larger message is rejected (its first 2 KB "
                                                 "kept as the excerpt)")
    max_silence_s: float | None = setting(
        None, ge=0.1, le=31 * 86_400.0,
        description="connected but no message for this long: the poll fails and the feed goes "
                    "stale; not checked when unset")
    keepalive_s: int = setting(30, ge=5, le=65_535, description="MQTT keepalive")
    reconnect_min_s: float = setting(1.0, ge=0.05, le=3600.0,
                                     description="first delay before a reconnect (doubling)")
    reconnect_max_s: float = setting(60.0, ge=0.05, le=3600.0,
                                     description="longest delay between reconnects")
    connect_wait_s: float | None = setting(
        None, ge=0.0, le=60.0, default_text="min(interval_s, 5)",
        description="how long the first poll waits for the connection")
    zones: dict[str, str] = zones_setting()

    @field_validator("url")
    @classmethod
    def _broker_url(cls, value: str) -> str:
        return check_url(value, tuple(DEFAULT_PORTS))

    @field_validator("topic", mode="before")
    @classmethod
    def _one_topic(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value  # one filter need not be a list

    @field_validator("topic")
    @classmethod
    def _filters(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("no topic filter")
        bad = [topic for topic in value if not valid_filter(topic)]
        if bad:
            raise ValueError(f"invalid filter {bad[0]!r}")
        return value

    @model_validator(mode="after")
    def _credentials(self) -> SenmlMqttSettings:
        if self.password is not None and not self.username:
            raise ValueError("password: a password needs a username (set username too)")
        return self


# -- the adapter ------------------------------------------------------------------------------------
class SenmlMqttAdapter(Adapter):
    """SenML packs from MQTT topic filters: a background subscription, drained on every poll."""

    name: ClassVar[str] = "senml_mqtt"
    domain: ClassVar[str] = "water"
    settings_model: ClassVar[type[FeedSettings]] = SenmlMqttSettings
    settings: SenmlMqttSettings

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        s = self.settings
        self.url = s.url
        parts = urlsplit(self.url)
        self.host = parts.hostname or ""
        self.port = parts.port or DEFAULT_PORTS[parts.scheme]
        self.tls = parts.scheme == "mqtts"
        self.topics = tuple(s.topic)
        self.qos = s.qos
        self.username = s.username
        self.password = s.password
        # Unique by default: a broker disconnects the older of two clients with one id.
        self.client_id = s.client_id or f"cityops-{self.feed}-{uuid.uuid4().hex[:8]}"
        self.clean_session = s.clean_session
        self.ca_file = s.ca_file
        self.buffer_size = s.buffer_size
        self.max_message_bytes = s.max_message_bytes
        self.keepalive_s = s.keepalive_s
        self.reconnect_min_s = s.reconnect_min_s
        self.reconnect_max_s = max(s.reconnect_max_s, s.reconnect_min_s)
        self.connect_wait_s = (s.connect_wait_s if s.connect_wait_s is not None
                               else min(self.interval_s, 5.0))
        self.max_silence_s = s.max_silence_s
        self.zones = dict(s.zones)
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
                            buffer_size=self.buffer_size, broker=self.url, topics=self.topics)
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
        failed = 0
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
            if all(isinstance(i, Rejected) for i in items):
                failed += 1
                if first_bad is None:
                    first_bad = (items[0].reason if isinstance(items[0], Rejected) else "",
                                 entry.payload if isinstance(entry, MqttMessage) else b"")
        # An empty pack is a message with nothing new, not a failed one.
        if batch.messages and failed == len(batch.messages):
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

