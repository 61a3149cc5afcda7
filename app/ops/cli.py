"""The `cityops` command: run the command center and administer users and tokens."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

import redis

from app import __version__, accounts
from app.accounts import admin
from app.config import ConfigError, Settings, load_settings, settings_table
from app.model import roles
from app.model.domains import DOMAINS
from app.model.principal import Principal
from app.store.link import RedisUnavailable, redis_session
from data_adapters.base import FeedError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class CommandError(Exception):
    """A command that cannot be carried out; the message is shown as one line."""


def _actor() -> Principal:
    """Whoever runs the command: the machine's administrator, recorded by their login name."""
    try:
        name = f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (containers)
        name = f"cli:uid{os.getuid()}"
    return Principal(name=name, role=roles.ADMIN, kind="cli")


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    if not sys.stdin.isatty():
        raise CommandError("no terminal to ask for the password: pipe it with --password-stdin")
    first = getpass.getpass("New password: ")
    if first != getpass.getpass("Repeat it: "):
        raise CommandError("the two passwords differ")
    return first


def _when(ts: str | None) -> str:
    if not ts:
        return ""
    return datetime.fromtimestamp(float(ts), timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(headers)]
    print("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


# -- commands --------------------------------------------------------------------------------------
def cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    """Start Redis, the adapter runner and the web server; stop them all on SIGINT/SIGTERM."""
    from app.ops.supervisor import Supervisor

    if args.scenario and (args.no_demo or settings.feeds):
        raise CommandError("--scenario plays in the demo city: leave out --no-demo and the "
                           "configured [[feeds]]")
    return Supervisor(settings, demo=not args.no_demo, access_log=args.access_log,
                      scenario=args.scenario).run()


def cmd_runner(settings: Settings, _args: argparse.Namespace) -> int:
    """The adapter runner process (started by `up`)."""
    from app.ops.runner_process import main
    from data_adapters import registry
    from data_adapters.demo import demo_feeds

    if not settings.redis.url:
        raise CommandError("the runner is started by `cityops up`, which tells it where Redis is")
    demo_url = os.environ.get("CITYOPS_DEMO_URL", "")
    configs = list(settings.feeds) or (demo_feeds(demo_url) if demo_url else [])
    try:
        feeds = [registry.build(config) for config in configs]
    except (FeedError, ValueError, TypeError) as exc:
        raise CommandError(f"feed configuration: {exc}") from None
    return main(settings, settings.redis.url, feeds)


def cmd_users_add(r: redis.Redis, args: argparse.Namespace) -> int:
    password = _read_password(args)
    domains = tuple(d.strip() for d in (args.domains or "").split(",") if d.strip())
    name = admin.add_user(r, _actor(), args.name, args.role, password, domains)
    print(f"user '{name}' added with role {args.role}")
    return EXIT_OK


def cmd_users_list(r: redis.Redis, args: argparse.Namespace) -> int:
    users = admin.list_users(r)
    if args.json:
        print(json.dumps([{"name": u["name"], "role": u.get("role"),
                           "domains": [d for d in u.get("domains", "").split(",") if d],
                           "disabled": u.get("disabled") == "1",
                           "created_at": _when(u.get("created_at"))} for u in users], indent=2))
        return EXIT_OK
    _print_table(["name", "role", "domains", "state", "created"],
                 [[u["name"], u.get("role", ""), u.get("domains", "") or "all",
                   "disabled" if u.get("disabled") == "1" else "active",
                   _when(u.get("created_at"))] for u in users])
    return EXIT_OK


def cmd_users_passwd(r: redis.Redis, args: argparse.Namespace) -> int:
    admin.set_password(r, _actor(), args.name, _read_password(args))
    print(f"password of '{args.name}' changed; their open sessions have ended")
    return EXIT_OK


def cmd_users_disable(r: redis.Redis, args: argparse.Namespace) -> int:
    admin.set_disabled(r, _actor(), args.name, True)
    print(f"user '{args.name}' disabled; their open sessions have ended")
    return EXIT_OK


def cmd_users_enable(r: redis.Redis, args: argparse.Namespace) -> int:
    admin.set_disabled(r, _actor(), args.name, False)
    print(f"user '{args.name}' enabled")
    return EXIT_OK


def cmd_token_create(r: redis.Redis, args: argparse.Namespace) -> int:
    token = admin.create_token(r, _actor(), args.name, args.role, args.expires_days)
    print(token)
    print("This token is shown only once: keep it now. Send it as 'Authorization: Bearer <token>'"
          + ("; a wall display opens /wall?token=<token>." if args.role == roles.WALL else "."),
          file=sys.stderr)
    return EXIT_OK


def cmd_token_list(r: redis.Redis, args: argparse.Namespace) -> int:
    tokens = admin.list_tokens(r)
    rows = [{"id": t.get("id", ""), "name": t.get("name", ""), "role": t.get("role", ""),
             "created_at": _when(t.get("created_at")), "expires_at": _when(t.get("expires_at")),
             "state": "revoked" if t.get("revoked") == "1" else "active"} for t in tokens]
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    _print_table(["id", "name", "role", "created", "expires", "state"],
                 [[row["id"], row["name"], row["role"], row["created_at"],
                   row["expires_at"] or "never", row["state"]] for row in rows])
    return EXIT_OK


def cmd_token_revoke(r: redis.Redis, args: argparse.Namespace) -> int:
    token_id = admin.revoke_token(r, _actor(), args.token)
    print(f"token {token_id} revoked")
    return EXIT_OK


INGEST_MAX_BYTES = 256 * 1024 * 1024
TRANSPORT_KINDS = ("static", "vehicle_positions", "trip_updates", "alerts", "auto")


DEMO_SCENARIOS = ("rainstorm",)  # data_adapters.simulator.scenario.SCENARIOS (a test holds them equal)


# The adapter that reads a recorded payload of each domain (transport picks by --kind).
INGEST_ADAPTERS = {"water": "senml_http", "city": "open311", "medical": "fhir", "cap": "cap"}


def _ingest_adapter(domain: str, kind: str, feed: str, data: bytes):  # type: ignore[no-untyped-def]
    """The adapter that parses a recorded payload of ``domain`` (and ``kind``)."""
    from data_adapters import registry

    config = {"name": feed, "url": "file://recorded"}
    if domain == "water" and data.lstrip()[:1] == b"{":
        # A JSON object is a SensorThings collection; SenML packs are always arrays.
        return registry.build({**config, "adapter": "sensorthings", "lookback_hours": 0,
                               "url": "http://recorded.invalid/Observations"})
    if domain == "medical" and data.lstrip()[:1] not in (b"{", b"["):
        # Not FHIR JSON: the ambulance service's GTFS-rt VehiclePositions (protobuf).
        return registry.build({**config, "adapter": "ambulance_avl"})
    if domain in INGEST_ADAPTERS:
        return registry.build({**config, "adapter": INGEST_ADAPTERS[domain]})
    if domain != "transport":
        raise CommandError(f"no adapter ingests '{domain}' payloads yet")
    if kind == "auto":
        kind = "static" if data[:4] == b"PK\x03\x04" else "mixed"  # a GTFS zip, else GTFS-rt
    if kind == "static":
        return registry.build({**config, "adapter": "gtfs_static"})
    return registry.build({**config, "adapter": "gtfs_rt", "kind": kind})


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
    from data_adapters.base import FatalFeedError

    try:
        adapter = _ingest_adapter(args.domain, args.kind, args.feed, data)
    except FatalFeedError as exc:
        raise CommandError(str(exc)) from None
    try:
        result = ingest(r, adapter, RawPayload(data=data, source=str(args.file)),
                        dead_letter_unusable=False)
    except ParseError as exc:
        print(f"cityops: {args.file}: unusable payload: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from app.situation.mapdata import Thresholds
    from app.situation.mapdata import share as map_share

    # What an adapter writes, the maps show: publish the domain's map arrays like the runner does.
    map_share.publish(r, adapter.domain, Thresholds.of(load_settings().kpis))
    print(json.dumps(result.as_json()))
    return EXIT_OK


def cmd_feeds(r: redis.Redis, args: argparse.Namespace) -> int:
    """Each feed with its health."""
    from app.live.feeds import read_health

    health = read_health(r)
    if args.json:
        print(json.dumps([h.as_json() for h in health], indent=2))
        return EXIT_OK
    _print_table(["feed", "domain", "state", "last success", "accepted", "rejected", "failures",
                  "last error"],
                 [[h.feed, h.domain, h.state,
                   _when(str(h.last_success)) if h.last_success else "never",
                   str(h.accepted), str(h.rejected), str(h.consecutive_failures),
                   h.last_error[:60]] for h in health])
    return EXIT_OK


def cmd_rules_check(_settings: Settings, args: argparse.Namespace) -> int:
    """Validate an alert rules file: a summary and 0, or the error naming file, rule and key and 1."""
    from app.alerts import rules

    try:
        ruleset = rules.load_rules(Path(args.file))
    except rules.RulesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print("\n".join(rules.summary(ruleset)))
    return EXIT_OK


def cmd_bench_suite(_settings: Settings, args: argparse.Namespace) -> int:
    """Run every benchmark case and print the figures against their targets (or JSON)."""
    from app.bench.suite import run_suite, table

    figures = run_suite(quick=args.quick, log=lambda line: print(line, file=sys.stderr, flush=True))
    print(json.dumps(figures) if args.json else table(figures))
    return EXIT_OK


def cmd_bench(settings: Settings, args: argparse.Namespace) -> int:
    """Run a benchmark on a private Redis and print its figures."""
    from app.bench.ingest import bench_ingest

    if args.domain != "transport":
        raise CommandError(f"no ingest benchmark for '{args.domain}' yet")
    figures = bench_ingest(args.entities, runs=args.runs)
    if args.json:
        print(json.dumps(figures))
        return EXIT_OK
    print(f"ingest of a {int(figures['entities'])}-vehicle GTFS-rt feed (median of {args.runs} "
          "runs, private redis-server)")
    print(f"  parse + store      {figures['ingest_entities_per_s']:>12,.0f} entities/s "
          f"({figures['ingest_ms']:.1f} ms)")
    print(f"  plain redis write  {figures['raw_write_entities_per_s']:>12,.0f} entities/s "
          f"({figures['raw_write_ms']:.1f} ms; a pipelined HSET per record)")
    print(f"  ratio              {figures['ingest_ratio_to_raw_write']:>12.2f}")
    print(f"  packed write       {figures['packed_write_entities_per_s']:>12,.0f} entities/s "
          f"({figures['packed_write_ms']:.1f} ms; all records in one HSET)")
    print(f"  ratio to packed    {figures['ingest_ratio_to_packed_write']:>12.2f}")
    print(f"  redis memory       {figures['redis_bytes_per_entity']:>12.0f} bytes/entity")
    return EXIT_OK


# -- parser ----------------------------------------------------------------------------------------
def _password_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--password-stdin", action="store_true",
                        help="read the password from the first line of standard input")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `cityops` command."""
    env_help = "\n".join(f"  {env:<28} [{toml}] {expected}" for env, toml, expected in
                         settings_table())
    parser = argparse.ArgumentParser(
        prog="cityops", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="CityOps: an open command center for smart-city operations rooms.",
        epilog=f"configuration (environment variable, TOML key, expected value):\n{env_help}\n"
               "  CITYOPS_CONFIG               path of a TOML file with the keys above")
    parser.add_argument("--version", action="version", version=f"cityops {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="start the command center (Redis, adapters, web server)")
    up.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    up.add_argument("--port", type=int, help="port to listen on (default 8050)")
    up.add_argument("--no-demo", action="store_true", help="do not start the demo city")
    up.add_argument("--scenario", choices=DEMO_SCENARIOS,
                    help="play a scripted scenario in the demo city (rainstorm: a CAP warning, "
                         "rising water, a pressure drop, flooded bus routes, busier hospitals)")
    up.add_argument("--access-log", action="store_true", help="log every HTTP request")
    up.set_defaults(handler=cmd_up, needs_redis=False)

    runner = sub.add_parser("_runner", help=argparse.SUPPRESS)
    runner.set_defaults(handler=cmd_runner, needs_redis=False)

    users = sub.add_parser("users", help="manage user accounts")
    users_sub = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = users_sub.add_parser("add", help="add a user")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=roles.USER_ROLES)
    add.add_argument("--domains", help="emergency staff: comma-separated domains they act on "
                                       f"({', '.join(DOMAINS)}); default all")
    _password_flag(add)
    add.set_defaults(handler=cmd_users_add)
    lst = users_sub.add_parser("list", help="list users")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=cmd_users_list)
    passwd = users_sub.add_parser("passwd", help="set a user's password")
    passwd.add_argument("name")
    _password_flag(passwd)
    passwd.set_defaults(handler=cmd_users_passwd)
    disable = users_sub.add_parser("disable", help="disable a user and end their sessions")
    disable.add_argument("name")
    disable.set_defaults(handler=cmd_users_disable)
    enable = users_sub.add_parser("enable", help="enable a disabled user")
    enable.add_argument("name")
    enable.set_defaults(handler=cmd_users_enable)

    ingest = sub.add_parser("ingest", help="parse a recorded feed payload into the store")
    ingest.add_argument("domain", choices=DOMAINS + ("cap",))
    ingest.add_argument("--file", required=True, help="the recorded payload")
    ingest.add_argument("--kind", default="auto", choices=TRANSPORT_KINDS,
                        help="transport: what the file holds (default: detect)")
    ingest.add_argument("--feed", default="ingest",
                        help="feed name that prefixes the ids of what is stored (default ingest)")
    ingest.set_defaults(handler=cmd_ingest)

    rules_cmd = sub.add_parser("rules", help="alert rules files")
    rules_sub = rules_cmd.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    check = rules_sub.add_parser("check", help="validate a rules file (docs/alerts.md)")
    check.add_argument("file")
    check.set_defaults(handler=cmd_rules_check, needs_redis=False)

    feeds = sub.add_parser("feeds", help="each feed with its health")
    feeds.add_argument("--json", action="store_true")
    feeds.set_defaults(handler=cmd_feeds)

    bench = sub.add_parser("bench", help="benchmarks on generated data and a private Redis")
    bench.add_argument("--quick", action="store_true", help="small sizes, few runs (checks only)")
    bench.add_argument("--json", action="store_true", help="one JSON object of every figure")
    bench.set_defaults(handler=cmd_bench_suite, needs_redis=False)
    bench_sub = bench.add_subparsers(dest="bench_command", required=False, metavar="CASE")
    bench_ingest = bench_sub.add_parser("ingest", help="parse + store of a GTFS-rt feed")
    bench_ingest.add_argument("--domain", default="transport", choices=DOMAINS)
    bench_ingest.add_argument("--entities", type=int, default=20000)
    bench_ingest.add_argument("--runs", type=int, default=5)
    bench_ingest.add_argument("--json", action="store_true")
    bench_ingest.set_defaults(handler=cmd_bench, needs_redis=False)

    from app.soak import cli as soak  # `cityops soak`: its options and handler live with the soak

    soak.add_parser(sub)

    token = sub.add_parser("token", help="manage API and display tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = token_sub.add_parser("create", help="create a token (printed once)")
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=roles.TOKEN_ROLES)
    create.add_argument("--expires-days", type=float, help="expire after this many days")
    create.set_defaults(handler=cmd_token_create)
    tlist = token_sub.add_parser("list", help="list tokens")
    tlist.add_argument("--json", action="store_true")
    tlist.set_defaults(handler=cmd_token_list)
    revoke = token_sub.add_parser("revoke", help="revoke a token by id or name")
    revoke.add_argument("token")
    revoke.set_defaults(handler=cmd_token_revoke)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `cityops` command; returns its exit code."""
    logging.basicConfig(level=logging.INFO, format="cityops: %(message)s", stream=sys.stderr)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        overrides = {"web.host": getattr(args, "host", None), "web.port": getattr(args, "port", None)}
        if overrides["web.port"] is not None and not 1 <= overrides["web.port"] <= 65535:
            raise ConfigError("--port: expected an integer from 1 to 65535")
        settings = load_settings(overrides=overrides)
    except ConfigError as exc:
        print(f"cityops: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    handler: Callable[..., int] = args.handler
    try:
        if not getattr(args, "needs_redis", True):
            return handler(settings, args)
        with redis_session(settings) as client:
            return handler(client, args)
    except (CommandError, accounts.AccountError, RedisUnavailable, ConfigError) as exc:
        print(f"cityops: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except redis.RedisError as exc:
        print(f"cityops: Redis error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
