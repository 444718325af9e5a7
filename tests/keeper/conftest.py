"""Fixtures of the token keeper's tests; helpers live in keeper_support.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from keeper_support import Clock, UsergateServer

from usergate.keeper import TokenStore
from usergate.keeper.store import keeper_tokens


@pytest.fixture
def keeper_clock() -> Clock:
    """A clock the test moves by hand (the root conftest's ``clock`` is the server's)."""
    return Clock()


@pytest.fixture
def store_path(tmp_path) -> Path:
    return tmp_path / "keeper.db"


@pytest.fixture(scope="session")
def usergate_server(tmp_path_factory):
    """The real usergate server (access tokens live 6 s), shared by the keeper tests."""
    server = UsergateServer(tmp_path_factory.mktemp("usergate"))
    server.start()
    yield server
    server.stop()


STORE_BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=STORE_BACKENDS)
def store_location(request, tmp_path):
    """Where a test's TokenStore lives: a SQLite file, and PostgreSQL when
    TEST_DATABASE_URL names one (tox -e postgres), emptied first."""
    if request.param == "sqlite":
        return str(tmp_path / "keeper.db")
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.skip("TEST_DATABASE_URL is not set (tox -e postgres sets it)")
    store = TokenStore(url)
    with store.engine.begin() as conn:
        conn.execute(keeper_tokens.delete())
    store.close()
    return url
