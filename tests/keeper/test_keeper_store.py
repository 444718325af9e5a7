"""The token store and its lease, on a SQLite file, across threads and processes."""

from __future__ import annotations

import json
import sqlite3
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter

import pytest
from keeper_support import HELPERS, child_env

from usergate.keeper import (
    CorruptRowError,
    LeaseLostError,
    TokenExistsError,
    TokenNotFoundError,
    TokenStore,
)


def add(store: TokenStore, name: str = "api", *, expires_at: float, **overrides) -> None:
    values = dict(token_url="http://127.0.0.1:9/api/v1/auth/token", username="svc@example.com",
                  password="correct horse", access_token="a-0", access_expires_at=expires_at,
                  refresh_token="r-0", refresh_expires_at=None)
    values.update(overrides)
    store.add(name, **values)


def raw_row(path, name="api") -> tuple:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT * FROM keeper_tokens WHERE name = ?", (name,)).fetchone()


def test_new_sqlite_store_is_private_and_uses_wal(store_path):
    store = TokenStore(str(store_path))
    add(store, expires_at=time.time() + 60)
    assert stat.S_IMODE(store_path.stat().st_mode) == 0o600
    with sqlite3.connect(store_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    for extra in store_path.parent.glob("keeper.db-*"):
        assert stat.S_IMODE(extra.stat().st_mode) & 0o077 == 0, extra


def test_add_get_and_duplicates(store_location, keeper_clock):
    store = TokenStore(store_location, clock=keeper_clock)
    with pytest.raises(TokenNotFoundError, match="no token named 'api'"):
        store.get("api")
    add(store, expires_at=keeper_clock.now + 60)
    record = store.get("api")
    assert (record.state, record.access_token, record.version) == ("ok", "a-0", 1)
    assert "a-0" not in repr(record) and "correct horse" not in repr(record)
    with pytest.raises(TokenExistsError):
        add(store, expires_at=keeper_clock.now + 60, access_token="other")
    assert store.get("api").access_token == "a-0"


def test_lease_is_exclusive_and_only_taken_when_due(store_location, keeper_clock):
    store = TokenStore(store_location, clock=keeper_clock)
    add(store, expires_at=keeper_clock.now + 100)
    # Not due: 100 s left, margin 30 s.
    assert not store.acquire_lease("api", "w1", lease_seconds=30, due_before=keeper_clock.now + 30)
    keeper_clock.advance(75)  # 25 s left
    assert store.acquire_lease("api", "w1", lease_seconds=30, due_before=keeper_clock.now + 30)
    assert store.get("api").state == "refreshing"
    assert not store.acquire_lease("api", "w2", lease_seconds=30, due_before=keeper_clock.now + 30)
    keeper_clock.advance(29)
    assert not store.acquire_lease("api", "w2", lease_seconds=30, due_before=keeper_clock.now + 30)
    # w1 stores: the rotated refresh token and the access token in one update.
    store.complete("api", "w1", access_token="a-1", access_expires_at=keeper_clock.now + 100,
                   refresh_token="r-1", refresh_expires_at=None, refreshed=True)
    record = store.get("api")
    assert (record.access_token, record.refresh_token, record.state) == ("a-1", "r-1", "ok")
    assert (record.lease_owner, record.refresh_count) == (None, 1)
    # The one who lost the race finds nothing due any more: one refresh per expiry.
    assert not store.acquire_lease("api", "w2", lease_seconds=30, due_before=keeper_clock.now + 30)


def test_crashed_holders_lease_runs_out(store_location, keeper_clock):
    store = TokenStore(store_location, clock=keeper_clock)
    add(store, expires_at=keeper_clock.now + 10)
    assert store.acquire_lease("api", "dead", lease_seconds=30, due_before=keeper_clock.now + 30)
    keeper_clock.advance(30)
    assert not store.acquire_lease("api", "w2", lease_seconds=30, due_before=keeper_clock.now + 30)
    keeper_clock.advance(0.001)
    assert store.acquire_lease("api", "w2", lease_seconds=30, due_before=keeper_clock.now + 30)
    # The dead holder, back from the grave, can no longer store anything.
    with pytest.raises(LeaseLostError):
        store.complete("api", "dead", access_token="stale",
                       access_expires_at=keeper_clock.now + 100, refresh_token="stale",
                       refresh_expires_at=None, refreshed=True)
    assert not store.release("api", "dead", error="x")
    assert store.get("api").access_token == "a-0"


def test_expired_but_untaken_lease_still_completes(store_location, keeper_clock):
    store = TokenStore(store_location, clock=keeper_clock)
    add(store, expires_at=keeper_clock.now)
    assert store.acquire_lease("api", "slow", lease_seconds=30, due_before=keeper_clock.now + 30)
    keeper_clock.advance(45)
    # Nobody else presented the old refresh token: storing the new one is right.
    store.complete("api", "slow", access_token="a-1", access_expires_at=keeper_clock.now + 100,
                   refresh_token="r-1", refresh_expires_at=None, refreshed=True)
    assert store.get("api").refresh_token == "r-1"


def test_failed_row_is_not_leased_except_to_sign_in_again(store_location, keeper_clock):
    store = TokenStore(store_location, clock=keeper_clock)
    add(store, expires_at=keeper_clock.now)
    assert store.acquire_lease("api", "w1", lease_seconds=30, due_before=keeper_clock.now + 30)
    assert store.release("api", "w1", error="refresh token refused", failed=True)
    record = store.get("api")
    assert (record.state, record.error, record.access_token) == (
        "failed", "refresh token refused", "a-0")
    assert not store.acquire_lease("api", "w2", lease_seconds=30, due_before=keeper_clock.now + 30)
    assert store.acquire_lease("api", "add", lease_seconds=30, due_before=None)


@pytest.mark.parametrize("column, value, message", [
    ("access_expires_at", "garbage", "access_expires_at is 'garbage', not a number"),
    ("state", "on fire", "state is 'on fire'"),
    ("access_token", b"\xff\x00", "access_token is b'\\xff\\x00', not text"),
    ("version", "x", "version is 'x', not an integer"),
    ("token_url", "gopher-ish", "token_url is 'gopher-ish', not an http(s) URL"),
])
def test_corrupt_row_is_reported_and_left_alone(store_path, keeper_clock, column, value,
                                                message):
    store = TokenStore(str(store_path), clock=keeper_clock)
    add(store, expires_at=keeper_clock.now - 5)
    add(store, "other", expires_at=keeper_clock.now + 500)
    with sqlite3.connect(store_path) as conn:
        conn.execute(f"UPDATE keeper_tokens SET {column} = ? WHERE name = 'api'", (value,))
    before = raw_row(store_path)
    with pytest.raises(CorruptRowError, match="stored token 'api' is corrupt") as info:
        store.get("api")
    assert message in str(info.value)
    entries = {entry.name: entry for entry in store.entries()}
    assert entries["api"].record is None and message in str(entries["api"].error)
    assert entries["other"].record.access_token == "a-0"
    assert raw_row(store_path) == before


def test_store_that_is_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("this is not a database\n" * 100)
    from usergate.keeper import StoreError
    with pytest.raises(StoreError, match="notes.txt"):
        TokenStore(str(path)).get("api")
    assert path.read_text().startswith("this is not a database")


def test_threads_refresh_each_expiry_once(store_location):
    """16 threads race for 2 s with 50 ms tokens: every token is replaced once."""
    store = TokenStore(store_location)
    add(store, expires_at=time.time())
    log, lock = [], threading.Lock()
    deadline = time.time() + 2.0

    def hammer():
        while time.time() < deadline:
            owner = uuid.uuid4().hex
            if not store.acquire_lease("api", owner, lease_seconds=5,
                                       due_before=time.time() + 0.05):
                time.sleep(0.001)
                continue
            old = store.get("api").access_token
            time.sleep(0.005)
            new = uuid.uuid4().hex
            store.complete("api", owner, access_token=new, access_expires_at=time.time() + 0.1,
                           refresh_token=new, refresh_expires_at=None, refreshed=True)
            with lock:
                log.append(old)

    threads = [threading.Thread(target=hammer) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(log) >= 10
    assert [old for old, n in Counter(log).items() if n > 1] == []
    assert store.get("api").refresh_count == len(log)


def run_hammers(store_location, tmp_path, count, *, threads=4, seconds=3.0, lifetime=0.2,
                margin=0.1, lease=5.0, crash=False):
    out = tmp_path / f"events-{uuid.uuid4().hex}.jsonl"
    procs = []
    for _ in range(count):
        args = [sys.executable, str(HELPERS / "lease_hammer.py"), store_location, "api",
                str(out), str(threads), str(seconds), str(lifetime), str(margin), str(lease)]
        procs.append(subprocess.Popen(args + (["crash"] if crash else []), env=child_env()))
    for proc in procs:
        assert proc.wait(timeout=seconds + 30) in ((9,) if crash else (0,))
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


def test_processes_refresh_each_expiry_once(store_location, tmp_path):
    """4 processes x 4 threads race on one store: one refresh per token."""
    store = TokenStore(store_location)
    add(store, expires_at=time.time())
    events = run_hammers(store_location, tmp_path, 4, seconds=3.0)
    assert [e for e in events if e["event"] == "lost"] == []  # never two holders at once
    refreshes = [e for e in events if e["event"] == "refresh"]
    # Tokens live 0.2 s and are due 0.1 s before expiry: about 30 refreshes in 3 s.
    assert len(refreshes) >= 15
    assert [old for old, n in Counter(e["replaced"] for e in refreshes).items() if n > 1] == []
    assert len({e["pid"] for e in refreshes}) >= 2  # they really raced
    # Each token is replaced only once it was due (no early second refresh).
    for event in refreshes:
        assert event["at"] >= event["old_expires_at"] - 0.1 - 1e-6
    assert store.get("api").refresh_count == len(refreshes)


def test_a_killed_holders_lease_is_taken_over_after_it_expires(store_location, tmp_path):
    store = TokenStore(store_location)
    add(store, expires_at=time.time())
    crashed = run_hammers(store_location, tmp_path, 1, seconds=3.0, lease=1.0, crash=True)
    assert [e["event"] for e in crashed] == ["crash"]
    assert store.get("api").state == "refreshing"
    events = run_hammers(store_location, tmp_path, 2, seconds=2.0)
    assert [e for e in events if e["event"] == "lost"] == []
    refreshes = [e for e in events if e["event"] == "refresh"]
    assert refreshes, "nobody took over"
    assert min(e["at"] for e in refreshes) >= crashed[0]["lease_expires_at"]
    assert refreshes[0]["replaced"] == "a-0"
    assert [old for old, n in Counter(e["replaced"] for e in refreshes).items() if n > 1] == []
