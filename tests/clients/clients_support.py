"""A real usergate in a child process, for tests that drive it with real clients.

Each LiveServer has its own SQLite file, migrated with the project's Alembic
revisions, and listens on 127.0.0.1 on a port the kernel picked.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

import usergate

HERE = Path(__file__).resolve().parent
SERVE = HERE / "serve_usergate.py"
REPO = Path(usergate.__file__).resolve().parents[2]
SRC = REPO / "src"
PASSWORD = "correct horse battery"

# Settings the child must not inherit from the test run (tox, TEST_DATABASE_URL, ...).
_INHERITED_SETTINGS = (
    "DATABASE_URL", "JWT_ALGORITHM", "JWT_PRIVATE_KEY_FILE", "JWT_VERIFY_KEY_FILES",
    "JWT_ISSUER", "JWT_ACCESS_TOKEN_EXPIRES", "JWT_REFRESH_TOKEN_EXPIRES",
    "JWT_FRESH_MAX_AGE", "JWT_LEEWAY", "RATELIMIT_ENABLED", "RATELIMIT_STORAGE_URI",
    "RATELIMIT_AUTH", "RATELIMIT_KEY_PREFIX", "MAX_CONTENT_LENGTH",
    "MAX_ADDRESSES_PER_USER", "TRUSTED_PROXIES", "USERGATE_ADMIN_EMAIL",
    "USERGATE_ADMIN_PASSWORD",
)


class LiveServer:
    """usergate served by werkzeug in a child process; ``settings`` become its environment."""

    def __init__(self, workdir: Path, **settings: str):
        self.workdir = Path(workdir)
        self.db_path = self.workdir / "usergate.db"
        env = {k: v for k, v in os.environ.items() if k not in _INHERITED_SETTINGS}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH")) if p)
        env.update({
            "USERGATE_CONFIG": "testing",
            "SECRET_KEY": "client-tests-secret-key-0123456789abcdef",
            "DATABASE_URL": f"sqlite:///{self.db_path}",
            "BCRYPT_LOG_ROUNDS": "4",
            "RATELIMIT_ENABLED": "false",
            "RATELIMIT_STORAGE_URI": "memory://",
        })
        env.update({k: str(v) for k, v in settings.items()})
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        return f"{self.url}/api/v1"

    def start(self) -> LiveServer:
        self.log_path = self.workdir / "server.log"
        self._log = open(self.log_path, "w")
        # cwd is the scratch folder, so the repository's .env is not read.
        self.proc = subprocess.Popen([sys.executable, str(SERVE)], cwd=self.workdir,
                                     env=self.env, stdout=subprocess.PIPE,
                                     stderr=self._log, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"usergate did not start: {line!r}\n{self.log_path.read_text()}")
        self.port = int(line.split()[1])
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.api}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"usergate is not healthy\n{self.log_path.read_text()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stdout:
            self.proc.stdout.close()
        if hasattr(self, "_log"):
            self._log.close()

    def flask(self, *args: str) -> str:
        """Run a ``flask --app run.py`` command against this server's database."""
        done = subprocess.run([sys.executable, "-m", "flask", "--app", str(REPO / "run.py"),
                               *args], cwd=self.workdir, env=self.env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def create_user(self, email: str, password: str = PASSWORD, *, admin: bool = False) -> None:
        """Add a user through the real CLI (the only way to make an admin)."""
        self.flask("users", "create", email, "--password", password,
                   *(["--admin"] if admin else []))

    def login(self, email: str, password: str = PASSWORD) -> dict:
        response = httpx.post(f"{self.api}/auth/login",
                              json={"email": email, "password": password}, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def register(self, email: str, password: str = PASSWORD, **extra) -> dict:
        response = httpx.post(f"{self.api}/auth/register",
                              json={"email": email, "password": password, **extra}, timeout=10)
        assert response.status_code == 201, response.text
        return response.json()
