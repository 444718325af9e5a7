"""The token store: one row per named token, on SQLAlchemy Core.

What a row means and when it is valid lives in ``records``; this module is
storage only.  The command line's read path skips it (``fastpath``).

A SQLite file by default (created with mode 0600, WAL journal, busy timeout),
PostgreSQL by URL.  The store has its own tables and its own engine; it shares
nothing with the usergate server's database.

Concurrency rests on one primitive, the lease: a single conditional UPDATE
that succeeds (rowcount 1) for exactly one caller, however many threads and
processes race for it.  Nothing here reads a row and then writes it based on
what it read.  Every transaction is one statement, kept short.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError

from .defaults import DEFAULT_STORE
from .errors import (
    CorruptRowError,
    LeaseLostError,
    StoreError,
    TokenExistsError,
    TokenNotFoundError,
)
from .location import others_may_read, sqlite_path
from .records import STATES, StoredEntry, TokenRecord

__all__ = ["TokenStore", "TokenRecord", "StoredEntry", "DEFAULT_STORE", "STATES"]

log = logging.getLogger(__name__)

metadata = MetaData()

keeper_tokens = Table(
    "keeper_tokens", metadata,
    Column("name", String(100), primary_key=True),
    Column("token_url", Text, nullable=False),
    Column("username", Text, nullable=False),
    Column("password", Text),                       # clear text, optional: see docs/keeper.md
    Column("access_token", Text),
    Column("access_expires_at", Float),             # epoch seconds
    Column("refresh_token", Text),
    Column("refresh_expires_at", Float),
    Column("state", String(16), nullable=False),    # ok / refreshing / failed
    Column("error", Text),                          # the last error, readable by consumers
    Column("lease_owner", String(200)),
    Column("lease_expires_at", Float),
    Column("version", Integer, nullable=False),     # bumped by every write
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("refresh_count", Integer, nullable=False),
    Column("grant_type", String(32)),               # password (NULL) / client_credentials
)
T = keeper_tokens.c


def store_url(location: str | None) -> URL:
    """A SQLAlchemy URL from a URL or a plain file path (``~`` expanded)."""
    location = location or DEFAULT_STORE
    path = sqlite_path(location)
    if path is not None:
        return URL.create("sqlite", database=str(path))
    try:
        url = make_url(location)
    except ArgumentError as exc:
        raise StoreError(f"bad store URL {location!r}: {exc}") from None
    if url.drivername in ("postgresql", "postgres"):
        # SQLAlchemy's default PostgreSQL driver is psycopg2; use psycopg 3
        # when that is what is installed.
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            url = url.set(drivername="postgresql+psycopg")
    return url


def _prepare_sqlite_file(url: URL) -> URL:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return url
    path = Path(database).expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # The file holds tokens and maybe a password in clear: readable by
        # its owner only.  SQLite gives the -wal and -shm files the same mode.
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(fd)
    except FileExistsError:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError as exc:
            raise StoreError(f"cannot open token store {path}: {exc}") from None
        if others_may_read(mode):
            log.warning("token store %s is readable by others (mode %o); "
                        "run: chmod 600 %s", path, mode, path)
    except OSError as exc:
        raise StoreError(f"cannot create token store {path}: {exc}") from None
    return url.set(database=str(path))


class TokenStore:
    """Named tokens in a database, and the lease that serialises refreshes."""

    def __init__(self, location: str | None = None, *, clock: Callable[[], float] = time.time,
                 busy_timeout: float = 30.0):
        self.url = store_url(location)
        self.clock = clock
        self._busy_timeout = busy_timeout
        self._engine: Engine | None = None
        self._pid: int | None = None
        self._engine_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TokenStore({self.display_url!r})"

    @property
    def display_url(self) -> str:
        if self.url.get_backend_name() == "sqlite":
            return self.url.database or ":memory:"
        return self.url.render_as_string(hide_password=True)

    # -- engine ----------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        # An engine's pooled connections must not cross a fork.
        if self._engine is None or self._pid != os.getpid():
            with self._engine_lock:
                if self._engine is None or self._pid != os.getpid():
                    engine = self._create_engine()
                    self._create_schema(engine)
                    self._engine, self._pid = engine, os.getpid()
        return self._engine

    def close(self) -> None:
        if self._engine is not None and self._pid == os.getpid():
            self._engine.dispose()
        self._engine = None

    def _create_engine(self) -> Engine:
        try:
            if self.url.get_backend_name() != "sqlite":
                return create_engine(self.url, pool_pre_ping=True)
            url = _prepare_sqlite_file(self.url)
            engine = create_engine(url, connect_args={"timeout": self._busy_timeout})
        except (SQLAlchemyError, ImportError) as exc:
            raise StoreError(f"cannot open token store {self.display_url}: {exc}") from None
        busy_ms = int(self._busy_timeout * 1000)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record):
            # Take transaction control from pysqlite so BEGIN is ours (below).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            # WAL: readers never block the writer nor the writer readers.
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection):
            # Writers take the write lock up front (BEGIN IMMEDIATE): a
            # transaction never has to upgrade a read lock, which is where
            # SQLite gives up with "database is locked" without waiting.
            mode = "IMMEDIATE" if connection.get_execution_options().get("keeper_write") else ""
            connection.exec_driver_sql(f"BEGIN {mode}".strip())

        return engine

    def _create_schema(self, engine: Engine) -> None:
        try:
            with self._write(engine) as conn:
                metadata.create_all(conn, checkfirst=True)
                _add_missing_columns(conn)
        except SQLAlchemyError as exc:
            # Two processes creating a PostgreSQL schema at once: one loses.
            try:
                with self._read(engine) as conn:
                    conn.execute(select(T.name).limit(1))
            except SQLAlchemyError:
                raise StoreError(
                    f"cannot open token store {self.display_url}: {_reason(exc)}") from None

    @contextmanager
    def _write(self, engine: Engine | None = None) -> Iterator:
        engine = engine if engine is not None else self.engine
        with engine.connect() as conn:
            conn.execution_options(keeper_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self, engine: Engine | None = None) -> Iterator:
        engine = engine if engine is not None else self.engine
        with engine.connect() as conn:
            with conn.begin():
                yield conn

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            raise StoreError(
                f"token store {self.display_url}: cannot {doing}: {_reason(exc)}") from None

    # -- reading -----------------------------------------------------------------

    def get(self, name: str) -> TokenRecord:
        """The validated record; TokenNotFoundError or CorruptRowError."""
        with self._errors(f"read {name!r}"):
            with self._read() as conn:
                row = conn.execute(select(keeper_tokens).where(T.name == name)).mappings().first()
        if row is None:
            raise TokenNotFoundError(name)
        return TokenRecord.from_row(row)

    def exists(self, name: str) -> bool:
        """Whether a row of that name exists, valid or not."""
        with self._errors(f"read {name!r}"):
            with self._read() as conn:
                return conn.execute(select(T.name).where(T.name == name)).first() is not None

    def entries(self) -> list[StoredEntry]:
        """Every row, by name; a corrupt row comes with its error instead of a record."""
        with self._errors("list tokens"):
            with self._read() as conn:
                rows = conn.execute(select(keeper_tokens).order_by(T.name)).mappings().all()
        entries = []
        for row in rows:
            try:
                entries.append(StoredEntry(str(row["name"]), TokenRecord.from_row(row), None))
            except CorruptRowError as exc:
                entries.append(StoredEntry(str(row["name"]), None, exc))
        return entries

    # -- writing -------------------------------------------------------------------

    def add(self, name: str, *, token_url: str, username: str, password: str | None,
            access_token: str, access_expires_at: float, refresh_token: str | None,
            refresh_expires_at: float | None, grant_type: str | None = None) -> None:
        """Insert a new row; TokenExistsError if the name is taken."""
        now = self.clock()
        try:
            with self._write() as conn:
                conn.execute(insert(keeper_tokens).values(
                    name=name, token_url=token_url, username=username, password=password,
                    access_token=access_token, access_expires_at=access_expires_at,
                    refresh_token=refresh_token, refresh_expires_at=refresh_expires_at,
                    state="ok", error=None, lease_owner=None, lease_expires_at=None,
                    version=1, created_at=now, updated_at=now, refresh_count=0,
                    grant_type=grant_type))
        except IntegrityError:
            raise TokenExistsError(name) from None
        except SQLAlchemyError as exc:
            raise StoreError(
                f"token store {self.display_url}: cannot add {name!r}: {_reason(exc)}") from None

    def acquire_lease(self, name: str, owner: str, *, lease_seconds: float,
                      due_before: float | None, ignore_lease: bool = False) -> bool:
        """Take the refresh lease on ``name``; True for exactly one of any racers.

        One conditional UPDATE, never read-then-write: the database evaluates
        the WHERE clause under its write lock (SQLite) or row lock
        (PostgreSQL re-checks it after waiting for a concurrent updater), so
        of any number of concurrent callers at most one sees rowcount 1.

        The row qualifies when nobody holds a live lease (a crashed holder's
        lease simply runs out), it has not failed, and -- unless
        ``due_before`` is None (a forced sign-in) -- its access token expires
        before ``due_before``.  That last condition is what makes it one
        refresh per expiry: once a holder stores a new token the row no
        longer qualifies, so a caller that lost the race cannot refresh again.
        ``ignore_lease`` is for replacing a corrupt row, whose lease columns
        may be garbage (nobody refreshes a corrupt row).
        """
        now = self.clock()
        conditions = [T.name == name]
        if not ignore_lease:
            conditions.append(or_(T.lease_owner.is_(None), T.lease_expires_at.is_(None),
                                  T.lease_expires_at < now))
        if due_before is not None:
            conditions += [T.state != "failed",
                           or_(T.access_expires_at.is_(None), T.access_expires_at < due_before)]
        stmt = (update(keeper_tokens).where(*conditions).values(
            lease_owner=owner, lease_expires_at=now + lease_seconds, state="refreshing",
            version=T.version + 1, updated_at=now))
        with self._errors(f"lease {name!r}"):
            with self._write() as conn:
                return conn.execute(stmt).rowcount == 1

    def renew_lease(self, name: str, owner: str, *, lease_seconds: float) -> None:
        """Extend our lease (before a second request); LeaseLostError if it is not ours."""
        now = self.clock()
        stmt = (update(keeper_tokens).where(T.name == name, T.lease_owner == owner)
                .values(lease_expires_at=now + lease_seconds, updated_at=now))
        with self._errors(f"renew the lease on {name!r}"):
            with self._write() as conn:
                if conn.execute(stmt).rowcount != 1:
                    raise LeaseLostError(f"the lease on {name!r} was taken over")

    def complete(self, name: str, owner: str, *, access_token: str, access_expires_at: float,
                 refresh_token: str | None, refresh_expires_at: float | None,
                 refreshed: bool, settings: dict | None = None) -> None:
        """Store new tokens and release the lease, in one transaction.

        The rotated refresh token goes in the same UPDATE as the access
        token, conditioned on the lease still being ours.  A lease that ran
        out but was not taken over is still ours (nobody else presented the
        old refresh token), so the condition is on the owner only.
        """
        now = self.clock()
        values = dict(
            access_token=access_token, access_expires_at=access_expires_at,
            refresh_token=refresh_token, refresh_expires_at=refresh_expires_at,
            state="ok", error=None, lease_owner=None, lease_expires_at=None,
            version=T.version + 1, updated_at=now,
            refresh_count=T.refresh_count + 1 if refreshed else T.refresh_count)
        values.update(settings or {})
        stmt = update(keeper_tokens).where(T.name == name, T.lease_owner == owner).values(**values)
        with self._errors(f"store the new tokens of {name!r}"):
            with self._write() as conn:
                if conn.execute(stmt).rowcount != 1:
                    raise LeaseLostError(
                        f"the lease on {name!r} was taken over before the new tokens "
                        f"were stored; the rotated refresh token is lost")

    def release(self, name: str, owner: str, *, error: str | None = None,
                failed: bool = False) -> bool:
        """Give the lease back, keeping the stored tokens; record ``error``.

        ``failed`` marks the row failed: nobody refreshes it until someone
        signs in again, and every consumer reads ``error``.
        """
        now = self.clock()
        stmt = (update(keeper_tokens).where(T.name == name, T.lease_owner == owner).values(
            lease_owner=None, lease_expires_at=None, state="failed" if failed else "ok",
            error=error, version=T.version + 1, updated_at=now))
        with self._errors(f"release the lease on {name!r}"):
            with self._write() as conn:
                return conn.execute(stmt).rowcount == 1

    def remove(self, name: str) -> None:
        with self._errors(f"remove {name!r}"):
            with self._write() as conn:
                if conn.execute(delete(keeper_tokens).where(T.name == name)).rowcount != 1:
                    raise TokenNotFoundError(name)


def _add_missing_columns(conn) -> None:
    """A store made before `grant_type` existed gains it (NULL: the password grant)."""
    from sqlalchemy import inspect, text

    present = {column["name"] for column in inspect(conn).get_columns("keeper_tokens")}
    if "grant_type" not in present:
        conn.execute(text("ALTER TABLE keeper_tokens ADD COLUMN grant_type VARCHAR(32)"))


def _reason(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig if orig is not None else exc).strip().splitlines()[0]
