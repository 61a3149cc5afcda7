"""The bad-input corpus (tests/cases/bad_input/<format>/): every case through its registered parser (issue 8).

Each case is a file ``<case>.<ext>`` with a ``<case>.expect.toml`` beside it (see
tests/cases/bad_input/README.md). An "error" case must raise ParseError naming the problem, and
`cityops ingest` must refuse it with exit 2 and one line, leaving every Redis key byte for byte as
it was. A "partial" case must keep its good rows, count its bad ones (dead letters) and never
yield a position, time or text the rest of the system cannot hold. No parse may hang or raise
anything but ParseError.
"""

from __future__ import annotations

import io
import json
import os
import threading
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
import redis
from google.transit import gtfs_realtime_pb2 as rt

from app import store
from app.model.records import (
    Entity,
    FeedHeader,
    ParseItem,
    RawPayload,
    Rejected,
)
from app.ops import cli
from app.pipeline.ingest import ingest
from data_adapters import registry
from data_adapters.base import Adapter, ParseError
from tests.support.bad_input import FEED, FETCHED_AT, RECORD_TYPES, check_record, plausible_position
from tests.support.paths import CORPUS
from tests.support.redis_server import RedisServer

PARSE_TIMEOUT_S = 5.0  # a guard against hangs, far above any case's parse time; not a benchmark
EXIT_UNUSABLE = 2
# The case kinds issue 8 names, by the start of the case file's name, per format.
COMMON_KINDS = ("empty", "truncated", "wrong_types", "invalid_utf8", "huge", "deeply_nested",
                "coordinates_out_of_range")
XML_KINDS = ("billion_laughs", "external_entity")
EXTRA_KINDS = {"gtfs_static": ("zip_bomb", "missing_required_file"), "open311": XML_KINDS,
               "cap": (*XML_KINDS, "external_dtd")}


@dataclass(frozen=True)
class Format:
    """How a corpus folder is read: its registered adapter and how `cityops ingest` is asked."""

    adapter: str
    domain: str
    cli: tuple[str, ...]
    config: tuple[tuple[str, Any], ...] = ()

    def build(self) -> Adapter:
        """A fresh adapter of this format for the corpus feed."""
        # Open311 names its endpoint root, the others the URL they GET (unknown keys are errors).
        where = ({"base_url": "http://127.0.0.1:9"} if self.adapter == "open311"
                 else {"url": "http://127.0.0.1:9/bad-input"})
        return registry.build({"name": FEED, "adapter": self.adapter, **where, **dict(self.config)})


FORMATS: dict[str, Format] = {
    "gtfs_rt": Format("gtfs_rt", "transport", ("transport", "--kind", "auto"),
                      (("kind", "mixed"),)),
    "gtfs_static": Format("gtfs_static", "transport", ("transport", "--kind", "static")),
    "senml": Format("senml_http", "water", ("water",)),
    "sensorthings": Format("sensorthings", "water", ("water",)),
    "fhir": Format("fhir", "medical", ("medical",)),
    "open311": Format("open311", "city", ("city",)),
    "cap": Format("cap", "city", ("cap",)),
}


@dataclass(frozen=True)
class Case:
    """One corpus file and what it must give."""

    format: str
    path: Path
    expect: dict[str, Any]

    @property
    def name(self) -> str:
        """The case name: the file name without its extension."""
        return self.path.name.rsplit(".", 1)[0]

    def payload(self) -> bytes:
        """The file's bytes, grown to ``pad_to_bytes`` when the case asks (the size-cap cases)."""
        data = self.path.read_bytes()
        size = int(self.expect.get("pad_to_bytes", 0))
        if len(data) >= size:
            return data
        how = self.expect.get("pad", "space")
        if how == "repeat":
            return data * -(-size // len(data))
        if how == "leading-space":
            return b" " * (size - len(data)) + data
        assert how == "space", f"{self.path}: unknown pad {how!r}"
        return data + b" " * (size - len(data))


def _case_files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.name.startswith(".") and not path.name.endswith(".expect.toml"):
            yield path


def load_cases() -> list[Case]:
    """Every case of the corpus, with its expectation (a missing .expect.toml is a failure)."""
    out = []
    for name in FORMATS:
        for path in _case_files(CORPUS / name):
            expect_path = path.with_name(path.name.rsplit(".", 1)[0] + ".expect.toml")
            expect = tomllib.loads(expect_path.read_text()) if expect_path.exists() else {}
            out.append(Case(name, path, expect))
    return out


CASES = load_cases()
ERROR_CASES = [case for case in CASES if case.expect.get("outcome") == "error"]
PARTIAL_CASES = [case for case in CASES if case.expect.get("outcome") == "partial"]


def case_id(case: Case) -> str:
    """pytest id: format/file."""
    return f"{case.format}/{case.path.name}"


# -- running a parse under a guard -----------------------------------------------------------------
def parse_guarded(adapter: Adapter, data: bytes, label: str) -> list[ParseItem] | ParseError:
    """Every item of parse(), or its ParseError; fails on a hang or on any other exception."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["items"] = list(adapter.parse(RawPayload(data=data, source="bad-input",
                                                         fetched_at=FETCHED_AT)))
        except BaseException as exc:  # handed to the test thread to judge
            box["error"] = exc

    # A thread, not an alarm: a signal cannot interrupt a C decoder that never returns.
    worker = threading.Thread(target=work, name=f"parse {label}", daemon=True)
    worker.start()
    worker.join(PARSE_TIMEOUT_S)
    if worker.is_alive():
        pytest.fail(f"{label}: parse did not finish within {PARSE_TIMEOUT_S} s (a hang)")
    error = box.get("error")
    if error is None:
        return box["items"]
    if isinstance(error, ParseError):
        return error
    raise AssertionError(f"{label}: parse raised {type(error).__name__}, not ParseError: "
                         f"{error}") from error


# -- the corpus itself -----------------------------------------------------------------------------
def test_every_case_has_an_expectation() -> None:
    """Each case file has a valid .expect.toml, and each .expect.toml a case file beside it."""
    problems = []
    for case in CASES:
        outcome = case.expect.get("outcome")
        if outcome == "error":
            if not str(case.expect.get("message_contains", "")).strip():
                problems.append(f"{case_id(case)}: an error case needs message_contains")
        elif outcome == "partial":
            for kind in ("accepted", "rejected"):
                if kind not in case.expect and f"min_{kind}" not in case.expect:
                    problems.append(f"{case_id(case)}: a partial case needs {kind} or min_{kind}")
        else:
            problems.append(f"{case_id(case)}: outcome {outcome!r} (missing .expect.toml?)")
    for name in FORMATS:
        stems = {path.name.rsplit(".", 1)[0] for path in _case_files(CORPUS / name)}
        for expect in (CORPUS / name).glob("*.expect.toml"):
            if expect.name.removesuffix(".expect.toml") not in stems:
                problems.append(f"{name}/{expect.name}: no case file beside it")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_format_has_every_kind_of_bad_input(name: str) -> None:
    """Each format's folder holds each kind of bad input the issue lists (by case name)."""
    names = [path.name for path in _case_files(CORPUS / name)]
    missing = [kind for kind in (*COMMON_KINDS, *EXTRA_KINDS.get(name, ()))
               if not any(case.startswith(kind) for case in names)]
    assert not missing, f"{name}: no case for {missing}"
    outcomes = {case.expect.get("outcome") for case in CASES if case.format == name}
    assert outcomes == {"error", "partial"}, f"{name}: {outcomes}"


# -- error cases: ParseError, and the CLI leaves the store as it was -------------------------------
@pytest.mark.parametrize("case", ERROR_CASES, ids=case_id)
def test_unusable_payload_raises_a_clear_parse_error(case: Case) -> None:
    """parse() raises ParseError with a message naming the problem (and nothing else escapes)."""
    fmt = FORMATS[case.format]
    outcome = parse_guarded(fmt.build(), case.payload(), case_id(case))
    assert isinstance(outcome, ParseError), (
        f"{case_id(case)}: parsed into {len(outcome)} items, expected a ParseError: "
        f"{[i for i in outcome if not isinstance(i, FeedHeader)][:3]}")
    message = str(outcome)
    assert message.strip(), f"{case_id(case)}: empty ParseError message"
    assert case.expect["message_contains"] in message, f"{case_id(case)}: {message!r}"
    assert isinstance(outcome.excerpt, str) and len(outcome.excerpt) <= 2048


# One good payload per format, stored before a refused ingest: what must stay exactly as it was.
def _seed_payload(name: str) -> bytes:
    if name == "gtfs_rt":
        message = rt.FeedMessage()
        message.header.gtfs_realtime_version = "2.0"
        message.header.timestamp = int(FETCHED_AT) - 60
        for n in range(3):
            entity = message.entity.add()
            entity.id = f"seed-{n}"
            entity.vehicle.vehicle.id = f"seed-bus-{n}"
            entity.vehicle.position.latitude = 28.55 + n / 100
            entity.vehicle.position.longitude = 112.36
        return message.SerializeToString()
    if name == "gtfs_static":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("stops.txt", "stop_id,stop_name,stop_lat,stop_lon\n"
                                          "seed-1,Seed stop,28.551,112.351\n")
            archive.writestr("routes.txt", "route_id,route_short_name,route_type\nseed-r,9,3\n")
        return buffer.getvalue()
    if name == "senml":
        return json.dumps([{"bn": "seed/pz1/", "bt": FETCHED_AT - 60, "n": "pressure", "u": "kPa",
                            "v": 300}, {"n": "lat", "u": "lat", "v": 28.55},
                           {"n": "lon", "u": "lon", "v": 112.36}]).encode()
    if name == "sensorthings":
        return json.dumps({"value": [{
            "phenomenonTime": "2026-01-01T00:00:00Z", "result": 300, "Datastream": {
                "@iot.id": 7, "name": "Seed pressure", "unitOfMeasurement": {"symbol": "kPa"},
                "Thing": {"name": "Seed", "Locations": [{"location": {
                    "type": "Point", "coordinates": [112.36, 28.55]}}]}}}]}).encode()
    if name == "fhir":
        return json.dumps({"resourceType": "Location", "id": "seed", "status": "active",
                           "name": "Seed hospital",
                           "position": {"latitude": 28.55, "longitude": 112.36}}).encode()
    if name == "open311":
        return json.dumps([{"service_request_id": "seed-1", "status": "open", "lat": 28.55,
                            "long": 112.36, "service_code": "pothole"}]).encode()
    assert name == "cap", name
    return (b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>SEED-1</identifier>'
            b"<sender>seed@example.org</sender><sent>2026-01-01T08:00:00+08:00</sent>"
            b"<status>Actual</status><msgType>Alert</msgType><scope>Public</scope><info>"
            b"<event>Seed</event><severity>Minor</severity><headline>Seed</headline></info></alert>")


def dump_all(raw: redis.Redis) -> dict[bytes, tuple[bytes | None, int]]:
    """Every key with its DUMP and PTTL: the whole database byte for byte."""
    return {key: (raw.dump(key), raw.pttl(key)) for key in raw.scan_iter(count=1000)}


@pytest.fixture
def raw_r(redis_server: RedisServer, r: redis.Redis) -> Iterator[redis.Redis]:
    """A client of the emptied test Redis that returns bytes (DUMP is binary)."""
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_server: RedisServer) -> None:
    """The environment `cityops` reads: the test Redis and a private data directory only."""
    for key in list(os.environ):
        if key.startswith("CITYOPS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CITYOPS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CITYOPS_REDIS_URL", redis_server.url)


@pytest.mark.parametrize("case", ERROR_CASES, ids=case_id)
def test_cli_refuses_unusable_payload_and_changes_nothing(
        case: Case, r: redis.Redis, raw_r: redis.Redis, cli_env: None, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`cityops ingest` on the case: exit 2, one line naming it, every key as it was."""
    fmt = FORMATS[case.format]
    seeded = ingest(r, fmt.build(), RawPayload(data=_seed_payload(case.format), source="seed",
                                               fetched_at=FETCHED_AT))
    assert seeded.accepted > 0, seeded
    store.feeds.dead_letter(r, FEED, [("an earlier rejection", "kept as it was")])
    before = dump_all(raw_r)
    path = case.path
    if "pad_to_bytes" in case.expect:
        path = tmp_path / case.path.name
        path.write_bytes(case.payload())
    capsys.readouterr()
    code = cli.main(["ingest", fmt.cli[0], "--file", str(path), "--feed", FEED, *fmt.cli[1:]])
    out, err = capsys.readouterr()
    assert code == EXIT_UNUSABLE, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cityops: "), err
    # The CLI picks the adapter by the payload's first byte, which may name another format.
    wanted = case.expect.get("cli_message_contains", case.expect["message_contains"])
    assert "unusable payload" in lines[0] and wanted in lines[0], err
    assert out == "", out
    assert dump_all(raw_r) == before, f"{case_id(case)}: the refused payload changed the store"


# -- partial cases: good rows kept, bad rows counted and dead-lettered ------------------------------
def _count_matches(case: Case, kind: str, count: int) -> None:
    if kind in case.expect:
        assert count == case.expect[kind], f"{case_id(case)}: {count} {kind}, expected {case.expect[kind]}"
    if f"min_{kind}" in case.expect:
        assert count >= case.expect[f"min_{kind}"], f"{case_id(case)}: only {count} {kind}"


@pytest.mark.parametrize("case", PARTIAL_CASES, ids=case_id)
def test_bad_rows_are_counted_and_good_rows_kept(case: Case, r: redis.Redis) -> None:
    """parse() keeps the good rows and rejects the bad ones with a reason; what it keeps is sound;
    ingest stores the records and dead-letters every rejection."""
    fmt = FORMATS[case.format]
    adapter = fmt.build()
    label = case_id(case)
    items = parse_guarded(adapter, case.payload(), label)
    assert not isinstance(items, ParseError), f"{label}: ParseError {items}"
    for item in items:
        check_record(item, adapter.domain, label)
    records = [item for item in items if isinstance(item, RECORD_TYPES)]
    rejected = [item for item in items if isinstance(item, Rejected)]
    _count_matches(case, "accepted", len(records))
    _count_matches(case, "rejected", len(rejected))
    for wanted in case.expect.get("reasons", []):
        assert any(wanted in item.reason for item in rejected), (
            f"{label}: no rejection says {wanted!r}: {[item.reason for item in rejected]}")
    entities = [item for item in records if isinstance(item, Entity)]
    if "unlocated" in case.expect:
        unlocated = sum(item.lat is None for item in entities)
        assert unlocated == case.expect["unlocated"], f"{label}: {unlocated} unlocated"

    result = ingest(r, fmt.build(), RawPayload(data=case.payload(), source="bad-input",
                                               fetched_at=FETCHED_AT))
    assert result.rejected == len(rejected), result
    letters = store.feeds.read_dead_letters(r, FEED, count=1000)
    assert sorted(letter["reason"] for letter in letters) == sorted(
        item.reason[:500] for item in rejected), f"{label}: dead letters differ from rejections"
    stored = {e["id"]: e for e in store.entities.read_entities(r, adapter.domain)}
    assert {e.id for e in entities} <= set(stored), f"{label}: a kept entity was not stored"
    for entity in stored.values():
        lat, lon = entity.get("lat"), entity.get("lon")
        if lat is None and lon is None:
            continue  # listed unlocated
        assert lat is not None and lon is not None, entity
        assert plausible_position(float(lat), float(lon)), entity
