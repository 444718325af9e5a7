"""Helpers shared by the token keeper's tests (imported, not a conftest)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from helpers.accounts import PASSWORD
from helpers.live import LiveServer
from helpers.net import free_port
from helpers.settings import REPO, SRC

HERE = Path(__file__).resolve().parent
HELPERS = HERE / "helpers"
ACCESS_LIFETIME = 6  # seconds: JWT_ACCESS_TOKEN_EXPIRES of the test server

__all__ = ["ACCESS_LIFETIME", "HELPERS", "PASSWORD", "REPO", "SRC", "Clock",
           "UsergateServer", "child_env", "free_port", "keeper_cmd"]


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child Python process that imports usergate.keeper."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(SRC), env.get("PYTHONPATH", "")) if p)
    for key in [key for key in env if key.startswith("USERGATE_KEEPER_")]:
        del env[key]  # the developer's own keeper settings stay out of the tests
    env.update(extra)
    return env


def keeper_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "usergate.keeper", *args]


class Clock:
    """A clock tests move by hand instead of sleeping."""

    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class UsergateServer(LiveServer):
    """The real usergate (access tokens live ACCESS_LIFETIME s), on a SQLite file we can read."""

    # One account for every test: each sign-in is a session of its own,
    # and sessions are what the tests count and revoke.
    email = "svc@example.com"

    def __init__(self, workdir: Path, **settings):
        super().__init__(workdir, **{"JWT_ACCESS_TOKEN_EXPIRES": ACCESS_LIFETIME, **settings})

    @property
    def base_url(self) -> str:
        return self.url

    @property
    def token_url(self) -> str:
        return f"{self.api}/auth/token"

    def start(self) -> UsergateServer:
        super().start()
        self.create_user(self.email)
        return self

    def session_of(self, access_token: str) -> str:
        import httpx

        response = httpx.get(f"{self.api}/auth/user",
                             headers={"Authorization": f"Bearer {access_token}"})
        assert response.status_code == 200, response.text
        return response.json()["session_id"]

    def session_row(self, session_id: str) -> dict:
        """The server's own record of a session: refresh_count, revoked_at."""
        import sqlite3

        with sqlite3.connect(self.db_path) as conn:
            conn.row_factory = sqlite3.Row
            row = conn.execute("SELECT * FROM sessions WHERE id = ?", (session_id,)).fetchone()
        return dict(row)
