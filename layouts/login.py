"""The login page and plain error pages, rendered on the server without Dash.

They are shown to people who are not signed in, who must not reach Dash's endpoints, so they
are plain HTML with one stylesheet and no script. Every value placed in them is escaped.
"""

from __future__ import annotations

from html import escape

_HEAD = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/login/login.css">
</head>
"""


def page(csrf_token: str, message: str = "", next_url: str = "/") -> str:
    """The sign-in form, with an optional message (an error after a failed attempt)."""
    notice = f'<p class="notice" role="alert">{escape(message)}</p>' if message else ""
    return _HEAD.format(title="Sign in · CityOps") + f"""<body>
<main class="card">
  <h1>CityOps</h1>
  <p class="sub">City operations command center</p>
  {notice}
  <form method="post" action="/login" autocomplete="on">
    <input type="hidden" name="csrf_token" value="{escape(csrf_token)}">
    <input type="hidden" name="next" value="{escape(next_url)}">
    <label for="username">User name</label>
    <input id="username" name="username" type="text" maxlength="64" autocomplete="username"
           autocapitalize="none" spellcheck="false" required autofocus>
    <label for="password">Password</label>
    <input id="password" name="password" type="password" maxlength="1024"
           autocomplete="current-password" required>
    <button type="submit" id="login-submit">Sign in</button>
  </form>
</main>
</body>
</html>
"""


def error_page(status: int, message: str) -> str:
    """A short page for a refused or failed request (never a traceback)."""
    return _HEAD.format(title=f"{status} · CityOps") + f"""<body>
<main class="card">
  <h1>{status}</h1>
  <p class="notice" role="alert">{escape(message)}</p>
  <p><a href="/">Back to the overview</a> · <a href="/login">Sign in</a></p>
</main>
</body>
</html>
"""
