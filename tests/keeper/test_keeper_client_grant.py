"""A store made before the grant_type column gains it, and its rows stay password rows."""

from __future__ import annotations

import sqlite3

from usergate.keeper import TokenStore

OLD_SCHEMA = """CREATE TABLE keeper_tokens (
    name VARCHAR(100) PRIMARY KEY, token_url TEXT NOT NULL, username TEXT NOT NULL,
    password TEXT, access_token TEXT, access_expires_at FLOAT, refresh_token TEXT,
    refresh_expires_at FLOAT, state VARCHAR(16) NOT NULL, error TEXT,
    lease_owner VARCHAR(200), lease_expires_at FLOAT, version INTEGER NOT NULL,
    created_at FLOAT NOT NULL, updated_at FLOAT NOT NULL, refresh_count INTEGER NOT NULL)"""


def test_an_old_store_gains_grant_type_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute(OLD_SCHEMA)
        conn.execute("INSERT INTO keeper_tokens VALUES ('api', 'http://127.0.0.1:1/token', "
                     "'ada@example.com', NULL, 'tok', 9e9, 'ref', 9e9, 'ok', NULL, NULL, NULL, "
                     "1, 1.0, 1.0, 0)")
    path.chmod(0o600)
    store = TokenStore(str(path))
    record = store.get("api")
    assert record.grant_type == "password" and not record.is_client
    with sqlite3.connect(path) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(keeper_tokens)")]
    assert columns[-1] == "grant_type"
    store.close()


def test_a_client_row_without_a_secret_is_corrupt(tmp_path):
    import pytest

    from usergate.keeper.errors import CorruptRowError

    store = TokenStore(str(tmp_path / "k.db"))
    store.add("svc", token_url="http://127.0.0.1:1/token", username="client-id", password=None,
              access_token="tok", access_expires_at=9e9, refresh_token=None,
              refresh_expires_at=None, grant_type="client_credentials")
    with pytest.raises(CorruptRowError, match="no client secret"):
        store.get("svc")
    store.close()
