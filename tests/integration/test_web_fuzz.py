"""Fuzzing the web's inputs (issue 17): any JSON body, query string or callback request gets an
answer below 500.

Bodies are raw JSON text built from pieces that broke the app before (lone surrogate escapes,
repeated keys, deep nesting, control, invisible and bidirectional characters, non-ASCII digits)
mixed with arbitrary values, sent to every POST route of the API and to Dash's callback
endpoint; query strings with the same pieces go to every GET route of the API.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import accounts
from tests.support.security import rule_path, rules
from tests.support.web import LIVE_BODY, PASSWORD, csrf_header, login

FUZZ = settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
NASTY = ["\\ud800", "\\udfff", "\\u0000", "\\u0007", "\\u202e", "\\u2066", "\\u200b", "\\u3164",
         "\u00b2", "\u0663", "\r\n", "\\\\", "\u00e9", "\ufffe"]
FIELDS = ["title", "domain", "severity", "lat", "lon", "description", "note", "text", "user",
          "expected", "through", "output", "inputs", "state", "outputs", "changedPropIds"]


def _string() -> st.SearchStrategy[str]:
    """JSON string literals (with their quotes) holding the nasty pieces and arbitrary text."""
    piece = st.sampled_from(NASTY) | st.text(max_size=6).map(lambda t: json.dumps(t)[1:-1])
    return st.lists(piece, max_size=5).map(lambda parts: '"' + "".join(parts) + '"')


def _value() -> st.SearchStrategy[str]:
    scalar = (_string() | st.sampled_from(["null", "true", "1e999", "-0", "NaN", "12", "28.5"])
              | st.integers().map(str))
    return st.recursive(scalar, lambda inner: (
        st.lists(inner, max_size=3).map(lambda xs: "[" + ",".join(xs) + "]")
        | st.lists(st.tuples(st.sampled_from(FIELDS) | st.text(max_size=4), inner), max_size=4)
        .map(lambda kv: "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in kv) + "}")
        | st.integers(min_value=90, max_value=2000).map(lambda n: "[" * n + "]" * n)), max_leaves=8)


def _body() -> st.SearchStrategy[str]:
    """An object with known field names (sometimes twice) and arbitrary values, or any value."""
    member = st.tuples(st.sampled_from(FIELDS), _value())
    return (st.lists(member, max_size=6).map(
        lambda kv: "{" + ",".join(f'"{k}":{v}' for k, v in kv) + "}") | _value())


@pytest.fixture
def admin(web_app: Any, r: redis.Redis) -> Any:
    accounts.add_user(r, "fuzzer", "admin", PASSWORD)
    client = web_app.server.test_client()
    assert login(client, "fuzzer").status_code == 302
    return client


def _post_paths(web_app: Any) -> list[str]:
    return sorted({rule_path(rule) for rule in rules(web_app)
                   if rule.rule.startswith("/api/") and "POST" in (rule.methods or ())}
                  | {"/_dash-update-component"})


def _get_paths(web_app: Any) -> list[str]:
    return sorted({rule_path(rule) for rule in rules(web_app)
                   if rule.rule.startswith("/api/") and "GET" in (rule.methods or ())})


@FUZZ
@given(data=st.data())
def test_any_json_body_gets_an_answer_below_500(web_app: Any, admin: Any, data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(_post_paths(web_app)))
    body = data.draw(_body())
    response = admin.post(path, data=body.encode("utf-8", "surrogatepass"),
                          content_type="application/json", headers=csrf_header(admin))
    assert response.status_code < 500, (path, body[:200], response.data[:200])


@FUZZ
@given(data=st.data())
def test_any_query_gets_an_answer_below_500(web_app: Any, admin: Any, data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(_get_paths(web_app)))
    names = ["limit", "count", "state", "domain", "severity", "kind", "include", "before", "x",
             # issue 16: readings, paging and history windows
             "readings", "cursor", "metric", "kpi", "since", "until", "step"]
    query = data.draw(st.lists(st.tuples(st.sampled_from(names),
                                         st.lists(st.sampled_from(NASTY) | st.text(max_size=5),
                                                  max_size=3).map("".join)), max_size=3))
    url = path + "?" + "&".join(f"{k}={quote(v.encode('utf-8', 'surrogatepass'))}"
                                for k, v in query)
    response = admin.get(url)
    assert response.status_code < 500, (url, response.data[:200])


@FUZZ
@given(part=st.sampled_from(["inputs", "state", "outputs", "changedPropIds", "output"]),
       value=_value())
def test_a_mutated_callback_request_gets_an_answer_below_500(admin: Any, part: str,
                                                              value: str) -> None:
    body = json.dumps({k: v for k, v in LIVE_BODY.items() if k != part})
    mutated = body[:-1] + f',"{part}":{value}' + "}"
    response = admin.post("/_dash-update-component", data=mutated.encode("utf-8", "surrogatepass"),
                          content_type="application/json", headers=csrf_header(admin))
    assert response.status_code < 500, (mutated[:200], response.data[:200])
