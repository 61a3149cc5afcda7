"""`cityops ingest` (a recorded payload into the store, as the runner would), `cityops feeds` and
`cityops feeds pause|resume NAME` (issue 19: what /admin's feeds section does, for scripts)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Mapping

import redis

from app.config import load_settings
from app.model.domains import DOMAINS
from app.ops.commands.common import EXIT_OK, EXIT_USAGE, CommandError, actor, print_table, when

INGEST_MAX_BYTES = 256 * 1024 * 1024


TRANSPORT_KINDS = ("static", "vehicle_positions", "trip_updates", "alerts", "auto")


# The adapter that reads a recorded payload of each domain (transport picks by --kind).
INGEST_ADAPTERS = {"water": "senml_http", "city": "open311", "medical": "fhir", "cap": "cap"}


def _ingest_adapter(domain: str, kind: str, feed: str, data: bytes,  # type: ignore[no-untyped-def]
                    defaults: Mapping[str, Any]):
    """The adapter that parses a recorded payload of ``domain`` (and ``kind``), with the city-wide
    ``defaults`` the runner gives its feeds too (app/ops/feed_defaults.py)."""
    from data_adapters import registry

    def build(table: dict[str, Any]):  # type: ignore[no-untyped-def]
        return registry.build({"name": feed, "url": "file://recorded", **table}, defaults)

    if domain == "water":
        # A SenML pack, an MQTT batch frame or a SensorThings collection, told by its structure.
        from data_adapters.water.detect import recorded_feed
        return build(recorded_feed(data))
    if domain == "medical" and data.lstrip()[:1] not in (b"{", b"["):
        # Not FHIR JSON: the ambulance service's GTFS-rt VehiclePositions (protobuf).
        return build({"adapter": "ambulance_avl"})
    if domain in INGEST_ADAPTERS:
        return build({"adapter": INGEST_ADAPTERS[domain]})
    if domain != "transport":
        raise CommandError(f"no adapter ingests '{domain}' payloads yet")
    if kind == "auto":
        from data_adapters.transport import detect_kind
        kind = "static" if detect_kind(data) == "static" else "mixed"  # a GTFS zip, else GTFS-rt
    if kind == "static":
        return build({"adapter": "gtfs_static"})
    return build({"adapter": "gtfs_rt", "kind": kind})


def cmd_ingest(r: redis.Redis, args: argparse.Namespace) -> int:
    """Parse a recorded payload, store it, print a JSON summary (exit 2 if it is unusable)."""
    from app.model.records import RawPayload
    from app.pipeline.ingest import ingest
    from data_adapters.base import ParseError

    try:
        with open(args.file, "rb") as handle:
            data = handle.read(INGEST_MAX_BYTES + 1)
    except OSError as exc:
        raise CommandError(f"cannot read {args.file}: {exc.strerror or exc}") from None
    if len(data) > INGEST_MAX_BYTES:
        print(f"cityops: {args.file} is larger than {INGEST_MAX_BYTES} bytes", file=sys.stderr)
        return EXIT_USAGE
    from app.ops.feed_defaults import city_feed_defaults
    from data_adapters.base import FatalFeedError

    settings = load_settings()
    try:
        adapter = _ingest_adapter(args.domain, args.kind, args.feed, data,
                                  city_feed_defaults(settings))
    except FatalFeedError as exc:
        raise CommandError(str(exc)) from None
    try:
        result = ingest(r, adapter, RawPayload(data=data, source=str(args.file)),
                        dead_letter_unusable=False, history=settings.history)
    except ParseError as exc:
        print(f"cityops: {args.file}: unusable payload: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from app.situation.mapdata import Thresholds
    from app.situation.mapdata import share as map_share

    # What an adapter writes, the maps show: publish the domain's map arrays like the runner does.
    map_share.publish(r, adapter.domain, Thresholds.of(settings.kpis))
    print(json.dumps(result.as_json()))
    return EXIT_OK


def cmd_feeds(r: redis.Redis, args: argparse.Namespace) -> int:
    """Each feed with its health."""
    from app.live.feeds import read_health

    health = read_health(r)
    if args.json:
        print(json.dumps([h.as_json() for h in health], indent=2))
        return EXIT_OK
    print_table(["feed", "domain", "state", "last success", "accepted", "rejected", "failures",
                  "last error"],
                 [[h.feed, h.domain, h.state,
                   when(str(h.last_success)) if h.last_success else "never",
                   str(h.accepted), str(h.rejected), str(h.consecutive_failures),
                   h.last_error[:60]] for h in health])
    return EXIT_OK


def cmd_feed_pause(r: redis.Redis, args: argparse.Namespace) -> int:
    """Pause (``args.feeds_command`` "pause") or resume a feed, audited as the machine's admin."""
    from app.live import feeds

    configured = [str(f["name"]) for f in load_settings().feeds]
    try:
        if args.feeds_command == "pause":
            changed = feeds.pause(r, actor(), args.name, configured)
            print(f"feed {args.name} {'paused' if changed else 'was already paused'}")
        else:
            changed = feeds.resume(r, actor(), args.name, configured)
            print(f"feed {args.name} {'resumed' if changed else 'was not paused'}")
    except feeds.FeedError as exc:
        raise CommandError(str(exc)) from None
    return EXIT_OK


def add_parser(sub: argparse._SubParsersAction) -> None:
    """`cityops ingest`, `cityops feeds` and `cityops feeds pause|resume NAME`."""
    ingest = sub.add_parser("ingest", help="parse a recorded feed payload into the store")
    ingest.add_argument("domain", choices=DOMAINS + ("cap",))
    ingest.add_argument("--file", required=True, help="the recorded payload")
    ingest.add_argument("--kind", default="auto", choices=TRANSPORT_KINDS,
                        help="transport: what the file holds (default: detect)")
    ingest.add_argument("--feed", default="ingest",
                        help="feed name that prefixes the ids of what is stored (default ingest)")
    ingest.set_defaults(handler=cmd_ingest)
    feeds = sub.add_parser("feeds", help="each feed with its health")
    feeds.add_argument("--json", action="store_true")
    feeds.set_defaults(handler=cmd_feeds)
    feeds_sub = feeds.add_subparsers(dest="feeds_command", required=False, metavar="ACTION")
    for action, words in (("pause", "stop polling a feed until it is resumed (no stale alert)"),
                          ("resume", "poll a paused feed again")):
        one = feeds_sub.add_parser(action, help=words)
        one.add_argument("name", help="the feed's name, as `cityops feeds` lists it")
        one.set_defaults(handler=cmd_feed_pause)
