"""The public status page and its CAP feed over HTTP: /public and /public/cap.atom, open to anyone.

Both serve bytes the runner rendered (app/public/job.py) from this worker's copy
(app/public/served.py): a request renders nothing, and nothing a visitor sends reaches Redis.
``lang`` is checked against the fixed set of languages before anything is read (400 naming it
otherwise); other query parameters (a campaign tag on a shared link) change nothing and are
ignored. Answers carry an ETag (304 when the client has it), a short public Cache-Control so that
proxies and browsers absorb a surge, gzip when asked, and the page a policy that allows no script,
form or frame at all; app/web/headers.py adds the rest of the protective headers.
"""

from __future__ import annotations

from typing import Any, Callable

import redis
from flask import Blueprint, Response, current_app, request
from werkzeug.http import parse_accept_header
from werkzeug.wrappers import Response as BaseResponse

from app import i18n
from app.public.atom import FEED_PATH, PAGE_PATH
from app.public.job import FEED, page_name
from app.public.served import PublicDocuments
from app.web.context import EXTENSION, redis_client
from app.web.documents import error_response

PATHS = frozenset({PAGE_PATH, FEED_PATH})
MAX_AGE_S = 5
RETRY_AFTER_S = 5
MAX_LANG_CHARS = 16
# No script, no form, no frame, nothing from elsewhere: the page is text and its inline style,
# and from this server the Chinese font and its stylesheet (app/web/fonts.py).
PAGE_POLICY = "; ".join([
    "default-src 'none'", "style-src 'self' 'unsafe-inline'", "font-src 'self'", "img-src data:",
    "base-uri 'none'",
    "form-action 'none'", "frame-ancestors 'none'"])
FEED_POLICY = "default-src 'none'; frame-ancestors 'none'; sandbox"
DOCUMENTS_KEY = "public_documents"

blueprint = Blueprint("public", __name__)


@blueprint.record_once
def _install(state: object) -> None:
    app = state.app  # type: ignore[attr-defined]
    app.extensions[EXTENSION][DOCUMENTS_KEY] = PublicDocuments()
    app.wsgi_app = Replay(app.wsgi_app, app)


def documents() -> PublicDocuments:
    """This worker's copy of the public documents."""
    return current_app.extensions[EXTENSION][DOCUMENTS_KEY]


def _serve(name: str, mimetype: str, policy: str, vary: str) -> BaseResponse:
    document = documents().get(redis_client(), name)
    if document is None:
        refused = error_response(503, i18n.t("public.not_ready"))
        refused.headers["Retry-After"] = str(RETRY_AFTER_S)
        return refused
    gzipped = request.accept_encodings["gzip"] > 0
    body, etag = (document.gzipped, document.etag_gzip) if gzipped else (document.body, document.etag)
    if request.if_none_match.contains(etag):
        response = Response(status=304)
    else:
        response = Response(body, mimetype=mimetype)
        if gzipped:
            response.headers["Content-Encoding"] = "gzip"
    response.headers["ETag"] = f'"{etag}"'
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE_S}"
    response.headers["Vary"] = vary
    response.headers["Content-Security-Policy"] = policy
    return response


@blueprint.get(PAGE_PATH)
def public_page() -> BaseResponse:
    """The status page in the asked language, else the browser's (Accept-Language), else English."""
    asked = request.args.getlist("lang")
    lang = i18n.normalize(asked[0][:MAX_LANG_CHARS]) if len(asked) == 1 else None
    if asked and lang is None:
        return error_response(400, i18n.t("public.bad_lang"))
    vary = "Accept-Encoding"
    if lang is None:
        lang = i18n.from_accept_language(request.headers.get("Accept-Language")) or i18n.DEFAULT
        vary += ", Accept-Language"
    return _serve(page_name(lang), "text/html", PAGE_POLICY, vary)


@blueprint.get(FEED_PATH)
def public_feed() -> BaseResponse:
    """The Atom feed of the published warnings, each entry a CAP 1.2 message."""
    return _serve(FEED, "application/atom+xml", FEED_POLICY, "Accept-Encoding")


# -- the same answers, without Flask's work per request ---------------------------------------------
class Replay:
    """WSGI middleware: a plain GET of the page or feed gets the answer the route above gave for
    the same document version, replayed byte for byte (status, every header, body).

    The route answers once per document version, language choice and encoding in each worker;
    the headers it set and the protective ones app/web/headers.py added are kept with that answer,
    so a replay differs from it in nothing but cost. Anything else (HEAD, a conditional request,
    another query, no document yet, Redis away) goes to the route as usual.
    """

    def __init__(self, wsgi_app: Callable[..., Any], app: Any) -> None:
        self.wsgi_app = wsgi_app
        self.app = app
        self.answers: dict[tuple[str, bool, bool], tuple[str, str, list[tuple[str, str]], bytes]] = {}

    def forget(self) -> None:
        """Drop the kept answers: the route answers each kind of request again (tests)."""
        self.answers.clear()

    def _key(self, environ: dict[str, Any]) -> tuple[str, bool, bool] | None:
        """(document, gzip, language chosen by the browser) of a request replay may serve."""
        if environ.get("REQUEST_METHOD") != "GET" or "HTTP_IF_NONE_MATCH" in environ:
            return None
        path, query = environ.get("PATH_INFO"), environ.get("QUERY_STRING", "")
        gzipped = parse_accept_header(environ.get("HTTP_ACCEPT_ENCODING"))["gzip"] > 0
        if path == FEED_PATH and not query:
            return FEED, gzipped, False
        if path != PAGE_PATH:
            return None
        if query in ("lang=en", "lang=zh"):
            return page_name(query[5:]), gzipped, False
        if query:
            return None
        chosen = i18n.from_accept_language(environ.get("HTTP_ACCEPT_LANGUAGE")) or i18n.DEFAULT
        return page_name(chosen), gzipped, True

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") not in PATHS:
            return self.wsgi_app(environ, start_response)
        key = self._key(environ)
        if key is None:
            return self.wsgi_app(environ, _without_cookie_vary(start_response))
        shared = self.app.extensions[EXTENSION]
        try:
            document = shared[DOCUMENTS_KEY].get(shared["redis"], key[0])
        except redis.RedisError:
            document = None
        if document is None:
            return self.wsgi_app(environ, _without_cookie_vary(start_response))
        etag = document.etag_gzip if key[1] else document.etag
        kept = self.answers.get(key)
        if kept is not None and kept[0] == etag:
            start_response(kept[1], list(kept[2]))
            return [kept[3]]
        return self._answer_and_keep(environ, start_response, key, etag)

    def _answer_and_keep(self, environ: dict[str, Any], start_response: Callable[..., Any],
                         key: tuple[str, bool, bool], etag: str) -> Any:
        seen: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers = cookie_free_vary(headers)
            seen.update(status=status, headers=headers)
            return start_response(status, headers, exc_info) if exc_info else start_response(
                status, headers)

        answer = self.wsgi_app(environ, capture)
        try:
            body = b"".join(answer)
        finally:
            if hasattr(answer, "close"):
                answer.close()
        headers = seen.get("headers") or []
        # Only a full answer of this very document, and never one that sets a cookie.
        if (str(seen.get("status", "")).startswith("200 ") and (
                "ETag", f'"{etag}"') in headers and not any(
                    name.lower() == "set-cookie" for name, _ in headers)):
            self.answers[key] = (etag, seen["status"], list(headers), body)
        return [body]


def cookie_free_vary(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``headers`` fit for a shared cache: "Cookie" out of Vary, since the public documents never
    depend on a cookie (Flask adds it to every answer once anything touched the session, and
    flask-login's remember-cookie hook does after every request), so that a cache keeps one copy
    instead of one per visitor; and an answer that sets a cookie is never stored by anyone."""
    sets_cookie = any(name.lower() == "set-cookie" for name, _ in headers)
    kept = []
    for name, value in headers:
        if name.lower() == "vary":
            value = ", ".join(v.strip() for v in value.split(",") if v.strip().lower() != "cookie")
            if not value:
                continue
        elif name.lower() == "cache-control" and sets_cookie:
            value = "no-store"
        kept.append((name, value))
    return kept


def _without_cookie_vary(start_response: Callable[..., Any]) -> Callable[..., Any]:
    """``start_response`` that sends cookie_free_vary(headers)."""
    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        headers = cookie_free_vary(headers)
        return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)
    return start
