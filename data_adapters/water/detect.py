"""Which water format a recorded payload is (SenML pack, MQTT batch frame, SensorThings), and the
feed keys that read it: what `cityops ingest water` uses to pick the adapter (pure).

Told apart by their JSON structure, not by a file name:

- an MQTT batch frame is an object whose ``format`` is ``cityops-mqtt-batch/1`` (what the MQTT
  adapter's fetch() drains its buffer into, so a saved frame replays as it was received);
- a SenML pack is an array of records (``bn``, ``n``, ``v``, ...); a single record sent as a bare
  object, and the pre-RFC draft (an object with an ``e`` array), are SenML too, so that they are
  refused with SenML's own words;
- SensorThings is an Observations collection (``{"value": [...]}``), one Observation, or an array
  of Observations (``phenomenonTime``, ``result``, ``Datastream``).

A payload that is not JSON at all goes to the parser its first byte suggests ("{" SensorThings,
else SenML), whose error then says why it is unusable.
"""

from __future__ import annotations

from typing import Any

from data_adapters.base import ParseError
from data_adapters.json_payload import decode_json
from data_adapters.water.mqtt import BATCH_FORMAT, valid_filter

SENML = "senml"
MQTT_BATCH = "mqtt_batch"
SENSORTHINGS = "sensorthings"
# RFC 8428 labels: an object made of these is one SenML record sent without its array.
_SENML_LABELS = frozenset({"bn", "bt", "bu", "bv", "bs", "bver", "n", "u", "v", "vs", "vb", "vd",
                           "s", "t", "ut"})
# What only a SensorThings Observation carries.
_STA_LABELS = frozenset({"phenomenonTime", "result", "resultTime", "Datastream", "@iot.id",
                         "FeatureOfInterest"})
# A recorded frame from before frames named their subscription: every topic level names the sensor.
ANY_TOPIC = "#"


def _document(data: bytes) -> Any:
    """The decoded JSON, or None when the payload is not JSON (its parser will say why)."""
    try:
        return decode_json(data, what="a water payload")
    except ParseError:
        return None


def _observation_like(value: Any) -> bool:
    return isinstance(value, dict) and bool(_STA_LABELS & value.keys())


def detect_format(data: bytes) -> str:
    """SENML, MQTT_BATCH or SENSORTHINGS for a recorded water payload."""
    doc = _document(data)
    if doc is None:
        return SENSORTHINGS if data.lstrip(b" \t\r\n\xef\xbb\xbf")[:1] == b"{" else SENML
    if isinstance(doc, dict):
        if doc.get("format") == BATCH_FORMAT:
            return MQTT_BATCH
        if isinstance(doc.get("e"), list) or (doc and doc.keys() <= _SENML_LABELS):
            return SENML
        return SENSORTHINGS
    if isinstance(doc, list) and doc and _observation_like(doc[0]):
        return SENSORTHINGS
    return SENML


def frame_topics(data: bytes) -> list[str]:
    """The topic filters a recorded MQTT batch frame was subscribed with (``#`` when it does not
    say, or says something that is no valid filter)."""
    doc = _document(data)
    topics = doc.get("topics") if isinstance(doc, dict) else None
    if (isinstance(topics, list) and topics
            and all(isinstance(t, str) and valid_filter(t) for t in topics)):
        return list(topics)
    return [ANY_TOPIC]


def recorded_feed(data: bytes) -> dict[str, Any]:
    """The [[feeds]] keys (adapter, url and what the format needs) that read a recorded payload."""
    kind = detect_format(data)
    if kind == MQTT_BATCH:
        return {"adapter": "senml_mqtt", "url": "mqtt://recorded.invalid",
                "topic": frame_topics(data)}
    if kind == SENSORTHINGS:
        # A recording is read whole: no lookback window applies to it.
        return {"adapter": "sensorthings", "url": "http://recorded.invalid/Observations",
                "lookback_hours": 0}
    return {"adapter": "senml_http", "url": "http://recorded.invalid/senml"}
