"""``usergate-keeper token NAME`` with a stored token that is still good loads neither
SQLAlchemy nor httpx (nor Flask): the read path reads the row with sqlite3
(issue 21).  Everything else -- a due token, a PostgreSQL store, a failed,
corrupt or unknown row, a store others may read -- takes the full path, with
the messages and exit statuses it always had.  A PostgreSQL store is read with
psycopg 3 alone."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time

import pytest
from keeper_support import HELPERS, PASSWORD, child_env, free_port, keeper_cmd

from usergate.keeper import Keeper, TokenStore
from usergate.keeper.records import COLUMNS
from usergate.keeper.store import keeper_tokens

TOKEN = "header.payload.signature"


def run_token(tmp_path, location, *args, importtime=False):
    """Run ``token`` in a child; returns (CompletedProcess, heavy modules it loaded)."""
    out = tmp_path / "modules.json"
    cmd = [sys.executable, str(HELPERS / "modules_after.py"), str(out),
           "--store", str(location), "token", *args]
    done = subprocess.run(cmd, env=child_env(), capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    report = json.loads(out.read_text())
    assert report["status"] == done.returncode
    return done, set(report["loaded"])


def store_with(location, name="svc", *, ttl, **overrides):
    store = TokenStore(str(location))
    values = dict(token_url=f"http://127.0.0.1:{free_port()}/api/v1/auth/token",
                  username="svc@example.com", password=PASSWORD, access_token=TOKEN,
                  access_expires_at=time.time() + ttl, refresh_token="r-0",
                  refresh_expires_at=None)
    values.update(overrides)
    store.add(name, **values)
    store.close()


def test_records_list_the_tables_columns():
    assert tuple(keeper_tokens.c.keys()) == COLUMNS


def test_a_good_token_is_read_without_sqlalchemy_httpx_or_flask(tmp_path, store_path):
    store_with(store_path, ttl=3600)  # the token URL is a closed port: no refresh possible
    done, loaded = run_token(tmp_path, store_path, "svc")
    assert (done.returncode, done.stdout, done.stderr) == (0, TOKEN + "\n", "")
    assert loaded == set()
    # min_ttl above the margin still reads; the real command, as python -X importtime sees it
    done = subprocess.run([sys.executable, "-X", "importtime", *keeper_cmd(
        "--store", str(store_path), "token", "svc", "--min-ttl", "600")[1:]],
        env=child_env(), capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, TOKEN + "\n")
    imported = {m.group(1).strip().split(".")[0]
                for m in re.finditer(r"^import time:.*\|\s*(\S+)\s*$", done.stderr, re.M)}
    assert "usergate" in imported and "click" in imported  # the parse sees the imports
    assert not imported & {"sqlalchemy", "httpx", "httpcore", "flask", "werkzeug"}


def test_the_read_path_changes_nothing_on_disk(tmp_path, store_path):
    store_with(store_path, ttl=3600)
    with sqlite3.connect(store_path) as conn:
        before = conn.execute("SELECT * FROM keeper_tokens").fetchall()
    missing = tmp_path / "nowhere" / "keeper.db"
    done, loaded = run_token(tmp_path, missing, "svc")
    # A missing store goes the full path, which creates it (as before) and finds no row.
    assert done.returncode == 1 and "no token named 'svc'" in done.stderr
    assert "sqlalchemy" in loaded
    done, _ = run_token(tmp_path, store_path, "svc")
    with sqlite3.connect(store_path) as conn:
        assert conn.execute("SELECT * FROM keeper_tokens").fetchall() == before


@pytest.mark.parametrize("case", ["due", "failed", "corrupt", "unknown", "open-mode"])
def test_anything_but_a_good_token_takes_the_full_path(tmp_path, store_path, case):
    store_with(store_path, ttl=3600)
    name = "svc"
    if case == "due":  # within the margin: a refresh, here to an unreachable endpoint
        store_with(store_path, "due", ttl=60)
        name = "due"
    elif case == "failed":
        with sqlite3.connect(store_path) as conn:
            conn.execute("UPDATE keeper_tokens SET state = 'failed', error = 'gone'")
    elif case == "corrupt":
        with sqlite3.connect(store_path) as conn:
            conn.execute("UPDATE keeper_tokens SET refresh_count = 'many'")
    elif case == "unknown":
        name = "other"
    else:
        os.chmod(store_path, 0o644)
    done, loaded = run_token(tmp_path, store_path, name)
    expected = {
        "due": (1, "Error: cannot reach token endpoint http://127.0.0.1:"),
        "failed": (1, "Error: token 'svc' has failed: gone\n"),
        "corrupt": (1, "Error: stored token 'svc' is corrupt (refresh_count is 'many', "
                       "not an integer)"),
        "unknown": (1, "Error: no token named 'other' in the store"),
        "open-mode": (0, f"is readable by others (mode 644); run: chmod 600 {store_path}"),
    }[case]
    assert done.returncode == expected[0]
    assert expected[1] in done.stderr
    assert done.stdout == ("" if expected[0] else TOKEN + "\n")
    assert "sqlalchemy" in loaded


def test_bad_options_are_refused_before_any_read(tmp_path, store_path):
    store_with(store_path, ttl=3600)
    done, loaded = run_token(tmp_path, store_path, "svc", "--lease", "5")
    assert done.returncode == 2 and done.stdout == ""
    assert "lease (5.0s) must exceed two HTTP timeouts (10.0s) plus a second" in done.stderr
    done, _ = run_token(tmp_path, store_path, "bad/name")
    assert done.returncode == 2 and "Invalid value for 'NAME'" in done.stderr


def test_each_store_is_read_with_its_driver_alone(tmp_path, store_location):
    """SQLite with sqlite3, PostgreSQL (TEST_DATABASE_URL) with psycopg 3 only."""
    store_with(store_location, ttl=3600)
    done, loaded = run_token(tmp_path, store_location, "svc")
    assert (done.returncode, done.stdout, done.stderr) == (0, TOKEN + "\n", "")
    assert loaded == (set() if "://" not in store_location else {"psycopg"})
    store = TokenStore(store_location)
    with store.engine.begin() as conn:
        conn.execute(keeper_tokens.update().values(state="failed", error="gone"))
    store.close()
    done, loaded = run_token(tmp_path, store_location, "svc")
    assert (done.returncode, done.stdout) == (1, "")
    assert "Error: token 'svc' has failed: gone\n" in done.stderr
    assert "sqlalchemy" in loaded


def test_an_expired_token_is_still_refreshed(usergate_server, tmp_path, store_path):
    keeper = Keeper(TokenStore(str(store_path)), margin=2)
    keeper.sign_in("svc", token_url=usergate_server.token_url,
                   username=usergate_server.email, password=PASSWORD)
    old = keeper.store.get("svc")
    session = usergate_server.session_of(old.access_token)
    with sqlite3.connect(store_path) as conn:
        conn.execute("UPDATE keeper_tokens SET access_expires_at = ?", (time.time() - 1,))

    done, loaded = run_token(tmp_path, store_path, "svc", "--margin", "2")
    assert done.returncode == 0, done.stderr
    assert {"sqlalchemy", "httpx"} <= loaded
    fresh = done.stdout.removesuffix("\n")
    assert fresh != old.access_token
    assert usergate_server.session_of(fresh) == session  # refreshed, not signed in again
    record = keeper.store.get("svc")
    assert (record.access_token, record.refresh_count) == (fresh, 1)
    assert usergate_server.session_row(session)["refresh_count"] == 1

    # ... and the next call reads the refreshed token without the heavy modules.
    done, loaded = run_token(tmp_path, store_path, "svc", "--margin", "2")
    assert (done.returncode, done.stdout, loaded) == (0, fresh + "\n", set())
    keeper.store.close()
