"""The public status page's rendered documents: the page per language and the Atom feed, as bytes.

One runner renders them every few seconds under a lease (app/public/job.py); every web worker
serves what is stored here. The meta hash carries the documents' version (a digest of their
digests, so an unchanged city keeps its version and no worker fetches again), each document's
ETag, when the job last rendered and how often, and the feed's own bookkeeping.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import redis

from app.store.keys import Keys
from app.store.scripts import script


def acquire_lease(r: redis.Redis, owner: str, ttl_ms: int) -> bool:
    """Hold the lease of rendering, so that one runner across hosts renders the public documents."""
    if r.set(Keys.public_lease, owner, nx=True, px=ttl_ms):
        return True
    return bool(r.eval(script("renew_lease"), 1, Keys.public_lease, owner, ttl_ms))


def read_meta(r: redis.Redis) -> dict[str, str]:
    """version, etag:<document>, rendered_at, renders, and the feed's atom_* fields ({} before the
    first render)."""
    return r.hgetall(Keys.public_meta)


def publish(r: redis.Redis, changed: Mapping[str, str], fields: Mapping[str, str]) -> None:
    """Store the documents that changed and the meta ``fields`` at once, and count one render
    (also when nothing changed: the count says the job ran, not that a visitor asked)."""
    with r.pipeline(transaction=True) as pipe:
        for name, text in changed.items():
            pipe.set(Keys.public_document(name), text)
        if fields:
            pipe.hset(Keys.public_meta, mapping=dict(fields))
        pipe.hincrby(Keys.public_meta, "renders", 1)
        pipe.execute()


def read_version(r: redis.Redis) -> str | None:
    """The documents' version (None before the first render): what a worker checks each second."""
    return r.hget(Keys.public_meta, "version")


def read_documents(r: redis.Redis, names: Sequence[str]
                   ) -> tuple[str | None, dict[str, tuple[str, str]]]:
    """(version, name -> (text, etag)) of the stored documents, read at one instant (one
    transaction), so a worker never pairs one version's page with another's ETag."""
    with r.pipeline(transaction=True) as pipe:
        pipe.hget(Keys.public_meta, "version")
        pipe.hmget(Keys.public_meta, [f"etag:{name}" for name in names])
        for name in names:
            pipe.get(Keys.public_document(name))
        version, etags, *texts = pipe.execute()
    found = {name: (text, etag) for name, etag, text in zip(names, etags, texts, strict=True)
             if text is not None and etag}
    return version, found
