"""`cityops up` (the whole command center) and the processes it starts: the adapter runner
(`cityops _runner`) and the dispatcher of webhooks and e-mail (`cityops _dispatch`)."""

from __future__ import annotations

import argparse
import os

from app.config import Settings
from app.ops.commands.common import CommandError
from data_adapters.base import FeedError


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
    from app.ops.feed_defaults import city_feed_defaults
    from app.ops.runner_process import main
    from data_adapters import registry
    from data_adapters.demo import demo_feeds

    if not settings.redis.url:
        raise CommandError("the runner is started by `cityops up`, which tells it where Redis is")
    demo_url = os.environ.get("CITYOPS_DEMO_URL", "")
    configs = list(settings.feeds) or (demo_feeds(demo_url) if demo_url else [])
    try:
        feeds = [registry.build(config, city_feed_defaults(settings)) for config in configs]
    except (FeedError, ValueError, TypeError) as exc:
        raise CommandError(f"feed configuration: {exc}") from None
    return main(settings, settings.redis.url, feeds)


def cmd_dispatch(settings: Settings, _args: argparse.Namespace) -> int:
    """The dispatcher process of webhooks and e-mail (started by `up`)."""
    from app.outbound.dispatcher import main

    if not settings.redis.url:
        raise CommandError("the dispatcher is started by `cityops up`, which tells it where Redis is")
    return main(settings, settings.redis.url)


DEMO_SCENARIOS = ("rainstorm",)  # data_adapters.simulator.scenario.SCENARIOS (a test holds them equal)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """`cityops up` and the hidden `cityops _runner` and `cityops _dispatch`."""
    up = sub.add_parser("up", help="start the command center (Redis, adapters, web server)")
    up.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    up.add_argument("--port", type=int, help="port to listen on (default 8050)")
    up.add_argument("--no-demo", action="store_true", help="do not start the demo city")
    up.add_argument("--scenario", choices=DEMO_SCENARIOS,
                    help="play a scripted scenario in the demo city (rainstorm: a CAP warning, "
                         "rising water, a pressure drop, flooded bus routes, busier hospitals)")
    up.add_argument("--access-log", action="store_true", help="log every HTTP request")
    up.set_defaults(handler=cmd_up, needs_redis=False)
    runner = sub.add_parser("_runner")  # no help: not listed, `up` starts it
    runner.set_defaults(handler=cmd_runner, needs_redis=False)
    dispatch = sub.add_parser("_dispatch")  # no help: not listed, `up` starts it
    dispatch.set_defaults(handler=cmd_dispatch, needs_redis=False)
