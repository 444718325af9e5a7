"""The apps the benchmark compares, all on ONE usergate app object.

`create_bench_app()` builds the real usergate app (`usergate.create_app`) and
mounts two reference endpoints next to its `GET /api/v1/auth/user`:

* `GET /bench/ceiling/user` — no authentication at all: the same user read
  (one SELECT by public id, built once) and the same JSON body and headers. The ceiling.
* `GET /bench/jwtx/user` — the same endpoint built the way the
  flask-jwt-extended documentation builds it: `@jwt_required()`, a
  `token_in_blocklist_loader` that looks the `jti` up in a jti-indexed table
  (usergate's own `token_blacklist`, unique index on `jti`) and a
  `user_lookup_loader` that loads the user by the `sub` claim. Written as its
  documentation writes them (a query built per call), as most users would.

All three run through the same Flask, Flask-RESTX dispatch, hooks (request id,
security headers, rate limiter), database engine and JSON encoder, so the
ratios measure the authentication layer and nothing else. What that stack costs
is measured against bench/bare.py, a bare Flask app of its own.

Gunicorn serves the same app with `create_from_env()` (settings in BENCH_* variables).
"""

from __future__ import annotations

import os
from http import HTTPStatus

from flask import Blueprint, Flask, current_app
from flask_restx import Namespace, Resource
from sqlalchemy import bindparam, select

from usergate import create_app
from usergate.api import UsergateApi
from usergate.api.representations import NO_STORE, user_public
from usergate.clock import now_seconds
from usergate.extensions import db
from usergate.models import BlacklistedToken, User

try:  # a dev dependency (the `bench` extra); the bench runs without it, minus that scenario
    import flask_jwt_extended as jwtx
except ImportError:  # pragma: no cover
    jwtx = None

CEILING_PATH = "/bench/ceiling/user"
JWTX_PATH = "/bench/jwtx/user"
USERGATE_PATH = "/api/v1/auth/user"


def usergate_settings(database_url: str, secret_key: str) -> dict:
    """Production settings: bcrypt cost 12, rate limiter on (memory store)."""
    return {
        "USERGATE_CONFIG": "production",
        "SECRET_KEY": secret_key,
        "DATABASE_URL": database_url,
        "BCRYPT_LOG_ROUNDS": 12,
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": "memory://",
        # The login benchmark signs in hundreds of times a minute from one address.
        "RATELIMIT_AUTH": "1000000/minute",
        # ... and fails the password of one account every time: the failure count
        # still runs on every attempt (it is what is measured), it just never locks.
        "LOGIN_MAX_FAILURES": 1000000,
    }


class _BenchApi(UsergateApi):
    def handle_error(self, e):
        # Let Flask's own handlers answer: flask-jwt-extended registers its
        # 401/422 responses there (the setup its docs give for Flask-RESTX).
        raise e


def _mount_references(app: Flask) -> None:
    blueprint = Blueprint("bench", __name__, url_prefix="/bench")
    api = _BenchApi(blueprint, doc=False)
    ns = Namespace("bench")
    api.add_namespace(ns, path="/")

    # Built once, like usergate's own query: the ceiling is the best this stack can do.
    read_user = select(User).where(User.public_id == bindparam("id"))

    @ns.route("/ceiling/user", endpoint="ceiling_user")
    class CeilingUserResource(Resource):
        def get(self):
            """The same read and body as GET /auth/user, with no authentication."""
            user = db.session.execute(
                read_user, {"id": current_app.config["BENCH_USER_ID"]}).scalar_one()
            db.session.commit()  # as usergate's authenticate() does (prepared statements)
            body = user_public(user)
            body.update(token_expires_in=900, fresh=False, session_id="-")
            return body, HTTPStatus.OK, NO_STORE

    if jwtx is not None:
        app.config.setdefault("JWT_SECRET_KEY", app.config["SECRET_KEY"])
        app.config["JWT_ENCODE_ISSUER"] = app.config["JWT_ISSUER"]
        app.config["JWT_DECODE_ISSUER"] = app.config["JWT_ISSUER"]
        manager = jwtx.JWTManager(app)

        @manager.token_in_blocklist_loader
        def check_if_token_revoked(_jwt_header, jwt_payload: dict) -> bool:
            # The flask-jwt-extended docs' database blocklist, on a jti-indexed table.
            jti = jwt_payload["jti"]
            token = db.session.query(BlacklistedToken.id).filter_by(jti=jti).scalar()
            return token is not None

        @manager.user_lookup_loader
        def user_lookup_callback(_jwt_header, jwt_data: dict):
            identity = jwt_data["sub"]
            return db.session.query(User).filter_by(public_id=identity).one_or_none()

        @ns.route("/jwtx/user", endpoint="jwtx_user")
        class JwtxUserResource(Resource):
            @jwtx.jwt_required()
            def get(self):
                """GET /auth/user built with flask-jwt-extended."""
                claims = jwtx.get_jwt()
                body = user_public(jwtx.current_user)
                body.update(token_expires_in=max(0, claims["exp"] - now_seconds()),
                            fresh=bool(claims.get("fresh")), session_id=claims["jti"])
                return body, HTTPStatus.OK, NO_STORE

    app.register_blueprint(blueprint)


def create_bench_app(database_url: str, secret_key: str, user_public_id: str = "") -> Flask:
    """usergate plus the two references; BENCH_USER_ID is the user the ceiling reads."""
    app = create_app(usergate_settings(database_url, secret_key))
    app.config["BENCH_USER_ID"] = user_public_id
    _mount_references(app)
    return app


def create_from_env() -> Flask:
    """For gunicorn: `gunicorn --pythonpath bench 'reference:create_from_env()'`."""
    return create_bench_app(os.environ["BENCH_DATABASE_URL"], os.environ["BENCH_SECRET_KEY"],
                            os.environ["BENCH_USER_ID"])


def jwtx_token(app: Flask, user_public_id: str) -> str | None:
    if jwtx is None:
        return None
    with app.app_context():
        return jwtx.create_access_token(identity=user_public_id)
