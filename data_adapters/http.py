"""HTTP polling for adapters: one GET with a size cap, mapped onto the typed feed errors.

Timeouts, connection failures, 429 and 5xx are retryable (with the server's Retry-After when it
gives one); 401/403 and other 4xx are fatal until someone fixes the configuration. A GET of a
URL a feed handed us (a next page, a linked CAP message) says where a redirect may lead, so a
302 cannot take it to another server either.
"""

from __future__ import annotations

import email.utils
import socket
import time
import urllib.error
import urllib.request
from typing import Any, Callable, ClassVar, Mapping
from urllib.parse import urlsplit

from app.model.records import RawPayload
from data_adapters.base import MAX_PAYLOAD_BYTES, Adapter, FatalFeedError, RetryableFeedError
from data_adapters.feed_settings import FeedSettings, HttpFeedSettings

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MAX_BYTES = MAX_PAYLOAD_BYTES  # one cap for fetching and parsing
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
USER_AGENT = "CityOps feed adapter"

# Loopback feeds (the demo city) must not be sent to a proxy named in the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_DEFAULT = urllib.request.build_opener()


class _GuardedRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to a URL ``allowed`` accepts: a link a feed hands us (a next page,
    a linked CAP message) must not become a way to another server through a 302."""

    def __init__(self, allowed: Callable[[str], bool]) -> None:
        super().__init__()
        self.allowed = allowed

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                         headers: Any, newurl: str) -> urllib.request.Request | None:
        if not self.allowed(newurl):
            raise RetryableFeedError(f"redirect from {req.full_url} to {newurl} refused: "
                                     "another server")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def http_get(url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S,
             max_bytes: int = DEFAULT_MAX_BYTES,
             headers: Mapping[str, str] | None = None,
             redirect_ok: Callable[[str], bool] | None = None) -> RawPayload:
    """GET ``url`` and return its body; raise Retryable/FatalFeedError for what went wrong.

    ``redirect_ok``, when given, says which URLs a redirect may lead to (others: FatalFeedError).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FatalFeedError(f"unsupported URL scheme in {url!r}: use http or https")
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **(headers or {})})
    opener = _DIRECT if parts.hostname in LOOPBACK else _DEFAULT
    if redirect_ok is not None:
        handlers: list[Any] = [_GuardedRedirects(redirect_ok)]
        if parts.hostname in LOOPBACK:
            handlers.append(urllib.request.ProxyHandler({}))
        opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(request, timeout=timeout_s) as response:
            body = response.read(max_bytes + 1)
            content_type = response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        reason = f"HTTP {exc.code} from {url}"
        if exc.code == 429 or exc.code >= 500:
            raise RetryableFeedError(reason, _retry_after(exc.headers.get("Retry-After"))) from None
        raise FatalFeedError(reason) from None
    except (TimeoutError, socket.timeout):
        raise RetryableFeedError(f"timed out after {timeout_s:g} s: {url}") from None
    except (urllib.error.URLError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RetryableFeedError(f"cannot reach {url}: {reason}") from None
    if len(body) > max_bytes:
        raise RetryableFeedError(f"payload of {url} is larger than {max_bytes} bytes")
    return RawPayload(data=body, source=url, content_type=content_type)


class HttpPollAdapter(Adapter):
    """An adapter that GETs one configured ``url`` each poll (subclasses parse what comes)."""

    accept: ClassVar[str] = ""
    settings_model: ClassVar[type[FeedSettings]] = HttpFeedSettings
    settings: HttpFeedSettings

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        self.url = self.settings.url
        self.timeout_s = (self.settings.timeout_s if self.settings.timeout_s is not None
                          else min(self.interval_s, DEFAULT_TIMEOUT_S))

    def fetch(self) -> RawPayload:
        """GET the configured URL."""
        return http_get(self.url, timeout_s=self.timeout_s,
                        headers={"Accept": self.accept} if self.accept else None)
