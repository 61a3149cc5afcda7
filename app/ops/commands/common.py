"""What every `cityops` command shares: its exit codes, its one-line error, the acting admin, tables."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from datetime import datetime, timezone

from app.model import roles
from app.model.principal import Principal

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class CommandError(Exception):
    """A command that cannot be carried out; the message is shown as one line."""


def actor() -> Principal:
    """Whoever runs the command: the machine's administrator, recorded by their login name."""
    try:
        name = f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (containers)
        name = f"cli:uid{os.getuid()}"
    return Principal(name=name, role=roles.ADMIN, kind="cli")


def read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    if not sys.stdin.isatty():
        raise CommandError("no terminal to ask for the password: pipe it with --password-stdin")
    first = getpass.getpass("New password: ")
    if first != getpass.getpass("Repeat it: "):
        raise CommandError("the two passwords differ")
    return first


def when(ts: str | None) -> str:
    if not ts:
        return ""
    return datetime.fromtimestamp(float(ts), timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(headers)]
    print("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


# -- parser ----------------------------------------------------------------------------------------
def password_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--password-stdin", action="store_true",
                        help="read the password from the first line of standard input")
