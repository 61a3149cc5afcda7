"""How a CSV download is asked for: its form (``?form=people``, the default, or ``?form=machine``)
and its language (``?lang=en|zh``, else the reader's language as pages use it; docs/api.md)."""

from __future__ import annotations

from flask import request

from app import i18n
from app.situation.report import FORMS, PEOPLE


class ExportChoiceError(ValueError):
    """A form or language an export does not offer; the message says which ones it does."""


def chosen_form() -> str:
    """The form asked for with ``?form=`` (the people's form when none is named)."""
    form = request.args.get("form", PEOPLE)
    if form not in FORMS:
        raise ExportChoiceError(f"unknown form '{form[:40]}': use one of {', '.join(FORMS)}")
    return form


def chosen_language() -> str:
    """The language asked for with ``?lang=``, else the reader's (signed-in user, cookie, browser)."""
    asked = request.args.get("lang")
    if asked is None:
        return i18n.current_language()
    lang = i18n.normalize(asked)
    if lang is None:
        raise ExportChoiceError(f"unknown language '{asked[:40]}': use one of {', '.join(i18n.LANGUAGES)}")
    return lang
