"""The live servers of the tests depend on nothing of the developer's environment.

A developer's shell may export JWT_* settings, and the checkout carries a `.env`;
neither may reach a server a test starts. Each flavour of helpers.live starts here
with such variables in the parent's environment, and must answer with the defaults.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers.live import GunicornServer, LiveServer
from helpers.settings import REPO
from helpers.tokens import claims_of
from keeper.keeper_support import ACCESS_LIFETIME, UsergateServer

DEVELOPER = {
    "JWT_ACCESS_TOKEN_EXPIRES": "1",
    "JWT_REFRESH_TOKEN_EXPIRES": "2",
    "JWT_ISSUER": "a-developers-issuer",
    "DATABASE_URL": "sqlite:////nonexistent/developer.db",
    "RATELIMIT_ENABLED": "true",
    "RATELIMIT_AUTH": "1/hour",
}


@pytest.fixture
def developer_shell(monkeypatch):
    for key, value in DEVELOPER.items():
        monkeypatch.setenv(key, value)


def _gunicorn(workdir: Path) -> GunicornServer:
    server = GunicornServer(workdir)
    server.flask("db", "upgrade")  # gunicorn serves; it does not migrate
    return server


FLAVOURS = {"werkzeug": LiveServer, "gunicorn": _gunicorn}


def _assert_own_folder(server) -> None:
    """The child runs in its folder, not the checkout: no `.env` is read."""
    cwd = Path(os.readlink(f"/proc/{server.proc.pid}/cwd"))
    assert cwd == server.workdir.resolve()
    assert cwd != REPO and not (cwd / ".env").exists()


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_live_server_ignores_the_developers_settings(developer_shell, tmp_path, flavour):
    with FLAVOURS[flavour](tmp_path / flavour) as server:
        _assert_own_folder(server)
        body = server.register("dev@example.com")
        # A second sign-in: RATELIMIT_AUTH=1/hour would refuse it.
        server.login("dev@example.com")
    assert body["expires_in"] == 900
    assert body["refresh_expires_in"] == 30 * 24 * 3600
    assert claims_of(body["access_token"])["iss"] != "a-developers-issuer"
    assert (tmp_path / flavour / "usergate.db").exists()
    assert not {key for key in server.env if key.startswith(("JWT_", "RATELIMIT_AUTH"))}


def test_the_keepers_server_takes_only_its_own_lifetime(developer_shell, tmp_path):
    with UsergateServer(tmp_path) as server:
        _assert_own_folder(server)
        body = server.login(server.email)
    assert body["expires_in"] == ACCESS_LIFETIME
    assert body["refresh_expires_in"] == 30 * 24 * 3600
    assert claims_of(body["access_token"])["iss"] != "a-developers-issuer"
