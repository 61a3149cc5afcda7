"""Shifts for tests: people on duty, and a handover sheet waiting to be taken over (the API and
callback sweeps act on real ones)."""

from __future__ import annotations

import itertools

import redis

from app.accounts import admin
from app.model.principal import Principal
from app.model.shifts import DUTY_ROLES
from app.shifts import duty, handover

_serial = itertools.count()


def sign_on_the_room(r: redis.Redis) -> None:
    """Every enabled operator and admin account on duty (the sweeps' callers among them)."""
    for user in admin.list_users(r):
        if user.get("role") in DUTY_ROLES and user.get("disabled") != "1":
            duty.sign_on(r, Principal(name=str(user["name"]), role=str(user["role"])))


def shift_sample(r: redis.Redis, actor: str, role: str = "admin") -> dict[str, str]:
    """``actor`` (an admin's name, or ``role``'s) on duty, and a sheet someone else wrote for them
    to take over."""
    writer = Principal(name=f"outgoing-{next(_serial)}", role="operator")
    duty.sign_on(r, writer)
    sheet = handover.write(r, writer, note="Sample handover")
    duty.sign_on(r, Principal(name=actor, role=role))
    return {"handover_id": sheet["id"]}
