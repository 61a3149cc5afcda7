"""`cityops webhooks`: the audited administration of webhook receivers, for scripts."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import redis

from app.model.outbound import EVENT_TYPES, ReceiverError
from app.ops.commands.common import EXIT_OK, CommandError, actor, print_table, when
from app.outbound import receivers


def _list(text: str | None) -> list[str] | None:
    return None if text is None else [part.strip() for part in text.split(",") if part.strip()]


def _fields(args: argparse.Namespace) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in ("name", "url"):
        if getattr(args, name, None) is not None:
            fields[name] = getattr(args, name)
    for name in ("events", "domains", "severities"):
        value = _list(getattr(args, name, None))
        if value is not None:
            fields[name] = value
    if getattr(args, "disable", False):
        fields["enabled"] = False
    if getattr(args, "enable", False):
        fields["enabled"] = True
    return fields


def _shown_secret(secret: str) -> None:
    print(secret)
    print("This secret is shown only once: give it to the receiver now. Each delivery carries "
          "X-CityOps-Signature: sha256=<HMAC-SHA256 of the body with this secret>.", file=sys.stderr)


def cmd_add(r: redis.Redis, args: argparse.Namespace) -> int:
    try:
        receiver = receivers.add(r, _fields(args), actor=actor().name)
    except ReceiverError as exc:
        raise CommandError(str(exc)) from None
    print(f"receiver {receiver.id} '{receiver.name}' added", file=sys.stderr)
    _shown_secret(receiver.secret)
    return EXIT_OK


def cmd_change(r: redis.Redis, args: argparse.Namespace) -> int:
    try:
        receiver = receivers.change(r, args.id, _fields(args), actor=actor().name)
    except ReceiverError as exc:
        raise CommandError(str(exc)) from None
    except receivers.ReceiverNotFound:
        raise CommandError(f"no receiver {args.id[:40]}") from None
    print(f"receiver {receiver.id} '{receiver.name}' changed")
    return EXIT_OK


def cmd_secret(r: redis.Redis, args: argparse.Namespace) -> int:
    try:
        receiver = receivers.rotate_secret(r, args.id, actor=actor().name)
    except receivers.ReceiverNotFound:
        raise CommandError(f"no receiver {args.id[:40]}") from None
    _shown_secret(receiver.secret)
    return EXIT_OK


def cmd_remove(r: redis.Redis, args: argparse.Namespace) -> int:
    try:
        receivers.remove(r, args.id, actor=actor().name)
    except receivers.ReceiverNotFound:
        raise CommandError(f"no receiver {args.id[:40]}") from None
    print(f"receiver {args.id} removed, with what was waiting for it")
    return EXIT_OK


def cmd_test(r: redis.Redis, args: argparse.Namespace) -> int:
    from app.config import load_settings

    try:
        delivery = receivers.send_test(r, args.id, load_settings(), actor=actor().name)
    except receivers.ReceiverNotFound:
        raise CommandError(f"no receiver {args.id[:40]}") from None
    except ReceiverError as exc:
        raise CommandError(str(exc)) from None
    print(f"test delivery {delivery} queued; `cityops webhooks list` shows how it went")
    return EXIT_OK


def cmd_list(r: redis.Redis, args: argparse.Namespace) -> int:
    rows = receivers.listing(r)
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    print_table(["id", "name", "url", "events", "state", "last", "queued", "delivered", "dropped"],
                [[row["id"], row["name"], row["url"], ",".join(row["events"]),
                  row["status"]["state"] if row["enabled"] else "disabled",
                  f"{row['status']['last_status']} {when(str(row['status']['last_attempt_at'] or ''))}"
                  .strip(), str(row["status"]["queued"]), str(row["status"]["delivered"]),
                  str(row["status"]["dropped"])] for row in rows])
    return EXIT_OK


def _receiver_flags(parser: argparse.ArgumentParser, adding: bool) -> None:
    parser.add_argument("--name", required=adding, help="what the receiver is called on /admin")
    parser.add_argument("--url", required=adding, help="http(s) address deliveries are POSTed to")
    parser.add_argument("--events", required=adding,
                        help=f"comma-separated events to send: {', '.join(EVENT_TYPES)}")
    parser.add_argument("--domains", help="only events of these domains (default all)")
    parser.add_argument("--severities", help="only alerts of these severities (default all)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """`cityops webhooks ...`."""
    hooks = sub.add_parser("webhooks", help="manage webhook receivers (docs/outbound.md)")
    hooks_sub = hooks.add_subparsers(dest="webhooks_command", required=True, metavar="ACTION")
    add = hooks_sub.add_parser("add", help="add a receiver (prints its signing secret once)")
    _receiver_flags(add, adding=True)
    add.add_argument("--disable", action="store_true", help="add it switched off")
    add.set_defaults(handler=cmd_add)
    change = hooks_sub.add_parser("change", help="change some of a receiver's settings")
    change.add_argument("id")
    _receiver_flags(change, adding=False)
    switch = change.add_mutually_exclusive_group()
    switch.add_argument("--disable", action="store_true", help="stop sending (its queue is kept)")
    switch.add_argument("--enable", action="store_true", help="send again")
    change.set_defaults(handler=cmd_change)
    lst = hooks_sub.add_parser("list", help="list receivers and how deliveries go")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=cmd_list)
    secret = hooks_sub.add_parser("secret", help="give a receiver a new signing secret")
    secret.add_argument("id")
    secret.set_defaults(handler=cmd_secret)
    test = hooks_sub.add_parser("test", help="send a receiver a test event")
    test.add_argument("id")
    test.set_defaults(handler=cmd_test)
    remove = hooks_sub.add_parser("remove", help="remove a receiver and what waits for it")
    remove.add_argument("id")
    remove.set_defaults(handler=cmd_remove)
