"""What changed in the city, in one small answer every page fetches each second (issue 20).

Each of a page's live parts is asked for again only when what it follows moved (layouts/pulse.py:
a gate's ``follow``): the status strip and the wall's cards follow ``status``, the alert panel
``alerts``, the incident views and lists ``incidents``. Before, every part asked the server every second
through Dash, and each ask cost the browser's main thread ~15 ms even when the answer was "no
change": the wall spent most of its time asking. This answer is fetched by plain JavaScript
(assets/cityops.js), outside Dash's renderer, and costs a wall about a millisecond.
"""

from __future__ import annotations

import functools
import hashlib
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import dash
import redis
from flask import Blueprint, Response, jsonify

from app.alerts import screens
from app.incidents import queries as incident_queries
from app.live.status import data_times, kpis_mark, live_status, shown_signature, signature
from app.model import roles
from app.web.context import redis_client, require_roles

PATH = "/_live-versions"
ASSETS = Path(__file__).resolve().parents[2] / "assets"

blueprint = Blueprint("live_versions", __name__)


@functools.lru_cache(maxsize=1)
def app_version() -> str:
    """A digest of what a browser has loaded: the package, Dash, the callbacks and the assets.

    The same on every worker running the same code (no start time or process id in it), so a wall
    reloads after a deploy (assets/wall.js compares it with the one its page came with) but not
    when a load balancer sends it to another worker.
    """
    parts = [dash.__version__]
    try:
        parts.append(metadata.version("cityops"))
    except metadata.PackageNotFoundError:
        parts.append("dev")
    try:
        parts += sorted(dash.get_app().callback_map)
    except Exception:  # no app yet (unit tests): the assets still say enough
        pass
    for path in sorted(ASSETS.rglob("*.js")) + sorted(ASSETS.rglob("*.css")):
        stat = path.stat()
        parts.append(f"{path.relative_to(ASSETS)}:{stat.st_size}:{int(stat.st_mtime)}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def versions(r: redis.Redis, now: float) -> dict[str, Any]:
    """The values the gates follow: the strip's signature (``status``, moving with every batch),
    what the strip shows apart from its times (``shown``), the KPIs' mark, the alerts' (and
    screen settings') version and the incidents' version; and each domain's data time, which
    the page writes into the strip itself (assets/cityops.js)."""
    status = live_status(r)
    return {"app": app_version(), "status": signature(status, now), "shown": shown_signature(status, now),
            "kpis": kpis_mark(status), "alerts": screens.version(r),
            "incidents": incident_queries.version(r), "times": data_times(status)}


@blueprint.get(PATH)
@require_roles(roles.TOKEN_ROLES)
def live_versions() -> Response | tuple[Response, int]:
    """Every role with a live screen may ask; never cached. A lost store answers 503, and the
    page then asks every part as before, so the strip can say the link is lost."""
    try:
        answer = versions(redis_client(), time.time())
    except redis.RedisError:
        return jsonify({"error": "the data store is not answering"}), 503
    response = jsonify(answer)
    response.headers["Cache-Control"] = "no-store"
    return response
