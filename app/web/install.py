"""The installable app (issue 20): the web manifest, its icons (SVG, and PNG drawn here), and the
link to them in every Dash page. Emergency staff put CityOps on a phone's home screen; it opens
on /alerts in a window of its own.

The manifest and the icons are public (app/web/gate.py): a browser fetches them without the
session's cookie when it installs the app, and they tell nothing about the city.
"""

from __future__ import annotations

import functools
import struct
import zlib

import dash
import numpy as np
from flask import Blueprint, Response, jsonify

from app import i18n

MANIFEST_PATH = "/manifest.webmanifest"
SVG_ICON_PATH = "/app-icon.svg"
PNG_SIZES = (192, 512)
PNG_ICON_PATHS = {size: f"/app-icon-{size}.png" for size in PNG_SIZES}
PUBLIC_PATHS = frozenset({MANIFEST_PATH, SVG_ICON_PATH, *PNG_ICON_PATHS.values()})
START_URL = "/alerts"
# The desk theme's accent and background (assets/theme.css); the dot is its "bad" red.
THEME_COLOUR = "#1f5f99"
BACKGROUND = "#eef2f6"
_WHITE = "#ffffff"
_RED = "#b3261e"
# The icon, in fractions of its side: a white ring around a red dot on the accent colour. Nothing
# lies outside the middle 80 %, so a launcher's round or squircle mask cuts no part of it.
_RING_OUTER, _RING_INNER, _DOT = 0.30, 0.22, 0.12
ICON_MAX_AGE_S = 24 * 3600

blueprint = Blueprint("install", __name__)

SVG_ICON = f"""<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100" width="512" height="512">
<rect width="100" height="100" fill="{THEME_COLOUR}"/>
<circle cx="50" cy="50" r="{(_RING_OUTER + _RING_INNER) / 2 * 100:g}" fill="none"
 stroke="{_WHITE}" stroke-width="{(_RING_OUTER - _RING_INNER) * 100:g}"/>
<circle cx="50" cy="50" r="{_DOT * 100:g}" fill="{_RED}"/>
</svg>
"""


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _chunk(kind: bytes, data: bytes) -> bytes:
    # A PNG chunk: length, type, data, CRC-32 of type and data (the PNG specification, 5.3).
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@functools.lru_cache(maxsize=len(PNG_SIZES))
def png_icon(size: int) -> bytes:
    """The icon as an 8-bit RGB PNG of ``size`` x ``size`` pixels (the same shapes as the SVG)."""
    centre = (np.arange(size) + 0.5) / size - 0.5
    distance = np.hypot(centre[:, None], centre[None, :])
    pixels = np.empty((size, size, 3), dtype=np.uint8)
    pixels[:] = _rgb(THEME_COLOUR)
    pixels[(distance <= _RING_OUTER) & (distance >= _RING_INNER)] = _rgb(_WHITE)
    pixels[distance <= _DOT] = _rgb(_RED)
    # Each row starts with filter type 0 (none); then the rows are deflated as one stream.
    rows = np.concatenate([np.zeros((size, 1), dtype=np.uint8), pixels.reshape(size, -1)], axis=1)
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8 bits, truecolour
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 9)) + _chunk(b"IEND", b""))


def manifest() -> dict[str, object]:
    """The web app manifest in the reader's language."""
    icons: list[dict[str, str]] = [{"src": SVG_ICON_PATH, "sizes": "any", "type": "image/svg+xml",
                                    "purpose": "any maskable"}]
    icons += [{"src": PNG_ICON_PATHS[size], "sizes": f"{size}x{size}", "type": "image/png",
               "purpose": "any maskable"} for size in PNG_SIZES]
    return {"name": i18n.t("phone.app_name"), "short_name": "CityOps",
            "description": i18n.t("phone.app_description"),
            "lang": i18n.HTML_LANG[i18n.current_language()], "id": START_URL,
            "start_url": START_URL, "scope": "/", "display": "standalone",
            "orientation": "any", "theme_color": THEME_COLOUR, "background_color": BACKGROUND,
            "icons": icons}


def _cached(response: Response) -> Response:
    # The security headers would say no-store (app/web/headers.py sets it only when unset).
    response.headers["Cache-Control"] = f"public, max-age={ICON_MAX_AGE_S}"
    return response


@blueprint.get(MANIFEST_PATH)
def manifest_view() -> Response:
    """GET /manifest.webmanifest."""
    response = jsonify(manifest())
    response.mimetype = "application/manifest+json"
    response.headers["Cache-Control"] = "no-cache"  # in the reader's language: ask each time
    response.vary.add("Accept-Language")
    response.vary.add("Cookie")
    return response


@blueprint.get(SVG_ICON_PATH)
def svg_icon_view() -> Response:
    """GET /app-icon.svg."""
    return _cached(Response(SVG_ICON, mimetype="image/svg+xml"))


def _png_view(size: int) -> Response:
    return _cached(Response(png_icon(size), mimetype="image/png"))


for _size, _path in PNG_ICON_PATHS.items():
    blueprint.add_url_rule(_path, f"png_icon_{_size}", functools.partial(_png_view, _size))

HEAD_LINKS = (f'<link rel="manifest" href="{MANIFEST_PATH}">'
              f'<meta name="theme-color" content="{THEME_COLOUR}">'
              f'<link rel="apple-touch-icon" href="{PNG_ICON_PATHS[192]}">')


def link_manifest(app: dash.Dash) -> None:
    """Put the manifest's link (and the theme colour) into the head of every Dash page."""
    marker = "{%favicon%}"
    if marker in app.index_string and MANIFEST_PATH not in app.index_string:
        app.index_string = app.index_string.replace(marker, marker + HEAD_LINKS, 1)
