"""SenML over MQTT: the batch frame and topic naming (pure), then a real amqtt broker and paho clients."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Iterator

import paho.mqtt.client as mqtt
import pytest
import redis
from paho.mqtt.enums import CallbackAPIVersion

from app import store
from app.model.records import Entity, FeedHeader, Observation, ParseItem, RawPayload, Rejected
from app.pipeline.ingest import ingest
from data_adapters.base import FatalFeedError, ParseError, RetryableFeedError
from data_adapters.water.mqtt import (
    BATCH_FORMAT,
    MqttMessage,
    SenmlMqttAdapter,
    decode_batch,
    encode_batch,
    topic_name,
    valid_filter,
)
from data_adapters.water.senml import parse_senml
from tests.support.feeds import health, start_runner
from tests.support.mqtt_broker import MqttBroker
from tests.support.paths import SAMPLES
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for

SENML_SAMPLES = SAMPLES / "senml"

T0 = 1_767_225_000.0
TOPIC = "city/water/+/senml"
USERS = {"cityops": "tank-7-north"}


def pack(*records: dict[str, Any]) -> bytes:
    """A SenML JSON pack of ``records``."""
    return json.dumps(list(records)).encode()


def logger_pack(pressure_kpa: float, t: float = T0) -> bytes:
    """A positioned pressure logger's pack, named by its base name."""
    return pack({"bn": "pz2-p1/", "bt": t, "n": "pressure", "u": "kPa", "v": pressure_kpa},
                {"n": "lat", "v": 28.5}, {"n": "lon", "v": 112.3})


def frame(*messages: tuple[str, bytes, float], **kwargs: Any) -> RawPayload:
    """A batch frame of (topic, payload, received_at) messages, as fetch() makes them."""
    data = encode_batch([MqttMessage(topic, payload, when) for topic, payload, when in messages],
                        **kwargs)
    return RawPayload(data, source="test", fetched_at=T0 + 3600)


def offline(**config: Any) -> SenmlMqttAdapter:
    """An adapter for parse() only (it connects nowhere until fetch())."""
    return SenmlMqttAdapter({"name": "w", "url": "mqtt://127.0.0.1:9", "topic": TOPIC, **config})


def of_type(items: list[ParseItem], kind: type) -> list[Any]:
    """The items of one type."""
    return [item for item in items if isinstance(item, kind)]


# -- the frame, topics and parse (no broker) --------------------------------------------------------
def test_frame_carries_any_bytes_and_its_metadata() -> None:
    """Payloads survive the frame byte for byte; drop count and last receipt travel along."""
    raw = bytes(range(256))
    data = encode_batch([MqttMessage("a/b", raw, T0, qos=2, retain=True)], dropped=3,
                        last_message_at=T0, buffer_size=10, broker="mqtt://h:1")
    batch = decode_batch(data)
    assert batch.messages == [MqttMessage("a/b", raw, T0, 2, True)]
    assert (batch.dropped, batch.last_message_at, batch.buffer_size) == (3, T0, 10)


@pytest.mark.parametrize("data", [
    b"", b"[]", b"\xff\xfe", b'{"format": "other", "messages": []}',
    json.dumps({"format": BATCH_FORMAT}).encode(),
    json.dumps({"format": BATCH_FORMAT, "messages": [], "dropped": -1}).encode(),
    b"[" * 100_000 + b"]" * 100_000, logger_pack(300.0),
])
def test_anything_but_a_frame_is_a_parse_error(data: bytes) -> None:
    """Empty, other JSON, a raw SenML pack, invalid UTF-8, too deep: ParseError, nothing else."""
    with pytest.raises(ParseError):
        list(offline().parse(RawPayload(data, source="test")))


def test_broken_entries_are_rejected_and_the_rest_kept() -> None:
    """A non-object entry, one without a topic and one with bad base64 reject only themselves."""
    good = json.loads(encode_batch([MqttMessage("city/water/a/senml", logger_pack(300.0), T0)]))
    good["messages"] += [7, {"received_at": T0, "payload": ""},
                         {"topic": "city/water/b/senml", "received_at": T0, "payload": "%%%"}]
    items = list(offline().parse(RawPayload(json.dumps(good).encode(), source="test")))
    assert [o.value for o in of_type(items, Observation)] == [3.0]
    reasons = [r.reason for r in of_type(items, Rejected)]
    assert len(reasons) == 3 and "not base64" in reasons[2], reasons


@pytest.mark.parametrize("filters, topic, expected", [
    ([TOPIC], "city/water/pz2-p1/senml", "pz2-p1"),
    (["plant/#"], "plant/north/p3", "north/p3"),
    (["a/+/b/+"], "a/x/b/y", "x/y"),
    (["$share/g/city/+/senml"], "city/m7/senml", "m7"),
    (["plant/p3/senml"], "plant/p3/senml", "plant/p3/senml"),
    (["other/+", TOPIC], "city/water/q1/senml", "q1"),
    ([TOPIC], "city/water/has space/senml", None),
    ([TOPIC], "city/water//senml", None),
    ([TOPIC], "elsewhere/x", None),
])
def test_topic_names(filters: list[str], topic: str, expected: str | None) -> None:
    """The levels the wildcards matched name the sensor; no wildcard: the topic; invalid: None."""
    assert topic_name(filters, topic) == expected


@pytest.mark.parametrize("topic_filter, ok", [
    ("a/+/b", True), ("#", True), ("a/#", True), ("a/#/b", False), ("a/b#", False),
    ("a+/b", False), ("", False), ("a/\x00", False),
])
def test_topic_filter_validation(topic_filter: str, ok: bool) -> None:
    """Wildcards only as whole levels, '#' only last."""
    assert valid_filter(topic_filter) is ok


def test_a_pack_without_sensor_names_is_named_by_its_topic() -> None:
    """Bare measurement names, no bn: the topic names the sensor; a bn or a URN name is kept."""
    urn = "urn:dev:ow:10e2073a01080063"
    items = list(offline().parse(frame(
        ("city/water/pz9/senml", pack({"n": "pressure", "u": "kPa", "v": 250, "t": -5},
                                      {"n": "lat", "v": 28.6}, {"n": "lon", "v": 112.4}), T0),
        ("city/water/ignored/senml", logger_pack(300.0), T0),
        ("city/water/also-ignored/senml", pack({"n": urn, "u": "kPa", "v": 200}), T0),
        ("city/water/q7/senml", pack({"u": "NTU", "v": 0.3}), T0))))
    # Every sensor is listed; those whose pack gives no position are unlocated.
    assert sorted(e.id for e in of_type(items, Entity) if e.lat is not None) == [
        "w:sensor:pz2-p1", "w:sensor:pz9"]
    assert sorted(e.id for e in of_type(items, Entity) if e.lat is None) == [
        "w:sensor:q7", f"w:sensor:{urn}"]
    assert {o.entity_id for o in of_type(items, Observation)} == {
        "w:sensor:pz2-p1", "w:sensor:pz9", f"w:sensor:{urn}", "w:sensor:q7"}


def test_relative_times_count_from_each_message_receipt() -> None:
    """t = -60 in two messages received 30 s apart gives readings 30 s apart, oldest first."""
    reading = pack({"bn": "m1/", "n": "flow", "u": "l/s", "t": -60, "v": 2.0})
    items = list(offline().parse(frame(("city/water/m1/senml", reading, T0 + 30),
                                       ("city/water/m1/senml", reading, T0))))
    assert [o.observed_at for o in of_type(items, Observation)] == [T0 - 60, T0 - 30]
    assert items[0] == FeedHeader(T0 - 30)


def test_a_batch_of_only_broken_messages_is_a_parse_error() -> None:
    """Nothing usable in any message: ParseError naming the first reason, excerpt of its payload."""
    with pytest.raises(ParseError, match="none of the 2 message") as err:
        list(offline().parse(frame(("city/water/a/senml", b"<html>oops</html>", T0),
                                   ("city/water/b/senml", b'{"n": "pressure"}', T0))))
    assert "city/water/a/senml" in str(err.value) and err.value.excerpt == "<html>oops</html>"
    # An empty pack is a message with nothing new: beside a broken one, the batch is usable.
    items = list(offline().parse(frame(("city/water/a/senml", b"<html>oops</html>", T0),
                                       ("city/water/b/senml", b"[]", T0))))
    assert [type(i).__name__ for i in items] == ["FeedHeader", "Rejected"]


def test_an_empty_poll_reports_when_the_last_message_came() -> None:
    """No message: not an error; the header carries the last receipt so health shows the lag."""
    assert list(offline().parse(frame(last_message_at=T0))) == [FeedHeader(T0)]
    assert list(offline().parse(frame())) == [FeedHeader(None)]


def test_oversize_messages_are_rejected_with_their_start() -> None:
    """A message cut at receipt (size set) is rejected with its first bytes as the excerpt."""
    data = encode_batch([MqttMessage("city/water/a/senml", b"[{\"n\":", T0, size=5_000_000),
                         MqttMessage("city/water/b/senml", logger_pack(300.0), T0)])
    items = list(offline().parse(RawPayload(data, source="test")))
    rejected = of_type(items, Rejected)
    assert len(rejected) == 1 and "5000000 bytes" in rejected[0].reason
    assert rejected[0].excerpt == "[{\"n\":" and of_type(items, Observation)


@pytest.mark.parametrize("config", [
    {"url": "http://127.0.0.1:1883"}, {"url": ""}, {"url": "mqtt://h:99999"},
    {"topic": ""}, {"topic": "a/#/b"}, {"topic": []}, {"topic": 5},
    {"qos": 3}, {"qos": True}, {"password": "x"}, {"buffer_size": 0}, {"zones": {"a": 1}},
    {"max_silence_s": "soon"},
])
def test_configuration_errors_are_fatal(config: dict[str, Any]) -> None:
    """A bad url, topic filter, qos, lone password, buffer size, zones or silence budget."""
    with pytest.raises(FatalFeedError):
        offline(**config)


# -- against a real broker --------------------------------------------------------------------------
@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MqttBroker]:
    """An open amqtt broker on 127.0.0.1."""
    directory = tmp_path / "broker"
    directory.mkdir()
    server = MqttBroker(directory)
    yield server
    server.stop()


@pytest.fixture
def closing() -> Iterator[list[SenmlMqttAdapter]]:
    """Adapters to close after the test (their paho threads must not outlive it)."""
    adapters: list[SenmlMqttAdapter] = []
    yield adapters
    for adapter in adapters:
        adapter.close()


class Publisher:
    """A paho client that publishes and waits for the broker's acknowledgement."""

    def __init__(self, broker: MqttBroker, username: str | None = None,
                 password: str | None = None) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        if username:
            self.client.username_pw_set(username, password)
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()

    def send(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        """Publish one message (acknowledged by the broker for qos >= 1)."""
        self.client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(timeout=5)

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher(broker: MqttBroker) -> Iterator[Publisher]:
    """A publisher on the open broker."""
    client = Publisher(broker)
    yield client
    client.close()


def subscribed(broker: MqttBroker, closing: list[SenmlMqttAdapter], **config: Any
               ) -> SenmlMqttAdapter:
    """An adapter whose first fetch() has connected and subscribed (that poll is empty)."""
    adapter = SenmlMqttAdapter({"name": "w", "url": broker.url, "topic": TOPIC,
                                "reconnect_min_s": 0.1, "reconnect_max_s": 0.5, **config})
    closing.append(adapter)
    first = adapter.fetch()
    assert decode_batch(first.data).messages == []
    assert adapter.status()["subscribed"], adapter.status()
    return adapter


def received(adapter: SenmlMqttAdapter, count: int) -> bool:
    """Wait until ``count`` messages have arrived in total."""
    return wait_for(lambda: adapter.status()["received_total"] >= count, timeout=10)


def test_published_packs_reach_the_adapter_and_parse(broker: MqttBroker, publisher: Publisher,
                                                     closing: list[SenmlMqttAdapter]) -> None:
    """Messages on matching topics arrive, one fetch drains them, parse gives the records."""
    adapter = subscribed(broker, closing, zones={"pz2": "north"})
    publisher.send("city/water/pz2-p1/senml", logger_pack(310.0))
    publisher.send("city/other/x", logger_pack(999.0))  # not subscribed
    publisher.send("city/water/m7/senml", pack({"n": "flow", "u": "m3/s", "v": 0.05, "t": -60}),
                   qos=0)
    assert received(adapter, 2)
    raw = adapter.fetch()
    assert raw.meta["messages"] == "2" and adapter.status()["buffered"] == 0
    items = list(adapter.parse(raw))
    entity = of_type(items, Entity)[0]
    assert (entity.id, entity.lat, entity.lon, entity.attrs["zone"]) == ("w:sensor:pz2-p1", 28.5,
                                                                          112.3, "north")
    readings = {(o.entity_id, o.metric): o for o in of_type(items, Observation)}
    assert readings[("w:sensor:pz2-p1", "pressure_bar")].value == pytest.approx(3.1)
    flow = readings[("w:sensor:m7", "flow_m3h")]  # named by its topic: the pack has no bn
    assert flow.value == pytest.approx(180.0)
    m7 = next(m for m in decode_batch(raw.data).messages
              if isinstance(m, MqttMessage) and "m7" in m.topic)
    assert flow.observed_at == pytest.approx(m7.received_at - 60)
    assert decode_batch(adapter.fetch().data).messages == []  # drained: nothing twice


def test_garbage_is_rejected_with_an_excerpt_and_the_good_kept(
        r: redis.Redis, broker: MqttBroker, publisher: Publisher,
        closing: list[SenmlMqttAdapter]) -> None:
    """One garbage message among good ones: the good are stored, the garbage dead-lettered."""
    adapter = subscribed(broker, closing)
    publisher.send("city/water/pz2-p1/senml", logger_pack(300.0))
    publisher.send("city/water/bad/senml", b"\x00<script>not senml</script>")
    publisher.send("city/water/pz2-p1/senml", logger_pack(280.0, T0 + 60))
    assert received(adapter, 3)
    result = ingest(r, adapter, adapter.fetch())
    assert result.rejected == 1 and result.accepted >= 3
    assert store.entities.read_latest(r, "water", "pressure_bar")["w:sensor:pz2-p1"][0] == \
        pytest.approx(2.8)
    letter = store.feeds.read_dead_letters(r, "w")[0]
    assert "city/water/bad/senml" in letter["reason"]
    assert "<script>not senml</script>" in letter["excerpt"]


def test_broker_down_is_retryable_and_the_link_recovers(broker: MqttBroker,
                                                        closing: list[SenmlMqttAdapter]) -> None:
    """A stopped broker: RetryableFeedError with the reason; restarted: resubscribed, data flows."""
    adapter = subscribed(broker, closing)
    broker.stop()
    assert wait_for(lambda: not adapter.status()["connected"])
    with pytest.raises(RetryableFeedError, match="connection lost|cannot connect"):
        adapter.fetch()
    broker.start()
    assert wait_for(lambda: adapter.status()["subscribed"], timeout=15), adapter.status()
    publisher = Publisher(broker)
    try:
        publisher.send("city/water/pz2-p1/senml", logger_pack(305.0))
        assert received(adapter, 1)
    finally:
        publisher.close()
    items = list(adapter.parse(adapter.fetch()))
    assert [o.value for o in of_type(items, Observation)] == [pytest.approx(3.05)]


def test_broker_down_at_the_first_poll_is_retryable(tmp_path: Path,
                                                    closing: list[SenmlMqttAdapter]) -> None:
    """Nothing listening yet: the first fetch says it cannot connect; a late broker is found."""
    directory = tmp_path / "late"
    directory.mkdir()
    late = MqttBroker(directory)
    late.stop()
    adapter = SenmlMqttAdapter({"name": "w", "url": late.url, "topic": TOPIC,
                                "reconnect_min_s": 0.1, "reconnect_max_s": 0.3})
    closing.append(adapter)
    try:
        with pytest.raises(RetryableFeedError, match="cannot connect"):
            adapter.fetch()
        late.start()
        assert wait_for(lambda: adapter.status()["subscribed"], timeout=15), adapter.status()
        assert decode_batch(adapter.fetch().data).messages == []
    finally:
        late.stop()


def test_wrong_credentials_are_fatal(tmp_path: Path, closing: list[SenmlMqttAdapter]) -> None:
    """A broker with a password file: a wrong password is FatalFeedError, the right one works."""
    directory = tmp_path / "auth"
    directory.mkdir()
    secured = MqttBroker(directory, users=USERS)
    try:
        wrong = SenmlMqttAdapter({"name": "w", "url": secured.url, "topic": TOPIC,
                                  "username": "cityops", "password": "guess"})
        closing.append(wrong)
        with pytest.raises(FatalFeedError, match="Not authorized|Bad user name"):
            wrong.fetch()
        assert not wrong.status()["connected"]
        anonymous = SenmlMqttAdapter({"name": "w2", "url": secured.url, "topic": TOPIC})
        closing.append(anonymous)
        with pytest.raises(FatalFeedError):
            anonymous.fetch()
        right = subscribed(secured, closing, name="w3", username="cityops",
                           password=USERS["cityops"])
        publisher = Publisher(secured, "cityops", USERS["cityops"])
        try:
            publisher.send("city/water/pz2-p1/senml", logger_pack(300.0))
            assert received(right, 1)
        finally:
            publisher.close()
    finally:
        secured.stop()


def test_a_full_buffer_drops_the_oldest_and_counts_them(broker: MqttBroker, publisher: Publisher,
                                                        closing: list[SenmlMqttAdapter]) -> None:
    """Buffer of 3, five messages: the three newest are kept, two drops counted and reported."""
    adapter = subscribed(broker, closing, buffer_size=3)
    for n in range(5):
        publisher.send("city/water/pz2-p1/senml", logger_pack(100.0 * (n + 1), T0 + n))
    assert received(adapter, 5)
    assert adapter.status()["dropped_total"] == 2
    items = list(adapter.parse(adapter.fetch()))
    assert [o.value for o in of_type(items, Observation)] == [pytest.approx(3.0), pytest.approx(4.0),
                                                              pytest.approx(5.0)]
    drops = [r for r in of_type(items, Rejected) if "dropped" in r.reason]
    assert len(drops) == 1 and drops[0].reason.startswith("2 message(s) dropped")
    again = adapter.fetch()  # the drop is reported once, the total stays
    assert decode_batch(again.data).dropped == 0 and adapter.status()["dropped_total"] == 2


def test_silence_is_not_an_error_unless_a_budget_says_so(broker: MqttBroker, publisher: Publisher,
                                                          closing: list[SenmlMqttAdapter]) -> None:
    """An empty poll succeeds and carries the last receipt; past max_silence_s it is retryable."""
    adapter = subscribed(broker, closing, max_silence_s=0.5)
    publisher.send("city/water/pz2-p1/senml", logger_pack(300.0))
    assert received(adapter, 1)
    last = adapter.status()["last_message_at"]
    list(adapter.parse(adapter.fetch()))
    assert list(adapter.parse(adapter.fetch())) == [FeedHeader(last)]
    assert wait_for(lambda: _silent(adapter), timeout=5)
    publisher.send("city/water/pz2-p1/senml", logger_pack(310.0))
    assert received(adapter, 2)
    assert of_type(list(adapter.parse(adapter.fetch())), Observation)


def _silent(adapter: SenmlMqttAdapter) -> bool:
    try:
        adapter.fetch()
    except RetryableFeedError as exc:
        return "no message on city/water/+/senml" in str(exc)
    return False


def test_close_stops_the_subscription(broker: MqttBroker, publisher: Publisher,
                                      closing: list[SenmlMqttAdapter]) -> None:
    """After close() nothing is received; the next fetch() subscribes again."""
    adapter = subscribed(broker, closing, client_id="cityops-close-test")
    thread_name = "paho-mqtt-client-cityops-close-test"
    assert thread_name in {t.name for t in threading.enumerate()}
    adapter.close()
    assert not adapter.status()["connected"]
    assert thread_name not in {t.name for t in threading.enumerate()}
    publisher.send("city/water/pz2-p1/senml", logger_pack(300.0))
    assert decode_batch(adapter.fetch().data).messages == []
    assert adapter.status()["subscribed"]
    publisher.send("city/water/pz2-p1/senml", logger_pack(310.0))
    assert received(adapter, 1)
    assert [o.value for o in of_type(list(adapter.parse(adapter.fetch())), Observation)] == [
        pytest.approx(3.1)]


def _sample_names() -> list[str]:
    return sorted(p.name for p in SENML_SAMPLES.glob("rfc8428-ex*.json")
                  if not p.name.endswith(".resolved.json")) if SENML_SAMPLES.is_dir() else []


@pytest.mark.skipif(not SENML_SAMPLES.is_dir(), reason="../shared/samples/senml is absent")
def test_rfc_samples_travel_unchanged(broker: MqttBroker, publisher: Publisher,
                                      closing: list[SenmlMqttAdapter]) -> None:
    """Each RFC 8428 example pack (each names its sensors) parses over MQTT as parse_senml does."""
    names = _sample_names()
    assert names
    adapter = subscribed(broker, closing, topic="samples/#")
    for name in names:
        publisher.send(f"samples/{name}", (SENML_SAMPLES / name).read_bytes())
    assert received(adapter, len(names))
    batch = decode_batch(adapter.fetch().data)
    for msg in batch.messages:
        assert isinstance(msg, MqttMessage)
        try:
            got = [i for i in adapter.parse(RawPayload(encode_batch([msg]), source="test"))
                   if not isinstance(i, (Rejected, FeedHeader))]
        except ParseError:
            got = []
        try:
            direct = [i for i in parse_senml(msg.payload, "w", msg.received_at)
                      if not isinstance(i, (Rejected, FeedHeader))]
        except ParseError:
            direct = []
        assert sorted(map(repr, got)) == sorted(map(repr, direct)), msg.topic


def test_runner_stores_the_feed_and_follows_the_broker(r: redis.Redis, redis_server: RedisServer,
                                                       broker: MqttBroker, publisher: Publisher,
                                                       tmp_path: Path) -> None:
    """Through the runner into real Redis: data, a dead letter, lag, broker loss and recovery."""
    adapter = SenmlMqttAdapter({"name": "wm", "url": broker.url, "topic": TOPIC,
                                "interval_s": 0.2, "freshness_budget_s": 30,
                                "reconnect_min_s": 0.1, "reconnect_max_s": 0.3})
    runner, thread = start_runner(redis_server.url, tmp_path, [adapter])
    try:
        assert wait_for(lambda: health(r, "wm").get("last_success"), timeout=10), health(r, "wm")
        assert wait_for(lambda: adapter.status()["subscribed"])
        publisher.send("city/water/pz2-p1/senml", logger_pack(300.0))
        publisher.send("city/water/bad/senml", b"{broken")
        assert wait_for(lambda: "wm:sensor:pz2-p1" in {e["id"] for e in
                                                       store.entities.read_entities(r, "water")})
        assert store.entities.read_latest(r, "water", "pressure_bar")["wm:sensor:pz2-p1"][0] == \
            pytest.approx(3.0)
        assert wait_for(lambda: store.feeds.read_dead_letters(r, "wm"))
        assert store.feeds.read_dead_letters(r, "wm")[0]["excerpt"] == "{broken"
        assert wait_for(lambda: health(r, "wm").get("lag_s") not in (None, ""))
        broker.stop()
        assert wait_for(lambda: int(health(r, "wm").get("consecutive_failures") or 0) >= 1,
                        timeout=10), health(r, "wm")
        assert health(r, "wm")["last_error"].startswith(broker.url)
        broker.start()
        again = Publisher(broker)
        try:
            assert wait_for(lambda: adapter.status()["subscribed"], timeout=15)
            again.send("city/water/pz2-p1/senml", logger_pack(250.0, T0 + 600))
            assert wait_for(lambda: store.entities.read_latest(r, "water", "pressure_bar")
                            ["wm:sensor:pz2-p1"][0] == pytest.approx(2.5), timeout=20)
            assert wait_for(lambda: health(r, "wm").get("consecutive_failures") == "0",
                            timeout=20), health(r, "wm")
        finally:
            again.close()
    finally:
        runner.stop()
        thread.join(timeout=10)
        adapter.close()
