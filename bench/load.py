"""HTTP load: gunicorn serving the bench apps, and the load generators.

`Gunicorn` serves one app factory of bench/ (usergate with its references, or
the bare-Flask ceiling) in its own process; `WrkLoad` drives it with `wrk` when
installed, `PythonLoad` with a bounded pool of httpx threads otherwise.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from targets import BenchError, Prepared, log

BENCH_DIR = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """gunicorn serving `factory` (a bench/ module:function) in its own process."""

    def __init__(self, p: Prepared, secret: str, workdir: Path, workers: int, *,
                 factory: str = "reference:create_from_env()",
                 probe: str = "/api/v1/health"):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.probe = probe
        self.log = workdir / f"gunicorn-{self.port}.log"
        env = {**os.environ, "BENCH_DATABASE_URL": p.url, "BENCH_SECRET_KEY": secret,
               "BENCH_USER_ID": p.user_id, "PYTHONUNBUFFERED": "1"}
        # cwd=workdir: no gunicorn.conf.py nor .env of the checkout is picked up;
        # plain sync workers, no access log, no max_requests recycling.
        self.cmd = [sys.executable, "-m", "gunicorn", "--pythonpath", str(BENCH_DIR),
                    "--workers", str(workers), "--bind", f"127.0.0.1:{self.port}",
                    "--error-logfile", str(self.log), "--log-level", "warning", factory]
        self.env = env
        self.cwd = workdir
        self.proc: subprocess.Popen | None = None

    def __enter__(self):
        self.proc = subprocess.Popen(self.cmd, env=self.env, cwd=self.cwd,  # noqa: S603
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import httpx

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"gunicorn exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.base + self.probe, timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.__exit__()
        raise BenchError("gunicorn did not answer within 60 s")

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

class WrkLoad:
    name = "wrk"

    def __init__(self, workdir: Path, connections: int):
        self.workdir = workdir
        self.connections = connections

    def runner(self, url: str, headers: dict, seconds: int) -> Callable[[], float]:
        script = self.workdir / f"wrk-{uuid.uuid4().hex}.lua"
        lines = [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
        script.write_text("\n".join(lines) + "\n")
        script.chmod(0o600)
        cmd = ["wrk", "-t1", f"-c{self.connections}", f"-d{seconds}s", "-s", str(script), url]

        def run() -> float:
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout  # noqa: S603
            rate = errors = None
            for line in out.splitlines():
                if line.startswith("Requests/sec:"):
                    rate = float(line.split()[1])
                if "Non-2xx or 3xx responses" in line:
                    errors = int(line.split()[-1])
            if rate is None or errors:
                raise BenchError(f"wrk against {url}: {errors or 'no'} errors\n{out}")
            return rate

        return run


class PythonLoad:
    """A bounded load generator: a few threads, each one request at a time."""

    name = "python"

    def __init__(self, threads: int):
        self.threads = threads

    def runner(self, url: str, headers: dict, seconds: int) -> Callable[[], float]:
        import httpx

        def run() -> float:
            done = [0] * self.threads
            failures: list[str] = []
            deadline = time.perf_counter() + seconds

            def worker(i: int) -> None:
                with httpx.Client(headers=headers, timeout=10) as client:
                    while time.perf_counter() < deadline:
                        response = client.get(url)
                        if response.status_code != 200:
                            failures.append(f"{response.status_code}")
                            return
                        done[i] += 1

            start = time.perf_counter()
            workers = [threading.Thread(target=worker, args=(i,)) for i in range(self.threads)]
            for t in workers:
                t.start()
            for t in workers:
                t.join()
            elapsed = time.perf_counter() - start
            if failures:
                raise BenchError(f"{url}: {failures[:3]}")
            return sum(done) / elapsed

        return run


def make_load(args, workdir: Path):
    if args.load in ("auto", "wrk") and shutil.which("wrk"):
        return WrkLoad(workdir, connections=args.connections)
    if args.load == "wrk":
        log("wrk is not installed: falling back to the Python load generator")
    return PythonLoad(threads=args.connections)
