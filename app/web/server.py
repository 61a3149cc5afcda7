"""create_app(): the Flask server with the gate, the JSON API and the Dash app of every page."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import dash
import redis
from dash.exceptions import DependencyException
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from app.config import Settings, load_settings, resolve_secret_key
from app.store.embedded import EmbeddedRedis
from app.store.link import RedisUnavailable, connect
from app.web import (
    after_action,
    auth,
    compression,
    exports,
    fonts,
    guards,
    headers,
    install,
    live_versions,
    packing,
    pairing,
    public,
)
from app.web.api.admin import api_admin
from app.web.api.alerts import api_alerts
from app.web.api.city import api
from app.web.api.etags import conditional_get
from app.web.api.history import api_history
from app.web.api.incidents import api_incidents
from app.web.api.openapi import api_document
from app.web.api.shifts import api_shifts
from app.web.context import EXTENSION
from layouts import first_page, register_pages, status_strip
from layouts.components import shell

MAX_REQUEST_BYTES = 2 * 1024 * 1024


def assets_dir() -> Path:
    """The installed assets/ folder (CSS themes, clientside JavaScript, login stylesheet)."""
    return Path(str(resources.files("assets")))


def web_redis_url(settings: Settings) -> str:
    """The URL the web app uses: the configured one, or the embedded server that `up` runs."""
    if settings.redis.url:
        return settings.redis.url
    info = EmbeddedRedis(settings.data_dir).running()
    if info is None:
        raise RedisUnavailable(
            f"no embedded Redis runs for {settings.data_dir}: start CityOps with `cityops up`")
    return info.url


def create_app(settings: Settings | None = None, client: redis.Redis | None = None) -> dash.Dash:
    """Build the whole web app. ``client`` overrides the Redis client (tests pass their own)."""
    settings = settings or load_settings()
    # No static folder: Flask's default would serve files from the working directory under
    # /static/ (Dash serves assets/ itself); the package's own folder is the root, not the cwd.
    server = Flask("cityops", static_folder=None, root_path=str(Path(__file__).parent))
    server.secret_key = resolve_secret_key(settings)
    server.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    # Issue 18: brotli/gzip answers; first, so that it sees every answer last (app/web/compression.py).
    compression.install(server)
    # Dash's scripts at brotli's best, packed once in the background (app/web/packing.py).
    packing.install(server)
    if settings.web.trusted_proxies:
        # Behind a reverse proxy the connection comes from the proxy: the client's address (for
        # the login throttle and the audit) and the host (the same-site check) are the forwarded ones.
        n = settings.web.trusted_proxies
        server.wsgi_app = ProxyFix(server.wsgi_app, x_for=n, x_host=n)  # type: ignore[method-assign]
    server.extensions[EXTENSION] = {
        "settings": settings,
        "redis": client if client is not None else connect(web_redis_url(settings)),
    }
    auth.init_auth(server, settings)
    server.register_blueprint(api)
    server.register_blueprint(api_alerts)
    server.register_blueprint(api_incidents)
    server.register_blueprint(api_admin)
    server.register_blueprint(exports.blueprint)
    server.register_blueprint(public.blueprint)  # /public and its CAP feed (docs/public.md)
    # Shifts and handover, and incidents' after-action records (issue 15).
    server.register_blueprint(api_shifts)
    server.register_blueprint(after_action.blueprint)
    # Issue 16, the API: readings' history, the OpenAPI document, ETags on every JSON GET answer.
    server.register_blueprint(api_history)
    server.register_blueprint(api_document)
    server.register_blueprint(install.blueprint)  # issue 20: the web manifest and its icons
    server.register_blueprint(pairing.blueprint)  # issue 19: pairing a wall display (/pair)
    server.register_blueprint(live_versions.blueprint)  # issue 20: what a page's parts follow
    # Issue 18: the Chinese font for machines with none (app/web/fonts.py); the log says if missing.
    server.register_blueprint(fonts.blueprint)
    fonts.check(settings.web.cjk_font)
    server.after_request(conditional_get)
    app = dash.Dash(
        "cityops",
        server=server,
        use_pages=True,
        pages_folder="",
        assets_folder=str(assets_dir()),
        # Dash matches assets_ignore against bare file names, never folders: skip login/ by path.
        assets_path_ignore=["^login$"],
        serve_locally=True,
        title="CityOps",
        update_title=None,
        suppress_callback_exceptions=True,
        # The page of the address is drawn with the shell; the router skips it (layouts/first_page).
        routing_callback_inputs=first_page.ROUTING_INPUTS,
    )
    install.link_manifest(app)  # issue 20: every page links the manifest
    fonts.link_stylesheet(app)  # issue 18: the font stack and the served CJK font
    first_page.link_preloads(app)  # issue 18: lazily loaded scripts fetched with the others
    register_pages(app)
    first_page.wrap_registered_pages()  # issue 18: the router skips the page drawn with the shell
    status_strip.register(app)
    server.before_request(guards.json_body_guard)
    server.before_request(guards.callback_request_guard(app))
    server.before_request(guards.machine_route_guard)
    server.register_error_handler(DependencyException, guards.unknown_component)
    app.layout = shell
    # Dash finishes its setup (asset registry, Dash Pages' router and its inline page-title
    # script) in before_request hooks of the first request, unsafely under threaded workers
    # (plotly/dash#3971). One public request here does it before any real request is served.
    server.test_client().get("/healthz")
    # Dash's inline scripts are allowed by hash; nothing else inline may run.
    # A connected site's tile server (map.tile_url) is the one remote origin the pages may use.
    tile = urlsplit(settings.map.tile_url) if settings.map.tile_url else None
    server.extensions[EXTENSION]["csp"] = headers.content_security_policy(
        list(app.csp_hashes()), [f"{tile.scheme}://{tile.netloc}"] if tile else [])
    return app
