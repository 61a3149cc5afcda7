"""Calling every route and callback as each role, and seeing what a refused request left behind."""

from __future__ import annotations

import json
from typing import Any

import redis
from werkzeug.routing import Rule

from app import alerts, store
from app.model import roles
from app.web.context import require_roles
from tests.support.web import csrf_header, login

ADMIN, OPERATOR, EMERGENCY, OFFICIAL, WALL = (roles.ADMIN, roles.OPERATOR, roles.EMERGENCY,
                                              roles.OFFICIAL, roles.WALL)


NEW_ALERT = {"title": "Burst main", "domain": "water", "severity": "major", "lat": 28.56,
             "lon": 112.35, "description": "Reported by phone"}
NEW_INCIDENT = {"title": "Burst main", "type": "water_main_burst", "lat": 28.56, "lon": 112.35,
                "description": "Reported by phone"}


def rules(web_app: Any) -> list[Rule]:
    """Every rule of the Flask URL map."""
    return list(web_app.server.url_map.iter_rules())


def rule_path(rule: Rule, **values: str) -> str:
    """A concrete path for ``rule``, from ARG_SAMPLES unless ``values`` say otherwise."""
    missing = [arg for arg in rule.arguments if arg not in ARG_SAMPLES and arg not in values]
    assert not missing, f"add a sample value for URL variable(s) {missing} of {rule.rule}"
    built = rule.build({arg: values.get(arg, ARG_SAMPLES.get(arg)) for arg in rule.arguments})
    assert built is not None, rule.rule
    return built[1]


def callback_request(key: str, spec: dict[str, Any], values: dict[str, Any] | None = None,
                     trigger: str | None = None) -> dict[str, Any]:
    """The JSON Dash's renderer POSTs for the callback ``key``; ``values`` by "id.property"
    (a pattern-matching input takes the list of its matches), None for the others."""
    values = values or {}
    names = key.strip(".").split("...") if key.startswith("..") else [key]
    outputs = [{"id": n.rsplit(".", 1)[0], "property": n.rsplit(".", 1)[1]} for n in names]

    def wildcard(component_id: str) -> bool:
        return component_id.startswith("{") and any(
            isinstance(v, list) for v in json.loads(component_id).values())

    def entry(item: dict[str, Any]) -> Any:
        name = f"{item['id']}.{item['property']}"
        if wildcard(item["id"]):
            return values.get(name, [])
        component = json.loads(item["id"]) if item["id"].startswith("{") else item["id"]
        return {"id": component, "property": item["property"], "value": values.get(name)}

    inputs = [entry(i) for i in spec["inputs"]]
    first = next((f"{i['id']}.{i['property']}" for i in spec["inputs"]
                  if not wildcard(i["id"])), None)
    return {"output": key, "outputs": outputs if key.startswith("..") else outputs[0],
            "inputs": inputs, "state": [entry(s) for s in spec["state"]],
            "changedPropIds": [trigger or first] if (trigger or first) else []}


def callback_key(web_app: Any, name: str) -> str:
    """The callback map key of the server callback implemented by ``name``."""
    found = [k for k, (n, _) in server_callbacks(web_app).items() if n == name]
    assert len(found) == 1, (name, found)
    return found[0]


class Caller:
    """One way in: a signed-in browser session (sending Dash's CSRF header) or a bearer token."""

    def __init__(self, role: str, client: Any, token: str | None = None) -> None:
        self.role = role
        self.client = client
        self.token = token

    def headers(self) -> dict[str, str]:
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        return csrf_header(self.client)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One request; POSTs carry ``body`` as JSON."""
        if method == "POST":
            return self.client.post(path, json=body if body is not None else {},
                                    headers=self.headers())
        return self.client.open(path, method=method, headers=self.headers())


def session_caller(web_app: Any, role: str, name: str) -> Caller:
    client = web_app.server.test_client()
    assert login(client, name).status_code == 302
    return Caller(role, client)




class Snapshot:
    """Every key of Redis with its serialized value, to tell whether a request wrote anything."""

    def __init__(self, raw: redis.Redis) -> None:
        self.raw = raw
        self.values = self._read()
        self.audit_ids = {e.id for e in store.audit.read(raw, 10_000)}

    def _read(self) -> dict[bytes, bytes | None]:
        return {key: self.raw.dump(key) for key in self.raw.scan_iter(count=1000)}

    def written(self) -> list[str]:
        """Keys created, changed or deleted since the snapshot. Refusals that the audit log noted
        (outcome "denied", with the keys that count repeated anonymous refusals) are the one
        write a refused request may make."""
        now = self._read()
        changed = {k.decode() for k in self.values.keys() | now.keys()
                   if self.values.get(k) != now.get(k)}
        new = [e for e in store.audit.read(self.raw, 10_000) if e.id not in self.audit_ids]
        if all(e.outcome == "denied" for e in new):
            audit_slot = store.keys.Keys.audit.rsplit(":", 1)[0] + ":"  # the audit's own keys
            changed = {k for k in changed if not k.startswith(audit_slot)}
        return sorted(changed)


def water_alert(r: redis.Redis, fingerprint: str) -> str:
    return alerts.raise_alert(r, fingerprint=fingerprint, title="Low pressure", severity="major",
                              domain="water", source="rule", lat=28.5, lon=112.3).alert_id


# A value for each URL variable of the URL map (a new variable name must be added here).
ARG_SAMPLES = {"domain": "transport", "alert_id": "al-0123456789abcdef", "action": "ack",
               "filename": "theme.css", "package_name": "dash",
               "fingerprinted_path": "deps/polyfill.js", "path": "no-such-page",
               "name": "operator1", "map_id": "wall-map",
               # incidents (issue 15): sweeps that need real ones pass tests.support.incidents'
               "incident_id": "in-0123456789ab", "task_id": "tk-0123456789ab",
               "proposal_id": "pr-0123456789ab", "incident_action": "note", "task_action": "note",
               "proposal_action": "dismiss",
               # shifts (issue 15): sweeps that need a real sheet pass tests.support.shifts'
               "handover_id": "ho-0123456789ab",
               # entities (issue 16): sweeps that need a real one pass tests.support.api's
               "entity_id": "t:stop:1"}


def server_callbacks(web_app: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    """Callback map key -> (name of the function, spec), for callbacks that run on the server."""
    return {key: (innermost(spec["callback"]), spec) for key, spec in web_app.callback_map.items()
            if spec.get("callback") is not None}


# -- helpers -------------------------------------------------------------------------------------------
_GUARD_CODE = require_roles(())(lambda: None).__code__


def guard_roles(func: Any) -> frozenset[str] | None:
    """The roles a ``require_roles`` guard anywhere in ``func``'s wrapper chain admits (None: no guard)."""
    while func is not None:
        if getattr(func, "__code__", None) is _GUARD_CODE:
            cells = dict(zip(func.__code__.co_freevars,
                             (c.cell_contents for c in func.__closure__), strict=True))
            return frozenset(cells["allowed_roles"])
        func = getattr(func, "__wrapped__", None)
    return None


def innermost(func: Any) -> str:
    """``module.qualname`` of the function at the bottom of a wrapper chain."""
    while getattr(func, "__wrapped__", None) is not None:
        func = func.__wrapped__
    return f"{func.__module__}.{func.__qualname__}"
