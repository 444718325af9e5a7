"""The one live usergate: a real server on a loopback port, for real clients over HTTP.

`LiveServer` starts a child process one way for every flavour: in a folder of its
own (its cwd, so the checkout's `.env` is never read), with an explicit environment
(helpers.settings.server_env: the developer's variables never reach it), on port 0
(the kernel picks; the child names the port in its log), its stdout and stderr in
`server.log`. `start()` waits for the port and for GET /api/v1/health, `stop()` ends
the child (SIGTERM, then SIGKILL for its whole process group), `log()` reads the log.

- `LiveServer`: werkzeug (helpers/serve_usergate.py: migrates, then serves);
- `GunicornServer`: gunicorn, with the project's gunicorn.conf.py or any app factory
  (bench/ serves its own apps with it);
- `ThreadServer`: werkzeug in a thread of the test process, for tests that swap the
  app or move the service clock while it serves (same url/api/stop).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from helpers.accounts import PASSWORD
from helpers.settings import REPO, app_settings, server_env

HERE = Path(__file__).resolve().parent
SERVE = HERE / "serve_usergate.py"
START_TIMEOUT = 60.0


class ServerError(AssertionError):
    """The server did not come up; the message carries the end of its log."""


def healthy(base_url: str, path: str = "/api/v1/health") -> bool:
    """GET `path` answers 200 right now."""
    import httpx

    try:
        return httpx.get(f"{base_url}{path}", timeout=2, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(process: subprocess.Popen, probe, seconds: float, explain):
    """Poll `probe()` until it returns something true (returned); fails with `explain()`
    when `process` exits first or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            raise ServerError(f"exited with {process.returncode}: {explain()}")
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise ServerError(explain())
        time.sleep(0.05)


def stop_process(process: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM (gunicorn's graceful shutdown too); SIGKILL for its whole group after
    `timeout` s (the child was started with start_new_session=True)."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


class _HttpHelpers:
    """Requests every flavour answers the same way (the server at `self.url`)."""

    url: str

    @property
    def api(self) -> str:
        return f"{self.url}/api/v1"

    def http(self, **options):
        import httpx

        return httpx.Client(base_url=self.api, trust_env=False,
                            **{"timeout": 10, **options})

    def register(self, email: str = "ada@example.com", password: str = PASSWORD,
                 **extra) -> dict:
        with self.http() as http:
            response = http.post("/auth/register",
                                 json={"email": email, "password": password, **extra})
        assert response.status_code == 201, response.text
        return response.json()

    def login(self, email: str, password: str = PASSWORD) -> dict:
        with self.http() as http:
            response = http.post("/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        return response.json()


class LiveServer(_HttpHelpers):
    """usergate served by werkzeug in a child process; `settings` join its environment.

    Without `usergate_defaults=False` the child gets the test settings first
    (testing config, a SQLite file in `workdir`, cheap bcrypt, no rate limits).
    """

    port_pattern = re.compile(r"^PORT (\d+)$", re.MULTILINE)

    def __init__(self, workdir: Path, *, usergate_defaults: bool = True, **settings):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.workdir / "usergate.db"
        self.log_path = self.workdir / "server.log"
        defaults = app_settings(f"sqlite:///{self.db_path}") if usergate_defaults else {}
        self.env = server_env(**{**defaults, **settings})
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None

    # -- one way to start, wait, stop and read the log

    def command(self) -> list[str]:
        return [sys.executable, str(SERVE)]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = START_TIMEOUT):
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.command(), cwd=self.workdir, env=self.env,
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        try:
            self.port = self._wait(deadline, self._port_in_log, "named no port")
            self._wait(deadline, self.ready, "did not answer GET /api/v1/health")
        except BaseException:
            self.stop()
            raise
        return self

    def ready(self) -> bool:
        return healthy(self.url)

    def stop(self, timeout: float = 20) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _port_in_log(self) -> int | None:
        found = self.port_pattern.search(self.log())
        return int(found.group(1)) if found else None

    def _wait(self, deadline: float, probe, failure: str):
        return wait_until(self.proc, probe, deadline - time.monotonic(),
                          lambda: f"the server {failure} in time:\n{self.tail()}")

    # -- the same environment for the CLI

    def flask(self, *args: str, timeout: float = 120) -> str:
        """`flask --app usergate ARGS` on this server's settings and folder; its stdout."""
        done = subprocess.run([sys.executable, "-m", "flask", "--app", "usergate", *args],
                              cwd=self.workdir, env=self.env, capture_output=True, text=True,
                              timeout=timeout)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def create_user(self, email: str, password: str = PASSWORD, *, admin: bool = False) -> None:
        """Add a user through the real CLI (the only way to make an admin)."""
        self.flask("users", "create", email, "--password", password,
                   *(["--admin"] if admin else []))


class GunicornServer(LiveServer):
    """gunicorn in a child process: the project's gunicorn.conf.py serving usergate, or
    (`config=None`) plain sync workers serving `app` from `pythonpath`.

    With the project's config, USERGATE_ERROR_LOG and USERGATE_ACCESS_LOG default to
    files in `workdir`; `ready()` also waits until every worker has booted.
    """

    port_pattern = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")

    def __init__(self, workdir: Path, *, workers: int = 1, app: str = "usergate:create_app()",
                 config: Path | None = REPO / "gunicorn.conf.py", pythonpath: Path | None = None,
                 usergate_defaults: bool = True, **settings):
        workdir = Path(workdir)
        self.workers = workers
        self.error_log = workdir / "error.log" if config else workdir / "server.log"
        self.access_log = workdir / "access.log"
        if config:
            settings = {"USERGATE_BIND": "127.0.0.1:0", "USERGATE_WORKERS": workers,
                        "USERGATE_ERROR_LOG": self.error_log,
                        "USERGATE_ACCESS_LOG": self.access_log, **settings}
        super().__init__(workdir, usergate_defaults=usergate_defaults, **settings)
        if config:
            options = ["-c", str(config)]
        else:
            options = ["--workers", str(workers), "--bind", "127.0.0.1:0"]
        if pythonpath:
            options += ["--pythonpath", str(pythonpath)]
        self._command = [sys.executable, "-m", "gunicorn", *options, app]

    def command(self) -> list[str]:
        return self._command

    def log(self) -> str:
        own = super().log()
        if self.error_log != self.log_path and self.error_log.exists():
            own += self.error_log.read_text(errors="replace")
        return own

    def ready(self) -> bool:
        return self.log().count("Booting worker") >= self.workers and super().ready()


class ThreadServer(_HttpHelpers):
    """A WSGI app (a usergate built by make_app) served by werkzeug in a thread.

    For tests that must reach into the serving process: move the service clock, or
    swap the app it serves (`server.app = other`), as a redeploy at one URL would.
    """

    def __init__(self, app):
        self.app = app
        self.server = None
        self.thread: threading.Thread | None = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def start(self) -> ThreadServer:
        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", 0, self, threaded=True)
        # A short poll interval only makes shutdown() at teardown quick.
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, name="usergate",
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.thread is not None and self.thread.is_alive():
            self.server.shutdown()
            self.thread.join()
            self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
