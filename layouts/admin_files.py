"""The rules and SOP files part of /admin (issue 19), read-only: which alert rules file and which
SOP catalogue the settings name (the shipped default, or the city's own path), how many rules,
incident types and steps they hold, and the result of checking each as `cityops rules check` and
`cityops sop check` do (ok, or the check's own message, shown as text)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dash import html

from app import i18n
from app.alerts import rules
from app.incidents import sop
from app.web.context import settings
from layouts import ids

DEFAULT_RULES = "default_rules.toml"


@dataclass(frozen=True)
class FileCheck:
    """One file as checked: which it is, what it holds (None when it does not validate), the error."""

    title_key: str
    path: Path | None
    default_name: str
    contents: str | None
    error: str
    kept_key: str


def check_rules(path: Path | None) -> FileCheck:
    """The alert rules file ``path`` (None: the shipped default), checked."""
    try:
        loaded = rules.load_rules(path)
    except rules.RulesError as exc:
        return FileCheck("admin_files.rules", path, DEFAULT_RULES, None, str(exc),
                         "admin_files.rules_kept")
    contents = i18n.t("admin_files.rules_counts", rules=i18n.format_number(len(loaded.thresholds)))
    return FileCheck("admin_files.rules", path, DEFAULT_RULES, contents, "", "")


def check_sop(path: Path | None) -> FileCheck:
    """The SOP catalogue ``path`` (None: the shipped default), checked."""
    try:
        catalogue = sop.load_catalogue(path)
    except sop.SopError as exc:
        return FileCheck("admin_files.sop", path, sop.DEFAULT_FILE, None, str(exc),
                         "admin_files.sop_kept")
    steps = sum(len(kind.steps) for kind in catalogue.types.values())
    contents = i18n.t("admin_files.sop_counts", types=i18n.format_number(len(catalogue.types)),
                      steps=i18n.format_number(steps),
                      departments=i18n.format_number(len(catalogue.departments)))
    return FileCheck("admin_files.sop", path, sop.DEFAULT_FILE, contents, "", "")


def _card(found: FileCheck) -> html.Div:
    which = (i18n.t("admin_files.own", file=str(found.path)) if found.path is not None
             else i18n.t("admin_files.default", file=found.default_name))
    check: list[Any]
    if found.error:
        check = [html.Span(i18n.t("admin_files.failed"), className="error"),
                 html.Pre(found.error, className="admin-file-error"),
                 html.P(i18n.t(found.kept_key), className="muted")]
    else:
        check = [html.Span(i18n.t("admin_files.ok"), className="ok")]
    return html.Div(className="card admin-file", children=[
        html.H3(i18n.t(found.title_key)),
        html.Dl([html.Dt(i18n.t("admin_files.file")), html.Dd(which, className="admin-file-path"),
                 html.Dt(i18n.t("admin_files.contents")), html.Dd(found.contents or "—"),
                 html.Dt(i18n.t("admin_files.check")), html.Dd(check)])])


def section() -> html.Section:
    """The part of the admin page: a card for the rules file and one for the SOP catalogue."""
    config = settings()
    return html.Section(className="admin-files", children=[
        html.H2(i18n.t("admin.files")),
        html.P(i18n.t("admin_files.intro"), className="muted"),
        html.Div(className="card-grid", id=ids.ADMIN_FILES, children=[
            _card(check_rules(config.alerts.rules_file)),
            _card(check_sop(config.incidents.sop_file))]),
    ])
