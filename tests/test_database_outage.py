"""A database outage is a 503, not a 500, and the service recovers without a restart.

The outages are real: a PostgreSQL database that stops accepting connections
(its open ones terminated, as a restart or failover would), and a SQLite file
whose directory is gone (an unmounted volume) and then comes back.
"""

from __future__ import annotations

import os
import socket
import threading

import pytest
from flask_migrate import upgrade
from sqlalchemy.engine import make_url

from helpers.accounts import PASSWORD
from helpers.databases import admin_execute, postgres_configured, scratch_postgres_database
from helpers.problems import assert_problem
from helpers.settings import app_settings
from usergate import create_app
from usergate.extensions import db

EMAIL = "outage@example.com"


def _migrated_app(url: str):
    app = create_app(app_settings(url))
    with app.app_context():
        upgrade()
    return app


def _assert_unreachable(response) -> None:
    body = assert_problem(response, 503)
    assert body["database"] == "unreachable"
    assert response.headers["Retry-After"].isdigit()


def _assert_outage(client, tokens: dict) -> None:
    """Health and every kind of endpoint (public, protected, writing) answer 503."""
    _assert_unreachable(client.get("/api/v1/health"))
    _assert_unreachable(client.get(
        "/api/v1/auth/user", headers={"Authorization": f"Bearer {tokens['access_token']}"}))
    _assert_unreachable(client.post("/api/v1/auth/login",
                                    json={"email": EMAIL, "password": PASSWORD}))
    _assert_unreachable(client.post("/api/v1/auth/register",
                                    json={"email": "new@example.com", "password": PASSWORD}))
    _assert_unreachable(client.post(
        "/api/v1/auth/refresh", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}))
    # Still up: requests that need no database.
    assert client.get("/api/v1/swagger.json").status_code == 200


def _assert_recovered(client, tokens: dict) -> None:
    response = client.get("/api/v1/health")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"status": "ok", "database": "ok"}
    me = client.get("/api/v1/auth/user",
                    headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200, me.get_json()
    assert me.get_json()["email"] == EMAIL
    login = client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
    assert login.status_code == 200, login.get_json()
    # The refresh token presented during the outage was not spent.
    refreshed = client.post("/api/v1/auth/refresh",
                            headers={"Authorization": f"Bearer {tokens['refresh_token']}"})
    assert refreshed.status_code == 200, refreshed.get_json()


def _register(client) -> dict:
    response = client.post("/api/v1/auth/register", json={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 201, response.get_json()
    assert client.get("/api/v1/health").status_code == 200
    return response.get_json()


@pytest.mark.postgres
@pytest.mark.skipif(not postgres_configured(),
                    reason="TEST_DATABASE_URL is not a postgresql:// URL")
def test_postgres_going_away_and_coming_back():
    with scratch_postgres_database("outage") as url:
        name = make_url(url).database
        app = _migrated_app(url)
        try:
            client = app.test_client()
            tokens = _register(client)  # the app's pool now holds a live connection

            admin_execute(
                f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false',
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{name}' AND pid <> pg_backend_pid()")
            try:
                _assert_outage(client, tokens)
            finally:
                admin_execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')

            _assert_recovered(client, tokens)
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


def test_sqlite_volume_missing_then_mounted(tmp_path):
    volume = tmp_path / "volume"
    volume.mkdir()
    url = f"sqlite:///{volume / 'usergate.db'}"
    setup = _migrated_app(url)
    tokens = _register(setup.test_client())
    with setup.app_context():
        db.engine.dispose()

    unmounted = tmp_path / "unmounted"
    os.rename(volume, unmounted)
    app = create_app(app_settings(url))  # starts while its database is not there
    try:
        client = app.test_client()
        _assert_outage(client, tokens)
        os.rename(unmounted, volume)
        _assert_recovered(client, tokens)
    finally:
        with app.app_context():
            db.engine.dispose()


def test_a_database_server_that_never_answers_is_a_503_not_a_hang():
    """A host that accepts TCP but never speaks (a hung proxy, a frozen server): the
    connection attempt gives up (connect_timeout) and health answers 503, instead of
    holding the worker until gunicorn kills it."""
    pytest.importorskip("psycopg")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # the kernel completes handshakes; nobody ever accepts
        port = silent.getsockname()[1]
        app = create_app(app_settings(f"postgresql://postgres@127.0.0.1:{port}/usergate"))
        results = []
        worker = threading.Thread(
            target=lambda: results.append(app.test_client().get("/api/v1/health")), daemon=True)
        worker.start()
        # A bound on the test, not a timing assertion: without a connect timeout the
        # request would wait on TCP forever.
        worker.join(timeout=120)
        assert results, "the health check was still waiting for the database after 120 s"
        _assert_unreachable(results[0])
        with app.app_context():
            db.engine.dispose()
