"""`cityops rules check` and `cityops sop check`: validating a city's own files before they are used."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.config import Settings
from app.ops.commands.common import EXIT_FAILURE, EXIT_OK


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


def cmd_sop_check(_settings: Settings, args: argparse.Namespace) -> int:
    """Validate an SOP catalogue: a summary and 0, or the error naming file, type, step and key and 1."""
    from app.incidents import sop

    try:
        catalogue = sop.load_catalogue(Path(args.file))
    except sop.SopError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print("\n".join(sop.summary(catalogue)))
    return EXIT_OK


def add_parser(sub: argparse._SubParsersAction) -> None:
    """`cityops rules check FILE` and `cityops sop check FILE`."""
    rules_cmd = sub.add_parser("rules", help="alert rules files")
    rules_sub = rules_cmd.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    check = rules_sub.add_parser("check", help="validate a rules file (docs/alerts.md)")
    check.add_argument("file")
    check.set_defaults(handler=cmd_rules_check, needs_redis=False)
    sop_cmd = sub.add_parser("sop", help="SOP catalogues of incident types and departments")
    sop_sub = sop_cmd.add_subparsers(dest="sop_command", required=True, metavar="ACTION")
    sop_check = sop_sub.add_parser("check", help="validate an SOP catalogue (docs/incidents.md)")
    sop_check.add_argument("file")
    sop_check.set_defaults(handler=cmd_sop_check, needs_redis=False)
