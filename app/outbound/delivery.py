"""One webhook delivery over HTTP: the signed POST, what its answer means, and how long to wait
before trying a failing receiver again."""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import random
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

SIGNATURE_HEADER = "X-CityOps-Signature"
USER_AGENT = "CityOps webhooks"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# 4xx answers worth retrying: the receiver is busy or timed out, not refusing the delivery.
RETRY_4XX = frozenset({408, 425, 429})


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A receiver's redirect is not followed: the body is signed for the address configured."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())
_PROXIED = urllib.request.build_opener(_NoRedirects())


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: HMAC-SHA256 of the body with the receiver's secret."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Outcome:
    """What one delivery attempt gave. ``done``: the delivery leaves the queue (delivered, or
    refused for good); otherwise it is retried after a wait (``retry_after`` when the receiver
    named one)."""

    delivered: bool
    done: bool
    status: str  # the HTTP status code, or what went wrong before one came back
    retry_after: float | None = None


def post(url: str, body: bytes, secret: str, event_type: str, delivery_id: str,
         timeout_s: float) -> Outcome:
    """POST one signed delivery; never raises for what the network or receiver does."""
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: sign(secret, body), "X-CityOps-Event": event_type,
        "X-CityOps-Delivery": delivery_id})
    opener = _DIRECT if urlsplit(url).hostname in LOOPBACK else _PROXIED
    try:
        with opener.open(request, timeout=timeout_s) as response:
            response.read(65_536)
            return Outcome(True, True, str(response.status))
    except urllib.error.HTTPError as exc:
        code = exc.code
        retry_after = _retry_after(exc.headers.get("Retry-After")) if exc.headers else None
        exc.close()
        if 300 <= code < 400:
            return Outcome(False, False, f"{code} (redirect not followed)")
        if 400 <= code < 500 and code not in RETRY_4XX:
            return Outcome(False, True, f"{code} (refused)")
        return Outcome(False, False, str(code), retry_after)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return Outcome(False, False, f"no answer: {reason}"[:200])


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff_s(failures: int, max_backoff_s: float, retry_after: float | None = None,
              rng: random.Random | None = None) -> float:
    """The wait before the next attempt after ``failures`` consecutive failures: 1, 2, 4 ... s up
    to ``max_backoff_s``, with a fifth of jitter (receivers coming back are not hit in step); a
    receiver's own Retry-After wins within the same ceiling."""
    if retry_after is not None:
        return min(max_backoff_s, max(retry_after, 0.5))
    base = min(max_backoff_s, 2.0 ** max(failures - 1, 0))
    return base * (0.8 + 0.2 * (rng or random).random())
