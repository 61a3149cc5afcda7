"""`cityops bench`: every performance figure against its target, or one ingest benchmark."""

from __future__ import annotations

import argparse
import json
import sys

from app.config import Settings
from app.model.domains import DOMAINS
from app.ops.commands.common import EXIT_OK, CommandError


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


def add_parser(sub: argparse._SubParsersAction) -> None:
    """`cityops bench [--quick] [--json]` and `cityops bench ingest`."""
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
