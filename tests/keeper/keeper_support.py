"""Helpers shared by the token keeper's tests (imported, not a conftest)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import usergate.keeper

HERE = Path(__file__).resolve().parent
HELPERS = HERE / "helpers"
# The directory holding the usergate package, for child processes, whether or
# not the project is installed.
SRC = Path(usergate.keeper.__file__).resolve().parents[2]


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




REPO = SRC.parent
PASSWORD = "correct horse battery"
ACCESS_LIFETIME = 6  # seconds: JWT_ACCESS_TOKEN_EXPIRES of the test server


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class UsergateServer:
    """The real usergate, in a subprocess, on a SQLite file we can read."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.db_path = workdir / "usergate.db"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.token_url = f"{self.base_url}/api/v1/auth/token"
        self.env = child_env(
            DATABASE_URL=f"sqlite:///{self.db_path}", USERGATE_CONFIG="testing",
            SECRET_KEY="keeper-tests-secret-key-0123456789abcdef",
            JWT_ACCESS_TOKEN_EXPIRES=str(ACCESS_LIFETIME), RATELIMIT_ENABLED="false",
            BCRYPT_LOG_ROUNDS="4")
        self.proc = None
        # One account for every test: each sign-in is a session of its own,
        # and sessions are what the tests count and revoke.
        self.email = "svc@example.com"

    def flask(self, *args: str) -> str:
        import subprocess

        done = subprocess.run([sys.executable, "-m", "flask", "--app", "run.py", *args],
                              cwd=REPO, env=self.env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def start(self) -> None:
        import subprocess
        import time

        import httpx

        self.flask("db", "upgrade")
        self.flask("users", "create", self.email, "--password", PASSWORD)
        self.log = open(self.workdir / "server.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "run.py", "run", "--port", str(self.port),
             "--no-reload", "--no-debugger", "--with-threads"],
            cwd=REPO, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            assert self.proc.poll() is None, (self.workdir / "server.log").read_text()
            try:
                if httpx.get(f"{self.base_url}/api/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("usergate did not become healthy")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except Exception:
                self.proc.kill()
            self.log.close()

    def session_of(self, access_token: str) -> str:
        import httpx

        response = httpx.get(f"{self.base_url}/api/v1/auth/user",
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
