"""An incident's after-action record as one HTML document that opens offline: its map (area and
alerts, folium with Leaflet inlined, no tiles), its figures, alerts, tasks, who did what and its
whole timeline, in the reader's language.

It reuses the situation report's offline machinery (app.situation.report): the map links nothing,
Leaflet's files are inlined, and the finished document is checked to load nothing by URL. Text
that people or feeds wrote (titles, notes, names) is written as escape_feed writes it, in the
HTML by the template's autoescaping and in the map's JavaScript by escape_feed and SafePopup.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Mapping

import branca.element
import folium
from jinja2 import ChoiceLoader, Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from app import i18n
from app.incidents.after_action import (
    ALERT_ACK,
    MEASURES,
    Record,
    alert_rows,
    duration_text,
    durations,
    is_system,
    people,
    task_rows,
)
from app.model.incidents import LEVEL_HEX
from app.situation.mapdata import DEFAULT_CENTER
from app.situation.report import (
    BASEMAP_STYLES,
    DEFAULT_BASEMAP_STYLE,
    SEVERITY_STYLE,
    OfflineMap,
    SafePopup,
    assert_offline,
    clock,
    default_basemap_dir,
    escape_feed,
    leaflet_assets,
    read_basemap,
)
from app.situation.report.offline import drop_linked_files
from app.situation.report.render import FeedText

TEMPLATE = "after_action.html"
AREA_COLOUR = "#B3261E"
METRES_PER_DEGREE = 111_320.0  # of latitude, near enough for framing a map


def _finalize(value: object) -> object:
    """Every ``{{ value }}``: nothing for None, Markup as it is, anything else escaped as feed text."""
    if value is None:
        return ""
    if hasattr(value, "__html__"):
        return value
    return FeedText(value)


@functools.lru_cache(maxsize=1)
def environment() -> Environment:
    """This package's templates, with the situation report's (its stylesheet) behind them."""
    return Environment(
        loader=ChoiceLoader([PackageLoader("app.incidents", "templates"),
                             PackageLoader("app.situation.report", "templates")]),
        autoescape=select_autoescape(["html"]), undefined=StrictUndefined, finalize=_finalize,
        trim_blocks=True, lstrip_blocks=True)


# -- words ------------------------------------------------------------------------------------------
def actor_name(actor: str) -> str:
    """A person's name as written; what CityOps did itself as "the system"."""
    return i18n.t("after_action.system") if is_system(actor) else actor


def action_label(action: str) -> str:
    """What an entry of the timeline (or an alert's acknowledgement) did, in the reader's words."""
    if action == ALERT_ACK:
        return i18n.t("after_action.alert_ack")
    return i18n.label("incident_action", action)


def department_name(code: str, departments: Mapping[str, tuple[str, str]]) -> str:
    names = departments.get(code)
    if not names:
        return code
    return names[1] if i18n.current_language() == i18n.ZH and names[1] else names[0]


def task_title(task: Mapping[str, Any]) -> str:
    if i18n.current_language() == i18n.ZH and task.get("title_zh"):
        return str(task["title_zh"])
    return str(task.get("title", ""))


def entry_detail(entry: Mapping[str, Any], departments: Mapping[str, tuple[str, str]],
                 tasks: Mapping[str, Mapping[str, Any]], tz: str) -> str:
    """What a timeline entry concerned, in words (codes named, times as times)."""
    action, detail = str(entry.get("action", "")), str(entry.get("detail", ""))
    if action == "status":
        text = i18n.label("incident_status", detail)
    elif action == "level":
        text = " → ".join(i18n.label("incident_level", part.strip()) for part in detail.split("->"))
    elif action == "public":
        text = i18n.t("after_action.public_on" if detail == "1" else "after_action.public_off")
    elif action == "task_escalated":
        text = i18n.t("after_action.was_due", time=clock(_number(detail), tz, with_date=True))
    elif action == "task_auto":
        text = i18n.label("sop_action", detail)
    elif action == "task_reassigned":
        text = i18n.t("after_action.to_department", department=department_name(detail, departments))
    elif action == "area":
        text = ""
    else:
        text = detail  # a title, an alert's title or a user's name: as written
    task = tasks.get(str(entry.get("task", "")))
    if task is not None and action == "step_added":
        text = task_title(task)  # the step's title in the reader's language
    elif task is not None and action.startswith("task_"):
        text = f"{task_title(task)} · {text}" if text else task_title(task)
    return text


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


# -- the map ------------------------------------------------------------------------------------------
def _popup(title: str, rows: list[tuple[str, object]]) -> SafePopup:
    body = "".join(f"<tr><th>{escape_feed(k)}</th><td>{escape_feed(v)}</td></tr>"
                   for k, v in rows if v not in (None, ""))
    return SafePopup(f"<b>{escape_feed(title)}</b><table class='popup'>{body}</table>")


def _located(alert: Mapping[str, Any] | None) -> bool:
    return bool(alert) and isinstance(alert.get("lat"), (int, float)) and isinstance(  # type: ignore[union-attr]
        alert.get("lon"), (int, float))  # type: ignore[union-attr]


def _ring_points(area: Mapping[str, Any]) -> list[tuple[float, float]]:
    polygons = [area["coordinates"]] if area.get("type") == "Polygon" else area.get("coordinates") or []
    return [(float(p[1]), float(p[0])) for polygon in polygons if polygon for p in polygon[0]]


def build_map(record: Record, tz: str) -> OfflineMap:
    """The incident's area (its polygon, or its circle), its centre and its alerts; no tiles."""
    incident = record["incident"]
    points: list[tuple[float, float]] = []
    centre = ((incident["lat"], incident["lon"]) if incident.get("lat") is not None
              and incident.get("lon") is not None else None)
    fmap = OfflineMap(location=list(centre or DEFAULT_CENTER), zoom_start=14, tiles=None,
                      height="480px", control_scale=True)
    for name, collection in read_basemap(default_basemap_dir()):
        style = BASEMAP_STYLES.get(name, DEFAULT_BASEMAP_STYLE)
        folium.GeoJson(collection, name=name, style_function=lambda _f, s=style: s,
                       control=False).add_to(fmap)
    title = escape_feed(f"#{incident['number']} {incident['title']}")
    if incident.get("area"):
        folium.GeoJson({"type": "Feature", "properties": {}, "geometry": incident["area"]},
                       style_function=lambda _f: {"color": AREA_COLOUR, "weight": 3,
                                                  "fillColor": AREA_COLOUR, "fillOpacity": 0.12,
                                                  "className": "incident-area"},
                       tooltip=folium.Tooltip(title)).add_to(fmap)
        points += _ring_points(incident["area"])
    elif centre is not None and incident.get("radius_m"):
        radius = float(incident["radius_m"])
        folium.Circle(list(centre), radius=radius, color=AREA_COLOUR, weight=3,
                      fill=True, fill_color=AREA_COLOUR, fill_opacity=0.12,
                      class_name="incident-area", tooltip=folium.Tooltip(title)).add_to(fmap)
        # The circle's box, so that the map shows the whole area.
        dlat = radius / METRES_PER_DEGREE
        dlon = dlat / max(math.cos(math.radians(centre[0])), 0.01)
        points += [(centre[0] - dlat, centre[1] - dlon), (centre[0] + dlat, centre[1] + dlon)]
    if centre is not None:
        points.append(centre)
        folium.CircleMarker(list(centre), radius=6, color="#000000", weight=2, fill=True,
                            fill_color="#FFFFFF", fill_opacity=1, class_name="incident-centre",
                            tooltip=folium.Tooltip(title)).add_to(fmap)
    for row in alert_rows(record):
        alert = (record["alerts"].get(row["id"]) or {}).get("alert")
        if not _located(alert):
            continue
        severity = row["severity"] if row["severity"] in SEVERITY_STYLE else "info"
        colour, radius = SEVERITY_STYLE[severity]
        marker = folium.CircleMarker(
            [float(alert["lat"]), float(alert["lon"])], radius=radius, color="#000000", weight=2,  # type: ignore[index]
            fill=True, fill_color=colour, fill_opacity=0.95,
            class_name=f"report-marker report-alert severity-{severity}",
            tooltip=folium.Tooltip(escape_feed(f"{i18n.label('severity', severity)}: {row['title']}")))
        _popup(row["title"], [
            (i18n.t("after_action.col_opened"), clock(row["opened_at"], tz, True)),
            (i18n.t("after_action.col_acknowledged"), clock(row["acknowledged_at"], tz, True)),
            (i18n.t("after_action.col_by"), row["acknowledged_by"]),
            (i18n.t("after_action.col_to_ack"), duration_text(row["to_acknowledge_s"]))]).add_to(marker)
        marker.add_to(fmap)
        points.append((float(alert["lat"]), float(alert["lon"])))  # type: ignore[index]
    if len(set(points)) > 1:
        lats, lons = [p[0] for p in points], [p[1] for p in points]
        fmap.fit_bounds([[min(lats), min(lons)], [max(lats), max(lons)]], padding=(30, 30))
    return fmap


def _map_parts(record: Record, tz: str) -> dict[str, Markup]:
    figure = branca.element.Figure()
    build_map(record, tz).add_to(figure)
    figure.render()
    return {f"map_{part}": Markup(drop_linked_files(getattr(figure, part).render()))
            for part in ("header", "html", "script")}


# -- the document -------------------------------------------------------------------------------------
def context(record: Record, tz: str, departments: Mapping[str, tuple[str, str]],
            now: float) -> dict[str, Any]:
    """Everything templates/after_action.html writes, as text ready to show (or Markup to keep)."""
    incident = record["incident"]
    figures = durations(record)
    tasks_by_id = {task["id"]: task for task in record["tasks"]}

    def when(ts: float | None) -> str:
        return clock(ts, tz, with_date=True)

    measures = [{"id": name, "label": i18n.t(f"after_action.{name}"),
                 "value": duration_text(figures[f"{name}_s"]),
                 "start": when(figures[start]) if figures[start] is not None else "",
                 "end": when(figures[end]) if figures[end] is not None else "",
                 "who": actor_name(figures["first_task_accepted_by"])
                 if name == "to_first_task_accepted" else ""} for name, start, end in MEASURES]
    js, css = leaflet_assets()
    type_name = (incident.get("type_name_zh") if i18n.current_language() == i18n.ZH else None) \
        or incident.get("type_name") or ""
    return {
        "t": i18n.t, "lang": i18n.HTML_LANG[i18n.current_language()],
        "title": i18n.t("after_action.title", number=incident["number"], title=incident["title"]),
        "generated": i18n.t("after_action.generated", time=when(now), tz=tz),
        "leaflet_js": Markup(js), "leaflet_css": Markup(css),
        "facts": [(i18n.t("after_action.fact_type"), type_name),
                  (i18n.t("after_action.fact_level"), i18n.label("incident_level", incident["level"])),
                  (i18n.t("after_action.fact_status"), i18n.label("incident_status", incident["status"])),
                  (i18n.t("after_action.fact_commander"), incident.get("commander") or "—"),
                  (i18n.t("after_action.fact_declared"),
                   i18n.t("after_action.by_at", user=actor_name(incident.get("declared_by", "")),
                          time=when(incident.get("declared_at")))),
                  (i18n.t("after_action.fact_source"),
                   i18n.label("incident_source", incident.get("source", ""))),
                  (i18n.t("after_action.fact_closed"),
                   i18n.t("after_action.by_at", user=actor_name(incident.get("closed_by", "")),
                          time=when(incident.get("closed_at"))) if incident.get("closed_at") else "—")],
        "level_hex": LEVEL_HEX.get(incident["level"], "#555555"),
        "description": incident.get("description", ""),
        "measures": measures,
        "task_counts": i18n.t("after_action.task_counts", **{k: i18n.format_number(v) for k, v in
                                                            figures["tasks"].items()}),
        "alerts": [{"severity": i18n.label("severity", row["severity"]), "title": row["title"],
                    "domain": i18n.label("domain", row["domain"]), "opened": when(row["opened_at"]),
                    "acknowledged": when(row["acknowledged_at"]) if row["acknowledged_at"] else "—",
                    "by": row["acknowledged_by"] or "—", "to_ack": duration_text(row["to_acknowledge_s"]),
                    "link": i18n.t(f"after_action.link_{row['how'] or 'hand'}",
                                   user=actor_name(row["linked_by"]), time=when(row["linked_at"]))
                    + (" · " + i18n.t("after_action.unlinked") if row["link"] == "unlinked" else "")}
                   for row in alert_rows(record)],
        "tasks": [{"title": task_title(row), "department": department_name(row["department"], departments),
                   "state": i18n.label("task_state", row["state"])
                   + (" · " + i18n.t("after_action.left_open") if row["left_open"] else "")
                   + (" · " + i18n.t("after_action.by_system") if row["auto"] else ""),
                   "taken": i18n.t("after_action.by_at", user=actor_name(row["taken_by"]),
                                   time=when(row["taken_at"])) if row["taken_at"] else "—",
                   "finished": i18n.t("after_action.by_at", user=actor_name(row["finished_by"]),
                                      time=when(row["finished_at"])) if row["finished_at"] else "—",
                   "to_take": duration_text(row["to_take_s"]),
                   "duration": duration_text(row["duration_s"]),
                   "late": duration_text(row["late_s"]) if row["late_s"] is not None else "",
                   "late_class": "late" if row["late_s"] is not None else ""}
                  for row in task_rows(record)],
        "people": [{"who": actor_name(p["actor"]),
                    "what": i18n.t("report.list_sep").join(
                        f"{action_label(action)} ×{count}" if count > 1 else action_label(action)
                        for action, count in p["actions"].items()),
                    "first": when(p["first_at"]), "last": when(p["last_at"])}
                   for p in people(record)],
        "timeline": [{"at": when(e.get("at")), "who": actor_name(str(e.get("actor", ""))),
                      "what": action_label(str(e.get("action", ""))),
                      "detail": entry_detail(e, departments, tasks_by_id, tz),
                      "note": e.get("note", "")} for e in record["timeline"]],
        **_map_parts(record, tz),
    }


def render(record: Record, tz: str, departments: Mapping[str, tuple[str, str]], now: float,
           lang: str | None = None) -> str:
    """The after-action document in ``lang`` (the reader's language when None); opens offline."""
    with i18n.use_language(lang or i18n.current_language()):
        document = environment().get_template(TEMPLATE).render(context(record, tz, departments, now))
    assert_offline(document)
    return document
