"""The CAP messages issued for each alert, by alert version (slot {alerts}, beside the alert).

A CAP identifier names one message: exporting an unchanged alert again must give the message
already issued, and an Update or Cancel must reference messages that were really issued. So the
first export of each alert version records its message here, and later exports read it back.
"""

from __future__ import annotations

from typing import Any

import orjson
import redis

from app.store.keys import Keys


def read(r: redis.Redis, alert_id: str) -> dict[int, dict[str, Any]]:
    """Alert version -> the message issued for it (as recorded), for every version issued."""
    rows = r.hgetall(Keys.alert_cap(alert_id))
    return {int(version): orjson.loads(text) for version, text in rows.items()}


def record(r: redis.Redis, alert_id: str, version: int, message: dict[str, Any]) -> dict[str, Any]:
    """Record ``message`` for ``version`` unless one was recorded first; returns the recorded one
    (two exports at once: both answer with the same message)."""
    key = Keys.alert_cap(alert_id)
    with r.pipeline(transaction=True) as pipe:
        pipe.hsetnx(key, str(version), orjson.dumps(message))
        pipe.hget(key, str(version))
        _, stored = pipe.execute()
    return orjson.loads(stored)
