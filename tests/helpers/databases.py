"""Scratch databases: a fresh, empty database of our own, dropped afterwards.

Tests that change a database's schema from scratch, make it unreachable or
serve it from gunicorn must not touch TEST_DATABASE_URL's database, which
other test runs truncate and share.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import make_url

from helpers import settings

TEST_DATABASE_URL = settings.TEST_DATABASE_URL or ""


def postgres_configured() -> bool:
    return TEST_DATABASE_URL.startswith(("postgresql://", "postgresql+", "postgres://"))


def _plain(url) -> str:
    """A libpq URL (psycopg.connect and DATABASE_URL both take it)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def admin_url() -> str:
    """The maintenance database of TEST_DATABASE_URL's server."""
    return _plain(make_url(TEST_DATABASE_URL.replace("postgres://", "postgresql://", 1))
                  .set(database="postgres"))


def admin_execute(*statements: str) -> None:
    import psycopg

    with psycopg.connect(admin_url(), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


@contextmanager
def scratch_postgres_database(purpose: str) -> Iterator[str]:
    """Create an empty database on TEST_DATABASE_URL's server; yield its URL; drop it."""
    name = f"usergate_{purpose}_{uuid.uuid4().hex[:10]}"
    admin_execute(f'CREATE DATABASE "{name}"')
    base = make_url(TEST_DATABASE_URL.replace("postgres://", "postgresql://", 1))
    try:
        yield _plain(base.set(database=name))
    finally:
        # FORCE (PostgreSQL 13+) ends connections a failed test may have left open.
        admin_execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true',
                      f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
