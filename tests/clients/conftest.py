"""Fixtures of the real-client tests (httpie, a browser, schemathesis)."""

from __future__ import annotations

import pytest
from clients_support import LiveServer


@pytest.fixture(scope="module")
def usergate_server(tmp_path_factory):
    """A real usergate (rate limits off) shared by one test module."""
    server = LiveServer(tmp_path_factory.mktemp("usergate")).start()
    yield server
    server.stop()


@pytest.fixture
def start_server(tmp_path):
    """A usergate of its own with extra settings: ``start_server(RATELIMIT_AUTH="5/minute")``."""
    servers = []

    def start(**settings: str) -> LiveServer:
        folder = tmp_path / f"usergate{len(servers)}"
        folder.mkdir()
        server = LiveServer(folder, **settings).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
