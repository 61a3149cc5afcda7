"""The served Chinese font (issue 18): a WOFF2 subset of the system's CJK font, its @font-face and
the one font stack every page uses, so that a kiosk with no CJK font of its own still shows Chinese.

The font file is a dependency installed by the package manager (Debian's fonts-wqy-microhei, named
by the `web.cjk_font` setting); nothing of it is kept in the project. It is cut with fontTools to
the Chinese of the catalogue, CJK punctuation, full-width forms and digits (a few hundred glyphs),
once per process and once per data directory (a file in its cache), and served with an ETag.
Pages list the system's own CJK fonts first: the served one is downloaded only where they lack a
character.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import dash
import fontTools
from flask import Blueprint, Response, current_app, request

from app.i18n.catalog import CATALOG

log = logging.getLogger("cityops.web")

FONT_PATH = "/fonts/cityops-cjk.woff2"
CSS_PATH = "/fonts/cityops-cjk.css"
SCRIPT_PATH = "/fonts/cityops-cjk.js"
# Public like the login page's stylesheet: the sign-in and public pages need them (app/web/gate.py).
PUBLIC_PATHS = frozenset({FONT_PATH, CSS_PATH, SCRIPT_PATH})
FAMILY = "CityOps CJK"
# The class SCRIPT puts on <html> once the served face has arrived.
ARRIVED_CLASS = "cjk-font-arrived"
# Chromium keeps the shapes of text laid out while the served face was still on its way (boxes)
# after the face has arrived, until something that text is shaped with changes: a label or a
# button drawn early stays boxes. text-rendering is such a thing, and optimizeLegibility draws as
# Chromium's default does, so switching to it once the face is in makes every text shaped again.
SCRIPT = """(function () {
  if (!document.fonts) { return; }
  function arrived() {
    document.fonts.forEach(function (face) {
      if (face.family.replace(/["']/g, "") === "%(family)s" && face.status === "loaded") {
        document.documentElement.classList.add("%(arrived)s");
      }
    });
  }
  document.fonts.addEventListener("loadingdone", arrived);
  document.fonts.ready.then(arrived);
})();
""" % {"family": FAMILY, "arrived": ARRIVED_CLASS}
# System CJK fonts first (no download where one is installed), then the served one.
FONT_STACK = ('system-ui, -apple-system, "Segoe UI", "Noto Sans", "Noto Sans CJK SC", '
              '"Source Han Sans SC", "PingFang SC", "Microsoft YaHei", "WenQuanYi Micro Hei", '
              f'"{FAMILY}", sans-serif')
# The blocks the served font is used for: CJK symbols and punctuation, extension A, the unified
# ideographs, compatibility ideographs, full-width forms.
UNICODE_RANGES = ((0x3000, 0x303F), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF),
                  (0xFF00, 0xFFEF))
# A day, then asked again with its ETag (a fingerprint of what it is made from), mostly a 304.
MAX_AGE_S = 24 * 3600
CSS_MAX_AGE_S = 3600
CACHE_DIR = Path("cache") / "fonts"

blueprint = Blueprint("fonts", __name__)


def _in_ranges(code: int) -> bool:
    return any(low <= code <= high for low, high in UNICODE_RANGES)


@functools.lru_cache(maxsize=1)
def wanted_codepoints() -> frozenset[int]:
    """What the subset covers: the catalogue's Chinese, CJK punctuation and full-width forms, the
    digits. Not the commonly used characters beyond (GB 2312's 3,755 of the first level): cutting
    those took 10-15 s of a loaded core at every new data directory, against 2 s; feed text with
    other characters shows them in a system font, or as boxes where there is none."""
    text = "".join(zh for _, zh in CATALOG.values())
    codes = {ord(c) for c in text if _in_ranges(ord(c))}
    codes.update(range(0x3000, 0x3040))
    codes.update(range(0xFF01, 0xFF5F))
    codes.update(range(0x30, 0x3A))
    return frozenset(codes)


@dataclass(frozen=True)
class BuiltFont:
    """One subset: its bytes and the fingerprint that names it (its ETag)."""

    data: bytes
    fingerprint: str


class FontUnavailable(Exception):
    """The configured font file is missing or not a font fontTools can read."""


def fingerprint(font_file: Path) -> str | None:
    """What the subset depends on (the file, its size and time, the characters, fontTools), hashed;
    None when the file cannot be read."""
    try:
        stat = font_file.stat()
    except OSError:
        return None
    digest = hashlib.sha256(f"{font_file}|{stat.st_size}|{stat.st_mtime_ns}|{fontTools.version}|".encode())
    digest.update(",".join(map(str, sorted(wanted_codepoints()))).encode())
    return digest.hexdigest()[:20]


def subset_font(font_file: Path) -> bytes:
    """Cut ``font_file`` (TTF, OTF or the first face of a TTC) to the wanted characters, as WOFF2."""
    from fontTools import subset  # only the process that builds the font pays for the import
    from fontTools.ttLib import TTFont

    try:
        font = TTFont(str(font_file), fontNumber=0)
        options = subset.Options()
        options.flavor = "woff2"
        options.notdef_outline = True
        options.name_IDs = ["*"]  # the licence and copyright records stay with the font
        options.name_languages = ["*"]
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=sorted(wanted_codepoints()))
        subsetter.subset(font)
        out = io.BytesIO()
        font.flavor = "woff2"
        font.save(out)
    except Exception as exc:  # a broken file must not take the app down; the log says why
        raise FontUnavailable(f"{font_file}: not a font fontTools can read ({exc})") from exc
    return out.getvalue()


_built: dict[str, BuiltFont] = {}
_lock = threading.Lock()


def built_font(font_file: Path, data_dir: Path) -> BuiltFont:
    """The subset of ``font_file``: from this process's memory, the data directory's cache, or cut
    now (about two seconds, once). Raises FontUnavailable."""
    key = fingerprint(font_file)
    if key is None:
        raise FontUnavailable(f"{font_file}: no such font file")
    built = _built.get(key)
    if built is not None:
        return built
    with _lock:  # one build at a time: concurrent first requests wait for it, not repeat it
        if key in _built:
            return _built[key]
        cached = data_dir / CACHE_DIR / f"cityops-cjk-{key}.woff2"
        try:
            data = cached.read_bytes()
        except OSError:
            data = subset_font(font_file)
            _write_cache(cached, data)
        _built.clear()
        _built[key] = BuiltFont(data, key)
        return _built[key]


def warm(font_file: Path, data_dir: Path) -> threading.Thread:
    """Cut (or read) the subset in the background, so that the first kiosk does not wait for it."""

    def build() -> None:
        try:
            built_font(font_file, data_dir)
        except FontUnavailable as exc:
            log.warning("CJK font not served: %s", exc)

    thread = threading.Thread(target=build, name="cityops-cjk-font", daemon=True)
    thread.start()
    return thread


def _write_cache(path: Path, data: bytes) -> None:
    # Written aside and renamed: another worker reading it never sees half a font.
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        partial.write_bytes(data)
        partial.replace(path)
    except OSError as exc:  # a read-only data directory only costs the next process a rebuild
        log.warning("the CJK font subset could not be cached in %s: %s", path.parent, exc)


def stylesheet(available: bool) -> str:
    """The @font-face of the served font (when there is one) and the font stack, as the
    `--cityops-font` variable."""
    ranges = ", ".join(f"U+{low:04X}-{high:04X}" for low, high in UNICODE_RANGES)
    face = ""
    if available:
        # One weight: bolder text is synthesised from it.
        face = (f'@font-face {{ font-family: "{FAMILY}"; font-style: normal; font-weight: 400;\n'
                f'  src: url("{FONT_PATH}") format("woff2");\n'
                f"  unicode-range: {ranges}; font-display: swap; }}\n")
    return (face + f":root {{ --cityops-font: {FONT_STACK}; }}\n"
            # Form controls too: the browser's own stylesheet sets their text-rendering.
            f"html.{ARRIVED_CLASS}, html.{ARRIVED_CLASS} * {{ text-rendering: optimizeLegibility; }}\n")


def check(font_file: Path) -> bool:
    """At startup: say in the log when the configured font is missing (the app runs without it)."""
    if font_file.is_file():
        return True
    log.warning("CJK font %s not found: Chinese shows only where the machine has a CJK font of its "
                "own; install Debian's fonts-wqy-microhei or set CITYOPS_CJK_FONT", font_file)
    return False


def _settings_paths() -> tuple[Path, Path]:
    settings = current_app.extensions["cityops"]["settings"]
    return settings.web.cjk_font, settings.data_dir


@blueprint.get(FONT_PATH)
def font_view() -> Response:
    """GET /fonts/cityops-cjk.woff2: the subset, or 404 when no font is configured or readable."""
    font_file, data_dir = _settings_paths()
    try:
        font = built_font(font_file, data_dir)
    except FontUnavailable as exc:
        log.warning("CJK font not served: %s", exc)
        return Response(status=404)
    response = Response(font.data, mimetype="font/woff2")
    response.set_etag(font.fingerprint)
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE_S}"
    response.headers["Access-Control-Allow-Origin"] = "*"  # fonts are fetched in CORS mode
    return response.make_conditional(request)


@blueprint.get(CSS_PATH)
def css_view() -> Response:
    """GET /fonts/cityops-cjk.css: the @font-face (when the font can be served) and the font stack."""
    font_file, _ = _settings_paths()
    response = Response(stylesheet(fingerprint(font_file) is not None), mimetype="text/css")
    response.set_etag(hashlib.sha256(response.get_data()).hexdigest()[:20])
    response.headers["Cache-Control"] = f"public, max-age={CSS_MAX_AGE_S}"
    return response.make_conditional(request)


@blueprint.get(SCRIPT_PATH)
def script_view() -> Response:
    """GET /fonts/cityops-cjk.js: has Chinese text shaped again once the served face arrived."""
    response = Response(SCRIPT, mimetype="text/javascript")
    response.set_etag(hashlib.sha256(response.get_data()).hexdigest()[:20])
    response.headers["Cache-Control"] = f"public, max-age={CSS_MAX_AGE_S}"
    return response.make_conditional(request)


HEAD_LINK = (f'<link rel="stylesheet" href="{CSS_PATH}">'
             f'<script src="{SCRIPT_PATH}" defer></script>')


def link_stylesheet(app: dash.Dash) -> None:
    """Put the font stylesheet (and its script) into the head of every Dash page, before the
    theme that uses it."""
    marker = "{%css%}"
    if marker in app.index_string and CSS_PATH not in app.index_string:
        app.index_string = app.index_string.replace(marker, HEAD_LINK + marker, 1)
