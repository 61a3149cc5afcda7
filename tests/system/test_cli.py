"""The `cityops` command run as a real process: users, tokens, audit, configuration errors, embedded Redis."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import redis
from werkzeug.security import check_password_hash

from app import store
from app.store.embedded import EmbeddedRedis, free_port
from tests.support.cli import base_env, one_line_error, redis_pids_for, run_cli
from tests.support.paths import REPO
from tests.support.redis_server import RedisServer

PASSWORD = "a long enough password"
TOKEN_RE = re.compile(r"^cot_([0-9a-f]{12})_([A-Za-z0-9_-]{40,})$")


def snapshot(r: redis.Redis) -> dict[str, Any]:
    """Every key of the database with its content, to show that a failed command changed nothing."""
    out: dict[str, Any] = {}
    for key in r.scan_iter():
        kind = r.type(key)
        if kind == "hash":
            out[key] = r.hgetall(key)
        elif kind == "set":
            out[key] = r.smembers(key)
        elif kind == "stream":
            out[key] = r.xrange(key)
        elif kind == "string":
            out[key] = r.dump(key)  # some strings are MessagePack, not text
        else:  # pragma: no cover - CityOps uses no other type yet
            out[key] = kind
    return out


def everything_in(r: redis.Redis) -> str:
    """All keys and values of the database as one string, to look for secrets in."""
    return repr(sorted(snapshot(r).items(), key=lambda item: item[0]))


@pytest.fixture
def env(tmp_path: Path, redis_server: RedisServer, r: redis.Redis) -> dict[str, str]:
    """The environment of a CLI that uses the test Redis (emptied for each test)."""
    return base_env(tmp_path / "data", redis_server.url)


def add_user(env: dict[str, str], name: str, role: str = "operator",
             password: str = PASSWORD, *extra: str) -> subprocess.CompletedProcess[str]:
    """`cityops users add NAME --role ROLE --password-stdin` with ``password`` on stdin."""
    return run_cli(env, "users", "add", name, "--role", role, "--password-stdin", *extra,
                   stdin=password + "\n")


def actions(r: redis.Redis) -> list[tuple[str, str]]:
    """(action, target) of the audit entries, oldest first."""
    return [(e.action, e.target) for e in reversed(store.audit.read(r, count=1000))]


# -- users -----------------------------------------------------------------------------------------
def test_users_add_stores_a_scrypt_hash_only(env: dict[str, str], r: redis.Redis) -> None:
    """users add creates the user with a scrypt hash; the password itself is nowhere in Redis."""
    result = add_user(env, "alice", "operator")
    assert result.returncode == 0, result.stderr
    assert "alice" in result.stdout
    fields = store.auth.get_user(r, "alice")
    assert fields is not None
    assert fields["role"] == "operator"
    assert fields["disabled"] == "0"
    assert fields["pw"].startswith("scrypt:")
    assert check_password_hash(fields["pw"], PASSWORD)
    assert PASSWORD not in everything_in(r)


def test_users_list_plain_and_json(env: dict[str, str], r: redis.Redis) -> None:
    """users list shows the user in a table, and --json as structured data."""
    assert add_user(env, "alice", "official").returncode == 0
    table = run_cli(env, "users", "list")
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if line.startswith("alice"))
    assert row.split()[:4] == ["alice", "official", "all", "active"]
    listed = run_cli(env, "users", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert [(u["name"], u["role"], u["domains"], u["disabled"]) for u in data] == [
        ("alice", "official", [], False)]
    assert PASSWORD not in table.stdout + listed.stdout
    assert "scrypt" not in table.stdout + listed.stdout


def test_users_add_twice_fails_and_changes_nothing(env: dict[str, str], r: redis.Redis) -> None:
    """Adding an existing user: exit 1, one line, the first account (and the audit) untouched."""
    assert add_user(env, "alice", "operator").returncode == 0
    before = snapshot(r)
    line = one_line_error(add_user(env, "alice", "admin", "another long password"))
    assert "alice" in line and "exists" in line
    assert snapshot(r) == before


def test_users_add_bad_role_is_a_usage_error(env: dict[str, str], r: redis.Redis) -> None:
    """An unknown role is refused by the argument parser (exit 2) before anything is stored."""
    result = add_user(env, "alice", "superuser")
    assert result.returncode == 2
    assert "superuser" in result.stderr
    assert snapshot(r) == {}


@pytest.mark.parametrize(("name", "password", "expected"), [
    ("Bad Name!", PASSWORD, "name"),
    ("_alice", PASSWORD, "name"),
    ("alice", "short", "at least"),
    ("alice", "", "at least"),
])
def test_users_add_refuses_bad_input(env: dict[str, str], r: redis.Redis, name: str,
                                     password: str, expected: str) -> None:
    """A bad name or a too-short password: exit 1 with a one-line reason, nothing stored."""
    line = one_line_error(add_user(env, name, "operator", password))
    assert expected in line
    assert snapshot(r) == {}


def test_users_add_domains_for_emergency_staff(env: dict[str, str], r: redis.Redis) -> None:
    """--domains limits emergency staff to those domains; an unknown domain is refused."""
    result = add_user(env, "medic", "emergency", PASSWORD, "--domains", "transport, water")
    assert result.returncode == 0, result.stderr
    assert store.auth.get_user(r, "medic")["domains"] == "transport,water"  # type: ignore[index]
    data = json.loads(run_cli(env, "users", "list", "--json").stdout)
    assert data[0]["domains"] == ["transport", "water"]
    before = snapshot(r)
    line = one_line_error(add_user(env, "medic2", "emergency", PASSWORD, "--domains", "sewage"))
    assert "sewage" in line
    assert snapshot(r) == before


def test_users_add_without_password_stdin_and_no_terminal(env: dict[str, str],
                                                          r: redis.Redis) -> None:
    """Without --password-stdin and no terminal to ask on: a clear error, nothing stored."""
    result = run_cli(env, "users", "add", "alice", "--role", "operator", stdin=PASSWORD + "\n")
    line = one_line_error(result)
    assert "--password-stdin" in line
    assert snapshot(r) == {}


def test_users_passwd_changes_hash_and_ends_sessions(env: dict[str, str], r: redis.Redis) -> None:
    """users passwd stores a new scrypt hash and bumps the session epoch."""
    assert add_user(env, "alice").returncode == 0
    before = store.auth.get_user(r, "alice")
    assert before is not None
    new_password = "a brand new password"
    result = run_cli(env, "users", "passwd", "alice", "--password-stdin", stdin=new_password + "\n")
    assert result.returncode == 0, result.stderr
    after = store.auth.get_user(r, "alice")
    assert after is not None
    assert after["pw"].startswith("scrypt:") and after["pw"] != before["pw"]
    assert check_password_hash(after["pw"], new_password)
    assert not check_password_hash(after["pw"], PASSWORD)
    assert int(after["epoch"]) == int(before["epoch"]) + 1
    assert new_password not in everything_in(r)


def test_users_passwd_too_short_changes_nothing(env: dict[str, str], r: redis.Redis) -> None:
    """A too-short new password is refused and the old hash and epoch stay."""
    assert add_user(env, "alice").returncode == 0
    before = snapshot(r)
    one_line_error(run_cli(env, "users", "passwd", "alice", "--password-stdin", stdin="short\n"))
    assert snapshot(r) == before


def test_users_disable_and_enable(env: dict[str, str], r: redis.Redis) -> None:
    """disable marks the account disabled and ends its sessions; enable lifts it."""
    assert add_user(env, "alice").returncode == 0
    epoch = int(store.auth.get_user(r, "alice")["epoch"])  # type: ignore[index]
    assert run_cli(env, "users", "disable", "alice").returncode == 0
    fields = store.auth.get_user(r, "alice")
    assert fields is not None and fields["disabled"] == "1" and int(fields["epoch"]) == epoch + 1
    assert json.loads(run_cli(env, "users", "list", "--json").stdout)[0]["disabled"] is True
    assert run_cli(env, "users", "enable", "alice").returncode == 0
    assert store.auth.get_user(r, "alice")["disabled"] == "0"  # type: ignore[index]
    assert "active" in run_cli(env, "users", "list").stdout


@pytest.mark.parametrize("action", [["passwd", "ghost", "--password-stdin"], ["disable", "ghost"],
                                    ["enable", "ghost"]])
def test_users_unknown_user(env: dict[str, str], r: redis.Redis, action: list[str]) -> None:
    """Changing a user who does not exist: exit 1 naming them, nothing created."""
    line = one_line_error(run_cli(env, "users", *action, stdin=PASSWORD + "\n"))
    assert "ghost" in line
    assert snapshot(r) == {}


# -- tokens ----------------------------------------------------------------------------------------
def create_token(env: dict[str, str], name: str, role: str = "wall") -> tuple[str, str, str]:
    """Create a token; returns (full text, id, secret)."""
    result = run_cli(env, "token", "create", "--name", name, "--role", role)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout  # the token, and only the token, goes to stdout
    match = TOKEN_RE.match(lines[0])
    assert match, lines[0]
    assert match.group(2) not in result.stderr
    return lines[0], match.group(1), match.group(2)


def test_token_create_prints_once_and_stores_a_digest(env: dict[str, str],
                                                      r: redis.Redis) -> None:
    """The token is printed once; Redis holds only its SHA-256 digest, never the secret."""
    text, token_id, secret = create_token(env, "lobby", "wall")
    record = store.auth.get_token(r, token_id)
    assert record is not None
    assert record["name"] == "lobby" and record["role"] == "wall" and record["revoked"] == "0"
    assert record["digest"] == hashlib.sha256(secret.encode()).hexdigest()
    dump = everything_in(r)
    assert secret not in dump and text not in dump


def test_token_list_shows_no_secret(env: dict[str, str], r: redis.Redis) -> None:
    """token list and --json show the token's id, name and role, but neither secret nor digest."""
    _, token_id, secret = create_token(env, "lobby", "wall")
    digest = store.auth.get_token(r, token_id)["digest"]  # type: ignore[index]
    table = run_cli(env, "token", "list")
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if line.startswith(token_id))
    assert row.split()[1:3] == ["lobby", "wall"] and row.split()[-1] == "active"
    listed = run_cli(env, "token", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert [(t["id"], t["name"], t["role"], t["state"]) for t in data] == [
        (token_id, "lobby", "wall", "active")]
    for output in (table.stdout, listed.stdout):
        assert secret not in output and digest not in output


@pytest.mark.parametrize("by", ["name", "id"])
def test_token_revoke(env: dict[str, str], r: redis.Redis, by: str) -> None:
    """A token is revoked by name or by id; revoking it again is an error."""
    _, token_id, _ = create_token(env, "lobby", "operator")
    key = "lobby" if by == "name" else token_id
    result = run_cli(env, "token", "revoke", key)
    assert result.returncode == 0, result.stderr
    assert token_id in result.stdout
    assert store.auth.get_token(r, token_id)["revoked"] == "1"  # type: ignore[index]
    assert json.loads(run_cli(env, "token", "list", "--json").stdout)[0]["state"] == "revoked"
    before = snapshot(r)
    assert key in one_line_error(run_cli(env, "token", "revoke", key))
    assert snapshot(r) == before


def test_token_bad_role_is_a_usage_error(env: dict[str, str], r: redis.Redis) -> None:
    """token create --role nonsense: exit 2 from the argument parser, nothing stored."""
    result = run_cli(env, "token", "create", "--name", "lobby", "--role", "nonsense")
    assert result.returncode == 2
    assert "nonsense" in result.stderr
    assert result.stdout == ""
    assert snapshot(r) == {}


def test_token_name_taken(env: dict[str, str], r: redis.Redis) -> None:
    """A second active token with the same name is refused; after revoking, the name is free."""
    create_token(env, "lobby")
    before = snapshot(r)
    assert "lobby" in one_line_error(run_cli(env, "token", "create", "--name", "lobby",
                                             "--role", "wall"))
    assert snapshot(r) == before
    assert run_cli(env, "token", "revoke", "lobby").returncode == 0
    create_token(env, "lobby")


# -- audit -----------------------------------------------------------------------------------------
def test_every_mutating_command_is_audited(env: dict[str, str], r: redis.Redis) -> None:
    """users add/passwd/disable/enable and token create/revoke each append to the audit stream."""
    assert add_user(env, "alice").returncode == 0
    assert run_cli(env, "users", "passwd", "alice", "--password-stdin",
                   stdin="another long password\n").returncode == 0
    assert run_cli(env, "users", "disable", "alice").returncode == 0
    assert run_cli(env, "users", "enable", "alice").returncode == 0
    _, token_id, _ = create_token(env, "lobby")
    assert run_cli(env, "token", "revoke", "lobby").returncode == 0
    # Reading commands do not write to the audit stream.
    for args in (["users", "list"], ["token", "list", "--json"]):
        assert run_cli(env, *args).returncode == 0
    assert actions(r) == [("user_add", "alice"), ("user_passwd", "alice"),
                          ("user_disable", "alice"), ("user_enable", "alice"),
                          ("token_create", "lobby"), ("token_revoke", token_id)]
    entries = store.audit.read(r)
    assert all(e.actor.startswith("cli:") and e.outcome == "ok" for e in entries)


# -- configuration errors --------------------------------------------------------------------------
COMMANDS = [["up", "--no-demo"], ["users", "list"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_bad_port_in_environment(tmp_path: Path, redis_server: RedisServer,
                                 command: list[str]) -> None:
    """CITYOPS_PORT=abc: exit 2 naming the variable, no traceback."""
    env = base_env(tmp_path / "data", redis_server.url)
    env["CITYOPS_PORT"] = "abc"
    result = run_cli(env, *command)
    assert result.returncode == 2, result.stderr
    assert "CITYOPS_PORT" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("content, fragments", [
    ('[web]\nport = "8050\n', ["TOML"]),  # malformed: exit 2 naming the file and TOML
    ("[web]\nprot = 8050\n", ["web.prot"]),  # a typo: exit 2 naming the unknown key
], ids=["malformed", "unknown-key"])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_bad_toml(tmp_path: Path, redis_server: RedisServer, command: list[str], content: str,
                  fragments: list[str]) -> None:
    """A bad CITYOPS_CONFIG file: exit 2 naming the file and what is wrong in it."""
    config = tmp_path / "cityops.toml"
    config.write_text(content, encoding="utf-8")
    env = base_env(tmp_path / "data", redis_server.url)
    env["CITYOPS_CONFIG"] = str(config)
    result = run_cli(env, *command)
    assert result.returncode == 2, result.stderr
    assert str(config) in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_short_secret_key_is_named_not_shown(tmp_path: Path, redis_server: RedisServer,
                                             command: list[str]) -> None:
    """A too-short CITYOPS_SECRET_KEY: exit 2 naming the variable without echoing its value."""
    secret = "hunter2-too-short"
    env = base_env(tmp_path / "data", redis_server.url)
    env["CITYOPS_SECRET_KEY"] = secret
    result = run_cli(env, *command)
    assert result.returncode == 2, result.stderr
    assert "CITYOPS_SECRET_KEY" in result.stderr
    assert secret not in result.stderr + result.stdout


def test_unreachable_redis_is_one_line(tmp_path: Path) -> None:
    """A configured Redis that does not answer: exit 1, one line naming the URL."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    line = one_line_error(run_cli(base_env(tmp_path / "data", url), "users", "list"))
    assert url in line


# -- embedded Redis without `up` -------------------------------------------------------------------
@pytest.fixture
def embedded_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a CLI with no Redis URL: it runs the data directory's own redis-server."""
    data_dir = (tmp_path / "data").resolve()
    yield base_env(data_dir, None)
    for pid in redis_pids_for(data_dir):  # never leak a server, even when a test fails
        os.kill(pid, signal.SIGKILL)


def test_embedded_commands_without_up(embedded_env: dict[str, str]) -> None:
    """Each command starts a temporary redis-server, stops it, and the data persists in the AOF."""
    data_dir = Path(embedded_env["CITYOPS_DATA_DIR"])
    result = add_user(embedded_env, "alice", "admin")
    assert result.returncode == 0, result.stderr
    assert redis_pids_for(data_dir) == []
    listed = run_cli(embedded_env, "users", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [u["name"] for u in json.loads(listed.stdout)] == ["alice"]
    assert redis_pids_for(data_dir) == []
    redis_dir = data_dir / "redis"
    aof = (redis_dir / "cityops.aof").read_bytes()
    assert b"alice" in aof and b"scrypt:" in aof
    assert PASSWORD.encode() not in aof
    assert "appendonly yes" in (redis_dir / "redis.conf").read_text(encoding="utf-8")
    # Two commands, two short-lived servers; no server.json is left to mislead the next one.
    log = (redis_dir / "redis.log").read_text(encoding="utf-8", errors="replace")
    assert log.count("Ready to accept connections") == 2
    assert not (redis_dir / "server.json").exists()
    assert EmbeddedRedis(data_dir).running() is None


def test_embedded_server_does_not_outlive_a_killed_command(embedded_env: dict[str, str]) -> None:
    """A command killed (SIGTERM) while its temporary redis-server runs takes the server along."""
    data_dir = Path(embedded_env["CITYOPS_DATA_DIR"])
    # --password-stdin with nothing written yet: the command waits with its server running.
    process = subprocess.Popen(
        [sys.executable, "-m", "app.ops.cli", "users", "add", "alice", "--role", "admin",
         "--password-stdin"], cwd=REPO, env=embedded_env, stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not redis_pids_for(data_dir) or EmbeddedRedis(data_dir).running() is None:
            assert process.poll() is None and time.monotonic() < deadline, "no server started"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        deadline = time.monotonic() + 10
        while redis_pids_for(data_dir):
            assert time.monotonic() < deadline, "the temporary redis-server was left running"
            time.sleep(0.05)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # The next command starts cleanly on the same data directory.
    assert add_user(embedded_env, "alice", "admin").returncode == 0
    assert redis_pids_for(data_dir) == []
