"""Fixtures: a real app on a real database (a SQLite file, or PostgreSQL by URL).

Set TEST_DATABASE_URL (tox -e postgres does) to run everything on PostgreSQL.
"""

from __future__ import annotations

import threading
from contextlib import nullcontext

import pytest
from sqlalchemy import text

from helpers import leaks
from helpers.accounts import PASSWORD, AuthActions  # noqa: F401 - re-exported for fixtures
from helpers.databases import postgres_configured, scratch_postgres_database
from helpers.settings import TEST_DATABASE_URL, app_settings
from usergate import create_app
from usergate.extensions import db as _db

_pg_schema_ready = threading.Event()


def pytest_configure(config):
    leaks.watch_logs()


def pytest_sessionfinish(session, exitstatus):
    """The whole run's secrets in none of its log lines and stored events (helpers.leaks)."""
    found = leaks.leaks()
    if found:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        write = reporter.write_line if reporter else print
        write(f"SECRET LEAK: {len(found)} of {len(leaks.SECRETS)} secrets of the run were found "
              f"in {len(leaks.LINES)} log lines / {len(leaks.EVENTS)} audit events:")
        for line in found[:20]:
            write(f"  {line}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif session.config.getoption("verbose") >= 0:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter:
            reporter.write_line(
                f"secrets: none of the run's {len(leaks.SECRETS)} secrets in its "
                f"{len(leaks.LINES)} log lines or {len(leaks.EVENTS)} stored audit events")


def _settings(tmp_path, **overrides) -> dict:
    return app_settings(TEST_DATABASE_URL or f"sqlite:///{tmp_path / 'usergate.db'}",
                        **overrides)


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
        app.test_client_class = leaks.WatchingClient
        _reset_schema(app)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        leaks.keep_events(app, _db)
        with app.app_context():
            _db.session.remove()
            _db.engine.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


EMPTY_DATABASES = ["sqlite", pytest.param("postgresql", marks=[
    pytest.mark.postgres, pytest.mark.skipif(
        not postgres_configured(), reason="TEST_DATABASE_URL is not a postgresql:// URL")])]


@pytest.fixture(params=EMPTY_DATABASES)
def fresh_app(request, tmp_path):
    """An app on an empty database of its own that nothing has created tables in: a
    SQLite file, and a scratch PostgreSQL database when TEST_DATABASE_URL names one."""
    purpose = request.module.__name__.rpartition(".")[2].removeprefix("test_")
    if request.param == "sqlite":
        database = nullcontext(f"sqlite:///{tmp_path / f'{purpose}.db'}")
    else:
        database = scratch_postgres_database(purpose)
    with database as url:
        app = create_app(app_settings(url))
        app.test_client_class = leaks.WatchingClient
        try:
            yield app
        finally:
            leaks.keep_events(app, _db)
            with app.app_context():
                _db.session.remove()
                _db.engine.dispose()


@pytest.fixture
def clock():
    """The service's clock; `clock.advance(seconds)` moves it, reset after the test."""
    from usergate import clock as _clock

    yield _clock
    _clock.reset()


@pytest.fixture
def smtp():
    """A real SMTP server (aiosmtpd) on a free loopback port; see helpers.smtp."""
    from helpers.smtp import SmtpServer

    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def db(app):
    with app.app_context():
        yield _db


@pytest.fixture
def auth(app, client):
    return AuthActions(app, client)
