"""Fixtures: a real app on a real database (a SQLite file, or PostgreSQL by URL).

Set TEST_DATABASE_URL (tox -e postgres does) to run everything on PostgreSQL.
"""

from __future__ import annotations

import os
import threading

import pytest
from sqlalchemy import text

from support import PASSWORD, AuthActions  # noqa: F401 - re-exported for fixtures
from usergate import create_app
from usergate.extensions import db as _db

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
_pg_schema_ready = threading.Event()


def _settings(tmp_path, **overrides) -> dict:
    settings = {
        "USERGATE_CONFIG": "testing",
        "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        "DATABASE_URL": TEST_DATABASE_URL or f"sqlite:///{tmp_path / 'usergate.db'}",
        "BCRYPT_LOG_ROUNDS": 4,
        "RATELIMIT_ENABLED": False,
        "RATELIMIT_STORAGE_URI": "memory://",
    }
    settings.update(overrides)
    return settings


def _reset_schema(app) -> None:
    with app.app_context():
        if _db.engine.dialect.name == "postgresql":
            if not _pg_schema_ready.is_set():
                _db.drop_all()
                _db.create_all()
                _pg_schema_ready.set()
            names = ", ".join(t.name for t in reversed(_db.metadata.sorted_tables))
            _db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            _db.session.commit()
        else:
            _db.create_all()


@pytest.fixture
def make_app(tmp_path):
    """Build an app with extra settings (e.g. make_app(JWT_ACCESS_TOKEN_EXPIRES=5))."""
    apps = []

    def factory(**overrides):
        app = create_app(_settings(tmp_path, **overrides))
        _reset_schema(app)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        with app.app_context():
            _db.session.remove()
            _db.engine.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def clock():
    """The service's clock; `clock.advance(seconds)` moves it, reset after the test."""
    from usergate import clock as _clock

    yield _clock
    _clock.reset()


@pytest.fixture
def db(app):
    with app.app_context():
        yield _db


@pytest.fixture
def auth(app, client):
    return AuthActions(app, client)
