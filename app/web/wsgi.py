"""The WSGI entry point for gunicorn: ``gunicorn app.web.wsgi:application``."""

from __future__ import annotations

from app.web.server import create_app

application = create_app().server
