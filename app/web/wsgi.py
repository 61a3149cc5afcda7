"""The WSGI entry point for gunicorn: ``gunicorn app.web.wsgi:application``."""

from __future__ import annotations

from app.web import fonts
from app.web.server import create_app

_app = create_app()
application = _app.server
# Issue 18: the served Chinese font is ready (from the data directory's cache, or cut once) before
# a kiosk asks for it.
_settings = application.extensions["cityops"]["settings"]
fonts.warm(_settings.web.cjk_font, _settings.data_dir)
