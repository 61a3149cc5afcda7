"""ETags on the API's JSON answers, and 304 Not Modified for a client that already has the answer.

Where an answer follows from a version the store keeps (a domain's live data, the alerts), the
ETag is made from that version and the URL before the view runs (:func:`versioned`): a poller
that sends it back in If-None-Match gets 304 without the list being read at all. Every other GET
answer under /api/v1 with a JSON body gets a hash of its body (:func:`conditional_get`, installed
for the whole app by app/web/server.py), so an endpoint added later has one too. ETags are weak:
the same data gives the same JSON, not a promise about its bytes.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any, Callable, TypeVar

from flask import Response, request
from werkzeug.wrappers import Response as BaseResponse

from app import __version__ as APP_VERSION

API_PREFIX = "/api/v1/"
F = TypeVar("F", bound=Callable[..., Any])


def _digest(*parts: str | bytes) -> str:
    hasher = hashlib.blake2b(digest_size=16)
    for part in parts:
        hasher.update(part if isinstance(part, bytes) else part.encode("utf-8", "surrogatepass"))
        hasher.update(b"\0")
    return hasher.hexdigest()


def _not_modified(tag: str) -> Response:
    # JSON like the answer it stands for (a page's headers, such as its security policy, would
    # be most of its bytes).
    response = Response(status=304, mimetype="application/json")
    response.set_etag(tag, weak=True)
    return response


def versioned(version_of: Callable[..., str]) -> Callable[[F], F]:
    """Give a GET view an ETag made from ``version_of(**url_variables)`` (a version the store
    keeps for everything the answer holds), the URL and this CityOps's version; answer 304 at
    once when the client has it. Put it under :func:`inputs`, so bad input is refused first."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            tag = "v-" + _digest(APP_VERSION, request.path, request.query_string,
                                 version_of(**kwargs))
            if request.if_none_match.contains_weak(tag):
                return _not_modified(tag)
            response = view(*args, **kwargs)
            if isinstance(response, BaseResponse) and response.status_code == 200:
                response.set_etag(tag, weak=True)
            return response

        return wrapper  # type: ignore[return-value]

    return decorate


def conditional_get(response: BaseResponse) -> BaseResponse:
    """An after_request hook: a GET (or HEAD) answer of the API with a JSON body gets an ETag (a
    hash of the body unless its view set one from a version), and 304 with no body when the
    client's If-None-Match holds it."""
    if (request.method not in ("GET", "HEAD") or not request.path.startswith(API_PREFIX)
            or response.status_code != 200 or response.mimetype != "application/json"
            or response.is_streamed):
        return response
    if response.get_etag()[0] is None:
        response.set_etag("b-" + _digest(response.get_data()), weak=True)
    return response.make_conditional(request)
