"""The page a browser opens, drawn into the shell's layout: one round trip less before it shows.

Dash Pages draws a page in two steps: the browser fetches the layout (the shell with an empty page
container), then its router callback asks for the page of the address bar. On a phone on a slow link
that second round trip is ~0.3 s of the ~3 s budget to the first alert card (issue 18). Here the
shell's layout already holds the page of the address the layout was fetched from (the request's
Referer), with the address bar's parts for its dcc.Location, which then has nothing to set when it
mounts, so the router is not asked for that page at all. Should it be asked anyway, it skips: the
page container's store records which page was drawn, and the router (given that store as a State)
answers "no update" for it. The router's own answers rewrite the store without that record, so
coming back to the same address later draws it as usual.

Each page's own role check runs as before: the page is drawn by the same layout function.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping
from urllib.parse import parse_qs, urlsplit

import dash
from dash import State, dcc, html
from dash.exceptions import PreventUpdate
from flask import has_request_context, request

# Dash Pages' own ids for the parts of its page container (dash.page_container).
LOCATION, CONTENT, STORE, DUMMY = "_pages_location", "_pages_content", "_pages_store", "_pages_dummy"
DRAWN = "drawn"  # the key of the store's record of the page drawn with the layout
# What the router passes each layout, besides the address's query (Dash(routing_callback_inputs)).
ROUTER_STATE = "_drawn_with_shell"
ROUTING_INPUTS = {ROUTER_STATE: State(STORE, "data")}


def _page_key(path: str, query: Mapping[str, Any]) -> str:
    return json.dumps([path, sorted((k, v) for k, v in query.items())])


def _query(search: str) -> dict[str, Any]:
    """The query as Dash Pages' router hands it to a layout (one value, or a list if repeated)."""
    parsed = parse_qs(search, keep_blank_values=True)
    return {k: v[0] if len(v) == 1 else v for k, v in parsed.items()}


def _address() -> tuple[str, dict[str, Any]] | None:
    """The path and query of the page this layout request comes from (same host only)."""
    if not has_request_context() or not request.referrer:
        return None
    parts = urlsplit(request.referrer)
    if parts.netloc != request.host:
        return None
    return "/" + parts.path.strip("/"), _query(parts.query)


def _location_props() -> dict[str, str]:
    """The address bar as the browser shows it (from the Referer, fragment aside), for the page
    container's dcc.Location. Given in the layout, the Location has nothing to set when it mounts;
    left out, it set them from the address bar on mount, and a link pressed before that update
    was drawn (a page drawn early on a loaded machine) was sent back to this page by it."""
    parts = urlsplit(request.referrer)
    return {"pathname": parts.path or "/", "search": f"?{parts.query}" if parts.query else "",
            "href": request.referrer.split("#", 1)[0], "hash": ""}


def _page(path: str) -> Mapping[str, Any] | None:
    for page in dash.page_registry.values():
        if page.get("path") == path:
            return page
    return None


def container() -> html.Div:
    """Dash Pages' page container, holding the page of the address the layout is fetched for."""
    content: Any = None
    record: dict[str, Any] | None = None
    location: dict[str, str] = {}
    address = _address()
    page = _page(address[0]) if address else None
    if address is not None and page is not None:
        path, query = address
        layout = page["layout"]
        content = layout(**query) if callable(layout) else layout
        title = page["title"]
        record = {"title": title() if callable(title) else title, DRAWN: _page_key(path, query)}
        location = _location_props()
    return html.Div([
        dcc.Location(id=LOCATION, refresh="callback-nav", **location),
        html.Div(content, id=CONTENT, disable_n_clicks=True),
        dcc.Store(id=STORE, data=record),
        html.Div(id=DUMMY, disable_n_clicks=True),
    ])


def skip_when_drawn(path: str, layout: Callable[..., Any]) -> Callable[..., Any]:
    """``layout`` for the router: "no update" when the shell already drew this page and query."""

    def routed(**kwargs: Any) -> Any:
        drawn = kwargs.pop(ROUTER_STATE, None)
        if isinstance(drawn, dict) and drawn.get(DRAWN) == _page_key(path, kwargs):
            raise PreventUpdate
        return layout(**kwargs)

    routed.__name__ = getattr(layout, "__name__", "layout")
    routed.__doc__ = layout.__doc__
    routed.skips_drawn = True  # type: ignore[attr-defined]
    return routed


def wrap_registered_pages() -> None:
    """Give every registered page's layout the router's skip (after every page is registered)."""
    for page in dash.page_registry.values():
        if callable(page.get("layout")) and not getattr(page["layout"], "skips_drawn", False):
            page["layout"] = skip_when_drawn(page["path"], page["layout"])


# Dash loads some components' code only when a page first draws one (dcc.Dropdown's is a separate
# chunk); the filters of /alerts use it, and React holds the page back until it has come. Fetched
# beside the other scripts instead, it costs no round trip of its own on a slow link.
LAZY_SCRIPTS = ("/_dash-component-suites/dash/dcc/async-dropdown.js",)


# Dash's renderer asks for the page's layout and the callback graph only once every script has
# run: on a slow link that is a round trip after ~2 s of scripts. Preloaded, they come beside the
# scripts and the renderer's own requests (fetch, same-origin credentials: what a preload with
# crossorigin="anonymous" matches) are answered from the preload.
EARLY_ANSWERS = ("_dash-layout", "_dash-dependencies")


def link_preloads(app: dash.Dash) -> None:
    """Put a preload of each lazily loaded script, and of the layout and callback graph, into the
    head of every page."""
    marker = "{%css%}"
    prefix = app.config.requests_pathname_prefix or "/"
    links = "".join(f'<link rel="preload" as="script" href="{path}">' for path in LAZY_SCRIPTS)
    links += "".join(f'<link rel="preload" as="fetch" crossorigin="anonymous" href="{prefix}{name}">'
                     for name in EARLY_ANSWERS)
    if marker in app.index_string and links not in app.index_string:
        app.index_string = app.index_string.replace(marker, links + marker, 1)
