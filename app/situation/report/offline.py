"""What keeps the report offline: Leaflet's own files inlined, and nothing fetched by URL."""

from __future__ import annotations

import base64
import functools
import re
from importlib import resources
from typing import Any

LEAFLET_PACKAGE = "js_lib_leaflet"  # the django-js-lib-leaflet distribution: Leaflet's own files
LEAFLET_FOLDER = ("static", "js_lib_leaflet")
_CSS_IMAGE = re.compile(r"url\((['\"]?)(images/[A-Za-z0-9_.-]+\.png)\1\)")
_EXTERNAL_SCRIPT = re.compile(r"<script\b[^>]*\bsrc\s*=[^>]*>\s*</script>", re.IGNORECASE)
_EXTERNAL_LINK = re.compile(r"<link\b[^>]*\bhref\s*=[^>]*>", re.IGNORECASE)
# A tag or a stylesheet that would fetch by URL (tile images, CDN scripts, web fonts).
_REMOTE_REFERENCE = re.compile(
    r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//"
    r"|url\(\s*[\"']?\s*(?:https?:)?//|@import\s+[\"'](?:https?:)?//", re.IGNORECASE)


class ReportError(Exception):
    """The report cannot be made as promised (e.g. it would load something from the network)."""


def _leaflet_file(name: str) -> Any:
    return resources.files(LEAFLET_PACKAGE).joinpath(*LEAFLET_FOLDER, name)


@functools.lru_cache(maxsize=1)
def leaflet_assets() -> tuple[str, str]:
    """(leaflet.js, leaflet.css) from the installed package, the CSS images made data: URIs."""
    try:
        js = _leaflet_file("leaflet.js").read_text(encoding="utf-8")
        css = _leaflet_file("leaflet.css").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise ReportError("Leaflet's files are missing: install the django-js-lib-leaflet "
                          "package (a dependency of CityOps)") from exc

    def inline(match: re.Match[str]) -> str:
        data = _leaflet_file(match.group(2)).read_bytes()
        return f"url(data:image/png;base64,{base64.b64encode(data).decode('ascii')})"

    css = _CSS_IMAGE.sub(inline, css)
    if "</script" in js.lower() or "</style" in css.lower():
        raise ReportError("Leaflet's files cannot be inlined safely")
    return js, css


def drop_linked_files(markup: str) -> str:
    """``markup`` without ``<script src>`` and ``<link href>`` tags (what a folium plugin may add)."""
    return _EXTERNAL_LINK.sub("", _EXTERNAL_SCRIPT.sub("", markup))


def assert_offline(document: str) -> None:
    """Raise :class:`ReportError` if the document would load anything by URL."""
    match = _REMOTE_REFERENCE.search(document)
    if match:
        raise ReportError(f"the report would load a remote resource: {match.group(0)[:120]}")
