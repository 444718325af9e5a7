"""What is compared: the scenarios, and the databases they run on.

A *target* is one database engine (a SQLite file per blacklist size, or one
PostgreSQL schema per size); `prepare()` builds, for one of those databases,
usergate's app with its two references (bench/reference.py), the bare-Flask
ceiling (bench/bare.py), the user and the tokens; `sanity_check()` proves the
scenarios answer the same thing before anything is timed.
"""

from __future__ import annotations

import secrets
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import bare
import jwt as pyjwt
import reference
from sqlalchemy import event, text

from usergate.clock import utcnow
from usergate.extensions import db
from usergate.models import BlacklistedToken
from usergate.services.accounts import create_user
from usergate.services.sessions import Client, start_session

PASSWORD = "bench password 0123"
EMAIL = "bench.user@example.com"
# bare: its own Flask app (bench/bare.py); the others are mounted on usergate's app.
SCENARIOS = ("bare", "ceiling", "usergate", "jwtx")
# usergate with a different token on every request, so its verified-token cache
# never hits: what the first request of each token costs (in-process only).
COLD = "usergate_cold"
LABELS = {"bare": "bare Flask (ceiling)", "ceiling": "no auth on usergate's stack",
          "usergate": "usergate", "jwtx": "flask-jwt-extended",
          COLD: "usergate, new token each request"}
PATHS = {"bare": bare.PATH, "ceiling": reference.CEILING_PATH,
         "usergate": reference.USERGATE_PATH, "jwtx": reference.JWTX_PATH,
         COLD: reference.USERGATE_PATH}


class BenchError(RuntimeError):
    pass


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Prepared:
    """One database (SQLite file or PostgreSQL schema) with its apps, user and tokens."""

    url: str
    app: object  # usergate, with the no-auth and flask-jwt-extended references mounted
    bare_app: object  # the bare-Flask ceiling, its own app object
    user_id: str
    usergate_token: str
    jwtx_token: str | None
    rows: int
    cold_tokens: list[str] = field(default_factory=list)

    def app_for(self, scenario: str):
        return self.bare_app if scenario == "bare" else self.app

    def scenarios(self) -> list[str]:
        return [s for s in SCENARIOS if s != "jwtx" or self.jwtx_token]

    def headers(self, scenario: str) -> dict | list[dict]:
        """The request's headers. Every scenario gets the same request: the ceilings
        (bare Flask, no auth) receive usergate's Authorization header and ignore it,
        so building, sending and parsing that header (in-process, the test client
        validates its ~450 characters: ~3 % of a request's instructions) is paid
        alike, and a ratio measures only what the server does with it."""
        if scenario == COLD:
            return [{"Authorization": f"Bearer {t}"} for t in self.cold_tokens]
        token = self.jwtx_token if scenario == "jwtx" else self.usergate_token
        return {"Authorization": f"Bearer {token}"}

    def mint_cold_tokens(self) -> None:
        """More distinct valid tokens (one session) than the verified-token cache holds."""
        from usergate.clock import now_seconds
        from usergate.security import tokens
        from usergate.services.runtime import auth_settings

        size = 3 * getattr(tokens, "VERIFIED_CACHE_SIZE", 1000)
        sid = pyjwt.decode(self.usergate_token, options={"verify_signature": False})["sid"]
        with self.app.app_context():
            settings = auth_settings()
            now = now_seconds()
            self.cold_tokens = [
                tokens.issue_token(tokens.ACCESS, keys=settings.keys, issuer=settings.issuer,
                                   subject=self.user_id, session_id=sid,
                                   lifetime=settings.access_lifetime, now=now, fresh=True).token
                for _ in range(size)]

    def dispose(self) -> None:
        with self.app.app_context():
            db.session.remove()
            db.engine.dispose()
        bare.dispose(self.bare_app)


@dataclass
class Target:
    label: str  # SQLite / PostgreSQL
    urls: dict[int, str]  # blacklist rows -> database URL
    version: str = ""
    cleanup: Callable[[], None] = lambda: None


def sqlite_target(workdir: Path, sizes) -> Target:
    import sqlite3

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
        access = start_session(user, Client(user_agent="bench")).access.token
        bulk_blacklist(rows)
        count = db.session.execute(text("SELECT count(*) FROM token_blacklist")).scalar()
        user_id = user.public_id
    return Prepared(url, app, bare.create_bare_app(url, user_id), user_id, access,
                    reference.jwtx_token(app, user_id), count)


@contextmanager
def one_database(database_url: str | None) -> Iterator[tuple[Target, Prepared]]:
    """The profiling scripts' database, prepared with an empty blacklist: a schema of its
    own at `database_url` (PostgreSQL), else a SQLite file in a new temporary folder."""
    target = (postgres_target(database_url, (0,)) if database_url
              else sqlite_target(Path(tempfile.mkdtemp(prefix="usergate-profile-")), (0,)))
    try:
        yield target, prepare(target.urls[0], secrets.token_urlsafe(48), 0)
    finally:
        target.cleanup()


def count_statements(engine, request: Callable[[], object]) -> int:
    statements = []

    def count(*_args):
        statements.append(1)

    event.listen(engine, "before_cursor_execute", count)
    try:
        request()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(statements)


def sanity_check(p: Prepared) -> int:
    """Every scenario answers 200 with the same body, and revoked tokens get 401.

    Returns the number of SQL statements of one usergate protected request.
    """
    client = p.app.test_client()
    bare_client = p.bare_app.test_client()
    bodies = {}
    for scenario in p.scenarios():
        c = bare_client if scenario == "bare" else client
        response = c.get(PATHS[scenario], headers=p.headers(scenario))
        if response.status_code != 200:
            raise BenchError(f"{scenario}: {response.status_code} {response.get_data(True)}")
        bodies[scenario] = response.get_json()
    if {b["id"] for b in bodies.values()} != {p.user_id}:
        raise BenchError(f"the scenarios read different users: {bodies}")
    if len({tuple(b) for b in bodies.values()}) != 1:
        raise BenchError(f"the scenarios answer different bodies: {bodies}")
    volatile = {"token_expires_in", "fresh", "session_id"}
    if len({tuple((k, v) for k, v in b.items() if k not in volatile)
            for b in bodies.values()}) != 1:
        raise BenchError(f"the scenarios answer different users' data: {bodies}")

    with p.app.app_context():
        engine = db.engine
    statements = count_statements(
        engine, lambda: client.get(PATHS["usergate"], headers=p.headers("usergate")))
    bare_statements = count_statements(bare.engine_of(p.bare_app),
                                       lambda: bare_client.get(PATHS["bare"]))
    if bare_statements != 1:
        raise BenchError(f"the bare-Flask ceiling sent {bare_statements} statements, not 1")

    # Revocation works in both authenticated apps (then the row goes again).
    with p.app.app_context():
        revoked = start_session(_user(p), Client()).access.token
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
    return statements


def _user(p: Prepared):
    from usergate.models import User

    return db.session.execute(
        db.select(User).where(User.public_id == p.user_id)).scalar_one()
