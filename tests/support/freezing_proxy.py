"""A loopback TCP proxy that stops forwarding on command: a server that hangs, not one that refuses.

Frozen, it still accepts connections and keeps every socket open, but moves no byte in either
direction (what arrives waits in the kernel's buffers), as when a server or a link black-holes
requests. Thawed, it forwards again, including what waited. Tests point the browser at
``proxy.url`` instead of the server's own address.
"""

from __future__ import annotations

import selectors
import socket
import threading

LOOPBACK = "127.0.0.1"
CHUNK = 65536


class FreezingProxy:
    """Forward 127.0.0.1:<port> to ``target`` (host, port) until :meth:`freeze`."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server((LOOPBACK, 0))
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._flowing = threading.Event()
        self._flowing.set()
        self._stop = threading.Event()
        self._selector = selectors.DefaultSelector()
        self._peers: dict[socket.socket, socket.socket] = {}
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._run, name="freezing-proxy", daemon=True)
        self.connections = 0  # connections accepted, frozen or not

    @property
    def url(self) -> str:
        """The proxy's base URL (http, no trailing slash)."""
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> FreezingProxy:
        self._selector.register(self._listener, selectors.EVENT_READ, "accept")
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._thread.start()
        return self

    def freeze(self) -> None:
        """Stop moving bytes: connections stay open and new ones are accepted, nothing answers."""
        self._flowing.clear()
        self._wake()

    def thaw(self) -> None:
        """Forward again, starting with what waited."""
        self._flowing.set()
        self._wake()

    @property
    def frozen(self) -> bool:
        return not self._flowing.is_set()

    def close(self) -> None:
        self._stop.set()
        self._wake()
        self._thread.join(timeout=5)
        for sock in list(self._peers) + [self._listener, self._wake_r, self._wake_w]:
            try:
                sock.close()
            except OSError:
                pass

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def _set_reading(self, flowing: bool) -> None:
        """Watch the forwarded sockets for reading only while flowing (frozen: bytes wait)."""
        for sock in list(self._peers):
            try:
                if flowing:
                    self._selector.register(sock, selectors.EVENT_READ, "data")
                else:
                    self._selector.unregister(sock)
            except (KeyError, ValueError, OSError):
                pass

    def _drop(self, sock: socket.socket) -> None:
        other = self._peers.pop(sock, None)
        for s in (sock, other):
            if s is None:
                continue
            self._peers.pop(s, None)
            try:
                self._selector.unregister(s)
            except (KeyError, ValueError, OSError):
                pass
            s.close()

    def _run(self) -> None:
        reading = True
        while not self._stop.is_set():
            flowing = self._flowing.is_set()
            if flowing != reading:
                self._set_reading(flowing)
                reading = flowing
            for key, _ in self._selector.select(timeout=0.5):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if key.data == "wake":
                    sock.recv(64)
                elif key.data == "accept":
                    self._accept(reading)
                elif sock in self._peers and self._flowing.is_set():
                    self._forward(sock)

    def _accept(self, reading: bool) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        self.connections += 1
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        client.setblocking(True)
        upstream.setblocking(True)
        self._peers[client] = upstream
        self._peers[upstream] = client
        if reading:
            self._selector.register(client, selectors.EVENT_READ, "data")
            self._selector.register(upstream, selectors.EVENT_READ, "data")

    def _forward(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(CHUNK)
        except OSError:
            data = b""
        if not data:
            self._drop(sock)
            return
        try:
            self._peers[sock].sendall(data)
        except (OSError, KeyError):
            self._drop(sock)
