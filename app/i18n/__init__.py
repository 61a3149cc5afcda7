"""The reader's language (English or Simplified Chinese), translated strings and locale formats.

The language of a request is, in order: an explicit override (:func:`use_language`, for exports
and tests), the signed-in user's stored preference, the ``lang`` cookie (display sessions and
anonymous pages), the browser's Accept-Language, and English. Feed text is never translated:
only our own strings go through :func:`t`.
"""

from __future__ import annotations

import contextlib
import contextvars
import string
from datetime import datetime
from typing import Any, Iterator, Mapping
from zoneinfo import ZoneInfo

from flask import g, has_request_context, request

from app.i18n.catalog import CATALOG

EN = "en"
ZH = "zh"
LANGUAGES: tuple[str, ...] = (EN, ZH)
DEFAULT = EN
COOKIE = "lang"
# What the switch shows for each language: each in its own script, so anyone can find theirs.
LABELS: dict[str, str] = {EN: "EN", ZH: "中文"}
# The value of <html lang> and of Intl formats in the browser.
HTML_LANG: dict[str, str] = {EN: "en", ZH: "zh-CN"}

_override: contextvars.ContextVar[str | None] = contextvars.ContextVar("cityops_lang", default=None)


def normalize(value: object) -> str | None:
    """``value`` as one of :data:`LANGUAGES` ("zh-CN", "zh_Hans" -> "zh"), or None if unsupported."""
    if not isinstance(value, str):
        return None
    primary = value.strip().lower().replace("_", "-").split("-", 1)[0]
    return primary if primary in LANGUAGES else None


def from_accept_language(header: str | None) -> str | None:
    """The best supported language of an Accept-Language header (highest q, first on ties)."""
    best: tuple[float, int, str] | None = None
    for position, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        lang = normalize(tag)
        if lang and quality > 0 and (best is None or (-quality, position) < (-best[0], best[1])):
            best = (quality, position, lang)
    return best[2] if best else None


def _request_language() -> str:
    principal = g.get("principal")
    stored = normalize(getattr(principal, "language", None)) if principal is not None else None
    if stored:
        return stored
    cookie = normalize(request.cookies.get(COOKIE))
    if cookie:
        return cookie
    return from_accept_language(request.headers.get("Accept-Language")) or DEFAULT


def current_language() -> str:
    """The language to answer the current request (or export) in."""
    forced = _override.get()
    if forced:
        return forced
    if not has_request_context():
        return DEFAULT
    return _request_language()


@contextlib.contextmanager
def use_language(lang: str) -> Iterator[None]:
    """Render everything inside the block in ``lang`` (exports, tests)."""
    chosen = normalize(lang)
    if chosen is None:
        raise ValueError(f"unsupported language {lang!r}: choose from {', '.join(LANGUAGES)}")
    token = _override.set(chosen)
    try:
        yield
    finally:
        _override.reset(token)


def t(key: str, lang: str | None = None, **fmt: Any) -> str:
    """The text of ``key`` in the current language, with ``{placeholders}`` filled from ``fmt``.

    An unknown key raises KeyError: a typo must fail in tests, not show a key to a person.
    """
    texts = CATALOG[key]
    text = texts[1] if (lang or current_language()) == ZH else texts[0]
    return text.format(**fmt) if fmt else text


def has(key: str) -> bool:
    """True when the catalogue knows ``key`` (for data-driven labels such as KPI names)."""
    return key in CATALOG


def t_or(key: str, fallback: str, **fmt: Any) -> str:
    """The text of ``key``, or ``fallback`` unchanged when the catalogue has no such key."""
    return t(key, **fmt) if key in CATALOG else fallback


def placeholders(text: str) -> set[str]:
    """The ``{names}`` a catalogue text expects (tests compare both languages with it)."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def format_number(value: float | int | None, digits: int = 0, lang: str | None = None) -> str:
    """``value`` with ``digits`` decimals and the locale's grouping ("—" when unknown).

    English and Chinese (zh-CN) both group by thousands with "," and use "." for decimals (CLDR);
    the function exists so every number passes one place that knows the locale.
    """
    if value is None:
        return "—"
    text = f"{value:,.{max(digits, 0)}f}"
    # A tiny negative rounds to "-0": nobody wants to read a signed zero.
    return text[1:] if text.startswith("-") and float(text.replace(",", "")) == 0 else text


def format_datetime(ts: float | None, with_date: bool = False, tz: str = "UTC",
                    seconds: bool = True, lang: str | None = None) -> str:
    """A Unix time as wall-clock time in ``tz``: "2026-11-21 14:05:03" / "2026年11月21日 14:05:03"."""
    if ts is None:
        return "—"
    moment = datetime.fromtimestamp(ts, ZoneInfo(tz))
    clock = moment.strftime("%H:%M:%S" if seconds else "%H:%M")
    if not with_date:
        return clock
    if (lang or current_language()) == ZH:
        return f"{moment.year}年{moment.month}月{moment.day}日 {clock}"
    return f"{moment:%Y-%m-%d} {clock}"


def kpi_target(kpi: Mapping[str, Any]) -> str:
    """A KPI's target in the reader's language: its words when it has them (``target_words``),
    else the stored target (a comparison and a number, the same in every language)."""
    words = kpi.get("target_words")
    if isinstance(words, Mapping) and words.get("key") in CATALOG:
        values = words.get("values") if isinstance(words.get("values"), Mapping) else {}
        try:
            return t(str(words["key"]), **values)
        except (KeyError, IndexError, ValueError):
            pass  # stored by another version with other placeholders: the English stands
    return str(kpi.get("target") or "")


def kpi_title(kpi: dict[str, Any]) -> str:
    """A KPI's title in the reader's language, found by its name; the subject part (a feed's name
    for a zone or hospital) is kept as stored. Unknown KPIs keep their stored title."""
    name = str(kpi.get("name", ""))
    stored = str(kpi.get("title") or name)
    base = str(kpi.get("group") or name.split(":", 1)[0])
    key = f"kpi.{base}"
    if key not in CATALOG:
        return stored
    english = CATALOG[key][0]
    if kpi.get("subject") is None:
        return t(key)
    # Subject KPIs are stored as "<base title>: <subject name>"; keep the subject as sent.
    _, sep, subject = stored.partition(": ")
    return f"{t(key)}: {subject}" if sep else (t(key) if stored == english else stored)


def kpi_subject(kpi: dict[str, Any]) -> str:
    """The name of a KPI's subject (issue 19): the zone, hospital or category as its title names
    it ("<base title>: <subject name>"), not its stored subject, which may be an entity id."""
    subject = str(kpi.get("subject") or "")
    _, sep, named = str(kpi.get("title") or "").partition(": ")
    return named if sep and named else subject


def label(prefix: str, value: str) -> str:
    """A state, severity, role or kind by its code (``label("severity", "major")``); unknown codes
    are shown as they are."""
    return t_or(f"{prefix}.{value}", value)
