"""What create_app() wires together: config, extensions, hooks, API, CLI."""

from __future__ import annotations

import os
import secrets

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import event

from .config import load_config
from .errors import RETRY_AFTER_KEY, register_error_handlers
from .extensions import bcrypt, db, limiter, migrate
from .limiting import LIMITER_USED_KEY
from .request_ids import request_id_of
from .security.keys import KeySet
from .security.passwords import hash_password
from .services.clients import audience_settings
from .services.runtime import AuthSettings
from .startup import check_database_driver
from .storage import narrow_on_connect, secure_sqlite_storage

# migrations/ ships inside the wheel as usergate/migrations (a package-dir mapping in
# setup.py); a checkout (PYTHONPATH=src, or an editable install) has it at the top level.
_PACKAGED_MIGRATIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations")
_CHECKOUT_MIGRATIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "migrations")


def configure_app(app: Flask, test_config: dict | None) -> None:
    app.config.update(load_config(overrides=test_config, instance_path=app.instance_path))
    check_database_driver(app.config["SQLALCHEMY_DATABASE_URI"])
    app.json.sort_keys = False  # problem JSON reads type, title, status, detail in order
    app.session_interface = _CookieSessionsWhenUsed()
    secure_sqlite_storage(app.config["SQLALCHEMY_DATABASE_URI"], app.instance_path)

    db.init_app(app)
    migrate.init_app(app, db, directory=_migrations_dir(), render_as_batch=True)
    bcrypt.init_app(app)
    limiter.init_app(app)
    app.wsgi_app = EveryResponse(app.wsgi_app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_pragmas)
            narrow_on_connect(db.engine, app.config["SQLALCHEMY_DATABASE_URI"])

        app.extensions["usergate"] = AuthSettings(
            keys=KeySet.from_config(app.config),
            issuer=app.config["JWT_ISSUER"],
            access_lifetime=app.config["JWT_ACCESS_TOKEN_EXPIRES"],
            refresh_lifetime=app.config["JWT_REFRESH_TOKEN_EXPIRES"],
            fresh_max_age=app.config["JWT_FRESH_MAX_AGE"],
            leeway=app.config["JWT_LEEWAY"],
            dummy_hash=hash_password(secrets.token_urlsafe(16)),
            **audience_settings(app.config),
        )

    if app.config.get("TRUSTED_PROXIES"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    register_error_handlers(app)

    from .api import blueprint, edge

    edge.init_app(app)  # before the blueprint: its routes use the public_id converter

    app.register_blueprint(blueprint)

    from .api.well_known import well_known

    app.register_blueprint(well_known)

    from .api.cors import init_cors

    init_cors(app)

    from .pages import pages
    from .services import mail

    mail.init_app(app)  # the outbox and its deliverer (docs/mail.md)
    from .services import mfa

    mfa.init_app(app)  # the keys of two-factor secrets (docs/mfa.md)
    app.register_blueprint(pages)

    from .cli import register_cli

    register_cli(app)


def _migrations_dir() -> str:
    """The installed package's migrations, else the checkout's; never the working directory's."""
    for folder in (_PACKAGED_MIGRATIONS, _CHECKOUT_MIGRATIONS):
        if os.path.isfile(os.path.join(folder, "env.py")):
            return folder
    return _CHECKOUT_MIGRATIONS


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL lets readers go on while one writer commits.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class EveryResponse:
    """WSGI middleware: what every response carries, settled as the response starts.

    `X-Content-Type-Options: nosniff` and `X-Request-ID` go last; `Retry-After` is
    the service's own when it set one (a locked account's, `RETRY_AFTER_KEY` in
    the environ), else it is dropped from anything but a 429 or 503: Flask-Limiter
    adds its window's to every response of a limited route, where it means nothing
    (only a request whose limits it evaluated can have one: `LIMITER_USED_KEY`).
    Appending to the WSGI header list here costs a fraction of an after_request
    hook setting the same headers through Werkzeug's Headers (about 4% of a
    protected GET, bench/profile_hot_path.py); the bytes and order are the same.
    """

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        def start(status: str, headers: list, exc_info=None):
            retry_after = environ.get(RETRY_AFTER_KEY)
            if retry_after is not None:
                _replace(headers, "retry-after", ("Retry-After", retry_after))
            elif LIMITER_USED_KEY in environ and not status.startswith(("429", "503")):
                _replace(headers, "retry-after", None)
            headers.append(NOSNIFF)
            headers.append(("X-Request-ID", request_id_of(environ)))
            return start_response(status, headers, exc_info)
        return self.wsgi_app(environ, start)


NOSNIFF = ("X-Content-Type-Options", "nosniff")


def _replace(headers: list, lowered_name: str, header: tuple | None) -> None:
    """Put `header` where the first header of that name stands (else last), drop the
    others of that name; None drops them all."""
    at = None
    for index in range(len(headers) - 1, -1, -1):
        if headers[index][0].lower() == lowered_name:
            del headers[index]
            at = index
    if header is not None:
        headers.insert(len(headers) if at is None else at, header)


class _CookieSessionsWhenUsed(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, without their cost on requests that use none.

    usergate keeps no state in cookies; Flask still built an itsdangerous signer on
    every request (SECRET_KEY is set) and ran save_session. With no session cookie
    an empty session is the answer anyway, and an untouched empty one saves nothing
    (no Set-Cookie, no Vary), exactly as before.
    """

    def open_session(self, app, request):
        if app.secret_key and not request.environ.get("HTTP_COOKIE"):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app, session, response):
        if session or session.modified or session.accessed:
            super().save_session(app, session, response)
