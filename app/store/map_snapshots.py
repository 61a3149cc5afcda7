"""The live map's snapshots the runner publishes after each batch, and their parts."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import redis
from redis.client import NEVER_DECODE

from app.model.domains import DOMAINS
from app.store.keys import Keys
from app.store.scripts import script


def write(r: redis.Redis, domain: str, version: int, snapshot: bytes,
                       digests: Sequence[str], parts: Mapping[str, bytes]) -> tuple[bool, list[str]]:
    """Publish ``domain``'s map snapshot at ``version``; (stored, digests Redis lacks).

    Nothing is stored when a snapshot of the same or a newer version is already there, or when a
    referenced part is neither in Redis nor in ``parts`` (then send those parts again).
    """
    args: list[Any] = [version, snapshot, " ".join(digests)]
    for key, part in parts.items():
        args += [key, part]
    answer = r.eval(script("publish_map"), 3, Keys.domain_meta(domain), Keys.map_snapshot(domain),
                    Keys.map_parts(domain), *args)
    status = int(answer[0])
    return status == 1, [d.decode() if isinstance(d, bytes) else str(d) for d in answer[1:]]


def read(r: redis.Redis, domain: str) -> bytes | None:
    """The published map snapshot of ``domain`` (None before the first)."""
    return r.execute_command("GET", Keys.map_snapshot(domain), **{NEVER_DECODE: True})


def read_parts(r: redis.Redis, domain: str, digests: Sequence[str]) -> list[bytes | None]:
    """The published parts with these digests (None for any that is gone)."""
    if not digests:
        return []
    return list(r.execute_command("HMGET", Keys.map_parts(domain), *digests, **{NEVER_DECODE: True}))


def versions(r: redis.Redis) -> tuple[dict[str, tuple[int, float | None, int]], int]:
    """(version, updated_at, published map version) of every domain, and the alerts' version,
    in one round trip (the wall's map asks every second)."""
    with r.pipeline(transaction=False) as pipe:
        for domain in DOMAINS:
            pipe.hmget(Keys.domain_meta(domain), "version", "updated_at", "map_version")
        pipe.hget(Keys.alerts_meta, "version")
        rows = pipe.execute()
    domains = {domain: (int(version or 0), float(updated_at) if updated_at else None,
                        int(mapped or 0))
               for domain, (version, updated_at, mapped) in zip(DOMAINS, rows, strict=False)}
    return domains, int(rows[-1] or 0)
