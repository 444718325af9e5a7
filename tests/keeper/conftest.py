"""Fixtures of the token keeper's tests; helpers live in keeper_support.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from keeper_support import Clock, UsergateServer


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
