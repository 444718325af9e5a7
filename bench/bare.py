"""The bare-Flask ceiling: GET /auth/user's read and body with nothing around it.

Its own Flask app object with Flask-SQLAlchemy and nothing else: one route that
runs the same SELECT of the user by public id (built once, as usergate builds
its own) on the same database and row, and answers the same JSON body with
`jsonify`. No request hooks, no Flask-RESTX, no rate limiter, no
authentication, no extra headers. usergate / this is the whole price of the
framework (hooks, dispatch, limiter, encoding) and of authentication together;
usergate / the no-auth ceiling of bench/reference.py (mounted on usergate's own
app) is the price of authentication alone.

The read ends with COMMIT, as usergate's authentication does: on PostgreSQL the
ROLLBACK of Flask-SQLAlchemy's teardown makes psycopg 3 DEALLOCATE ALL, and a
ceiling that re-plans its SELECT on every request would flatter usergate for a
reason that has nothing to do with the framework. The ceiling is the best bare
Flask can do. The engine gets the same pool options usergate's configuration gives it (on
PostgreSQL: pre-ping, pool size, recycle), so the two differ in the request
path only. Gunicorn serves it with `create_from_env()` (BENCH_* variables).
"""

from __future__ import annotations

import os

from flask import Flask, jsonify
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import bindparam, select

from usergate.clock import rfc3339
from usergate.config import load_config
from usergate.models import User

PATH = "/bench/bare/user"


def database_settings(database_url: str) -> dict:
    """The SQLAlchemy URL and engine options usergate derives from DATABASE_URL."""
    settings = load_config(environ={}, overrides={"USERGATE_CONFIG": "testing",
                                                  "DATABASE_URL": database_url})
    return {key: settings[key]
            for key in ("SQLALCHEMY_DATABASE_URI", "SQLALCHEMY_ENGINE_OPTIONS")}


def create_bare_app(database_url: str, user_public_id: str) -> Flask:
    app = Flask("usergate_bench_bare")
    app.config.update(database_settings(database_url))
    app.json.sort_keys = False  # the same key order as usergate's body
    db = SQLAlchemy()  # its own extension object: nothing of usergate's app is shared
    db.init_app(app)
    app.extensions["bench_db"] = db
    # usergate's User mapping (the same 13-column row), read through this app's session.
    read_user = select(User).where(User.public_id == bindparam("id"))

    @app.get(PATH)
    def current_user():
        user = db.session.execute(read_user, {"id": user_public_id}).scalar_one()
        body = jsonify(id=user.public_id, email=user.email, name=user.name, admin=user.admin,
                       disabled=user.disabled, registered_on=rfc3339(user.registered_on),
                       email_verified=user.email_verified, mfa_enabled=user.mfa_enabled,
                       token_expires_in=900, fresh=False, session_id="-")
        db.session.commit()  # see the module docstring: keeps the statement prepared
        return body

    return app


def engine_of(app: Flask):
    with app.app_context():
        return app.extensions["bench_db"].engine


def dispose(app: Flask) -> None:
    with app.app_context():
        db = app.extensions["bench_db"]
        db.session.remove()
        db.engine.dispose()


def create_from_env() -> Flask:
    """For gunicorn: `gunicorn --pythonpath bench 'bare:create_from_env()'`."""
    return create_bare_app(os.environ["BENCH_DATABASE_URL"], os.environ["BENCH_USER_ID"])
