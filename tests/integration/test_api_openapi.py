"""GET /api/v1/openapi.json: a valid OpenAPI 3.1 document of every route served, each operation
called with its own example and its answer checked against the shape the document gives."""

from __future__ import annotations

import re
from typing import Any, Callable
from urllib.parse import urlencode

import pytest
import redis
from flask import Blueprint, Flask, jsonify
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from app import accounts, store
from app.model import roles
from app.web.api import openapi
from app.web.api.schema import Answer, Field, inputs
from app.web.context import require_roles
from tests.support.api import problems, readings_sample
from tests.support.incidents import incident_sample
from tests.support.security import ADMIN, Caller, session_caller, water_alert
from tests.support.shifts import shift_sample

DOC = "/api/v1/openapi.json"
_VAR = re.compile(r"\{([^}]+)\}")


@pytest.fixture
def admin(web_app: Any, users: dict[str, str]) -> Caller:
    return session_caller(web_app, ADMIN, users[ADMIN])


@pytest.fixture
def document(admin: Caller) -> dict[str, Any]:
    response = admin.call("GET", DOC)
    assert response.status_code == 200
    return response.get_json()


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    """openapi-spec-validator (an independent implementation of the specification) accepts it."""
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_the_validator_can_refuse() -> None:
    """The same check fails on a document that breaks the specification (so the pass means something)."""
    with pytest.raises(OpenAPIValidationError):
        validate({"openapi": "3.1.0", "info": {"title": "x"}, "paths": {"/a": {"get": {
            "responses": {"200": {"content": {"application/json": {"schema": {"type": 7}}}}}}}}})


def _served(web_app: Any) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of every route under /api/v1, read from Flask's URL map directly."""
    found = set()
    for rule in web_app.server.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        view = web_app.server.view_functions[rule.endpoint]
        path = re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule.rule)
        by = getattr(view, "input_body_by", "")
        paths = ([path.replace("{" + by + "}", v) for v in view.input_body] if by else [path])
        for method in {"GET", "POST", "PUT", "PATCH", "DELETE"} & set(rule.methods or ()):
            found |= {(p, method.lower()) for p in paths}
    return found


def test_every_served_route_is_documented(web_app: Any, document: dict[str, Any]) -> None:
    """Each route the app serves under /api/v1 (each action of a route that takes several) is an
    operation of the document, whoever added it, and the document has nothing else."""
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    served = _served(web_app)
    assert served - documented == set()
    assert documented - served == set()
    assert {("/api/v1/openapi.json", "get"), ("/api/v1/tasks/{task_id}/take", "post"),
            ("/api/v1/audit/archive", "post"), ("/api/v1/kpis/history", "get")} <= documented


def test_a_route_added_later_is_documented_without_a_list() -> None:
    """The generator walks the routes: a blueprint it has never heard of appears, with its
    declared parameters, answer and roles."""
    app = Flask("probe")
    probe = Blueprint("api_probe", "probe", url_prefix="/api/v1")

    @probe.get("/probe/<thing_id>")
    @require_roles({roles.OPERATOR})
    @inputs(query=(Field("colour", "choice", choices=("red", "blue"), example="red"),),
            answers=(Answer(200, "Me", "a probe"),))
    def look(thing_id: str) -> Any:
        """Look at a thing."""
        return jsonify({})

    app.register_blueprint(probe)
    found = openapi.build(app)["paths"]["/api/v1/probe/{thing_id}"]["get"]
    assert found["summary"] == "Look at a thing."
    assert found["x-roles"] == [roles.OPERATOR]
    assert [p["name"] for p in found["parameters"]] == ["thing_id", "colour"]
    assert found["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Me"}
    validate(openapi.build(app))


def test_roles_in_the_document_are_the_guards(web_app: Any, document: dict[str, Any]) -> None:
    """x-roles of an operation is what its view's require_roles admits (audit: admins only)."""
    assert document["paths"]["/api/v1/audit"]["get"]["x-roles"] == [roles.ADMIN]
    assert set(document["paths"]["/api/v1/alerts"]["post"]["x-roles"]) == {roles.ADMIN,
                                                                          roles.OPERATOR}
    assert set(document["paths"]["/api/v1/me"]["get"]["x-roles"]) == set(roles.USER_ROLES)


def test_the_document_is_for_signed_in_callers_only(client: Any, r: redis.Redis) -> None:
    """Anonymous: 401; a wall display token: 403; an official's API token: 200."""
    assert client.get(DOC).status_code == 401
    wall = accounts.create_token(r, "lobby", "wall")
    assert client.get(DOC, headers={"Authorization": f"Bearer {wall}"}).status_code == 403
    token = accounts.create_token(r, "reporting", "official")
    assert client.get(DOC, headers={"Authorization": f"Bearer {token}"}).status_code == 200


# -- calling every operation with its example ------------------------------------------------------
class Samples:
    """Real ids for the URL variables of an operation (fresh ones per call, so that no call
    depends on another's side effects)."""

    def __init__(self, r: redis.Redis, admin: Caller, users: dict[str, str]) -> None:
        self.r, self.admin, self.users = r, admin, users
        self.city = readings_sample(r)  # a water city with readings, and a transport KPI
        self.n = 0

    def values(self, variables: list[str], operation: str) -> dict[str, str]:
        self.n += 1
        tag = f"{operation}:{self.n}"
        found: dict[str, str] = {}
        if {"incident_id", "task_id", "proposal_id"} & set(variables):
            found.update(incident_sample(self.r, self.users[ADMIN], tag))
        if operation.startswith("/api/v1/shifts/"):  # the admin on duty, a sheet to take over
            found.update(shift_sample(self.r, self.users[ADMIN]))
        factories: dict[str, Callable[[], str]] = {
            "alert_id": lambda: water_alert(self.r, tag),
            "entity_id": lambda: self.city["entity_id"],
            "domain": lambda: self.city["domain"],
            "name": lambda: self.users[roles.OPERATOR],
        }
        for name in variables:
            if name not in found:
                assert name in factories, f"add a sample for URL variable {{{name}}} ({operation})"
                found[name] = factories[name]()
        return found

    def body(self, example: dict[str, Any], ids: dict[str, str], operation: str) -> dict[str, Any]:
        """The example body with the ids of this call where it names one."""
        body = dict(example)
        tag = f"{operation}:{self.n}:body"
        if operation.endswith("/unlink"):
            body["alert"] = ids["linked_alert"]
        elif operation.endswith("/link"):
            body["alert"] = water_alert(self.r, tag)
        if "alerts" in body or operation.endswith("/incidents"):
            body["alerts"] = water_alert(self.r, tag + ":declared")
        if operation.endswith("/audit/archive"):
            body["through"] = store.audit.read(self.r, 1)[0].id
        return body


def _example_query(parameters: list[dict[str, Any]]) -> str:
    pairs = [(p["name"], ",".join(p["example"]) if isinstance(p["example"], list) else p["example"])
             for p in parameters if p["in"] == "query" and "example" in p]
    return "?" + urlencode(pairs) if pairs else ""


def test_every_operation_answers_its_example(document: dict[str, Any], r: redis.Redis,
                                            admin: Caller, users: dict[str, str]) -> None:
    """Each documented operation, called by an admin with the examples the document gives (and
    real ids in its URL), answers a status it documents, in the shape it documents for it."""
    samples = Samples(r, admin, users)
    offenders = []
    called = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            name = f"{method.upper()} {path}"
            ids = samples.values(_VAR.findall(path), path)
            url = _VAR.sub(lambda m, ids=ids: ids[m.group(1)], path)
            url += _example_query(operation.get("parameters", []))
            body = None
            if "requestBody" in operation:
                example = operation["requestBody"]["content"]["application/json"]["example"]
                body = samples.body(example, ids, path)
            response = admin.call(method.upper(), url, body)
            called += 1
            documented = {code: answer for code, answer in operation["responses"].items()
                          if code.startswith("2")}
            answer = documented.get(str(response.status_code)) or documented.get("2XX")
            if answer is None:
                offenders.append((name, url, response.status_code,
                                  response.get_data(as_text=True)[:200]))
                continue
            content = answer.get("content", {})
            if response.mimetype not in content and content:
                offenders.append((name, "media", response.mimetype, sorted(content)))
            elif response.mimetype == "application/json" and content:
                wrong = problems(document, content["application/json"]["schema"],
                                 response.get_json())
                if wrong:
                    offenders.append((name, "shape", wrong[:3]))
            if method == "get" and response.mimetype == "application/json" and not (
                    response.headers.get("ETag")):
                offenders.append((name, "no ETag"))
    assert offenders == []
    assert called >= 50


def test_the_shape_check_can_fail(document: dict[str, Any]) -> None:
    """An alert without its state, or with a state the API never gives, does not pass."""
    shape = {"$ref": "#/components/schemas/Alert"}
    good = {"id": "al-0123456789abcdef", "state": "active_unack", "severity": "major",
            "domain": "water", "title": "t", "description": "", "count": 1, "source": "rule",
            "acked_by": "", "assignee": "", "escalated": False, "notes": 0, "version": 1,
            "lat": None, "lon": None, "first_seen": 1.0, "last_seen": 1.0}
    assert problems(document, shape, good) == []
    assert problems(document, shape, {k: v for k, v in good.items() if k != "state"})
    assert problems(document, shape, dict(good, state="sleeping"))
