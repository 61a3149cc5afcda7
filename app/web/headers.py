"""Security headers on every answer: a strict Content-Security-Policy on documents, no sniffing or framing."""

from __future__ import annotations

from typing import Sequence

from flask import current_app, request
from werkzeug.wrappers import Response as BaseResponse

from app.web.context import settings as current_settings

HSTS_MAX_AGE_S = 365 * 24 * 3600


def content_security_policy(script_hashes: list[str], tile_origins: Sequence[str] = ()) -> str:
    """As strict as Dash and plotly.js allow: no remote origins (but a configured tile server's),
    no inline script but Dash's own."""
    scripts = " ".join(["'self'", *script_hashes])  # Dash quotes its hashes already
    tiles = "".join(f" {origin}" for origin in tile_origins)
    return "; ".join([
        "default-src 'self'",
        f"script-src {scripts}",
        # plotly.js writes <style> elements at run time.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:" + tiles,
        "font-src 'self' data:",
        "connect-src 'self'" + tiles,
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


def security_headers(response: BaseResponse) -> BaseResponse:
    """Add CSP and the other protective headers to every answer."""
    policy = current_app.extensions["cityops"].get("csp")
    # A policy governs documents: the once-a-second JSON and 204 answers need none, and it is
    # most of their bytes.
    if policy and response.mimetype == "text/html" and response.status_code != 204:
        response.headers.setdefault("Content-Security-Policy", policy)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if current_settings().web.secure_cookies:
        # Secure cookies mean the site is served over HTTPS: browsers should never try plain HTTP.
        response.headers.setdefault("Strict-Transport-Security", f"max-age={HSTS_MAX_AGE_S}")
    if not request.path.startswith(("/assets/", "/_dash-component-suites/", "/login/")):
        response.headers.setdefault("Cache-Control", "no-store")
    return response
