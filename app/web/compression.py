"""Compressed answers (brotli or gzip, by the client's Accept-Encoding) and long caching of Dash's
fingerprinted scripts: what keeps a phone on a slow link from paying for every byte twice.

flask-compress does the work for every text answer: pages, Dash's component suites and callback
answers (_dash-update-component), assets, the API's JSON. It must see an answer last, after the
API's ETags are computed from the plain body (app/web/api/etags.py): :func:`install` is called
before any other after_request hook is registered, and Flask runs those hooks in reverse order.
"""

from __future__ import annotations

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


def _fingerprinted_forever(response: BaseResponse) -> BaseResponse:
    """A fingerprinted suite that Dash marked for a year is also immutable: a phone's reload does
    not ask again for scripts that cannot change."""
    if (request.path.startswith(SUITES) and response.status_code == 200
            and (response.cache_control.max_age or 0) >= 365 * 24 * 3600):
        response.cache_control.immutable = True
    return response


def install(server: Flask) -> None:
    """Compress ``server``'s answers. Call it before registering any other after_request hook."""
    server.config.update(COMPRESS_ALGORITHM=ALGORITHMS, COMPRESS_ALGORITHM_STREAMING=ALGORITHMS,
                         COMPRESS_BR_LEVEL=BROTLI_QUALITY, COMPRESS_LEVEL=GZIP_LEVEL,
                         COMPRESS_MIN_SIZE=MIN_BYTES)
    Compress(server)
    server.after_request(_fingerprinted_forever)
