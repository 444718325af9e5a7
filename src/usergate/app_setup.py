"""What create_app() wires together: config, extensions, hooks, API, CLI."""

from __future__ import annotations

import os
import re
import secrets
import uuid

from flask import Flask, g, request
from sqlalchemy import event

from .auth.keys import KeySet
from .auth.passwords import hash_password
from .config import load_config
from .errors import register_error_handlers
from .extensions import bcrypt, db, limiter, migrate
from .services.runtime import AuthSettings

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
MIGRATIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "migrations")


def configure_app(app: Flask, test_config: dict | None) -> None:
    app.config.update(load_config(overrides=test_config, instance_path=app.instance_path))
    app.json.sort_keys = False  # problem JSON reads type, title, status, detail in order
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        os.makedirs(app.instance_path, exist_ok=True)

    db.init_app(app)
    migrate.init_app(app, db, directory=_migrations_dir(), render_as_batch=True)
    bcrypt.init_app(app)
    # Registered before the limiter's hook so that it runs after it (Flask runs
    # after_request hooks in reverse): the limiter adds Retry-After to every response.
    app.after_request(_security_headers)
    limiter.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_pragmas)

        app.extensions["usergate"] = AuthSettings(
            keys=KeySet.from_config(app.config),
            issuer=app.config["JWT_ISSUER"],
            access_lifetime=app.config["JWT_ACCESS_TOKEN_EXPIRES"],
            refresh_lifetime=app.config["JWT_REFRESH_TOKEN_EXPIRES"],
            fresh_max_age=app.config["JWT_FRESH_MAX_AGE"],
            leeway=app.config["JWT_LEEWAY"],
            dummy_hash=hash_password(secrets.token_urlsafe(16)),
        )

    if app.config.get("TRUSTED_PROXIES"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    app.before_request(_assign_request_id)
    register_error_handlers(app)

    from .api import blueprint

    app.register_blueprint(blueprint)

    from .cli import register_cli

    register_cli(app)


def _migrations_dir() -> str:
    # The repository's migrations/ when run from a checkout, else ./migrations.
    return MIGRATIONS if os.path.isdir(MIGRATIONS) else "migrations"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL lets readers go on while one writer commits.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _assign_request_id() -> None:
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex


def _security_headers(response):
    # Flask-Limiter adds Retry-After to every response; it only means something on a 429/503.
    if response.status_code not in (429, 503):
        response.headers.pop("Retry-After", None)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Request-ID"] = g.get("request_id") or uuid.uuid4().hex
    return response
