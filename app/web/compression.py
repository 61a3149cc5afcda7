"""Compressed answers (brotli or gzip, by the client's Accept-Encoding) and long caching of Dash's
fingerprinted scripts: what keeps a phone on a slow link from paying for every byte twice.

flask-compress does the work for every text answer: pages, Dash's component suites and callback
answers (_dash-update-component), assets, the API's JSON. It must see an answer last, after the
API's ETags are computed from the plain body (app/web/api/etags.py): :func:`install` is called
before any other after_request hook is registered, and Flask runs those hooks in reverse order.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import brotli
from flask import Flask, request
from flask_compress import Compress
from werkzeug.wrappers import Response as BaseResponse

# Brotli first: a third smaller than gzip on plotly.js; gzip for clients without it. No zstd or
# deflate: two encodings are enough for every browser in use, and two are what the tests check.
ALGORITHMS = ["br", "gzip"]
# Brotli's quality 5 costs about what gzip's 6 does and packs tighter; answers are compressed per
# request (the big scripts are then cached by the browser for a year, see below).
BROTLI_QUALITY = 5
GZIP_LEVEL = 6
# Smaller answers (the once-a-second status tick, 204s) gain nothing worth a header.
MIN_BYTES = 500
SUITES = "/_dash-component-suites/"
# Dash names a suite with a version fingerprint ("dash_renderer.v4_2_0m1700000000.min.js") and
# sends max-age of a year for it; a new release has a new name, so the copy never goes stale.
IMMUTABLE = "immutable"
# Dash's scripts never change under one name: packed once at brotli's best (11) and kept, they
# are a tenth smaller than at 5 (~25 kB less of the ~300 kB a phone fetches before its first
# card). Only they: a callback answer packed at 11 would cost the wall's tick its budget.
BEST_QUALITY = 11
# plotly.js (4.8 MB) would take ~12 s at 11: it stays at the quick level.
BEST_MAX_BYTES = 1_000_000
_packed: OrderedDict[str, bytes] = OrderedDict()
_packed_lock = threading.Lock()
PACKED_KEPT = 64


def _fingerprinted_forever(response: BaseResponse) -> BaseResponse:
    """A fingerprinted suite that Dash marked for a year is also immutable: a phone's reload does
    not ask again for scripts that cannot change."""
    if (request.path.startswith(SUITES) and response.status_code == 200
            and (response.cache_control.max_age or 0) >= 365 * 24 * 3600):
        response.cache_control.immutable = True
    return response


def _suites_at_best(response: BaseResponse) -> BaseResponse:
    """A Dash script, for a client that takes brotli, packed at the best quality (once per name)."""
    if (not request.path.startswith(SUITES) or response.status_code != 200
            or "Content-Encoding" in response.headers or not response.mimetype.endswith("javascript")
            or "br" not in request.headers.get("Accept-Encoding", "")):
        return response
    key = request.full_path
    with _packed_lock:
        packed = _packed.get(key)
    if packed is None:
        response.direct_passthrough = False
        data = response.get_data()
        if len(data) > BEST_MAX_BYTES:
            return response
        packed = brotli.compress(data, quality=BEST_QUALITY)
        with _packed_lock:
            _packed[key] = packed
            while len(_packed) > PACKED_KEPT:
                _packed.popitem(last=False)
    response.direct_passthrough = False
    response.set_data(packed)
    response.headers["Content-Encoding"] = "br"
    response.vary.add("Accept-Encoding")
    return response


def install(server: Flask) -> None:
    """Compress ``server``'s answers. Call it before registering any other after_request hook."""
    server.config.update(COMPRESS_ALGORITHM=ALGORITHMS, COMPRESS_ALGORITHM_STREAMING=ALGORITHMS,
                         COMPRESS_BR_LEVEL=BROTLI_QUALITY, COMPRESS_LEVEL=GZIP_LEVEL,
                         COMPRESS_MIN_SIZE=MIN_BYTES)
    Compress(server)
    # Registered after Compress, so run before it (Flask runs these hooks in reverse order): the
    # scripts it finds already packed, it leaves alone.
    server.after_request(_suites_at_best)
    server.after_request(_fingerprinted_forever)
