"""The public status page (issue 16): what it says for a city with warnings, disruptions, water
problems and a public incident, in both languages; hostile feed text inert; no ids, names of
operators or internal codes; rendered by the runner's job and served from the worker's copy,
never per request, with ETag/304, caching and the protective headers.
"""

from __future__ import annotations

import gzip
import re
import time
from typing import Any, Iterator

import pytest
import redis

from app import incidents, store
from app.model.records import Event
from app.public import job
from app.public.page import MAX_CARDS
from app.public.served import PublicDocuments
from app.store import public as public_store
from app.store.link import connect
from app.web.context import EXTENSION
from app.web.public import DOCUMENTS_KEY, PAGE_POLICY
from data_adapters.cap.parse import parse_cap
from tests.support.incidents import CATALOGUE, person
from tests.support.public import documents, feed_alerts, render_public, visible_text
from tests.support.seeds.public import HOSTILE, OPERATOR, PublicCity, cap_alert, seed_public_city
from tests.support.web import login

# Codes that are ours, not words: alert states, incident ids, entity ids, units in braces, and
# ten-digit numbers (epoch seconds).
CODES = re.compile(r"active_unack|active_ack|cleared_unack|cleared_ack|\bin-[0-9a-f]{12}\b|"
                   r"\bal-[0-9a-f]|\b[a-z]{1,8}:(?:vehicle|route|sensor|alert|trip|cap):|\{[a-z]+\}|"
                   r"\b1[0-9]{9}\b")


@pytest.fixture
def city(web_app: Any, r: redis.Redis) -> Iterator[PublicCity]:
    """The seeded city, rendered once by the job as the runner would."""
    seeded = seed_public_city(r, time.time())
    assert render_public(web_app, r) is True
    yield seeded
    documents(web_app).forget()


def page(client: Any, lang: str = "en") -> str:
    response = client.get(f"/public?lang={lang}")
    assert response.status_code == 200, response.data[:300]
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def test_the_page_says_what_the_city_has(client: Any, city: PublicCity) -> None:
    """Warnings in force (the feed's and the public incident's), the disruption and the lines
    running late by their names, the water zones with their problems, the public incident with its
    text, and when it was updated; what is restricted, expired, on target or not public is not."""
    text = visible_text(page(client))
    for name, shown in city.shown.items():
        assert " ".join(shown.split()) in text, name
    assert "12: about 10 min late" in text and "Riverside Line: about 7 min late" in text
    assert "Other lines running late: 1" in text  # the line without a name is only counted
    assert "5: about" not in text  # on time
    for words in ("Low water pressure", "Water quality outside limits", "Suspected leak",
                  "Problems reported: 1", "Level II (orange)", "Status: Declared", "Updated "):
        assert words in text, words
    for hidden in city.hidden:
        assert hidden not in text, hidden


def test_the_chinese_page_is_the_same_city_in_chinese(client: Any, city: PublicCity) -> None:
    """?lang=zh: every heading and word of ours in Chinese; feed text as sent."""
    html = page(client, "zh")
    text = visible_text(html)
    assert '<html lang="zh-CN">' in html
    for words in ("城市运行状态", "生效中的预警", "突发事件", "公共交通", "供水", "水压偏低",
                  "疑似管网漏水", "Ⅱ级（橙色）", "更新于", "晚点线路"):
        assert words in text, words
    assert city.shown["warning"] in text and city.shown["incident_text"] in text
    for english in ("Warnings in force", "Low water pressure", "Updated "):
        assert english not in text


def test_accept_language_picks_the_language_only_without_lang(client: Any, city: PublicCity) -> None:
    """No lang: the browser's Accept-Language chooses (and the answer varies by it); lang wins."""
    chinese = client.get("/public", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert "城市运行状态" in chinese.get_data(as_text=True)
    assert "Accept-Language" in chinese.headers["Vary"]
    english = client.get("/public?lang=en", headers={"Accept-Language": "zh-CN"})
    assert "City status" in english.get_data(as_text=True)
    assert "Accept-Language" not in english.headers["Vary"]
    assert "City status" in client.get("/public", headers={"Accept-Language": "fr"}).get_data(
        as_text=True)


def test_hostile_feed_text_is_inert(client: Any, city: PublicCity) -> None:
    """Every hostile string is written escaped: no element, attribute or script comes of it."""
    for lang in ("en", "zh"):
        html = page(client, lang)
        assert "<script" not in html and "<img" not in html and "<svg" not in html
        assert "onerror=" not in html.replace("onerror=alert(2)&gt;", "")
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert HOSTILE in visible_text(html)


def test_no_ids_no_operator_names_no_codes(client: Any, city: PublicCity) -> None:
    """Neither page nor feed names an operator, an incident or entity id, an alert state, a unit
    code or an epoch time."""
    for lang in ("en", "zh"):
        html = page(client, lang)
        text = visible_text(html)
        assert not CODES.search(text), CODES.search(text)
        for hidden in (OPERATOR, city.incident_id, city.hidden_incident_id):
            assert hidden not in html
    feed = client.get("/public/cap.atom").get_data(as_text=True)
    for hidden in (OPERATOR, city.incident_id, city.hidden_incident_id, "HB-07", "pt:"):
        assert hidden not in feed, hidden


def test_an_empty_city_says_so(web_app: Any, client: Any, r: redis.Redis) -> None:
    """Nothing wrong: each section says there is nothing, in words."""
    assert render_public(web_app, r) is True
    text = visible_text(page(client))
    for words in ("No warnings in force.", "No incidents announced.",
                  "No disruptions or delays reported.", "No water supply problems reported."):
        assert words in text


def test_lang_is_checked_before_anything_is_read(web_app: Any, client: Any, r: redis.Redis,
                                                 city: PublicCity) -> None:
    """An unknown or repeated lang is a 400 naming it, and Redis hears nothing of the request."""
    documents(web_app).forget()
    before = r.info("commandstats")
    for query in ("lang=fr", "lang=en&lang=zh", "lang=" + "x" * 5000, "lang=%3Cscript%3E"):
        response = client.get(f"/public?{query}")
        assert response.status_code == 400, query
        assert "lang" in response.get_data(as_text=True)
    after = r.info("commandstats")
    asked = {k: v["calls"] - before.get(k, {}).get("calls", 0) for k, v in after.items()
             if k != "cmdstat_info"}
    assert not any(asked.values()), asked
    # Other parameters (a campaign tag on a shared link) change nothing.
    assert client.get("/public?lang=en&utm_source=x").status_code == 200


def test_etag_304_cache_control_gzip_and_headers(client: Any, city: PublicCity) -> None:
    """An ETag per document and encoding, 304 for a client that has it, a short public cache, gzip
    when asked, a policy that allows no script, and no cookie."""
    for path, mimetype in (("/public?lang=en", "text/html"), ("/public/cap.atom", "application/atom+xml")):
        first = client.get(path)
        assert first.status_code == 200 and first.mimetype == mimetype
        etag = first.headers["ETag"]
        assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
        assert first.headers["Cache-Control"] == "public, max-age=5"
        assert first.headers["X-Content-Type-Options"] == "nosniff"
        assert first.headers["X-Frame-Options"] == "DENY"
        assert "Set-Cookie" not in first.headers
        again = client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag
        zipped = client.get(path, headers={"Accept-Encoding": "gzip"})
        assert zipped.headers["Content-Encoding"] == "gzip" and zipped.headers["ETag"] != etag
        assert gzip.decompress(zipped.data) == first.data
        assert "Accept-Encoding" in zipped.headers["Vary"]
        for answer in (first, again, zipped):  # one copy in a shared cache, not one per cookie
            assert "cookie" not in answer.headers.get("Vary", "").lower(), path
    html = client.get("/public?lang=en")
    assert html.headers["Content-Security-Policy"] == PAGE_POLICY
    assert "script-src" not in PAGE_POLICY and "default-src 'none'" in PAGE_POLICY
    assert "<form" not in html.get_data(as_text=True)


def test_the_page_is_rendered_by_the_job_not_per_request(web_app: Any, client: Any, r: redis.Redis,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Before the job ran: 503 with Retry-After, nothing rendered. After one run: two pages
    rendered (one per language), and hundreds of requests render nothing more and cost Redis
    one version check and one read."""
    renders: list[str] = []
    real = job.render_page

    def counted(view: Any, lang: str, tz: str) -> str:
        renders.append(lang)
        return real(view, lang, tz)

    monkeypatch.setattr(job, "render_page", counted)
    seed_public_city(r, time.time())
    copy = PublicDocuments(check_every_s=3600.0)
    monkeypatch.setitem(web_app.server.extensions[EXTENSION], DOCUMENTS_KEY, copy)
    early = client.get("/public?lang=en")
    assert early.status_code == 503 and early.headers["Retry-After"] == "5"
    assert renders == []
    copy.forget()
    assert job.render(r, web_app.server.extensions[EXTENSION]["settings"], "tests") is True
    assert sorted(renders) == ["en", "zh"]
    before = r.info("stats")["total_commands_processed"]
    for i in range(300):
        path = ("/public?lang=en", "/public?lang=zh", "/public/cap.atom")[i % 3]
        assert client.get(path).status_code == 200
    spent = r.info("stats")["total_commands_processed"] - before
    # One HGET of the version, then one transaction reading the documents (MULTI, HGET, HMGET,
    # three GET, EXEC), and the INFO that measures: 9, whatever the number of requests.
    assert spent <= 9, spent
    assert sorted(renders) == ["en", "zh"]
    assert public_store.read_meta(r)["renders"] == "1"


def test_the_route_answers_once_and_its_answer_is_replayed(web_app: Any, client: Any,
                                                          r: redis.Redis, city: PublicCity,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain GETs of one document: the route runs once (per language choice and encoding), the
    other answers are the same bytes and headers; a conditional request, HEAD and another query
    go to the route. A new version is answered by the route again."""
    calls: list[str] = []
    views = web_app.server.view_functions
    for endpoint in ("public.public_page", "public.public_feed"):
        real = views[endpoint]

        def counted(real: Any = real, endpoint: str = endpoint) -> Any:
            calls.append(endpoint)
            return real()

        monkeypatch.setitem(views, endpoint, counted)
    answers = [client.get("/public?lang=zh") for _ in range(50)]
    assert calls == ["public.public_page"]
    assert {a.data for a in answers} == {answers[0].data}
    assert {tuple(sorted(a.headers.items())) for a in answers} == {tuple(sorted(answers[0].headers.items()))}
    for _ in range(20):
        client.get("/public/cap.atom", headers={"Accept-Encoding": "gzip"})
        client.get("/public", headers={"Accept-Language": "zh"})
    assert calls.count("public.public_feed") == 1 and calls.count("public.public_page") == 2
    client.get("/public?lang=zh", headers={"If-None-Match": answers[0].headers["ETag"]})
    client.head("/public?lang=zh")
    client.get("/public?lang=zh&utm_source=x")
    assert calls.count("public.public_page") == 5
    assert render_public(web_app, r, now=time.time() + 120) is True
    assert client.get("/public?lang=zh").data != answers[0].data
    assert calls.count("public.public_page") == 6


def test_an_unchanged_city_keeps_its_version_and_a_change_is_served(web_app: Any, client: Any,
                                                                    r: redis.Redis, city: PublicCity
                                                                    ) -> None:
    """Rendering again within the minute changes nothing (no worker fetches again); an incident
    made public is on the page after the next render."""
    version = public_store.read_version(r)
    assert render_public(web_app, r) is False
    assert public_store.read_version(r) == version
    operator = person(OPERATOR)
    made = incidents.declare(r, operator, CATALOGUE, title="Gas smell near the market",
                             kind=next(iter(CATALOGUE.types)), level="III")
    assert "Gas smell near the market" not in page(client)
    incidents.change(r, operator, CATALOGUE, made["id"], "public", public=True)
    assert render_public(web_app, r) is True
    assert public_store.read_version(r) != version
    assert "Gas smell near the market" in visible_text(page(client))


def test_one_renderer_at_a_time(web_app: Any, r: redis.Redis, city: PublicCity) -> None:
    """Two runners: the one holding the lease (the fixture's, "tests") renders, the other does
    nothing and its documents are not touched."""
    settings = web_app.server.extensions[EXTENSION]["settings"]
    renders = public_store.read_meta(r)["renders"]
    assert job.render(r, settings, "runner-b") is None
    assert public_store.read_meta(r)["renders"] == renders
    assert job.render(r, settings, "tests") is not None
    assert int(public_store.read_meta(r)["renders"]) == int(renders) + 1


def test_a_worker_keeps_serving_its_copy_while_redis_is_away(r: redis.Redis, city: PublicCity) -> None:
    """The copy is fetched while Redis answers; a client that cannot reach Redis still gets it."""
    copy = PublicDocuments(check_every_s=0.0)
    served = copy.get(r, "page:en")
    assert served is not None and b"City status" in served.body
    gone = connect("redis://127.0.0.1:1/0")
    assert copy.get(gone, "page:en") == served
    with pytest.raises(redis.RedisError):
        PublicDocuments().get(gone, "page:en")  # nothing to serve yet: the web answers 503


@pytest.mark.parametrize("path", ["/public/", "/public/x", "/public/cap.atom/x", "/publicx"])
def test_only_the_two_paths_are_public(client: Any, path: str) -> None:
    """Public paths match exactly: Dash's catch-all under /public is behind the gate."""
    response = client.get(path)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?")


def test_a_crowded_cap_feed_is_counted_on_the_page_and_whole_in_the_feed(web_app: Any, client: Any,
                                                                          r: redis.Redis) -> None:
    """A national feed's 55 warnings: the page lists MAX_CARDS and counts the rest, the CAP feed
    carries all of them."""
    messages = [cap_alert(f"N-{i}", f"Gale warning {i}", time.time()) for i in range(MAX_CARDS + 5)]
    events = [item for doc in messages for item in parse_cap(doc, "national", time.time())
              if isinstance(item, Event)]
    store.entities.write_batch(r, "city", "national", events=events)
    assert render_public(web_app, r) is True
    text = visible_text(page(client))
    assert text.count("Gale warning") == MAX_CARDS and "More not listed here: 5" in text
    assert len(feed_alerts(client.get("/public/cap.atom").data)) == MAX_CARDS + 5


def test_a_signed_in_visitor_gets_the_same_public_answer(web_app: Any, r: redis.Redis,
                                                        users: dict[str, str], city: PublicCity) -> None:
    """An operator's browser (with its session cookie) gets the very page an anonymous visitor gets:
    no cookie set, nothing that varies by cookie, nothing of theirs on it."""
    operator = web_app.server.test_client()
    assert login(operator, users["operator"]).status_code == 302
    anonymous = web_app.server.test_client()
    for path in ("/public?lang=en", "/public?lang=zh", "/public/cap.atom"):
        theirs, public = operator.get(path), anonymous.get(path)
        assert theirs.status_code == 200 and theirs.data == public.data
        assert "Set-Cookie" not in theirs.headers and "cookie" not in theirs.headers["Vary"].lower()
        assert users["operator"] not in theirs.get_data(as_text=True)
