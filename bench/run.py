#!/usr/bin/env python
"""The price of authentication: usergate against no auth and flask-jwt-extended.

    python bench/run.py [--quick] [--database-url postgresql://USER@HOST:PORT/DB]

One run measures, interleaved (A B C, B C A, C A B, ...) so that the drift of a
shared machine hits every scenario alike, and reports medians and paired ratios of:

1. GET /api/v1/auth/user through usergate, against the same user read and JSON
   body with no authentication (the ceiling) and the same endpoint built with
   flask-jwt-extended (bench/reference.py); in-process with the Flask test
   client, and over HTTP against gunicorn (load from `wrk` when installed, else
   a bounded Python client with a few threads);
2. protected requests/s with 0, 100 000 and 1 000 000 blacklist rows;
3. login time for an unknown email against a wrong password (bcrypt cost 12);
4. all of it again on PostgreSQL when --database-url (or DATABASE_URL) names one:
   the bench works in its own schemas there (ugbench_*), dropped at the end.

SQLite runs always, in a temporary directory. `--quick` takes about 2-3 minutes
(SQLite and PostgreSQL), the full run about 10. Results: a table on stdout, the
markdown section between the bench markers of docs/benchmarks.md, and a chart
docs/benchmarks.png (see --markdown, --chart, --no-write).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

import jwt as pyjwt  # noqa: E402
import reference  # noqa: E402
from sqlalchemy import event, text  # noqa: E402

from usergate.clock import utcnow  # noqa: E402
from usergate.extensions import db  # noqa: E402
from usergate.models import BlacklistedToken  # noqa: E402
from usergate.services.auth import Client, create_user, start_session  # noqa: E402

PASSWORD = "bench password 0123"
EMAIL = "bench.user@example.com"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
SCENARIOS = ("ceiling", "usergate", "jwtx")
# usergate with a different token on every request, so its verified-token cache
# never hits: what the first request of each token costs (in-process only).
COLD = "usergate_cold"
LABELS = {"ceiling": "no auth (ceiling)", "usergate": "usergate",
          "jwtx": "flask-jwt-extended", COLD: "usergate, new token each request"}
PATHS = {"ceiling": reference.CEILING_PATH, "usergate": reference.USERGATE_PATH,
         "jwtx": reference.JWTX_PATH, COLD: reference.USERGATE_PATH}


@dataclass(frozen=True)
class Plan:
    rounds: int  # interleaved in-process rounds (GET /auth/user comparison)
    batch: int  # requests per in-process batch
    scale_rounds: int  # interleaved rounds of the blacklist scaling
    http_rounds: int
    http_seconds: int  # seconds of load per HTTP batch
    login_pairs: int  # unknown-email / wrong-password pairs
    sizes: tuple[int, ...] = (0, 100_000, 1_000_000)


QUICK = Plan(rounds=15, batch=100, scale_rounds=11, http_rounds=8, http_seconds=1,
             login_pairs=10)
FULL = Plan(rounds=41, batch=250, scale_rounds=25, http_rounds=24, http_seconds=2,
            login_pairs=30)


class BenchError(RuntimeError):
    pass


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --------------------------------------------------------------------------- databases


@dataclass
class Prepared:
    """One database (SQLite file or PostgreSQL schema) with its app, user and tokens."""

    url: str
    app: object
    user_id: str
    usergate_token: str
    jwtx_token: str | None
    rows: int
    cold_tokens: list[str] = field(default_factory=list)

    def headers(self, scenario: str) -> dict | list[dict]:
        if scenario == COLD:
            return [{"Authorization": f"Bearer {t}"} for t in self.cold_tokens]
        token = {"usergate": self.usergate_token, "jwtx": self.jwtx_token}.get(scenario)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def mint_cold_tokens(self) -> None:
        """More distinct valid tokens (one session) than the verified-token cache holds."""
        from usergate.auth import tokens
        from usergate.clock import timestamp
        from usergate.services.runtime import auth_settings

        size = 3 * getattr(tokens, "VERIFIED_CACHE_SIZE", 1000)
        sid = pyjwt.decode(self.usergate_token, options={"verify_signature": False})["sid"]
        with self.app.app_context():
            settings = auth_settings()
            now = timestamp(utcnow())
            self.cold_tokens = [
                tokens.issue_token(tokens.ACCESS, keys=settings.keys, issuer=settings.issuer,
                                   subject=self.user_id, session_id=sid,
                                   lifetime=settings.access_lifetime, now=now, fresh=True).token
                for _ in range(size)]


@dataclass
class Target:
    label: str  # SQLite / PostgreSQL
    urls: dict[int, str]  # blacklist rows -> database URL
    version: str = ""
    cleanup: Callable[[], None] = lambda: None


def sqlite_target(workdir: Path, sizes) -> Target:
    urls = {n: f"sqlite:///{workdir / f'blacklist_{n}.db'}" for n in sizes}
    return Target("SQLite", urls, version=f"SQLite {sqlite3.sqlite_version}")


def postgres_target(base_url: str, sizes) -> Target:
    import psycopg

    plain = base_url.replace("postgresql+psycopg://", "postgresql://", 1)
    schemas = {n: f"ugbench_bl{n}" for n in sizes}
    with psycopg.connect(plain, autocommit=True, connect_timeout=5) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        for schema in schemas.values():
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            conn.execute(f"CREATE SCHEMA {schema}")
    glue = "&" if "?" in base_url else "?"
    urls = {n: f"{base_url}{glue}options={quote('-csearch_path=' + s)}"
            for n, s in schemas.items()}

    def cleanup():
        with psycopg.connect(plain, autocommit=True, connect_timeout=5) as conn:
            for schema in schemas.values():
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")

    return Target("PostgreSQL", urls, version=f"PostgreSQL {version}", cleanup=cleanup)


def bulk_blacklist(rows: int) -> None:
    """Insert `rows` blacklisted jtis fast: executemany on SQLite, COPY on PostgreSQL."""
    if not rows:
        return
    expires = utcnow() + timedelta(days=1)
    now = utcnow() - timedelta(hours=1)
    # Sorted, so the unique index on jti grows at its right edge: 3x faster than random order.
    jtis = sorted(str(uuid.uuid4()) for _ in range(rows))
    conn = db.engine.raw_connection()
    try:
        cursor = conn.cursor()
        if db.engine.dialect.name == "sqlite":
            # The format SQLAlchemy writes DateTime columns in on SQLite.
            stamp, born = (f"{expires:%Y-%m-%d %H:%M:%S.%f}", f"{now:%Y-%m-%d %H:%M:%S.%f}")
            cursor.executemany(
                "INSERT INTO token_blacklist (jti, token_type, expires_at, blacklisted_on) "
                "VALUES (?, 'access', ?, ?)",
                ((jti, stamp, born) for jti in jtis))
        else:
            with cursor.copy("COPY token_blacklist (jti, token_type, expires_at, "
                             "blacklisted_on) FROM STDIN") as copy:
                for jti in jtis:
                    copy.write_row((jti, "access", expires, now))
        conn.commit()
        cursor.execute("ANALYZE token_blacklist")
        conn.commit()
    finally:
        conn.close()


def prepare(url: str, secret: str, rows: int) -> Prepared:
    app = reference.create_bench_app(url, secret)
    with app.app_context():
        db.drop_all()
        db.create_all()
        user = create_user(email=EMAIL, password=PASSWORD, name="Bench User")
        db.session.commit()
        app.config["BENCH_USER_ID"] = user.public_id
        access = start_session(user, Client(user_agent="bench"))["access_token"]
        bulk_blacklist(rows)
        count = db.session.execute(text("SELECT count(*) FROM token_blacklist")).scalar()
        user_id = user.public_id
    return Prepared(url, app, user_id, access, reference.jwtx_token(app, user_id), count)


def sanity_check(p: Prepared) -> int:
    """Every scenario answers 200 with the same body shape, and revoked tokens get 401.

    Returns the number of SQL statements of one usergate protected request.
    """
    client = p.app.test_client()
    bodies = {}
    for scenario in SCENARIOS:
        if scenario == "jwtx" and not p.jwtx_token:
            continue
        response = client.get(PATHS[scenario], headers=p.headers(scenario))
        if response.status_code != 200:
            raise BenchError(f"{scenario}: {response.status_code} {response.get_data(True)}")
        bodies[scenario] = response.get_json()
    if {b["id"] for b in bodies.values()} != {p.user_id}:
        raise BenchError(f"the scenarios read different users: {bodies}")
    if len({tuple(b) for b in bodies.values()}) != 1:
        raise BenchError(f"the scenarios answer different bodies: {bodies}")

    statements = []

    def count(*_args):
        statements.append(1)

    with p.app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        client.get(PATHS["usergate"], headers=p.headers("usergate"))
    finally:
        event.remove(engine, "before_cursor_execute", count)

    # Revocation works in both authenticated apps (then the row goes again).
    with p.app.app_context():
        revoked = start_session(_user(p), Client())["access_token"]
        assert client.post("/api/v1/auth/logout",
                           headers={"Authorization": f"Bearer {revoked}"}).status_code == 204
        if client.get(PATHS["usergate"], headers={"Authorization": f"Bearer {revoked}"}
                      ).status_code != 401:
            raise BenchError("usergate accepted a revoked token")
        if p.jwtx_token:
            import flask_jwt_extended as jwtx

            spare = reference.jwtx_token(p.app, p.user_id)
            jti = jwtx.decode_token(spare)["jti"]
            db.session.add(BlacklistedToken(jti=jti, token_type="access",
                                            expires_at=utcnow() + timedelta(hours=1)))
            db.session.commit()
            if client.get(PATHS["jwtx"], headers={"Authorization": f"Bearer {spare}"}
                          ).status_code != 401:
                raise BenchError("the flask-jwt-extended app accepted a revoked token")
        # Keep the row count exact: remove the rows the check added.
        added = [pyjwt.decode(revoked, options={"verify_signature": False})["jti"]]
        if p.jwtx_token:
            added.append(jti)
        db.session.execute(BlacklistedToken.__table__.delete().where(
            BlacklistedToken.jti.in_(added)))
        db.session.commit()
        if db.session.execute(text("SELECT count(*) FROM token_blacklist")).scalar() != p.rows:
            raise BenchError("the blacklist row count changed during the sanity check")
    return len(statements)


def _user(p: Prepared):
    from usergate.models import User

    return db.session.execute(
        db.select(User).where(User.public_id == p.user_id)).scalar_one()


# --------------------------------------------------------------------------- measuring


def interleave(runs: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Run each measurement once per round, rotating the order: A B C, B C A, C A B, ..."""
    names = list(runs)
    for name in names:  # warm-up, not recorded
        runs[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(runs[name]())
    return samples


class InProcess:
    """A batch of n requests through the test client; returns requests per wall second.

    It also keeps requests per CPU second of this process (`cpu`): on SQLite, where
    all the work happens in this process, that rate is blind to other jobs taking
    the CPU away, so its ratios are the steadiest read on a shared machine.
    """

    def __init__(self, app, path: str, headers: dict | list[dict], n: int):
        self.client = app.test_client()
        # A list of headers is cycled through (a new token each request).
        self.pool = headers if isinstance(headers, list) else [headers]
        self.path, self.n, self.next = path, n, 0
        self.cpu: list[float] = []

    def __call__(self) -> float:
        get, path, n, pool = self.client.get, self.path, self.n, self.pool
        batch = [pool[(self.next + i) % len(pool)] for i in range(n)]
        self.next += n
        cpu = time.process_time()
        start = time.perf_counter()
        for headers in batch:
            response = get(path, headers=headers)
            if response.status_code != 200:
                raise BenchError(f"{path}: {response.status_code}")
        wall = time.perf_counter() - start
        self.cpu.append(n / max(time.process_time() - cpu, 1e-9))
        return n / wall


def inprocess(app, path: str, headers: dict, n: int) -> InProcess:
    return InProcess(app, path, headers, n)


def inprocess_series(runs: dict[str, InProcess], rounds: int) -> Series:
    samples = interleave(runs, rounds)
    # Drop the warm-up batch interleave() ran first.
    return Series(samples, {name: run.cpu[1:] for name, run in runs.items()})


@dataclass
class Series:
    samples: dict[str, list[float]]  # requests per wall second, one per round
    cpu: dict[str, list[float]] | None = None  # requests per CPU second (in-process)

    def median(self, name: str) -> float:
        return statistics.median(self.samples[name])

    def ratio(self, a: str, b: str) -> float:
        """Median of the per-round ratios a/b (paired, so drift cancels)."""
        return _paired(self.samples, a, b)

    def cpu_ratio(self, a: str, b: str) -> float | None:
        return _paired(self.cpu, a, b) if self.cpu else None

    def spread(self, name: str) -> tuple[float, float]:
        values = sorted(self.samples[name])
        q = statistics.quantiles(values, n=4) if len(values) >= 2 else [values[0]] * 3
        return q[0], q[2]


def _paired(samples: dict[str, list[float]], a: str, b: str) -> float:
    return statistics.median(x / y for x, y in zip(samples[a], samples[b], strict=True))


# HTTP


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """gunicorn serving reference.create_from_env() in its own process group."""

    def __init__(self, p: Prepared, secret: str, workdir: Path, workers: int):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"gunicorn-{self.port}.log"
        env = {**os.environ, "BENCH_DATABASE_URL": p.url, "BENCH_SECRET_KEY": secret,
               "BENCH_USER_ID": p.user_id, "PYTHONUNBUFFERED": "1"}
        # cwd=workdir: no gunicorn.conf.py nor .env of the checkout is picked up;
        # plain sync workers, no access log, no max_requests recycling.
        self.cmd = [sys.executable, "-m", "gunicorn", "--pythonpath", str(BENCH_DIR),
                    "--workers", str(workers), "--bind", f"127.0.0.1:{self.port}",
                    "--error-logfile", str(self.log), "--log-level", "warning",
                    "reference:create_from_env()"]
        self.env = env
        self.cwd = workdir
        self.proc: subprocess.Popen | None = None

    def __enter__(self):
        self.proc = subprocess.Popen(self.cmd, env=self.env, cwd=self.cwd,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import httpx

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"gunicorn exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.base + "/api/v1/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
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
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
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


# login


def login_times(app, pairs: int) -> dict[str, list[float]]:
    """Seconds per failed login: unknown email vs wrong password, interleaved.

    Also CPU seconds of this process per login (`*_cpu`): bcrypt runs here.
    """
    client = app.test_client()
    with app.app_context():
        from usergate.services.auth import find_user_by_email
        from usergate.services.runtime import auth_settings

        costs = {auth_settings().dummy_hash[:7], find_user_by_email(EMAIL).password_hash[:7]}
    if costs != {"$2b$12$"}:
        raise BenchError(f"login should compare bcrypt cost 12 hashes, not {costs}")
    attempts = {
        "unknown_email": lambda i: {"email": f"nobody{i}@example.com", "password": PASSWORD},
        "wrong_password": lambda i: {"email": EMAIL, "password": PASSWORD + f" wrong{i}"},
    }
    names = list(attempts)
    times: dict[str, list[float]] = {key: [] for name in names for key in (name, name + "_cpu")}
    for i in range(pairs + 1):  # round 0 is a warm-up
        for name in (names if i % 2 == 0 else names[::-1]):
            body = attempts[name](i)
            cpu = time.process_time()
            start = time.perf_counter()
            response = client.post("/api/v1/auth/login", json=body)
            elapsed = time.perf_counter() - start
            cpu = time.process_time() - cpu
            if response.status_code != 401:
                raise BenchError(f"login {name}: {response.status_code}")
            if i:
                times[name].append(elapsed)
                times[name + "_cpu"].append(cpu)
    return times


# --------------------------------------------------------------------------- one database


@dataclass
class DbResult:
    label: str
    version: str
    statements: int = 0
    inproc: Series | None = None
    http: Series | None = None
    scale: Series | None = None
    login: dict = field(default_factory=dict)


def bench_database(target: Target, plan: Plan, args, workdir: Path) -> DbResult:
    secret = secrets.token_urlsafe(48)
    result = DbResult(target.label, target.version)
    log(f"{target.label}: preparing {len(target.urls)} databases "
        f"({', '.join(f'{n:,}' for n in target.urls)} blacklist rows)")
    prepared = {}
    for rows, url in target.urls.items():
        started = time.perf_counter()
        prepared[rows] = prepare(url, secret, rows)
        log(f"  {rows:>9,} rows ready in {time.perf_counter() - started:.1f} s")
    main = prepared[min(prepared)]
    result.statements = sanity_check(main)
    for p in prepared.values():
        if p is not main:
            sanity_check(p)
    log(f"  sanity checks passed; SQL statements per protected request: {result.statements}")

    scenarios = [s for s in SCENARIOS if s != "jwtx" or main.jwtx_token]
    main.mint_cold_tokens()
    log(f"{target.label}: in-process, {plan.rounds} rounds x {plan.batch} requests")
    result.inproc = inprocess_series(
        {s: inprocess(main.app, PATHS[s], main.headers(s), plan.batch)
         for s in [*scenarios, COLD]}, plan.rounds)

    log(f"{target.label}: blacklist scaling, {plan.scale_rounds} rounds")
    result.scale = inprocess_series(
        {str(rows): inprocess(p.app, PATHS["usergate"], p.headers("usergate"), plan.batch)
         for rows, p in prepared.items()}, plan.scale_rounds)

    if not args.no_http:
        load = make_load(args, workdir)
        log(f"{target.label}: HTTP (gunicorn, {args.workers} workers; load: {load.name}), "
            f"{plan.http_rounds} rounds x {plan.http_seconds} s")
        with Gunicorn(main, secret, workdir, args.workers) as server:
            result.http = Series(interleave(
                {s: load.runner(server.base + PATHS[s], main.headers(s), plan.http_seconds)
                 for s in scenarios}, plan.http_rounds))

    if not args.no_login:
        log(f"{target.label}: login, {plan.login_pairs} interleaved pairs (bcrypt cost 12)")
        result.login = login_times(main.app, plan.login_pairs)

    for p in prepared.values():
        with p.app.app_context():
            db.session.remove()
            db.engine.dispose()
    return result


def make_load(args, workdir: Path):
    if args.load in ("auto", "wrk") and shutil.which("wrk"):
        return WrkLoad(workdir, connections=args.connections)
    if args.load == "wrk":
        log("wrk is not installed: falling back to the Python load generator")
    return PythonLoad(threads=args.connections)


# --------------------------------------------------------------------------- reporting


def machine() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "os": f"{platform.system()} {platform.release()}",
            "load": " ".join(f"{x:.2f}" for x in os.getloadavg())}


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


def fmt_ratio(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}×"


def comparison_rows(r: DbResult):
    """(mode, series, usergate scenario) for every row of the main table."""
    rows = []
    if r.inproc:
        rows.append(("in-process", r.inproc, "usergate"))
        if COLD in r.inproc.samples:
            rows.append(("in-process, a new token every request", r.inproc, COLD))
    if r.http:
        rows.append(("HTTP (gunicorn)", r.http, "usergate"))
    return rows


def targets(results: list[DbResult]) -> list[tuple[str, str, str, bool]]:
    rows = []
    for r in results:
        tag = r.label
        for mode, series, ug in comparison_rows(r):
            if "jwtx" in series.samples:
                v = series.ratio(ug, "jwtx")
                rows.append((f"{tag}: usergate / flask-jwt-extended, {mode}", "≥ 1.00",
                             fmt_ratio(v), v >= 1.0))
        if r.inproc:
            v = r.inproc.ratio("usergate", "ceiling")
            rows.append((f"{tag}: usergate / no-auth ceiling, in-process", "≥ 0.85",
                         fmt_ratio(v), v >= 0.85))
        if r.scale:
            big, none = scale_ends(r)
            v = r.scale.ratio(big, none)
            rows.append((f"{tag}: {int(big):,} blacklist rows / none", "≥ 0.90",
                         fmt_ratio(v), v >= 0.9))
        rows.append((f"{tag}: SQL statements per protected request", "≤ 2",
                     str(r.statements), r.statements <= 2))
        if r.login:
            v = login_ratio(r.login)
            rows.append((f"{tag}: login time, unknown email / wrong password", "0.90–1.10",
                         f"{v:.3f}", 0.9 <= v <= 1.1))
    return rows


def scale_ends(r: DbResult) -> tuple[str, str]:
    sizes = sorted(r.scale.samples, key=int)
    return sizes[-1], sizes[0]


def login_ratio(login: dict, suffix: str = "") -> float:
    """Median of the per-pair ratios unknown email / wrong password."""
    return _paired(login, "unknown_email" + suffix, "wrong_password" + suffix)


def markdown(results: list[DbResult], info: dict, plan: Plan, args, command: str,
             chart: str | None) -> str:
    out = [
        f"Measured {info['date']} with `{command}` "
        f"({'quick' if args.quick else 'full'} mode, {info['seconds']:.0f} s).\n",
        f"Machine: {info['nproc']} CPUs ({info['cpu']}), {info['os']}, Python "
        f"{info['python']}, {', '.join(r.version for r in results)}; load average at the "
        f"start {info['load']}, at the end {info['load_end']}. A shared, noisy machine: "
        "other jobs ran on the same 2 cores, so absolute numbers move from run to run; "
        "the ratios are paired per interleaved round and are what to read.\n",
        f"In-process: {plan.rounds} interleaved rounds of {plan.batch} requests per scenario "
        f"through the Flask test client. HTTP: gunicorn with {args.workers} sync workers, "
        f"{plan.http_rounds} interleaved rounds of {plan.http_seconds} s per scenario, load "
        f"from {info['load_generator']} with {args.connections} connections on the same "
        "machine. Rates are medians of requests per second; a ratio is the median of the "
        "per-round ratios. *CPU* ratios divide requests per CPU-second of the benchmark "
        "process instead (in-process only): on SQLite all the work is in that process, so "
        "they do not see other jobs taking the CPU away; on PostgreSQL they leave out the "
        "server's own work, so read the wall-clock ratio there.\n",
        "### GET /api/v1/auth/user: requests per second\n",
        "| database | mode | no auth (ceiling) | usergate | flask-jwt-extended "
        "| usergate / ceiling | usergate / flask-jwt-extended | same, CPU time |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        for mode, series, ug in comparison_rows(r):
            jw = "jwtx" in series.samples
            cpu = (f"{fmt_ratio(series.cpu_ratio(ug, 'ceiling'))} / "
                   f"{fmt_ratio(series.cpu_ratio(ug, 'jwtx') if jw else None)}"
                   if series.cpu else "–")
            out.append(
                f"| {r.label} | {mode} | {fmt_rate(series.median('ceiling'))} "
                f"| {fmt_rate(series.median(ug))} "
                f"| {fmt_rate(series.median('jwtx')) if jw else '–'} "
                f"| {fmt_ratio(series.ratio(ug, 'ceiling'))} "
                f"| {fmt_ratio(series.ratio(ug, 'jwtx') if jw else None)} | {cpu} |")
    out.append("")
    scaled = [r for r in results if r.scale]
    if scaled:
        sizes = sorted(scaled[0].scale.samples, key=int)
        out.append("### Blacklist scaling: usergate protected requests per second "
                   "(in-process)\n")
        out.append("| database | " + " | ".join(f"{int(n):,} rows" for n in sizes)
                   + f" | {int(sizes[-1]):,} rows / none | same, CPU time |")
        out.append("| --- | " + " | ".join("---:" for _ in sizes) + " | ---: | ---: |")
        for r in scaled:
            big, none = scale_ends(r)
            cells = " | ".join(fmt_rate(r.scale.median(n)) for n in sizes)
            out.append(f"| {r.label} | {cells} | {fmt_ratio(r.scale.ratio(big, none))} "
                       f"| {fmt_ratio(r.scale.cpu_ratio(big, none))} |")
        out.append("")
    if any(r.login for r in results):
        out.append("### Login: time of a failed login (bcrypt cost 12, in-process)\n")
        out.append(f"{plan.login_pairs} interleaved pairs; the ratio is the median of the "
                   "per-pair ratios.\n")
        out.append("| database | unknown email | wrong password | unknown / wrong "
                   "| same, CPU time |")
        out.append("| --- | ---: | ---: | ---: | ---: |")
        for r in results:
            if r.login:
                out.append(
                    f"| {r.label} | {statistics.median(r.login['unknown_email']) * 1000:.1f} ms "
                    f"| {statistics.median(r.login['wrong_password']) * 1000:.1f} ms "
                    f"| {login_ratio(r.login):.3f} | {login_ratio(r.login, '_cpu'):.3f} |")
        out.append("")
    out.append("### Targets\n")
    out.append("| target | wanted | measured | met |")
    out.append("| --- | --- | --- | --- |")
    for name, wanted, got, ok in targets(results):
        out.append(f"| {name} | {wanted} | {got} | {'yes' if ok else '**no**'} |")
    out.append("")
    if chart:
        out.append(f"![requests per second by scenario]({chart})\n")
    return "\n".join(out)


CHART_ORDER = ("ceiling", "usergate", COLD, "jwtx")
COLORS = {"ceiling": "#9e9e9e", "usergate": "#1f77b4", COLD: "#aec7e8", "jwtx": "#ff7f0e"}


def draw_chart(results: list[DbResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5),
                                      gridspec_kw={"width_ratios": [3, 2]})
    groups = []
    for r in results:
        for mode, series in (("in-process", r.inproc), ("HTTP", r.http)):
            if series is not None:
                groups.append((f"{r.label}\n{mode}", series))
    width = 0.8 / len(CHART_ORDER)
    for scenario in CHART_ORDER:
        xs, ys, errs = [], [], [[], []]
        for g, (_, series) in enumerate(groups):
            present = [s for s in CHART_ORDER if s in series.samples]
            if scenario in present:  # the bars of a group side by side, centred
                i = present.index(scenario)
                med = series.median(scenario)
                lo, hi = series.spread(scenario)
                xs.append(g + (i - (len(present) - 1) / 2) * width)
                ys.append(med)
                errs[0].append(max(0, med - lo))
                errs[1].append(max(0, hi - med))
        if xs:
            left.bar(xs, ys, width, yerr=errs, capsize=3, label=LABELS[scenario],
                     color=COLORS[scenario])
    left.set_xticks(range(len(groups)), [g for g, _ in groups])
    left.set_ylabel("requests / s (median; whiskers: interquartile range)")
    left.set_title("GET /api/v1/auth/user")
    left.legend(fontsize="small")
    scaled = [r for r in results if r.scale]
    if scaled:
        sizes = sorted(scaled[0].scale.samples, key=int)
        shades = ["#c6dbef", "#6baed6", "#08519c"]
        width = 0.8 / len(sizes)
        for i, n in enumerate(sizes):
            xs = [g + (i - (len(sizes) - 1) / 2) * width for g in range(len(scaled))]
            ys = [r.scale.median(n) for r in scaled]
            right.bar(xs, ys, width, label=f"{int(n):,} blacklist rows",
                      color=shades[i % len(shades)])
        right.set_xticks(range(len(scaled)), [r.label for r in scaled])
        right.set_title("usergate in-process, by blacklist size")
        right.set_ylabel("requests / s (median)")
        right.legend(fontsize="small")
    fig.suptitle("usergate: the price of authentication (higher is better)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_table(results: list[DbResult]) -> None:
    print()
    header = f"{'database':<11} {'scenario':<48} {'median':>10}  ratios"
    print(header)
    print("-" * 100)
    for r in results:
        for mode, series in (("in-process", r.inproc), ("HTTP", r.http)):
            if series is None:
                continue
            for s in series.samples:
                ug = s if s in ("usergate", COLD) else "usergate"
                others = [o for o in ("ceiling", "jwtx") if o in series.samples and o != s]
                notes = []
                if s in ("usergate", COLD):
                    for o in others:
                        note = f"/{o} {series.ratio(ug, o):.2f}x"
                        if series.cpu:
                            note += f" (cpu {series.cpu_ratio(ug, o):.2f}x)"
                        notes.append(note)
                print(f"{r.label:<11} {mode + ' ' + LABELS[s]:<48} "
                      f"{series.median(s):>8,.0f}/s  {'  '.join(notes)}")
        if r.scale:
            base = min(r.scale.samples, key=int)
            for s in sorted(r.scale.samples, key=int):
                print(f"{r.label:<11} {f'blacklist {int(s):,} rows':<48} "
                      f"{r.scale.median(s):>8,.0f}/s  vs none {r.scale.ratio(s, base):.2f}x "
                      f"(cpu {r.scale.cpu_ratio(s, base):.2f}x)")
        if r.login:
            for name in ("unknown_email", "wrong_password"):
                print(f"{r.label:<11} {'login ' + name.replace('_', ' '):<48} "
                      f"{statistics.median(r.login[name]) * 1000:>7,.1f} ms")
            print(f"{r.label:<11} {'login unknown / wrong':<48} {'':>10}  "
                  f"{login_ratio(r.login):.3f} (cpu {login_ratio(r.login, '_cpu'):.3f})")
        print(f"{r.label:<11} {'SQL statements per protected request':<48} {r.statements:>10}")
    print()
    for name, wanted, got, ok in targets(results):
        print(f"  [{'ok' if ok else 'MISSED'}] {name}: {got} (wanted {wanted})")
    print()


def write_markdown(path: Path, section: str) -> None:
    block = f"{BEGIN}\n{section}\n{END}"
    if path.exists():
        current = path.read_text()
        if BEGIN in current and END in current:
            head, rest = current.split(BEGIN, 1)
            tail = rest.split(END, 1)[1]
            path.write_text(head + block + tail)
            return
        path.write_text(current.rstrip() + "\n\n## Results\n\n" + block + "\n")
        return
    path.write_text("# Benchmarks\n\n" + block + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="~2-3 minutes instead of ~10")
    parser.add_argument("--database-url",
                        help="a PostgreSQL database to run on too (default: $DATABASE_URL "
                             "when that is a postgresql:// URL)")
    parser.add_argument("--load", choices=("auto", "wrk", "python"), default="auto",
                        help="HTTP load generator (auto: wrk when installed)")
    parser.add_argument("--connections", type=int, default=4,
                        help="concurrent HTTP connections (or Python client threads)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                        help="gunicorn workers (default: one per CPU)")
    parser.add_argument("--no-http", action="store_true", help="skip the gunicorn runs")
    parser.add_argument("--no-login", action="store_true", help="skip the login timing")
    parser.add_argument("--markdown", default=str(ROOT / "docs" / "benchmarks.md"),
                        help="file whose bench section is replaced with the results")
    parser.add_argument("--chart", default=str(ROOT / "docs" / "benchmarks.png"),
                        help="where to draw the PNG chart")
    parser.add_argument("--json", help="also write the raw samples here")
    parser.add_argument("--no-write", action="store_true",
                        help="print only; write neither markdown nor chart")
    args = parser.parse_args(argv)
    if args.database_url is None:
        env_url = os.environ.get("DATABASE_URL", "")
        args.database_url = env_url if env_url.startswith(("postgresql", "postgres://")) else None
    plan = QUICK if args.quick else FULL

    if reference.jwtx is None:
        log("flask-jwt-extended is not installed (pip install -e '.[bench]'): "
            "that scenario is left out")
    info = machine()
    info["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="usergate-bench-"))
    info["load_generator"] = make_load(args, workdir).name if not args.no_http else "-"
    log(f"{info['nproc']} CPUs ({info['cpu']}), load {info['load']}; work dir {workdir}")
    targets_ = [sqlite_target(workdir, plan.sizes)]
    if args.database_url:
        if not args.database_url.startswith(("postgresql", "postgres://")):
            parser.error("--database-url must be a postgresql:// URL")
        targets_.append(postgres_target(args.database_url, plan.sizes))
    results = []
    try:
        for target in targets_:
            try:
                results.append(bench_database(target, plan, args, workdir))
            finally:
                target.cleanup()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    info["seconds"] = time.perf_counter() - started
    info["load_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())

    print_table(results)
    command = "python bench/run.py" + (" --quick" if args.quick else "") + (
        " --database-url postgresql://…" if args.database_url else "")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "machine": info, "results": [
                {"database": r.label, "version": r.version, "statements": r.statements,
                 "inprocess": r.inproc and r.inproc.samples,
                 "inprocess_cpu": r.inproc and r.inproc.cpu,
                 "http": r.http and r.http.samples,
                 "blacklist": r.scale and r.scale.samples,
                 "blacklist_cpu": r.scale and r.scale.cpu, "login": r.login}
                for r in results]}, indent=1))
    if not args.no_write:
        chart, rel = Path(args.chart), None
        md = Path(args.markdown)
        try:
            draw_chart(results, chart)
            rel = os.path.relpath(chart, md.parent)
        except ImportError:
            log("matplotlib is not installed (pip install -e '.[bench]'): no chart")
        write_markdown(md, markdown(results, info, plan, args, command, rel))
        log(f"wrote {md}" + (f" and {chart}" if rel else ""))
    log(f"done in {info['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
