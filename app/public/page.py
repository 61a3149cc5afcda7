"""The public status page as HTML, one document per language, from the Jinja2 templates in templates/.

No script at all and no form: plain HTML with its stylesheet inline (one request per visit), read
the same with JavaScript off. Every value is escaped by Jinja2's autoescaping; the severity
colours are the model's (app.model.alerts.SEVERITY_COLOURS), and a colour never stands alone:
each card also says its severity, level or problem in words.
"""

from __future__ import annotations

import functools
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from app import i18n
from app.model.alerts import SEVERITIES, SEVERITY_COLOURS
from app.public.atom import FEED_PATH, PAGE_PATH
from app.public.content import PublicView

TEMPLATE = "public.html"
# Cards a section lists at most (a national CAP feed may carry hundreds): the rest are counted, and
# the CAP feed carries every warning.
MAX_CARDS = 50


@functools.lru_cache(maxsize=1)
def environment() -> Environment:
    """The page's Jinja2 environment: templates/ of this package, HTML escaped, no undefined."""
    return Environment(loader=PackageLoader("app.public", "templates"),
                       autoescape=select_autoescape(["html", "css"]), undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True)


def _languages(current: str) -> list[dict[str, Any]]:
    return [{"lang": lang, "html_lang": i18n.HTML_LANG[lang], "label": i18n.LABELS[lang],
             "href": f"{PAGE_PATH}?lang={lang}", "current": lang == current}
            for lang in i18n.LANGUAGES]


def render_page(view: PublicView, lang: str, tz: str) -> str:
    """The page in ``lang`` (one of app.i18n.LANGUAGES) with times in the city's zone ``tz``."""
    with i18n.use_language(lang):
        def when(ts: float | None) -> str:
            return i18n.format_datetime(ts, with_date=True, tz=tz, seconds=False)

        return environment().get_template(TEMPLATE).render(
            view=view, lang=lang, html_lang=i18n.HTML_LANG[lang], t=i18n.t, label=i18n.label,
            when=when, minutes=lambda s: i18n.format_number(max(s, 0) / 60.0),
            languages=_languages(lang), feed_path=FEED_PATH, most=MAX_CARDS,
            colours=[(s, SEVERITY_COLOURS[s]) for s in SEVERITIES])
