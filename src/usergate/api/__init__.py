"""The Flask-RESTX Api: Swagger UI at /api/v1/ui, the spec at /api/v1/swagger.json."""

from __future__ import annotations

import copy

from flask import Blueprint, url_for
from flask_restx import Api

from ..errors import handle_exception

AUTHORIZATIONS = {
    "Bearer": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": 'Type "Bearer" and a space, then the access token.',
    },
    "oauth2": {
        "type": "oauth2",
        "flow": "password",
        "tokenUrl": "/api/v1/auth/token",  # made absolute per request in __schema__
    },
}


class UsergateApi(Api):
    @property
    def __schema__(self):  # noqa: PLW3201 - Flask-RESTX's name
        # Built once and cached in _schema by Flask-RESTX; copied before the per-host edit.
        schema = copy.deepcopy(Api.__dict__["__schema__"].fget(self))
        # Swagger 2.0 wants an absolute tokenUrl: the host that served this spec.
        schema["securityDefinitions"]["oauth2"]["tokenUrl"] = url_for(
            "api.auth_token", _external=True)
        # Every error is problem JSON (RFC 9457); Swagger 2.0 lists media types per API.
        schema["produces"] = ["application/json", "application/problem+json"]
        return schema

    def handle_error(self, e):
        return handle_exception(e)


blueprint = Blueprint("api", __name__, url_prefix="/api/v1")
api = UsergateApi(
    blueprint,
    version="1.0",
    title="usergate",
    description="User management and JWT authentication. Sign in with the Authorize "
                "button (OAuth2 password flow), or paste an access token as "
                "`Bearer <token>`.",
    doc="/ui",
    authorizations=AUTHORIZATIONS,
    validate=False,
)

# Imported last: the namespaces need `api` defined above only through add_namespace.
from .addresses.endpoints import addresses_ns  # noqa: E402
from .auth.endpoints import auth_ns  # noqa: E402
from .operations import ops_ns  # noqa: E402
from .users.endpoints import users_ns  # noqa: E402

api.add_namespace(auth_ns, path="/auth")
api.add_namespace(users_ns, path="/users")
api.add_namespace(addresses_ns, path="/addresses")
api.add_namespace(ops_ns)
