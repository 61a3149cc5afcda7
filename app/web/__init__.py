"""The web: create_app, the default-deny gate, sign-in and CSRF, the JSON API, exports, gunicorn hooks."""
