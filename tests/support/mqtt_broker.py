"""A real MQTT broker for tests: amqtt in a child process on 127.0.0.1, stoppable and restartable.

The broker runs in its own process so that stopping it is what a crash looks like to a client
(the operating system closes its sockets) and so that its asyncio loop never shares a thread
with the code under test. With ``users``, it admits only those users (amqtt's password-file
plugin, argon2 hashes); without, it admits anyone. Run as ``python -m tests.support.mqtt_broker CONFIG``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Mapping

from app.store.embedded import die_with_parent, free_port
from tests.support.paths import REPO

START_TIMEOUT_S = 15.0


def broker_config(port: int, password_file: Path | None) -> dict[str, Any]:
    """An amqtt broker configuration: one TCP listener on 127.0.0.1:``port``, open or by password."""
    auth: dict[str, Any]
    if password_file is None:
        auth = {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}
    else:
        auth = {"amqtt.plugins.authentication.FileAuthPlugin": {"password_file": str(password_file)}}
    return {"listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
            "plugins": auth}


def write_password_file(path: Path, users: Mapping[str, str]) -> None:
    """Write amqtt's password file: one ``user:argon2-hash`` line per user."""
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    hasher = PasswordHash((Argon2Hasher(),))
    path.write_text("".join(f"{user}:{hasher.hash(password)}\n" for user, password in users.items()),
                    encoding="utf-8")


class MqttBroker:
    """An amqtt broker in a child process; the same port and users across stop() and start()."""

    def __init__(self, directory: Path, users: Mapping[str, str] | None = None) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        password_file = None
        if users:
            password_file = directory / "passwords"
            write_password_file(password_file, users)
        self.config_file = directory / "broker.json"
        self.config_file.write_text(json.dumps(broker_config(self.port, password_file)))
        self.log_file = directory / "broker.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.support.mqtt_broker", str(self.config_file)], cwd=REPO,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the test MQTT broker did not start: {self.log_tail()}")

    def stop(self) -> None:
        """Stop the broker at once (clients see their connection drop)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def log_tail(self, limit: int = 2000) -> str:
        """The end of the broker's log, for failure messages."""
        try:
            return self.log_file.read_text(errors="replace")[-limit:]
        except OSError:
            return ""


async def _serve(config: dict[str, Any]) -> None:
    """Run a broker until the process is terminated."""
    from amqtt.broker import Broker

    broker = Broker(config)
    await broker.start()
    # No graceful shutdown on SIGTERM: the tests stop a broker to see what a crash does to its
    # clients, and the default action of the signal is exactly that.
    await asyncio.Event().wait()


def main(argv: list[str]) -> int:
    """Entry point of the child process: ``python -m tests.support.mqtt_broker CONFIG.json``."""
    config = json.loads(Path(argv[0]).read_text())
    asyncio.run(_serve(config))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
