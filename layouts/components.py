"""Components shared by every page: the shell (navigation, live status, banner) and domain cards."""

from __future__ import annotations

from typing import Any, Callable, Mapping

import dash
import redis
from dash import Input, Output, dcc, html
from flask import has_request_context, session

from app import i18n
from app.kpis import reading as kpi_reading
from app.kpis.status import effective_status
from app.live.status import domain_versions
from app.model import roles
from app.model.domains import DOMAINS
from app.web.context import current_principal, redis_client, require_roles, settings
from layouts import first_page, ids, pulse

# English names (logs, exports' machine columns); people read domain_title() in their language.
DOMAIN_TITLES: dict[str, str] = {
    "transport": "Transport",
    "water": "Water",
    "medical": "Medical",
    "city": "City management",
}
TICK_MS = 1000

WALL_PATH = "/wall"  # the wall page (layouts/wall.py takes its path from here)


def format_time(ts: float | None, with_date: bool = False) -> str:
    """A Unix time as wall-clock time in the city's time zone and the reader's locale ("—" if none)."""
    return i18n.format_datetime(ts, with_date, tz=settings().city.timezone)


def graph_config(**options: Any) -> dict[str, Any]:
    """A dcc.Graph's config in the reader's language: plotly's own dates and month names follow the
    page (assets/plotly-locale.js registers the Chinese ones); ``options`` are the chart's own."""
    return {"displaylogo": False, **options, "locale": i18n.HTML_LANG[i18n.current_language()]}


DROPDOWN_WORDS = ("selected_count", "select_all", "deselect_all", "search", "clear_search",
                  "clear_selection", "no_options_found")


def dropdown_labels() -> dict[str, str]:
    """The words a Dash dropdown writes itself ("2 selected", its search box, "nothing found"),
    in the reader's language: Dash's own are English (a Chinese screen showed "2 selected")."""
    return {word: i18n.t(f"dropdown.{word}") for word in DROPDOWN_WORDS}


def actor_words(actor: str) -> str:
    """Who acted, in words: a person's or a token's name as given, the system's own parts
    ("system:rules") and its tokens ("token:<name>") named in the reader's language."""
    kind, _, name = actor.partition(":")
    if kind == "system" and i18n.has(f"audit_log.system.{name}"):
        return i18n.t(f"audit_log.system.{name}")
    if kind == "token" and name:
        return i18n.t("audit_log.by_token", name=name)
    if actor == "cli":  # made with the command line (`cityops token create`): no person named
        return i18n.t("audit_log.by_cli")
    return actor


def addr_words(addr: str) -> str:
    """Where an action came from: an address as recorded, the background service in words."""
    return i18n.t("audit_log.from_runner") if addr == "runner" else addr


def domain_title(domain: str) -> str:
    """A domain's name in the reader's language."""
    return i18n.label("domain", domain)


def page_title(path: str) -> str:
    """A page's name in the navigation, in the reader's language (roles.PAGES holds the English)."""
    return i18n.t_or(f"page.{path}", roles.PAGE_BY_PATH[path].title if path in roles.PAGE_BY_PATH
                     else path)


def tab_title(path: str) -> Callable[..., str]:
    """The browser tab's title of the page at ``path``, computed per request (Dash calls it)."""

    def title(**_path_variables: str) -> str:
        return i18n.t("title.suffix", title=page_title(path))

    return title


def _nav(role: str) -> html.Details:
    links = [dcc.Link(page_title(page.path), href=page.path, className="nav-link",
                      id=f"nav-{page.path.strip('/') or 'overview'}")
             for page in roles.pages_for(role)]
    # On phone widths the links fold behind a "Menu" button (assets/phone.css, assets/phone.js);
    # on a desk the button is hidden and the links show as a row.
    return html.Details(id=ids.NAV_MENU, className="phone-fold nav-menu", children=[
        html.Summary(i18n.t("phone.menu"), className="phone-fold-button nav-menu-button"),
        html.Nav(links, id=ids.NAV, className="nav")])


def _csrf() -> str:
    return session.get("csrf", "") if has_request_context() else ""


def language_switch() -> html.Form:
    """"EN | 中文": a POST to /lang (CSRF token in the form) that stores the choice and reloads."""
    current = i18n.current_language()
    buttons: list[Any] = []
    for lang in i18n.LANGUAGES:
        if buttons:
            buttons.append(html.Span("|", className="lang-sep", **{"aria-hidden": "true"}))
        buttons.append(html.Button(
            i18n.LABELS[lang], type="submit", name="lang", value=lang, id=f"lang-{lang}", lang=lang,
            className="btn-link lang-button" + (" active" if lang == current else ""),
            disabled=lang == current, **{"aria-pressed": "true" if lang == current else "false"}))
    return html.Form(action="/lang", method="post", className="lang-switch", id=ids.LANG_SWITCH,
                     title=i18n.t("shell.language"), children=[
                         dcc.Input(type="hidden", name="csrf_token", value=_csrf()), *buttons])


def _who(principal_name: str, role: str) -> html.Div:
    return html.Div(className="who", children=[
        html.Span(principal_name, className="who-name"),
        html.Span(i18n.label("role", role), className=f"role-badge role-{role}"),
        html.Form(action="/logout", method="post", className="logout-form", children=[
            dcc.Input(type="hidden", name="csrf_token", value=_csrf()),
            html.Button(i18n.t("shell.sign_out"), type="submit", id="logout-button",
                        className="btn-link"),
        ]),
    ])


def shell() -> html.Div:
    """The layout around every page, built per request for the signed-in principal."""
    principal = current_principal()
    name = principal.name if principal else ""
    role = principal.role if principal else ""
    return html.Div(id=ids.SHELL, className="shell theme-desk", children=[
        html.Header(className="topbar", children=[
            html.Div("CityOps", className="brand"),
            _nav(role),
            # The city's time, written each second by assets/cityops.js (no Dash callback: one
            # fewer on every page's tick).
            html.Div(id=ids.CLOCK, className="clock", **{"data-tz": settings().city.timezone}),
            language_switch(),
            _who(name, role),
        ]),
        html.Div(i18n.t("shell.link_lost"),
                 id=ids.LINK_BANNER, className="link-banner", hidden=True, role="alert"),
        html.Div(id=ids.DATA_AS_OF, className="data-as-of", children=i18n.t("shell.connecting")),
        # The page's tick: moved by assets/cityops.js's own timer, and only when a gate of the
        # page fires (layouts/pulse.py); a dcc.Interval would cost the renderer every second.
        dcc.Store(id=ids.TICK, data={"n": 0, "every": TICK_MS}),
        dcc.Store(id=ids.SEEN),
        # The strip follows every batch (pages redraw on what it answers, SEEN); on the wall,
        # where nothing reads SEEN, only what it shows apart from its times, which the page
        # keeps current itself (issue 20).
        *pulse.stores(ids.SEEN, follow=("status",), follow_on={WALL_PATH: ("shown",)}),
        dcc.Store(id=ids.CITY_TIMEZONE, data=settings().city.timezone),
        dcc.Store(id=ids.LANGUAGE, data=i18n.HTML_LANG[i18n.current_language()]),
        html.Main(first_page.container(), className="page"),
    ])


def kpi_value_parts(kpi: Mapping[str, Any]) -> tuple[str, str]:
    """A KPI's value and its unit as a person reads them, apart (the wall sets the unit smaller);
    a dash when unknown, no unit for a count."""
    value = kpi.get("value")
    if value is None:
        return "—", ""
    unit = str(kpi.get("unit") or "")
    if unit.startswith("{"):  # UCUM annotations such as {vehicle} are counts
        return i18n.format_number(value, 0), ""
    return i18n.format_number(value, 1), unit


def kpi_value_text(kpi: Mapping[str, Any]) -> str:
    """A KPI's value with its unit, as a person reads it (a dash when unknown)."""
    number, unit = kpi_value_parts(kpi)
    return f"{number} {unit}" if unit else number


def domain_card(domain: str, version: int, updated_at: float | None,
                kpis: list[dict[str, Any]] | None = None) -> html.Div:
    """A card with a domain's KPIs (value and status colour) and the age of its data."""
    if updated_at is None:
        body: list[Any] = [html.Div(i18n.t("card.no_data"), className="card-value muted"),
                           html.Div(i18n.t("card.waiting"), className="card-note")]
    else:
        body = [html.Div(i18n.t("card.data_as_of", time=format_time(updated_at)),
                         className="card-note")]
    if kpis:
        body.insert(0, html.Ul(className="kpi-list", children=[
            html.Li(className=f"kpi kpi-{effective_status(k)}", title=k.get("target", ""),  # issue 19
                    children=[html.Span(i18n.kpi_title(k), className="kpi-name"),
                              html.Span(kpi_value_text(k), className="kpi-value")])
            for k in kpis]))
    return html.Div(className=f"card domain-card domain-{domain}", children=[
        html.H3(domain_title(domain)), *body,
    ])


def domain_cards() -> list[html.Div]:
    """One card per domain from the store (no data while Redis is unreachable)."""
    versions = read_versions()
    try:
        r = redis_client()
        # The cards show city-wide KPIs; per zone, hospital or category ones are on the domain pages.
        kpis = {d: kpi_reading.current(r, d, city_only=True)
                for d in DOMAINS}
    except redis.RedisError:
        kpis = {d: [] for d in DOMAINS}
    return [domain_card(d, *versions[d], kpis=kpis[d]) for d in DOMAINS]


def register_tiles_refresh(app: dash.Dash, output_id: str, path: str) -> None:
    """Re-render a page's domain cards whenever the shell saw a version change."""

    @require_roles(roles.PAGE_BY_PATH[path].roles)
    def refresh_tiles(_seen: object) -> list[html.Div]:
        return domain_cards()

    app.callback(Output(output_id, "children"), Input(ids.SEEN, "data"),
                 prevent_initial_call=True)(refresh_tiles)


def read_versions() -> dict[str, tuple[int, float | None]]:
    """Every domain's (version, updated_at); "no data" for all while Redis is unreachable."""
    try:
        return domain_versions(redis_client())
    except redis.RedisError:
        return {domain: (0, None) for domain in DOMAINS}


def forbidden() -> html.Div:
    """What a page shows a role that may not open it (the server never renders the page)."""
    return html.Div(className="card", children=[
        html.H2(i18n.t("forbidden.title")), html.P(i18n.t("forbidden.body")),
    ])


def page_layout(path: str):  # type: ignore[no-untyped-def]
    """Decorate a page's layout function with the server-side role check for ``path``."""

    def decorate(func):  # type: ignore[no-untyped-def]
        def layout(**kwargs):  # type: ignore[no-untyped-def]
            principal = current_principal()
            if principal is None or not roles.may_open(principal.role, path):
                return forbidden()
            return func(**kwargs)

        layout.__name__ = func.__name__
        layout.__doc__ = func.__doc__
        return layout

    return decorate
