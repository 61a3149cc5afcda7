"""The served Chinese font (issue 18): WOFF2 cut from the system's CJK font, holding every Chinese
character of the catalogue, cached by ETag, public; a missing font file is a 404 and a log line,
never a failed start."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont

from app.config import load_settings
from app.i18n.catalog import CATALOG
from app.web import fonts
from app.web.server import create_app
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.integration

SYSTEM_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
needs_font = pytest.mark.skipif(not SYSTEM_FONT.exists(), reason=f"{SYSTEM_FONT} is missing "
                                "(apt-get install fonts-wqy-microhei)")


def _app(redis_server: RedisServer, data_dir: Path, font: Path | None = None):  # type: ignore[no-untyped-def]
    environ = {"CITYOPS_DATA_DIR": str(data_dir), "CITYOPS_REDIS_URL": redis_server.url}
    if font is not None:
        environ["CITYOPS_CJK_FONT"] = str(font)
    return create_app(load_settings(environ=environ))


@needs_font
def test_the_font_holds_every_chinese_catalogue_character_and_is_cached(web_app, r) -> None:  # type: ignore[no-untyped-def]
    client = web_app.server.test_client()
    css = client.get(fonts.CSS_PATH)
    assert css.status_code == 200 and css.mimetype == "text/css"
    text = css.get_data(as_text=True)
    assert "@font-face" in text and '"CityOps CJK"' in text and "unicode-range: U+3000-303F" in text
    stack = text[text.index("--cityops-font:"):]
    # System CJK fonts come before the served one.
    assert stack.index('"Noto Sans CJK SC"') < stack.index('"WenQuanYi Micro Hei"') < stack.index(
        '"CityOps CJK"')
    url = text[text.index(fonts.FONT_PATH):].split('"')[0]
    assert url == fonts.FONT_PATH

    answer = client.get(url)  # anonymous: the login page needs it
    assert answer.status_code == 200, answer.status_code
    assert answer.mimetype == "font/woff2"
    assert answer.data[:4] == b"wOF2"
    assert "max-age=86400" in answer.headers["Cache-Control"]
    etag = answer.headers["ETag"]
    assert etag.strip('"') == fonts.fingerprint(SYSTEM_FONT)
    assert 20_000 < len(answer.data) < 300_000, len(answer.data)  # a subset, not the 5 MB face

    font = TTFont(io.BytesIO(answer.data))
    cmap = font.getBestCmap()
    chinese = {c for _, zh in CATALOG.values() for c in zh if fonts._in_ranges(ord(c))}
    assert len(chinese) > 200
    missing = sorted(c for c in chinese if ord(c) not in cmap)
    assert not missing, "".join(missing)
    assert all(ord(c) in cmap for c in "，。：（）0123456789")
    names = {record.nameID for record in font["name"].names}
    assert 0 in names  # the copyright notice travels with the font

    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304


@needs_font
def test_the_subset_is_written_once_to_the_data_directory(redis_server: RedisServer, r,  # type: ignore[no-untyped-def]
                                                          tmp_path: Path) -> None:
    fonts._built.clear()
    app = _app(redis_server, tmp_path)
    first = app.server.test_client().get(fonts.FONT_PATH)
    cached = list((tmp_path / fonts.CACHE_DIR).glob("cityops-cjk-*.woff2"))
    assert first.status_code == 200 and len(cached) == 1
    assert cached[0].read_bytes() == first.data
    # Another process (memory empty) reads the file instead of cutting the font again.
    fonts._built.clear()
    cached[0].write_bytes(b"wOF2 from the cache")
    assert app.server.test_client().get(fonts.FONT_PATH).data == b"wOF2 from the cache"
    fonts._built.clear()


def test_a_missing_font_is_a_404_and_a_log_line(redis_server: RedisServer, r, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                caplog: pytest.LogCaptureFixture) -> None:
    missing = tmp_path / "no-such-font.ttc"
    with caplog.at_level(logging.WARNING, logger="cityops.web"):
        app = _app(redis_server, tmp_path / "data", missing)  # the app starts
    assert any(str(missing) in record.getMessage() and "CITYOPS_CJK_FONT" in record.getMessage()
               for record in caplog.records)
    client = app.server.test_client()
    assert client.get(fonts.FONT_PATH).status_code == 404
    css = client.get(fonts.CSS_PATH).get_data(as_text=True)
    assert "@font-face" not in css and "--cityops-font:" in css  # the system fonts still apply
    assert client.get("/login?lang=zh").status_code == 200


def test_a_file_that_is_no_font_is_a_404_not_a_500(redis_server: RedisServer, r,  # type: ignore[no-untyped-def]
                                                   tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bogus = tmp_path / "bogus.ttf"
    bogus.write_bytes(b"this is not a font")
    app = _app(redis_server, tmp_path / "data", bogus)
    with caplog.at_level(logging.WARNING, logger="cityops.web"):
        assert app.server.test_client().get(fonts.FONT_PATH).status_code == 404
    assert any("not a font" in record.getMessage() for record in caplog.records)


def test_every_page_links_the_font_stylesheet(web_app, r) -> None:  # type: ignore[no-untyped-def]
    client = web_app.server.test_client()
    login = client.get("/login").get_data(as_text=True)
    for page in (login, web_app.index_string):
        assert f'<link rel="stylesheet" href="{fonts.CSS_PATH}">' in page


def test_every_stylesheet_takes_the_one_font_stack() -> None:
    """The stack is declared once (app/web/fonts.py); the stylesheets only refer to it."""
    root = Path(__file__).resolve().parents[2]
    for path in ("assets/theme.css", "assets/login/login.css", "app/public/templates/public.css"):
        css = (root / path).read_text(encoding="utf-8")
        assert "var(--cityops-font" in css, path
        assert '"Noto Sans CJK SC"' not in css, f"{path} declares a font stack of its own"
