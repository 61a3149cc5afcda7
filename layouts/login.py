"""The login page and plain error pages, rendered on the server without Dash.

They are shown to people who are not signed in, who must not reach Dash's endpoints, so they
are plain HTML with one stylesheet and no script. Every value placed in them is escaped.
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlencode

from app import i18n

_HEAD = """<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/login/login.css">
</head>
"""


def _head(title: str) -> str:
    return _HEAD.format(title=escape(title), lang=i18n.HTML_LANG[i18n.current_language()])


def _switch(next_url: str) -> str:
    """Links to this page in each language (GET sets the cookie: a visitor has no session yet)."""
    links = []
    for lang in i18n.LANGUAGES:
        href = "/login?" + urlencode({"lang": lang, "next": next_url})
        current = ' aria-current="true"' if lang == i18n.current_language() else ""
        links.append(f'<a href="{escape(href)}" lang="{i18n.HTML_LANG[lang]}" '
                     f'class="lang-link" id="lang-{lang}"{current}>{escape(i18n.LABELS[lang])}</a>')
    return '<nav class="lang-switch">' + " | ".join(links) + "</nav>"


def page(csrf_token: str, message: str = "", next_url: str = "/") -> str:
    """The sign-in form, with an optional message (an error after a failed attempt)."""
    notice = f'<p class="notice" role="alert">{escape(message)}</p>' if message else ""
    t = i18n.t
    return _head(t("login.title")) + f"""<body>
<main class="card">
  {_switch(next_url)}
  <h1>CityOps</h1>
  <p class="sub">{escape(t("app.tagline"))}</p>
  {notice}
  <form method="post" action="/login" autocomplete="on">
    <input type="hidden" name="csrf_token" value="{escape(csrf_token)}">
    <input type="hidden" name="next" value="{escape(next_url)}">
    <label for="username">{escape(t("login.user"))}</label>
    <input id="username" name="username" type="text" maxlength="64" autocomplete="username"
           autocapitalize="none" spellcheck="false" required autofocus>
    <label for="password">{escape(t("login.password"))}</label>
    <input id="password" name="password" type="password" maxlength="1024"
           autocomplete="current-password" required>
    <button type="submit" id="login-submit">{escape(t("login.submit"))}</button>
  </form>
</main>
</body>
</html>
"""


def error_page(status: int, message: str) -> str:
    """A short page for a refused or failed request (never a traceback)."""
    return _head(f"{status} · CityOps") + f"""<body>
<main class="card">
  <h1>{status}</h1>
  <p class="notice" role="alert">{escape(message)}</p>
  <p><a href="/">{escape(i18n.t("error.back"))}</a> ·
     <a href="/login">{escape(i18n.t("error.sign_in"))}</a></p>
</main>
</body>
</html>
"""
