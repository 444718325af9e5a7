"""``usergate-keeper`` against the real usergate server: the commands, and bad
configuration (unreachable endpoint, wrong password, corrupt row) that must
give a clear error, a non-zero exit status and lose nothing stored."""

from __future__ import annotations

import json
import signal
import sqlite3
import stat
import subprocess

import httpx
import pytest
from keeper_support import PASSWORD, child_env, free_port, keeper_cmd


def keeper(store_path, *args, password=None, timeout=30):
    env = child_env(**({"USERGATE_KEEPER_PASSWORD": password} if password else {}))
    return subprocess.run(keeper_cmd("--store", str(store_path), *args), env=env,
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def raw_rows(store_path):
    with sqlite3.connect(store_path) as conn:
        return conn.execute("SELECT * FROM keeper_tokens ORDER BY name").fetchall()


def svc_row(store_path):
    return [row for row in raw_rows(store_path) if row[0] == "svc"]


@pytest.fixture
def added(usergate_server, store_path):
    """A store holding one good token, 'svc', signed in through the CLI."""
    email = usergate_server.email
    done = keeper(store_path, "add", "svc", "--token-url", usergate_server.token_url,
                  "--username", email, password=PASSWORD)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and "stored 'svc'" in done.stderr
    return email


def test_add_token_list_remove(usergate_server, store_path, added):
    assert stat.S_IMODE(store_path.stat().st_mode) == 0o600
    done = keeper(store_path, "token", "svc", "--margin", "2")
    assert done.returncode == 0, done.stderr
    token = done.stdout.removesuffix("\n")
    assert "\n" not in token and done.stderr == ""
    usergate_server.session_of(token)  # a working access token

    listed = keeper(store_path, "list")
    assert listed.returncode == 0
    assert listed.stdout.split("\n")[1].split()[:2] == ["svc", "ok"]
    row = json.loads(keeper(store_path, "list", "--json").stdout)
    assert (row["name"], row["state"], row["username"], row["refresh_count"]) == (
        "svc", "ok", added, 0)
    assert token not in listed.stdout and PASSWORD not in listed.stdout

    assert keeper(store_path, "remove", "svc").returncode == 0
    done = keeper(store_path, "token", "svc")
    assert done.returncode == 1 and "no token named 'svc'" in done.stderr


def test_the_password_never_comes_from_the_command_line(usergate_server, store_path):
    email = usergate_server.email
    args = ["add", "svc", "--token-url", usergate_server.token_url, "--username", email]
    done = keeper(store_path, *args, "--password", PASSWORD)
    assert done.returncode == 2 and "No such option '--password'" in done.stderr
    done = keeper(store_path, *args)  # no environment variable, no terminal to prompt on
    assert done.returncode == 1
    assert "no password: set USERGATE_KEEPER_PASSWORD" in done.stderr
    done = keeper(store_path, *args, "--no-store-password", password=PASSWORD)
    assert done.returncode == 0, done.stderr
    assert raw_rows(store_path)[0][3] is None  # the password column


def test_wrong_password_loses_nothing(usergate_server, store_path, added):
    before = raw_rows(store_path)
    done = keeper(store_path, "add", "svc", "--replace", "--token-url",
                  usergate_server.token_url, "--username", added, password="not the password")
    assert done.returncode == 1
    assert "refused the request (HTTP 400, invalid_grant" in done.stderr
    done = keeper(store_path, "add", "other", "--token-url", usergate_server.token_url,
                  "--username", added, password="not the password")
    assert done.returncode == 1 and "invalid_grant" in done.stderr
    assert raw_rows(store_path) == before


def test_unreachable_endpoint_loses_nothing(usergate_server, store_path, added):
    before = raw_rows(store_path)
    closed = f"http://127.0.0.1:{free_port()}/api/v1/auth/token"
    for extra in (["other"], ["svc", "--replace"]):
        done = keeper(store_path, "add", *extra, "--token-url", closed, "--username", added,
                      password=PASSWORD)
        assert done.returncode == 1
        assert f"cannot reach token endpoint {closed}" in done.stderr
    done = keeper(store_path, "add", "x", "--token-url", "ftp://nowhere", "--username", "u",
                  password=PASSWORD)
    assert done.returncode == 2 and "absolute http(s) URL" in done.stderr
    assert raw_rows(store_path) == before


def test_corrupt_row_is_a_clear_error_and_left_alone(usergate_server, store_path, added):
    done = keeper(store_path, "add", "good", "--token-url", usergate_server.token_url,
                  "--username", added, password=PASSWORD)
    assert done.returncode == 0
    with sqlite3.connect(store_path) as conn:
        conn.execute("UPDATE keeper_tokens SET access_expires_at = 'soon-ish', "
                     "lease_owner = 'ghost', lease_expires_at = 'never', "
                     "refresh_count = 'many' WHERE name = 'svc'")
    before = svc_row(store_path)

    done = keeper(store_path, "token", "svc")
    assert done.returncode == 1 and done.stdout == ""
    assert ("stored token 'svc' is corrupt (access_expires_at is 'soon-ish', not a number; "
            "lease_expires_at is 'never', not a number; refresh_count is 'many', not an "
            "integer)") in done.stderr
    listed = keeper(store_path, "list")
    assert listed.returncode == 0
    assert "svc   corrupt" in listed.stdout and "good  ok" in listed.stdout
    worker = keeper(store_path, "run", "--once", "--margin", "2", "--lease", "5",
                    "--http-timeout", "2")
    assert worker.returncode == 0 and "stored token 'svc' is corrupt" in worker.stderr
    assert keeper(store_path, "token", "good", "--margin", "2").returncode == 0
    assert svc_row(store_path) == before  # the other token was refreshed meanwhile

    done = keeper(store_path, "add", "svc", "--token-url", usergate_server.token_url,
                  "--username", added, password=PASSWORD)
    assert done.returncode == 1 and "already stored; use --replace" in done.stderr
    # Signing in again is the repair, garbage lease columns and all.
    done = keeper(store_path, "add", "svc", "--replace", "--token-url",
                  usergate_server.token_url, "--username", added, password=PASSWORD)
    assert done.returncode == 0, done.stderr
    token = keeper(store_path, "token", "svc", "--margin", "2").stdout.strip()
    usergate_server.session_of(token)
    assert json.loads(keeper(store_path, "list", "--json").stdout.splitlines()[1])[
        "state"] == "ok"


def test_serve_hands_tokens_to_local_processes_only(usergate_server, store_path, added):
    port = free_port()
    proc = subprocess.Popen(keeper_cmd("--store", str(store_path), "serve", "--port", str(port),
                                       "--margin", "2"),
                            env=child_env(), stderr=subprocess.PIPE, text=True)
    try:
        assert "serving http://127.0.0.1:" in proc.stderr.readline()
        base = f"http://127.0.0.1:{port}"
        response = httpx.get(f"{base}/tokens/svc")
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store"
        body = response.json()
        assert set(body) >= {"access_token", "expires_in"} and body["expires_in"] >= 2
        usergate_server.session_of(body["access_token"])

        missing = httpx.get(f"{base}/tokens/nope")
        assert missing.status_code == 404
        assert missing.headers["Content-Type"] == "application/problem+json"
        assert "no token named 'nope'" in missing.json()["detail"]
        # A web page (DNS rebinding, or a cross-origin fetch) gets nothing.
        assert httpx.get(f"{base}/tokens/svc",
                         headers={"Host": "evil.example"}).status_code == 403
        assert httpx.get(f"{base}/tokens/svc",
                         headers={"Origin": "https://evil.example"}).status_code == 403
        assert httpx.post(f"{base}/tokens/svc").status_code == 405
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
