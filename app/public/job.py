"""The runner's job that renders the public page (both languages) and the CAP feed into Redis.

app/ops/runner_process.py plugs it in as periodic work: every EVERY_S, whichever runner holds the
lease reads what the public may see once, renders the three documents, and stores those that
changed (with their ETags and a version), so web workers fetch again only after a change and a
surge of visitors never renders anything. The page names the minute it was rendered, so a page
that stopped being rendered says how old it is. A bug here is logged and never stops the feeds;
a lost Redis link is the runner's to handle.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from typing import Mapping

import redis

from app.config import Settings
from app.i18n import LANGUAGES
from app.public import atom, services
from app.public.content import PublicView, read_warnings
from app.public.page import render_page
from app.store import public as public_store

log = logging.getLogger("cityops.public")
EVERY_S = 3.0
LEASE_MS = int(max(EVERY_S * 3, 10.0) * 1000)
FEED = "atom"
DOCUMENTS: tuple[str, ...] = (*(f"page:{lang}" for lang in LANGUAGES), FEED)


def page_name(lang: str) -> str:
    """The stored document of the page in ``lang``."""
    return f"page:{lang}"


def etag_of(text: str) -> str:
    """A document's ETag (without quotes): a digest of its bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def read_view(r: redis.Redis, now: float) -> PublicView:
    """Everything the page and the feed show, read once."""
    rows = services.transport_rows(r)
    names = services.route_names(rows)
    late, others = services.late_lines(rows, now, names)
    return PublicView(at=now, warnings=read_warnings(r, now),
                      disruptions=tuple(services.disruptions(r, now, names)),
                      late_lines=tuple(late), other_late_lines=others,
                      water_zones=tuple(services.water_problems(r)))


def render_documents(view: PublicView, settings: Settings, meta: Mapping[str, str]
                     ) -> tuple[dict[str, str], dict[str, str]]:
    """(document name -> text, the feed's bookkeeping fields) for ``view``; the feed's <updated>
    is the time its entries last changed (kept in ``meta``)."""
    base_url = (settings.outbound.public_url or "").rstrip("/")
    # The page shows the minute: rendered again within it, it stays the same document.
    minute = view.at - view.at % 60
    docs = {page_name(lang): render_page(dataclasses.replace(view, at=minute), lang,
                                         settings.city.timezone)
            for lang in LANGUAGES}
    items = atom.entries(view.warnings, base_url)
    digest = atom.entries_digest(items)
    updated = view.at
    if meta.get("atom_entries") == digest and meta.get("atom_updated"):
        updated = float(meta["atom_updated"])
    docs[FEED] = atom.feed_document(items, updated, base_url)
    return docs, {"atom_entries": digest, "atom_updated": f"{updated:.3f}"}


def render(r: redis.Redis, settings: Settings, owner: str, now: float | None = None) -> bool | None:
    """Render and store the public documents if this runner holds the lease: True when a
    document changed, False when none did, None without the lease or after a bug."""
    if not public_store.acquire_lease(r, owner, LEASE_MS):
        return None
    now = time.time() if now is None else now
    try:
        meta = public_store.read_meta(r)
        docs, fields = render_documents(read_view(r, now), settings, meta)
    except redis.RedisError:
        raise
    except Exception:  # a bug in the public page must not stop the feeds
        log.exception("the public page could not be rendered")
        return None
    etags = {name: etag_of(text) for name, text in docs.items()}
    changed = {name: text for name, text in docs.items() if meta.get(f"etag:{name}") != etags[name]}
    fields.update({f"etag:{name}": etag for name, etag in etags.items()})
    fields["rendered_at"] = f"{now:.3f}"
    fields["version"] = hashlib.sha256("".join(etags[n] for n in DOCUMENTS).encode()).hexdigest()[:32]
    public_store.publish(r, changed, fields)
    return bool(changed)
