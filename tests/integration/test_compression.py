"""Compressed answers (issue 18): a client that asks with Accept-Encoding gets brotli or gzip it can
decode back to the plain answer; one that does not ask gets the plain answer. Dash's fingerprinted
scripts are cached for a year and marked immutable."""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path
from typing import Any

import brotli
import pytest

from app.web import packing
from tests.support.security import EMERGENCY, Caller, session_caller
from tests.support.web import LIVE_BODY, csrf_header

DECODE = {"gzip": gzip.decompress, "br": brotli.decompress}


@pytest.fixture
def staff(web_app: Any, users: dict[str, str]) -> Caller:
    return session_caller(web_app, EMERGENCY, users[EMERGENCY])


def _get(caller: Caller, path: str, encoding: str | None) -> Any:
    headers = dict(caller.headers(), **({"Accept-Encoding": encoding} if encoding else {}))
    return caller.client.get(path, headers=headers)


def _suite_paths(caller: Caller) -> list[str]:
    """The fingerprinted component suites the alerts page's document loads."""
    page = _get(caller, "/alerts", None).get_data(as_text=True)
    return re.findall(r'src="(/_dash-component-suites/[^"]+)"', page)


def _check(caller: Caller, path: str, same: bool = True, **post: Any) -> None:
    """Plain without Accept-Encoding; with it, each encoding decodes back to the same answer
    (``same=False``: an answer made per request, such as a page with its CSRF token, decodes to
    an answer of its kind)."""
    send = (lambda enc: caller.client.post(path, json=post["json"], headers=dict(
        csrf_header(caller.client), **({"Accept-Encoding": enc} if enc else {})))) if post else (
        lambda enc: _get(caller, path, enc))
    plain = send(None)
    assert plain.status_code == 200, (path, plain.status_code)
    assert "Content-Encoding" not in plain.headers, path
    body = plain.get_data()
    assert len(body) > 500, path
    for encoding, decode in DECODE.items():
        packed = send(f"{encoding}, deflate")
        assert packed.status_code == 200, (path, encoding)
        assert packed.headers.get("Content-Encoding") == encoding, (path, packed.headers)
        assert "Accept-Encoding" in packed.headers.get("Vary", ""), path
        wire = packed.get_data()
        # Files under /assets/ are sent streamed (chunked, no length); the rest say their length.
        assert int(packed.headers.get("Content-Length", len(wire))) == len(wire)
        decoded = decode(wire)
        if same:
            assert decoded == body, (path, encoding)
        else:
            assert decoded[:60] == body[:60] and abs(len(decoded) - len(body)) < 200, path
        assert len(wire) < len(body), (path, encoding)


def test_pages_scripts_and_styles_are_compressed_when_asked(staff: Caller) -> None:
    suites = _suite_paths(staff)
    assert any("dash_renderer" in p for p in suites), suites
    _check(staff, "/alerts", same=False)
    for path in [suites[0], next(p for p in suites if "dash_renderer" in p),
                 "/assets/theme.css", "/assets/alerts.js"]:
        _check(staff, path)


def test_callback_answers_and_the_api_are_compressed_when_asked(staff: Caller) -> None:
    _check(staff, "/_dash-layout", same=False)
    _check(staff, "/_dash-update-component", same=False, json=LIVE_BODY)
    _check(staff, "/api/v1/openapi.json")


def test_the_api_etag_is_the_plain_answers_whatever_the_encoding(staff: Caller) -> None:
    # The ETag is made from the plain body before compression, so it does not change with the
    # encoding (or with gzip's time stamp) and a poller's If-None-Match still gets its 304.
    tags = {enc: _get(staff, "/api/v1/openapi.json", enc).headers["ETag"]
            for enc in (None, "gzip", "br")}
    assert len(set(tags.values())) == 1, tags
    again = staff.client.get("/api/v1/openapi.json", headers=dict(
        staff.headers(), **{"Accept-Encoding": "gzip", "If-None-Match": tags["gzip"]}))
    assert again.status_code == 304 and again.get_data() == b""


def test_fingerprinted_suites_are_cached_for_a_year_and_pages_not_at_all(staff: Caller) -> None:
    suites = _suite_paths(staff)
    fingerprinted = [p for p in suites if re.search(r"\.v[0-9_]+m[0-9]+\.", p)]
    assert fingerprinted, suites
    for path in fingerprinted:
        answer = _get(staff, path, "br")
        assert answer.cache_control.max_age == 365 * 24 * 3600, path
        assert answer.cache_control.immutable, path
    page = _get(staff, "/alerts", "br")
    assert page.cache_control.no_store and not page.cache_control.immutable


def test_dash_scripts_are_packed_once_at_brotlis_best_and_kept(staff: Caller, web_app: Any,
                                                               tmp_path: Path) -> None:
    """The first answer of a script goes out at the quick level while a background thread packs
    it at 11; later answers are the packed copy (smaller, same script), kept on disk for every
    worker and the next run; a client without brotli still gets gzip."""
    packer = packing.Packer(tmp_path / "packed")
    web_app.server.extensions["cityops_packer"].__dict__.update(packer.__dict__)  # a fresh cache
    path = next(p for p in _suite_paths(staff) if "dash_renderer" in p)
    plain = _get(staff, path, None).get_data()
    first = _get(staff, path, "br")
    assert first.headers["Content-Encoding"] == "br"
    key = hashlib.sha256(plain).hexdigest()
    made = web_app.server.extensions["cityops_packer"].wait(key, timeout=120)
    assert made is not None and brotli.decompress(made) == plain
    assert (tmp_path / "packed" / f"{key}.br").read_bytes() == made  # kept for the next worker
    later = _get(staff, path, "br, gzip")
    assert later.headers["Content-Encoding"] == "br" and later.get_data() == made
    assert len(made) < len(first.get_data()) < len(plain)
    assert _get(staff, path, "gzip").headers["Content-Encoding"] == "gzip"
    # A new worker finds the copy on disk and never packs it itself.
    fresh = packing.Packer(tmp_path / "packed")
    assert fresh.packed(key) == made


def test_packing_leaves_pages_plotly_and_failed_answers_alone(staff: Caller, web_app: Any) -> None:
    """Only fingerprinted scripts up to a megabyte are packed: a page, a stylesheet or a 404 goes
    out as flask-compress makes it, and nothing is queued for them."""
    packer = web_app.server.extensions["cityops_packer"]
    before = set(packer._asked)
    for path in ("/alerts", "/assets/theme.css", "/_dash-component-suites/dash/nothing.v1m1.js"):
        _get(staff, path, "br")
    assert set(packer._asked) == before
    assert packing.BEST_MAX_BYTES < 4_000_000  # plotly.js (4.8 MB) stays at the quick level
