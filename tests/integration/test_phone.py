"""The phone (issues 18 and 20) in-process: emergency staff land on /alerts after signing in, the
alerts page arrives with its cards and without a map (so no plotly.js), and the shell folds its
navigation into a menu named in the reader's language."""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any
from xml.etree import ElementTree

import pytest
import redis

from app import alerts
from app.i18n import t
from app.model import roles
from layouts import ids
from tests.support.incident_pages import find_all, texts
from tests.support.seeds.official import page_body
from tests.support.web import PASSWORD, csrf_header, login


def _alerts_page(client: Any) -> Any:
    response = client.post("/_dash-update-component", json=page_body("/alerts"),
                           headers=csrf_header(client))
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_json()["response"]["_pages_content"]["children"]


@pytest.mark.parametrize("role,asked,lands", [
    ("emergency", "/", "/alerts"),            # the default: their alerts, not the overview
    ("emergency", "/water", "/water"),        # a page they asked for is kept
    ("emergency", "/tasks?x=1", "/tasks?x=1"),
    ("operator", "/", "/"),
    ("official", "/", "/"),
    ("admin", "/", "/"),
])
def test_after_sign_in_emergency_staff_land_on_their_alerts(
        client: Any, users: dict[str, str], role: str, asked: str, lands: str) -> None:
    client.get("/login")
    token = client.get_cookie("_csrf_token").value
    response = client.post("/login", data={"username": users[role], "password": PASSWORD,
                                           "csrf_token": token, "next": asked})
    assert response.status_code == 302
    assert response.headers["Location"] == lands


def test_landing_keeps_what_was_asked_for_every_role() -> None:
    for role in roles.USER_ROLES:
        assert roles.landing(role, "/incidents") == "/incidents"
    assert roles.landing(roles.EMERGENCY) == "/alerts"
    assert roles.landing(roles.OPERATOR) == "/"
    assert roles.may_open(roles.EMERGENCY, roles.landing(roles.EMERGENCY))


def test_the_alerts_page_comes_with_its_cards_and_no_map(client: Any, users: dict[str, str],
                                                        r: redis.Redis) -> None:
    for i in range(3):
        alerts.raise_alert(r, fingerprint=f"phone:{i}", title=f"Pressure low {i}",
                           severity="critical", domain="water", source="manual",
                           lat=28.55, lon=112.36)
    assert login(client, users["emergency"]).status_code == 302
    page = _alerts_page(client)
    cards = find_all(page, lambda p: "alert-card" in str(p.get("className", "")).split())
    assert len(cards) == 3
    assert {f"Pressure low {i}" for i in range(3)} <= set(texts(page))
    # No Graph until an alert is opened: Dash fetches plotly.js only for a Graph on screen.
    assert find_all(page, lambda p: p.get("id") == ids.ALERT_MAP) == []
    assert not find_all(page, lambda p: "figure" in p)
    assert find_all(page, lambda p: p.get("id") == ids.ALERT_MAP_HOLDER)
    # The list's signature is set, so the first refresh does not draw the same cards again.
    shown = find_all(page, lambda p: p.get("id") == ids.ALERTS_SHOWN)
    assert shown and shown[0]["props"]["data"][0] is not None


@pytest.mark.parametrize("lang,menu,filters", [("en", "Menu", "Filters"), ("zh", "菜单", "筛选")])
def test_the_menu_and_the_filters_fold_in_the_readers_language(
        client: Any, users: dict[str, str], lang: str, menu: str, filters: str) -> None:
    client.set_cookie("lang", lang)
    assert login(client, users["emergency"]).status_code == 302
    shell = client.get("/_dash-layout").get_json()
    folds = find_all(shell, lambda p: p.get("id") == ids.NAV_MENU)
    assert len(folds) == 1 and menu in texts(folds[0])
    assert find_all(folds[0], lambda p: p.get("id") == ids.NAV)  # the links are inside it
    page = _alerts_page(client)
    fold = find_all(page, lambda p: p.get("id") == ids.ALERTS_FILTERS_TOGGLE)
    assert len(fold) == 1 and filters in texts(fold[0])
    assert find_all(fold[0], lambda p: p.get("id") == ids.ALERTS_FILTER_DOMAIN)


# -- installable (issue 20) ---------------------------------------------------------------------------
def _png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and raw rows of an 8-bit RGB PNG (each row led by its filter byte)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = {}, 8
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        body = data[at + 8:at + 8 + length]
        assert struct.unpack(">I", data[at + 8 + length:at + 12 + length])[0] == zlib.crc32(kind + body)
        chunks[kind] = chunks.get(kind, b"") + body
        at += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 2) and b"IEND" in chunks
    return width, height, zlib.decompress(chunks[b"IDAT"])


def test_the_manifest_and_its_icons_are_served_to_anyone(client: Any) -> None:
    answer = client.get("/manifest.webmanifest")
    assert answer.status_code == 200 and answer.mimetype == "application/manifest+json"
    manifest = json.loads(answer.get_data())
    assert manifest["start_url"] == "/alerts" and manifest["display"] == "standalone"
    assert manifest["name"] == "CityOps alerts" and manifest["theme_color"].startswith("#")
    sizes = {icon["sizes"]: icon for icon in manifest["icons"]}
    assert {"any", "192x192", "512x512"} <= set(sizes)
    for icon in manifest["icons"]:
        got = client.get(icon["src"])
        assert got.status_code == 200 and got.mimetype == icon["type"], icon
        if icon["type"] == "image/png":
            width, height, rows = _png_pixels(got.get_data())
            side = int(icon["sizes"].split("x")[0])
            assert (width, height) == (side, side) and len(rows) == side * (1 + 3 * side)
            corner, middle = rows[1:4], rows[(side // 2) * (1 + 3 * side) + 1 + 3 * (side // 2):][:3]
            assert corner == bytes.fromhex(manifest["theme_color"][1:]) and middle != corner
        else:
            svg = ElementTree.fromstring(got.get_data())
            assert svg.tag.endswith("svg") and len(svg) >= 2
    # Nothing else became public: a page still sends an anonymous caller to sign in.
    assert client.get("/alerts").status_code == 302


def test_the_manifest_speaks_the_readers_language(client: Any) -> None:
    client.set_cookie("lang", "zh")
    manifest = json.loads(client.get("/manifest.webmanifest").get_data())
    assert manifest["name"] == "CityOps 告警" and manifest["lang"] == "zh-CN"


def test_every_page_links_the_manifest(client: Any, users: dict[str, str]) -> None:
    assert 'rel="manifest" href="/manifest.webmanifest"' in client.get("/login").get_data(as_text=True)
    assert login(client, users["emergency"]).status_code == 302
    for path in ("/", "/alerts", "/tasks", "/incidents"):
        page = client.get(path).get_data(as_text=True)
        assert 'rel="manifest" href="/manifest.webmanifest"' in page, path
        assert '<meta name="theme-color"' in page, path


def test_the_layout_holds_the_page_it_is_fetched_for_and_the_router_skips_it(
        client: Any, users: dict[str, str], r: redis.Redis) -> None:
    """layouts/first_page: the page of the Referer's address comes in the layout's answer (only
    from this host, and still behind the page's role check); the router answers "no update" for
    the page so drawn and draws any other address (or the same one once it has drawn another)."""
    alerts.raise_alert(r, fingerprint="phone:first", title="Pressure low first", severity="major",
                       domain="water", source="manual")
    login(client, users["emergency"])

    def layout(referrer: str | None) -> Any:
        response = client.get("/_dash-layout", headers={"Referer": referrer} if referrer else {})
        assert response.status_code == 200
        return response.get_json()

    def store(found: Any) -> Any:
        stores = find_all(found, lambda props: props.get("id") == "_pages_store")
        assert len(stores) == 1
        return stores[0]["props"].get("data")

    drawn = layout("http://localhost/alerts")
    def listed(found: Any) -> bool:
        return bool(find_all(found, lambda props: props.get("id") == ids.ALERTS_LIST))

    assert listed(drawn)
    # The address bar's parts come with it: the Location has nothing to set as it mounts.
    location = find_all(layout("http://localhost/alerts?severity=major#x"),
                        lambda props: props.get("id") == "_pages_location")[0]["props"]
    assert {k: location.get(k) for k in ("pathname", "search", "href", "hash")} == {
        "pathname": "/alerts", "search": "?severity=major",
        "href": "http://localhost/alerts?severity=major", "hash": ""}
    bare = find_all(layout(None), lambda props: props.get("id") == "_pages_location")[0]["props"]
    assert "pathname" not in bare and "href" not in bare
    for other in (None, "http://elsewhere.example/alerts", "http://localhost/no-such-page"):
        assert not listed(layout(other)) and store(layout(other)) is None
    # A page this role may not open is drawn as its refusal, as the router would draw it.
    assert t("forbidden.title", "en") in texts(layout("http://localhost/admin"))

    record = store(drawn)
    body = page_body("/alerts")
    body["state"][0]["value"] = record
    skipped = client.post("/_dash-update-component", json=body, headers=csrf_header(client))
    assert skipped.status_code == 204
    for path, state in (("/tasks", record), ("/alerts", None), ("/alerts", "junk")):
        body = page_body(path)
        body["state"][0]["value"] = state
        routed = client.post("/_dash-update-component", json=body, headers=csrf_header(client))
        assert routed.status_code == 200, (path, state)
        assert routed.get_json()["response"]["_pages_content"]["children"]
