"""Answers without Dash: the sign-in and error pages from templates, JSON errors for scripts.

People who are not signed in must not reach Dash's endpoints, so these pages are plain HTML with
one stylesheet and no script, rendered by Jinja2 with autoescaping: every value is escaped.
"""

from __future__ import annotations

import functools
from urllib.parse import urlencode

import jinja2
from flask import Response, jsonify, request

from app import i18n

# Paths used by scripts rather than people: they answer 401/403 as JSON instead of redirecting.
MACHINE_PREFIXES = ("/_dash-", "/_reload-hash", "/_favicon", "/_live-versions", "/_wall-map/", "/assets/",
                    "/api/")


@functools.cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("app.web", "templates"),
                              autoescape=True, undefined=jinja2.StrictUndefined)


def _render(name: str, title: str, **values: object) -> str:
    return _templates().get_template(name).render(
        title=title, html_lang=i18n.HTML_LANG[i18n.current_language()], t=i18n.t, **values)


def render_page(name: str, title: str, **values: object) -> str:
    """Another page of app/web/templates in the reader's language (the display pairing page)."""
    return _render(name, title, **values)


def is_machine_path(path: str) -> bool:
    """True for paths that scripts call (Dash's endpoints, assets, the API)."""
    return path.startswith(MACHINE_PREFIXES)


def login_page(csrf_token: str, message: str = "", next_url: str = "/") -> str:
    """The sign-in form, with an optional message (an error after a failed attempt), and links to
    the same page in each language (GET sets the cookie: a visitor has no session yet)."""
    current = i18n.current_language()
    languages = [{"lang": lang, "html_lang": i18n.HTML_LANG[lang], "label": i18n.LABELS[lang],
                  "href": "/login?" + urlencode({"lang": lang, "next": next_url}),
                  "current": lang == current} for lang in i18n.LANGUAGES]
    return _render("login.html", i18n.t("login.title"), languages=languages, message=message,
                   csrf_token=csrf_token, next_url=next_url)


def error_page(status: int, message: str) -> str:
    """A short page for a refused or failed request (never a traceback)."""
    return _render("error.html", f"{status} · CityOps", status=status, message=message)


def error_response(status: int, message: str) -> Response:
    """A JSON error for scripts (machine paths, token callers), a small HTML page for people."""
    if is_machine_path(request.path) or "Authorization" in request.headers:
        response = jsonify({"error": message})
    else:
        response = Response(error_page(status, message), mimetype="text/html")
    response.status_code = status
    return response
