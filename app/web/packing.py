"""Dash's scripts packed once at brotli's best quality, in the background, and kept on disk.

Why: a phone on a slow link spends most of its first page on Dash's scripts (~300 kB compressed,
issue 18). Packed at brotli 11 they are about a tenth smaller than at the quick level every other
answer gets (app/web/compression.py), but packing them costs ~1.6 s of CPU: done inside a request,
every fresh worker's first visitor paid it, and a 2-core machine running many `cityops up` (the
test suite) paid it again and again. So the first answers go out at the quick level while one
low-priority thread packs each script once; the result is kept in the user's cache directory
(shared by every worker and every run on the machine, keyed by the script's content), and every
later answer is the packed copy.

Only the fingerprinted component suites: a name never changes content (a new release has a new
name), so a packed copy cannot go stale. plotly.js (4.8 MB, ~12 s at 11) stays at the quick level.
"""

from __future__ import annotations

import hashlib
import os
import queue
import tempfile
import threading
from pathlib import Path

import brotli
from flask import Flask, request
from werkzeug.wrappers import Response as BaseResponse

from app.web.compression import SUITES

BEST_QUALITY = 11
BEST_MAX_BYTES = 1_000_000
CACHE_ENV = "CITYOPS_CACHE_DIR"  # where packed copies are kept (default: the XDG cache directory)


def cache_dir() -> Path:
    """The directory packed copies are kept in: $CITYOPS_CACHE_DIR, else $XDG_CACHE_HOME/cityops,
    else ~/.cache/cityops; "packed" under it."""
    base = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "cityops")
    return Path(base) / "packed"


class Packer:
    """Packed copies by content digest: in memory, on disk, and a background thread making them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._packed: dict[str, bytes] = {}
        self._digests: dict[str, str] = {}  # request path -> content digest
        self._asked: set[str] = set()
        self._lock = threading.Lock()
        self._jobs: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.done = threading.Condition(self._lock)  # notified after each copy is made

    def digest(self, path: str, data: bytes) -> str:
        """The content digest of the script at ``path`` (computed once per path)."""
        with self._lock:
            known = self._digests.get(path)
        if known is None:
            known = hashlib.sha256(data).hexdigest()
            with self._lock:
                self._digests[path] = known
        return known

    def packed(self, key: str) -> bytes | None:
        """The packed copy of ``key``, from memory or disk; None when it is not made yet."""
        with self._lock:
            found = self._packed.get(key)
        if found is not None:
            return found
        try:
            found = (self.directory / f"{key}.br").read_bytes()
        except OSError:
            return None
        with self._lock:
            self._packed[key] = found
        return found

    def ask(self, key: str, data: bytes) -> None:
        """Have ``data`` packed in the background (once per key and process)."""
        with self._lock:
            if key in self._asked:
                return
            self._asked.add(key)
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="cityops-packer", daemon=True)
                self._thread.start()
        self._jobs.put((key, data))

    def _work(self) -> None:
        try:  # the packing must never slow an answer: lowest priority for this thread only (Linux)
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except (AttributeError, OSError):
            pass
        while True:
            key, data = self._jobs.get()
            packed = brotli.compress(data, quality=BEST_QUALITY)
            self._keep(key, packed)
            with self.done:
                self._packed[key] = packed
                self.done.notify_all()

    def _keep(self, key: str, packed: bytes) -> None:
        """Write the copy atomically (another worker may be writing the same one)."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.directory, suffix=".tmp", delete=False) as out:
                out.write(packed)
            os.replace(out.name, self.directory / f"{key}.br")
        except OSError:
            pass  # a read-only home: the copy lives in memory only

    def wait(self, key: str, timeout: float) -> bytes | None:
        """Wait until ``key`` is packed (for tests and benchmarks); its copy, or None."""
        with self.done:
            self.done.wait_for(lambda: key in self._packed, timeout=timeout)
            return self._packed.get(key)


def _answer_packed(packer: Packer, response: BaseResponse) -> BaseResponse:
    """A Dash script, for a client that takes brotli, answered with its packed copy when made."""
    if (not request.path.startswith(SUITES) or response.status_code != 200
            or "Content-Encoding" in response.headers or not response.mimetype.endswith("javascript")
            or "br" not in request.headers.get("Accept-Encoding", "")):
        return response
    response.direct_passthrough = False
    data = response.get_data()
    if len(data) > BEST_MAX_BYTES:
        return response
    key = packer.digest(request.path, data)
    packed = packer.packed(key)
    if packed is None:
        packer.ask(key, data)
        return response  # the quick level this time (flask-compress)
    response.set_data(packed)
    response.headers["Content-Encoding"] = "br"
    response.vary.add("Accept-Encoding")
    return response


def install(server: Flask, packer: Packer | None = None) -> Packer:
    """Answer ``server``'s Dash scripts packed. Register after flask-compress (Flask runs
    after_request hooks in reverse order, so this one sees the answer first)."""
    packer = packer or Packer(cache_dir())
    server.after_request(lambda response: _answer_packed(packer, response))
    server.extensions["cityops_packer"] = packer
    return packer
