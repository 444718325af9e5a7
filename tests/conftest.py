"""Fixtures: a real app on a real database (a SQLite file, or PostgreSQL by URL).

Set TEST_DATABASE_URL (tox -e postgres does) to run everything on PostgreSQL.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import pytest
from sqlalchemy import text

from usergate import create_app
from usergate.extensions import db as _db

PASSWORD = "correct horse battery"
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


@dataclass
class Tokens:
    access: str
    refresh: str | None
    body: dict

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.access}"}

    @property
    def refresh_headers(self) -> dict:
        return {"Authorization": f"Bearer {self.refresh}"}


class AuthActions:
    """Register, sign in and build headers through the real HTTP endpoints."""

    def __init__(self, app, client):
        self.app = app
        self.client = client
        self._n = 0

    def register(self, email: str | None = None, password: str = PASSWORD, **extra) -> Tokens:
        if email is None:
            self._n += 1
            email = f"user{self._n}@example.com"
        response = self.client.post("/api/v1/auth/register",
                                    json={"email": email, "password": password, **extra})
        assert response.status_code == 201, response.get_json()
        body = response.get_json()
        return Tokens(body["access_token"], body["refresh_token"], body)

    def login(self, email: str, password: str = PASSWORD) -> Tokens:
        response = self.client.post("/api/v1/auth/login",
                                    json={"email": email, "password": password})
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        return Tokens(body["access_token"], body["refresh_token"], body)

    def create_user(self, email: str, password: str = PASSWORD, *, admin: bool = False,
                    name: str | None = None):
        from usergate.services.auth import create_user

        with self.app.app_context():
            user = create_user(email=email, password=password, admin=admin, name=name)
            _db.session.commit()
            return user.public_id

    def admin(self, email: str = "admin@example.com") -> Tokens:
        self.create_user(email, admin=True)
        return self.login(email)

    def me(self, tokens: Tokens) -> dict:
        response = self.client.get("/api/v1/auth/user", headers=tokens.headers)
        assert response.status_code == 200, response.get_json()
        return response.get_json()


@pytest.fixture
def auth(app, client):
    return AuthActions(app, client)


def assert_problem(response, status: int, *fields: str) -> dict:
    """The response is RFC 9457 problem JSON with this status, naming these fields."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    assert body["title"] and body["type"] and body["detail"]
    for field in fields:
        assert field in body.get("errors", {}), body
    return body
