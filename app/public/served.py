"""A web worker's copy of the public documents: refreshed at most once a second by a version check.

A request never renders and never reads a document from Redis: it takes the worker's copy, and
at most once per CHECK_EVERY_S one request of the worker asks Redis for the version (one HGET);
only a new version fetches the documents again. Each document is kept as bytes and gzipped once
per version, with its ETag. While Redis is unreachable the worker keeps serving its last copy.
"""

from __future__ import annotations

import gzip
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import redis

from app.public.job import DOCUMENTS
from app.store import public as public_store

CHECK_EVERY_S = 1.0


@dataclass(frozen=True)
class Document:
    """One document as served: its bytes and gzipped bytes, each with its own ETag."""

    body: bytes
    etag: str
    gzipped: bytes
    etag_gzip: str


@dataclass(frozen=True)
class _Copy:
    version: str | None = None
    documents: dict[str, Document] = field(default_factory=dict)
    checked: float = float("-inf")


class PublicDocuments:
    """The documents as this worker last fetched them (thread-safe; one refresh at a time)."""

    def __init__(self, check_every_s: float = CHECK_EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.check_every_s = check_every_s
        self._clock = clock
        self._copy = _Copy()
        self._lock = threading.Lock()

    def forget(self) -> None:
        """Drop the copy: the next request checks Redis (tests, after rendering anew)."""
        self._copy = _Copy()

    def get(self, r: redis.Redis, name: str) -> Document | None:
        """The document ``name`` (one of app.public.job.DOCUMENTS), None before the first render."""
        copy = self._copy
        if self._clock() - copy.checked >= self.check_every_s:
            # One thread checks; the others serve the copy they have (or wait for the first one).
            if self._lock.acquire(blocking=not copy.documents):
                try:
                    if self._clock() - self._copy.checked >= self.check_every_s:
                        self._refresh(r)
                finally:
                    self._lock.release()
            copy = self._copy
        return copy.documents.get(name)

    def _refresh(self, r: redis.Redis) -> None:
        copy = self._copy
        try:
            version = public_store.read_version(r)
            if version is not None and version == copy.version:
                self._copy = _Copy(copy.version, copy.documents, self._clock())
                return
            version, found = public_store.read_documents(r, DOCUMENTS)
        except redis.RedisError:
            if not copy.documents:
                raise
            # Keep serving what we have; ask again in a second.
            self._copy = _Copy(copy.version, copy.documents, self._clock())
            return
        documents = {}
        for name, (text, etag) in found.items():
            body = text.encode("utf-8")
            documents[name] = Document(body, etag, gzip.compress(body, compresslevel=6, mtime=0),
                                       f"{etag}-gz")
        self._copy = _Copy(version, documents, self._clock())
