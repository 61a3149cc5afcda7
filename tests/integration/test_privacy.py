"""Personal data never reaches Redis: Open311 reporters' names, e-mails, phones and device ids, and
FHIR resources about patients and practitioners, fed through the real adapters and ingest (good
rows, rejected rows, duplicates and unusable payloads alike), then every key of the store read
back and searched."""

from __future__ import annotations

import json
import time
from typing import Any, Iterator

import pytest
import redis

from app.model.records import RawPayload
from app.pipeline.ingest import ingest
from app.store.keys import Keys
from data_adapters import registry
from data_adapters.base import ParseError

NOW = time.time()
# Values no record may hold; each is distinctive, so finding it anywhere is a leak.
PERSONAL = {
    "first_name": "Xiulan-PII", "last_name": "Zhang-PII", "name": "Wei Zhang-PII",
    "email": "reporter-pii@example.cn", "phone": "+86-138-0000-7777", "device_id": "DEV-PII-4242",
    "account_id": "ACC-PII-5151",
}
PATIENT = {"family": "Li-PII-Patient", "phone": "+86-139-0000-8888", "mrn": "MRN-PII-990011",
           "practitioner": "Dr Wang-PII", "note": "PII-diagnosis-asthma"}


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+08:00", time.gmtime(ts + 8 * 3600))


def open311_rows() -> list[dict[str, Any]]:
    base = {"service_code": "pothole", "service_name": "Pothole", "status": "open",
            "requested_datetime": _iso(NOW - 600), "updated_datetime": _iso(NOW - 60),
            "lat": 28.55, "long": 112.36, "description": "Deep hole at the bus stop", **PERSONAL}
    return [
        {**base, "service_request_id": "r1"},
        {**base, "service_request_id": "r1", "updated_datetime": _iso(NOW - 30)},  # duplicate
        {**base, "service_request_id": None},  # rejected: no id
        {**base, "service_request_id": "r2", "requested_datetime": "not a date"},
    ]


def open311_xml() -> bytes:
    fields = "".join(f"<{k}>{v}</{k}>" for k, v in PERSONAL.items())
    return (f"<?xml version='1.0' encoding='utf-8'?><service_requests><request>"
            f"<service_request_id>x1</service_request_id><service_code>light</service_code>"
            f"<status>open</status><lat>28.56</lat><long>112.37</long>{fields}</request>"
            f"<request><status>open</status>{fields}</request></service_requests>").encode()


def fhir_bundle(*resources: dict[str, Any]) -> bytes:
    return json.dumps({"resourceType": "Bundle", "type": "searchset",
                       "entry": [{"resource": r} for r in resources]}).encode()


def patient_resources() -> list[dict[str, Any]]:
    person = {"name": [{"family": PATIENT["family"], "given": ["Min"]}],
              "telecom": [{"system": "phone", "value": PATIENT["phone"]}],
              "identifier": [{"value": PATIENT["mrn"]}]}
    return [
        {"resourceType": "Patient", "id": "p1", **person},
        {"resourceType": "Practitioner", "id": "d1", "name": [{"text": PATIENT["practitioner"]}]},
        {"resourceType": "Observation", "id": "o1", "status": "final",
         "subject": {"reference": "Patient/p1", "display": PATIENT["family"]},
         "note": [{"text": PATIENT["note"]}]},
        {"resourceType": "Encounter", "id": "e1", "status": "in-progress",
         "subject": {"reference": "Patient/p1"},
         "participant": [{"individual": {"reference": "Practitioner/d1",
                                         "display": PATIENT["practitioner"]}}]},
        {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
         "code": {"text": PATIENT["note"]}},
    ]


def hospital() -> dict[str, Any]:
    return {"resourceType": "Location", "id": "h1", "name": "Yiyang Central Hospital",
            "status": "active", "position": {"latitude": 28.55, "longitude": 112.35},
            "type": [{"coding": [{"code": "HOSP"}]}]}


def every_value(r: redis.Redis) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) for every key: each string, field, member, element and stream entry."""
    for key in r.scan_iter(count=1000):
        kind = r.type(key)
        if kind == b"string":
            yield key, r.get(key) or b""
        elif kind == b"hash":
            for field, value in r.hgetall(key).items():
                yield key, field + b"=" + value
        elif kind == b"list":
            for value in r.lrange(key, 0, -1):
                yield key, value
        elif kind == b"set":
            for value in r.smembers(key):
                yield key, value
        elif kind == b"zset":
            for value in r.zrange(key, 0, -1):
                yield key, value
        elif kind == b"stream":
            for entry_id, fields in r.xrange(key):
                yield key, entry_id + b" " + b" ".join(k + b"=" + v for k, v in fields.items())
        yield key, key


def leaks(raw: redis.Redis, values: dict[str, str]) -> list[str]:
    """Where any of ``values`` (or a part of a multi-word one) is found in the store."""
    needles = {v.encode() for v in values.values()}
    needles |= {v.encode("unicode_escape") for v in values.values()}
    found = []
    for key, value in every_value(raw):
        found += [f"{key!r}: {needle!r}" for needle in needles if needle in value]
    return found


def test_open311_reporters_are_never_stored(r: redis.Redis, raw: redis.Redis) -> None:
    adapter = registry.build({"name": "pii-311", "adapter": "open311",
                              "base_url": "http://127.0.0.1:9/open311/v2"})
    result = ingest(r, adapter, RawPayload(json.dumps(open311_rows()).encode(), "test"))
    assert result.accepted >= 2 and result.rejected >= 2  # stored, and rejections kept
    ingest(r, adapter, RawPayload(open311_xml(), "test"))
    # Unusable payloads: their excerpt goes to the dead letters.
    for unusable in (json.dumps({"error": "x", **PERSONAL}).encode(),
                     b'{"service_requests": 7, "email": "' + PERSONAL["email"].encode() + b'"',
                     open311_xml()[:-40]):
        with pytest.raises(ParseError):
            ingest(r, adapter, RawPayload(unusable, "test"))
    assert r.hlen(Keys.live("city")) >= 2 and r.xlen(Keys.dead_letters("pii-311")) >= 4
    assert leaks(raw, PERSONAL) == []


def test_fhir_resources_about_people_are_never_stored(r: redis.Redis, raw: redis.Redis) -> None:
    adapter = registry.build({"name": "pii-fhir", "adapter": "fhir",
                              "url": "http://127.0.0.1:9/r4/Location"})
    result = ingest(r, adapter, RawPayload(fhir_bundle(hospital(), *patient_resources()), "test"))
    assert result.accepted >= 1
    for unusable in (fhir_bundle(*patient_resources()),
                     fhir_bundle(*patient_resources())[:-30],
                     json.dumps(patient_resources()[0]).encode()):
        with pytest.raises(ParseError):
            ingest(r, adapter, RawPayload(unusable, "test"))
    assert r.xlen(Keys.dead_letters("pii-fhir")) >= 3  # the failures are recorded, without their text
    assert leaks(raw, PATIENT) == []
