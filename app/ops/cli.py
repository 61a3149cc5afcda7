"""The `cityops` command: every subcommand registered by its module under app/ops/commands/ (and
`cityops soak` by app/soak/cli.py), the settings read once, and one-line errors with exit codes."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable, Sequence

import redis

from app import __version__, accounts
from app.config import ConfigError, load_settings, settings_table
from app.ops.commands import accounts as account_commands
from app.ops.commands import checks, data, measure, outbound, processes
from app.ops.commands.common import EXIT_FAILURE, EXIT_USAGE, CommandError
from app.soak import cli as soak
from app.store.link import RedisUnavailable, redis_session


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `cityops` command: each command module adds its own."""
    env_help = "\n".join(f"  {env:<28} [{toml}] {expected}" for env, toml, expected in
                         settings_table())
    parser = argparse.ArgumentParser(
        prog="cityops", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="CityOps: an open command center for smart-city operations rooms.",
        epilog=f"configuration (environment variable, TOML key, expected value):\n{env_help}\n"
               "  CITYOPS_CONFIG               path of a TOML file with the keys above")
    parser.add_argument("--version", action="version", version=f"cityops {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for commands in (processes, account_commands, data, checks, measure, outbound, soak):
        commands.add_parser(sub)
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
