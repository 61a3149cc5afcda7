"""`cityops users` and `cityops token`: the audited administration of accounts, for scripts."""

from __future__ import annotations

import argparse
import json
import sys

import redis

from app.accounts import admin
from app.model import roles
from app.model.domains import DOMAINS
from app.ops.commands.common import (
    EXIT_OK,
    CommandError,
    actor,
    password_flag,
    print_table,
    read_password,
    when,
)


def _departments(text: str | None) -> tuple[str, ...]:
    """The departments named on the command line, each one the SOP catalogue in force knows."""
    from app.config import load_settings
    from app.incidents import sop

    named = tuple(d.strip() for d in (text or "").split(",") if d.strip())
    if named:
        known = sop.current(load_settings().incidents.sop_file)[0].departments
        unknown = [d for d in named if d not in known]
        if unknown:
            raise CommandError(f"unknown department '{unknown[0][:40]}': the SOP catalogue has "
                               f"{', '.join(known)}")
    return named


def cmd_users_add(r: redis.Redis, args: argparse.Namespace) -> int:
    departments = _departments(args.departments)
    password = read_password(args)
    domains = tuple(d.strip() for d in (args.domains or "").split(",") if d.strip())
    name = admin.add_user(r, actor(), args.name, args.role, password, domains,
                          departments=departments)
    print(f"user '{name}' added with role {args.role}"
          + (f", departments {', '.join(departments)}" if departments else ""))
    return EXIT_OK


def cmd_users_list(r: redis.Redis, args: argparse.Namespace) -> int:
    users = admin.list_users(r)
    if args.json:
        print(json.dumps([{"name": u["name"], "role": u.get("role"),
                           "domains": [d for d in u.get("domains", "").split(",") if d],
                           "departments": [d for d in u.get("departments", "").split(",") if d],
                           "disabled": u.get("disabled") == "1",
                           "created_at": when(u.get("created_at"))} for u in users], indent=2))
        return EXIT_OK
    print_table(["name", "role", "domains", "state", "created", "departments"],
                 [[u["name"], u.get("role", ""), u.get("domains", "") or "all",
                   "disabled" if u.get("disabled") == "1" else "active",
                   when(u.get("created_at")), u.get("departments", "")] for u in users])
    return EXIT_OK


def cmd_users_passwd(r: redis.Redis, args: argparse.Namespace) -> int:
    admin.set_password(r, actor(), args.name, read_password(args))
    print(f"password of '{args.name}' changed; their open sessions have ended")
    return EXIT_OK


def cmd_users_disable(r: redis.Redis, args: argparse.Namespace) -> int:
    admin.set_disabled(r, actor(), args.name, True)
    print(f"user '{args.name}' disabled; their open sessions have ended")
    return EXIT_OK


def cmd_users_enable(r: redis.Redis, args: argparse.Namespace) -> int:
    admin.set_disabled(r, actor(), args.name, False)
    print(f"user '{args.name}' enabled")
    return EXIT_OK


def cmd_token_create(r: redis.Redis, args: argparse.Namespace) -> int:
    token = admin.create_token(r, actor(), args.name, args.role, args.expires_days)
    print(token)
    print("This token is shown only once: keep it now. Send it as 'Authorization: Bearer <token>'"
          + ("; a wall display opens /wall?token=<token>." if args.role == roles.WALL else "."),
          file=sys.stderr)
    return EXIT_OK


def cmd_token_list(r: redis.Redis, args: argparse.Namespace) -> int:
    tokens = admin.list_tokens(r)
    rows = [{"id": t.get("id", ""), "name": t.get("name", ""), "role": t.get("role", ""),
             "created_at": when(t.get("created_at")), "expires_at": when(t.get("expires_at")),
             "state": "revoked" if t.get("revoked") == "1" else "active"} for t in tokens]
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    print_table(["id", "name", "role", "created", "expires", "state"],
                 [[row["id"], row["name"], row["role"], row["created_at"],
                   row["expires_at"] or "never", row["state"]] for row in rows])
    return EXIT_OK


def cmd_token_revoke(r: redis.Redis, args: argparse.Namespace) -> int:
    token_id = admin.revoke_token(r, actor(), args.token)
    print(f"token {token_id} revoked")
    return EXIT_OK


def add_parser(sub: argparse._SubParsersAction) -> None:
    """`cityops users ...` and `cityops token ...`."""
    users = sub.add_parser("users", help="manage user accounts")
    users_sub = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = users_sub.add_parser("add", help="add a user")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=roles.USER_ROLES)
    add.add_argument("--domains", help="emergency staff: comma-separated domains they act on "
                                       f"({', '.join(DOMAINS)}); default all")
    add.add_argument("--departments", help="comma-separated departments of the SOP catalogue the "
                                           "user belongs to (incident tasks), e.g. water_bureau")
    password_flag(add)
    add.set_defaults(handler=cmd_users_add)
    lst = users_sub.add_parser("list", help="list users")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=cmd_users_list)
    passwd = users_sub.add_parser("passwd", help="set a user's password")
    passwd.add_argument("name")
    password_flag(passwd)
    passwd.set_defaults(handler=cmd_users_passwd)
    disable = users_sub.add_parser("disable", help="disable a user and end their sessions")
    disable.add_argument("name")
    disable.set_defaults(handler=cmd_users_disable)
    enable = users_sub.add_parser("enable", help="enable a disabled user")
    enable.add_argument("name")
    enable.set_defaults(handler=cmd_users_enable)

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
