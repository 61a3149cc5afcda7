"""Chinese on a kiosk with no CJK font (issue 18): Chromium whose fontconfig knows only DejaVu
shows the Chinese login page in the font the server serves, not as boxes.

Chromium is started with FONTCONFIG_FILE naming a config made here that lists DejaVu's folder
alone, so the machine has no CJK font. The app is served in-process on loopback. Glyphs are told
apart from tofu by drawing each Chinese character of a label in the label's own font on a canvas:
real glyphs differ from each other, missing ones are the same box. The same page with the font's
URL answered 404 is the control: there every character is the same box, which proves the
machine really lacks a CJK font and that the check can fail.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from werkzeug.serving import make_server

from app.config import load_settings
from app.i18n import t
from app.web import fonts
from app.web.server import create_app
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, LOOPBACK, new_context, screenshot
from tests.support.redis_server import RedisServer

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
SYSTEM_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing"),
              pytest.mark.skipif(not DEJAVU.is_dir(), reason=f"{DEJAVU} is missing"),
              pytest.mark.skipif(not SYSTEM_FONT.exists(), reason=f"{SYSTEM_FONT} is missing")]

LABEL = "p.sub"  # the login card's tagline: app.tagline, all Chinese in zh
# Chinese text of the login page as a person sees it: the language switch and the tagline, which
# are laid out first and ask for the font.
SHOWN = ("#lang-zh", "p.sub")
# The fields' labels and the button: Chromium keeps a text shaped before the font arrived as boxes
# until what it is shaped with changes; the font's script (app/web/fonts.py) changes that once the
# face is in. Without it the first label and the button stay boxes.
SHOWN_LATER = ("label[for=username]", "label[for=password]", "#login-submit")
# Each character of the element drawn alone on a canvas in the element's computed font; the
# answer is one fingerprint of the pixels per character.
GLYPH_PRINTS = """(selector) => {
  const element = document.querySelector(selector);
  const style = getComputedStyle(element);
  const canvas = document.createElement("canvas");
  canvas.width = 64; canvas.height = 64;
  const ctx = canvas.getContext("2d", {willReadFrequently: true});
  const chars = [...element.textContent].filter((c) => /[\\u3400-\\u9fff]/.test(c));
  return chars.map((c) => {
    ctx.clearRect(0, 0, 64, 64);
    ctx.font = `${style.fontStyle} ${style.fontWeight} 40px ${style.fontFamily}`;
    ctx.fillText(c, 4, 48);
    const alpha = ctx.getImageData(0, 0, 64, 64).data;
    let hash = 0;
    for (let i = 3; i < alpha.length; i += 4) { hash = (hash * 31 + alpha[i] + i) | 0; }
    return hash;
  });
}"""
SERVED_FACE_LOADED = """() => [...document.fonts].some(
  (face) => face.family.replace(/"/g, "") === "CityOps CJK" && face.status === "loaded")"""


@pytest.fixture(scope="module")
def base_url(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The whole app on a loopback port, in this process."""
    settings = load_settings(environ={"CITYOPS_DATA_DIR": str(tmp_path_factory.mktemp("data")),
                                      "CITYOPS_REDIS_URL": redis_server.url,
                                      "CITYOPS_CJK_FONT": str(SYSTEM_FONT)})
    app = create_app(settings)
    # Cut before the pages ask (as `cityops up`'s workers do), so that no page waits for it.
    fonts.warm(settings.web.cjk_font, settings.data_dir).join()
    server = make_server(LOOPBACK, 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{LOOPBACK}:{server.server_port}"
    server.shutdown()
    thread.join()


@pytest.fixture(scope="module")
def browser_without_cjk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """Chromium whose fontconfig lists DejaVu alone: no CJK font on this machine."""
    folder = tmp_path_factory.mktemp("fontconfig")
    config = folder / "fonts.conf"
    config.write_text(f"""<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig>
  <dir>{DEJAVU}</dir>
  <cachedir>{folder / "cache"}</cachedir>
</fontconfig>
""", encoding="utf-8")
    env = {**os.environ, "FONTCONFIG_FILE": str(config)}
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=CHROMIUM_ARGS, env=env)
        yield instance
        instance.close()


# Where each Chinese character of an element is drawn on the page, as laid out now.
CHAR_BOXES = """(selector) => {
  const element = document.querySelector(selector);
  const boxes = [];
  const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    [...node.data].forEach((c, i) => {
      if (!/[\u3400-\u9fff]/.test(c)) return;
      const range = document.createRange();
      range.setStart(node, i); range.setEnd(node, i + 1);
      const r = range.getBoundingClientRect();
      boxes.push({char: c, x: r.x, y: r.y, width: r.width, height: r.height});
    });
  }
  return boxes;
}"""


def _shown_glyphs(page: Page, selectors: tuple[str, ...] = SHOWN) -> dict[str, tuple[int, int]]:
    """For each element: (distinct characters, distinct pictures of them on the screen)."""
    counts = {}
    for selector in selectors:
        boxes = page.evaluate(CHAR_BOXES, selector)
        pictures = {page.screenshot(clip={key: box[key] for key in ("x", "y", "width", "height")})
                    for box in boxes}
        counts[selector] = (len({box["char"] for box in boxes}), len(pictures))
    return counts


def _open_login(browser: Browser, base_url: str, serve_font: bool) -> tuple[Page, list[int]]:
    context = new_context(browser)
    if not serve_font:
        context.route(f"**{fonts.FONT_PATH}*", lambda route: route.fulfill(status=404))
    page = context.new_page()
    page.goto(f"{base_url}/login?lang=zh")
    page.locator(LABEL).wait_for()
    page.evaluate("() => document.fonts.ready")
    # The canvas asks for the font by name: wait until the face (if any) is loaded for these characters.
    # (The control's load fails with its 404: that is its point, not an error here.)
    page.evaluate("(text) => document.fonts.load('40px \"CityOps CJK\"', text).catch(() => [])",
                  page.locator(LABEL).inner_text())
    if serve_font:  # the font's script has every text shaped again once the face is in
        page.locator(f"html.{fonts.ARRIVED_CLASS}").wait_for(state="attached")
        page.evaluate("() => new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(ok)))")
    return page, page.evaluate(GLYPH_PRINTS, LABEL)


def _expected() -> list[str]:
    expected = [c for c in t("app.tagline", "zh") if "\u3400" <= c <= "\u9fff"]
    assert len(set(expected)) >= 4, expected
    return expected


def test_chinese_renders_in_the_served_font_on_a_machine_without_cjk_fonts(
        browser_without_cjk: Browser, base_url: str) -> None:
    expected = _expected()
    page, glyphs = _open_login(browser_without_cjk, base_url, serve_font=True)
    assert page.evaluate(SERVED_FACE_LOADED), "the CityOps CJK face was not loaded"
    assert len(set(glyphs)) == len(set(expected)), (glyphs, expected)  # distinct glyphs, no tofu
    screenshot(page, "cjk-font-served.png")
    # What the screen shows, label by label: as many pictures as characters (a label laid out before
    # the font arrived and never redrawn, or a control in the browser's own font, would be boxes).
    shown = _shown_glyphs(page)
    assert all(chars == pictures >= 2 for chars, pictures in shown.values()), shown
    page.context.close()


def test_without_the_served_font_chinese_is_boxes(browser_without_cjk: Browser, base_url: str) -> None:
    """The control: the same checks fail when the font is not served, so the machine has no CJK font."""
    control, tofu = _open_login(browser_without_cjk, base_url, serve_font=False)
    assert len(tofu) == len(_expected())
    assert len(set(tofu)) == 1, "a CJK font is installed after all: the test would prove nothing"
    assert not control.evaluate(SERVED_FACE_LOADED)
    # Every Chinese character on the screen is the same box, label by label.
    shown = _shown_glyphs(control, SHOWN + SHOWN_LATER)
    assert all(pictures == 1 for _, pictures in shown.values()), shown
    screenshot(control, "cjk-font-blocked.png")
    control.context.close()


def test_every_label_and_the_button_render_in_the_served_font(browser_without_cjk: Browser,
                                                              base_url: str) -> None:
    page, _ = _open_login(browser_without_cjk, base_url, serve_font=True)
    shown = _shown_glyphs(page, SHOWN_LATER)
    screenshot(page, "cjk-font-labels.png")
    page.context.close()
    assert all(chars == pictures >= 2 for chars, pictures in shown.values()), shown
