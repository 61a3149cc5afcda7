"""`cityops soak` on the command line: its options, and the handler that runs it and prints the report."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from app.config import Settings
from app.soak.errors import SoakError
from app.soak.faults import FAULTS
from app.soak.run import run_soak


def add_parser(sub: Any) -> None:
    """The `cityops soak` subcommand (called from app.ops.cli.build_parser)."""
    soak = sub.add_parser("soak", help="run the demo city at scale under load and faults; report memory",
                          description="Run a private demo city (temporary data directory, free port) "
                                      "at SCALE x the demo knobs for MINUTES, with clients polling "
                                      "and faults injected in turn; exit 0 when memory stayed "
                                      "bounded and every fault recovered, 1 otherwise.")
    soak.add_argument("--minutes", type=float, required=True, help="how long to run after the city is up")
    soak.add_argument("--scale", type=float, default=10.0, help="x the demo knobs' defaults (default 10)")
    soak.add_argument("--interval", type=float, default=10.0, help="seconds between samples (default 10)")
    soak.add_argument("--fault-interval", type=float, default=180.0,
                      help="seconds between faults (default 180)")
    soak.add_argument("--faults", default=",".join(FAULTS),
                      help=f"which faults, in turn (default {','.join(FAULTS)}; 'none' for none)")
    soak.add_argument("--workers", type=int, default=2, help="web workers (default 2)")
    soak.add_argument("--clients", type=int, default=3,
                      help="wall clients besides one API client (default 3)")
    soak.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    soak.set_defaults(handler=cmd_soak, needs_redis=False)


def _fault_list(text: str) -> list[str]:
    """The faults named in a --faults value ('none': none)."""
    return [] if text == "none" else [f.strip() for f in text.split(",") if f.strip()]


def cmd_soak(_settings: Settings, args: argparse.Namespace) -> int:
    """Run a soak and print its report; 0 when bounded and every fault recovered, else 1."""
    try:
        report = run_soak(args.minutes, args.scale, args.interval, fault_interval_s=args.fault_interval,
                          faults=_fault_list(args.faults), workers=args.workers, clients=max(0, args.clients),
                          log=lambda line: print(line, file=sys.stderr, flush=True))
    except SoakError as exc:
        print(f"cityops: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.as_json()) if args.json else report.table(), flush=True)
    return 0 if report.ok else 1
