"""`cityops up`: start Redis, the adapter runner and the web server, keep them alive, stop them all.

Order of start: Redis (embedded or configured), first-run bootstrap, the runner, the web server
(gunicorn). Order of stop, on SIGTERM or SIGINT: web, runner, Redis. A child that dies on its
own is restarted; the embedded Redis comes back on the same port with its AOF data.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from types import FrameType
from typing import Callable

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from app import accounts, store
from app.config import Settings, ensure_data_dir, resolve_secret_key
from app.model import roles
from app.ops.feed_defaults import city_feed_defaults
from app.store.embedded import EmbeddedRedis, EmbeddedRedisError, die_with_parent, free_port
from app.store.link import RedisUnavailable, check, connect, public_url
from data_adapters import registry
from data_adapters.base import FeedError

log = logging.getLogger("cityops")
WEB_START_TIMEOUT_S = 90.0
SIMULATOR_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
RESTART_DELAY_S = 1.0
STABLE_AFTER_S = 60.0
# Every process waits for Redis, so a dead embedded Redis comes back at once, and a crashing one
# is retried at least every REDIS_MAX_DELAY_S: its outage stays within seconds, not half a minute.
REDIS_MAX_DELAY_S = 2.0
HUNG_PING_EVERY_S = 1.0
HUNG_PING_TIMEOUT_S = 2.0


@dataclass
class Child:
    """A supervised child process."""

    name: str
    start: Callable[[], subprocess.Popen[bytes]]
    process: subprocess.Popen[bytes] | None = None
    died_at: float | None = None
    restarts: int = 0
    started_at: float = 0.0


def restart_delay(child: Child) -> float:
    """Seconds to wait after ``child`` died before starting it again (longer for repeat crashes)."""
    if child.name == "redis":
        return 0.0 if child.restarts == 0 else min(RESTART_DELAY_S * 2 ** (child.restarts - 1),
                                                   REDIS_MAX_DELAY_S)
    return RESTART_DELAY_S * min(2 ** child.restarts, 30)


def responds(client: redis.Redis) -> bool:
    """True when the Redis behind ``client`` answers at all, even with an error.

    A Redis loading its data or running a long script says so (LOADING, BUSY): it is alive and
    must not be killed. Only silence (a timeout) or a refused connection counts as no answer.
    """
    try:
        client.ping()
    except redis.BusyLoadingError:  # a ConnectionError subclass, yet an answer
        return True
    except (redis.ConnectionError, redis.TimeoutError):
        return False
    except redis.RedisError:
        return True
    return True


class HungRedisWatch(threading.Thread):
    """Kills the embedded redis-server when it is alive but has not answered for ``after_s``.

    A crash is seen by the supervisor's loop; a hang (stopped process, wedged disk, a bug) is not:
    the process is still there while every client waits on it. Killed, it is restarted like a
    crash, from its AOF, on the same port.
    """

    def __init__(self, embedded: EmbeddedRedis, after_s: float, stopping: Callable[[], bool]) -> None:
        super().__init__(name="hung-redis-watch", daemon=True)
        self.embedded, self.after_s, self.stopping = embedded, after_s, stopping
        self.kills = 0

    def run(self) -> None:
        """Ping once a second; kill the server once it has been silent for ``after_s``."""
        pid: int | None = None
        client: redis.Redis | None = None
        silent_since: float | None = None  # when the first unanswered ping of a row was sent
        while not self.stopping():
            time.sleep(HUNG_PING_EVERY_S)
            process, info = self.embedded.process, self.embedded.info
            if process is None or info is None or process.poll() is not None:
                silent_since = None  # dead or restarting: the supervisor's loop sees to it
                continue
            if process.pid != pid or client is None:
                if client is not None:
                    client.close()
                pid, silent_since = process.pid, None
                client = redis.Redis(host=info.host, port=info.port, password=info.password,
                                     socket_connect_timeout=HUNG_PING_TIMEOUT_S,
                                     socket_timeout=HUNG_PING_TIMEOUT_S,
                                     # One try per ping: redis-py's default retries would
                                     # stretch one silent ping to ~25 s.
                                     retry=Retry(NoBackoff(), 0))
            sent = time.monotonic()
            if responds(client):
                silent_since = None
                continue
            silent_since = sent if silent_since is None else silent_since
            silent_s = time.monotonic() - silent_since
            if silent_s >= self.after_s and not self.stopping():
                log.error("the embedded Redis (pid %d) has not answered for %.0f s; killing it "
                          "to restart it", process.pid, silent_s)
                process.kill()
                self.kills += 1
                silent_since = None
        if client is not None:
            client.close()


def url_host(host: str) -> str:
    """``host`` as it goes into a URL (IPv6 in brackets)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


class Supervisor:
    """Owns the children of one `cityops up`."""

    def __init__(self, settings: Settings, demo: bool, access_log: bool = False,
                 scenario: str | None = None) -> None:
        self.settings = settings
        self.demo = demo
        self.scenario = scenario
        self.scenario_start: float | None = None
        self.trickle_start: float | None = None
        self.access_log = access_log
        self.stopping = False
        self.embedded: EmbeddedRedis | None = None
        self.redis_url = ""
        self.children: list[Child] = []
        self.demo_url = ""

    # -- signals -------------------------------------------------------------------------------
    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if not self.stopping:
            log.info("received %s, stopping", signal.Signals(signum).name)
        self.stopping = True

    # -- start ---------------------------------------------------------------------------------
    def _start_redis(self) -> None:
        if self.settings.redis.url:
            self.redis_url = self.settings.redis.url
            return
        self.embedded = EmbeddedRedis(self.settings.data_dir)
        if not self.embedded.try_own():
            raise RedisUnavailable(
                f"another `cityops up` (or command) already runs the embedded Redis of "
                f"{self.settings.data_dir}")
        info = self.embedded.start(preexec_fn=die_with_parent)
        self.redis_url = info.url
        log.info("embedded Redis %s (data in %s)", info.public_url, self.embedded.dir)

    def _bootstrap(self) -> None:
        client = connect(self.redis_url)
        try:
            check(client, self.redis_url)
            if store.auth.count_users(client) == 0:
                password = accounts.generate_password()
                accounts.add_user(client, "admin", roles.ADMIN, password)
                store.audit.append(client, "cityops up", "user_add", target="admin",
                            detail="first run: generated admin")
                print("First run: created user 'admin' with password (shown only once):",
                      flush=True)
                print(f"    {password}", flush=True)
        finally:
            client.close()

    def _child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        # glibc's malloc raises its mmap threshold after each large free (up to 32 MB) and keeps an
        # arena per thread, so a long-running threaded Python process holds freed batch buffers
        # as fragmentation. A fixed threshold hands large buffers back to the system when freed,
        # and two arenas bound the rest: in the 30-minute soak the runner's plateau fell from
        # 300-460 MB to 190-230 MB (docs/performance.md). An operator's own settings win.
        env.setdefault("MALLOC_ARENA_MAX", "2")
        env.setdefault("MALLOC_MMAP_THRESHOLD_", "262144")
        # Read by app/gunicorn_conf.py in each web worker (the setting may come from the file).
        env["CITYOPS_WEB_WORKER_MAX_MB"] = str(self.settings.web.worker_max_mb)
        env["CITYOPS_REDIS_URL"] = self.redis_url
        env["CITYOPS_DATA_DIR"] = str(self.settings.data_dir)
        if self.demo_url:
            env["CITYOPS_DEMO_URL"] = self.demo_url
        return env

    def _spawn(self, argv: list[str], **extra_env: str) -> subprocess.Popen[bytes]:
        env = self._child_env()
        for name, value in extra_env.items():
            env.setdefault(name, value)
        return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)

    def _simulator_child(self) -> Child:
        port = free_port()
        self.demo_url = f"http://127.0.0.1:{port}"
        argv = [sys.executable, "-m", "data_adapters.simulator", "--port", str(port),
                "--vehicles", str(self.settings.demo.vehicles),
                "--seed", str(self.settings.demo.seed),
                "--sensors", str(self.settings.demo.sensors),
                "--hospitals", str(self.settings.demo.hospitals),
                "--ambulances", str(self.settings.demo.ambulances),
                "--requests", str(self.settings.demo.requests)]
        if self.scenario:
            # Fixed at the first start, so a restarted simulator resumes the same timeline.
            self.scenario_start = self.scenario_start or time.time()
            argv += ["--scenario", self.scenario, "--scenario-start", f"{self.scenario_start:.0f}"]
        if self.settings.demo.trickle_minutes > 0:
            # The ordinary incidents (issue 19), also fixed at the first start; the simulator
            # plays none while a scenario does.
            self.trickle_start = self.trickle_start or time.time()
            argv += ["--trickle-minutes", f"{self.settings.demo.trickle_minutes:g}",
                     "--trickle-start", f"{self.trickle_start:.0f}"]
        return Child("simulator", lambda: self._spawn(argv))

    def _runner_child(self) -> Child:
        return Child("runner", lambda: self._spawn([sys.executable, "-m", "app.ops.cli", "_runner"]))

    def _dispatcher_child(self) -> Child:
        return Child("dispatcher",
                     lambda: self._spawn([sys.executable, "-m", "app.ops.cli", "_dispatch"]))

    def _web_child(self) -> Child:
        s = self.settings
        argv = [sys.executable, "-m", "gunicorn",
                "--bind", f"{url_host(s.web.host)}:{s.web.port}",
                "--workers", str(s.web.workers), "--threads", str(s.web.threads),
                "--worker-class", "gthread", "--timeout", "60", "--graceful-timeout", "10",
                "--log-level", "warning", "--error-logfile", "-",
                "--limit-request-field_size", "16384",
                # Hooks: a worker past web.worker_max_mb is replaced (app/gunicorn_conf.py).
                "--config", "python:app.web.gunicorn_conf",
                # A worker is replaced (gracefully, the others serving) after ~20,000 requests:
                # whatever creep the malloc settings of _child_env leave is bounded by that.
                "--max-requests", "20000", "--max-requests-jitter", "2000"]
        if self.access_log:
            argv += ["--access-logfile", "-"]
        argv.append("app.web.wsgi:application")
        # Python's small-object allocator frees a 1 MiB arena only when every object in it is gone:
        # a worker that serves for weeks keeps arenas pinned by a few long-lived objects (the
        # soak's workers grew in anonymous arenas, not in live objects). The C allocator reuses
        # and returns memory page by page (app/gunicorn_conf.py trims it now and then).
        return Child("web", lambda: self._spawn(argv, PYTHONMALLOC="malloc"))

    def _redis_child(self) -> Child | None:
        if self.embedded is None or self.embedded.process is None:
            return None
        embedded = self.embedded

        def restart() -> subprocess.Popen[bytes]:
            embedded.start(preexec_fn=die_with_parent)
            assert embedded.process is not None
            return embedded.process

        return Child("redis", restart, process=embedded.process)

    def _wait_for_web(self, web: Child) -> bool:
        url = f"http://{url_host(self.local_host())}:{self.settings.web.port}/healthz"
        return self._wait_http(web, url, WEB_START_TIMEOUT_S)

    def _wait_http(self, child: Child, url: str, timeout_s: float) -> bool:
        """Wait until ``url`` answers 200 (False if ``child`` exits or time runs out)."""
        # No proxy: an http_proxy of the environment would send this local check elsewhere.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not self.stopping:
            if child.process is not None and child.process.poll() is not None:
                return False
            try:
                with opener.open(url, timeout=1) as response:  # loopback
                    if response.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(0.2)
        return False

    def local_host(self) -> str:
        """Where this machine reaches the web server (a wildcard bind is reached on loopback)."""
        return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.settings.web.host,
                                                                          self.settings.web.host)

    # -- run -----------------------------------------------------------------------------------
    def run(self) -> int:
        """Start everything, supervise until told to stop, stop everything. Returns the exit code."""
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        try:
            for config in self.settings.feeds:  # a bad feed stops `up` now, not the runner later
                registry.build(config, city_feed_defaults(self.settings))
        except (FeedError, ValueError, TypeError) as exc:
            print(f"cityops: feed configuration: {exc}", file=sys.stderr, flush=True)
            return 2
        ensure_data_dir(self.settings)
        resolve_secret_key(self.settings)  # generated once here, before workers race for it
        try:
            try:
                self._start_redis()
                self._bootstrap()
            except (RedisUnavailable, EmbeddedRedisError) as exc:
                print(f"cityops: {exc}", file=sys.stderr, flush=True)
                return 1
            except accounts.AccountError as exc:  # pragma: no cover - fixed name and role
                print(f"cityops: {exc}", file=sys.stderr, flush=True)
                return 1
            redis_child = self._redis_child()
            if redis_child is not None and self.embedded is not None:
                self.children.append(redis_child)
                HungRedisWatch(self.embedded, self.settings.redis.hung_seconds,
                               lambda: self.stopping).start()
            if self.demo and not self.settings.feeds:
                simulator = self._simulator_child()
                simulator.process = simulator.start()
                self.children.append(simulator)
                if not self._wait_http(simulator, f"{self.demo_url}/healthz", SIMULATOR_TIMEOUT_S):
                    if self.stopping:
                        return 0
                    print("cityops: the demo city simulator did not start (see the messages "
                          "above)", file=sys.stderr, flush=True)
                    return 1
                log.info("demo city: %d vehicles around Yiyang (seed %d) at %s%s",
                         self.settings.demo.vehicles, self.settings.demo.seed, self.demo_url,
                         f", scenario {self.scenario}" if self.scenario else "")
            runner, web = self._runner_child(), self._web_child()
            for child in (runner, self._dispatcher_child(), web):
                child.process = child.start()
                self.children.append(child)
            if not self._wait_for_web(web):
                if self.stopping:
                    return 0
                print(f"cityops: the web server did not start on "
                      f"{self.settings.web.host}:{self.settings.web.port} (see the messages above)",
                      file=sys.stderr, flush=True)
                return 1
            url = f"http://{url_host(self.local_host())}:{self.settings.web.port}/"
            print(f"CityOps is running at {url}  (Redis: {public_url(self.redis_url)}; "
                  f"Ctrl-C to stop)", flush=True)
            self._supervise()
            return 0
        finally:
            self._stop_all()

    def _supervise(self) -> None:
        while not self.stopping:
            time.sleep(0.25)
            for child in self.children:
                if self.stopping:
                    break
                process = child.process
                now = time.monotonic()
                if process is None or process.poll() is None:
                    if child.restarts and now - child.started_at > STABLE_AFTER_S:
                        child.restarts = 0  # it ran long enough: the next crash restarts quickly
                    continue
                if child.died_at is None:
                    child.died_at = now
                    log.warning("%s exited with code %s; restarting", child.name,
                                process.returncode)
                if now - child.died_at < restart_delay(child):
                    continue
                try:
                    child.process = child.start()
                    child.restarts += 1
                    child.started_at = now
                    child.died_at = None
                except (OSError, EmbeddedRedisError) as exc:
                    log.error("cannot restart %s: %s", child.name, exc)
                    child.died_at = now
                    child.restarts += 1  # a failed start counts: the next try waits longer

    def _stop_all(self) -> None:
        # The web server, the runner, the dispatcher and the simulator are told to stop at once
        # (none needs another to stop, and a Ctrl-C should not wait for them one after the
        # other); Redis goes last, once nothing can write to it any more (it flushes its AOF).
        stopping = [child for child in self.children if child.name != "redis"
                    and child.process is not None and child.process.poll() is None]
        for child in stopping:
            child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for child in stopping:
            try:
                child.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in time; killing it", child.name)
                child.process.kill()
                child.process.wait()
        if self.embedded is not None:
            self.embedded.stop()
