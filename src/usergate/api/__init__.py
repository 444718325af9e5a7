"""The Flask-RESTX Api: Swagger UI at /api/v1/ui, the spec at /api/v1/swagger.json."""

from __future__ import annotations

import copy

from flask import Blueprint, current_app, request
from flask_restx import Api
from flask_restx.representations import dumps

from ..errors import handle_exception
from ..origins import public_url

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
        # Swagger 2.0 wants an absolute tokenUrl: PUBLIC_BASE_URL when set, else the
        # host that served this spec (then swagger_headers keeps caches from sharing it).
        schema["securityDefinitions"]["oauth2"]["tokenUrl"] = public_url("api.auth_token")
        # Every error is problem JSON (RFC 9457); Swagger 2.0 lists media types per API.
        schema["produces"] = ["application/json", "application/problem+json"]
        return schema

    def handle_error(self, e):
        return handle_exception(e)

    def make_response(self, data, code=200, headers=None, **_ignored):
        # JSON is the one representation, so Flask-RESTX's negotiation (parse Accept,
        # best_match over one media type, fall back to it) always ends in
        # output_json; this is output_json building its response once, same bytes
        # and headers in the same order.
        app = current_app._get_current_object()
        settings = app.config.get("RESTX_JSON", {})
        if app.debug:
            settings.setdefault("indent", 4)
        response = app.response_class(dumps(data, **settings) + "\n", status=code,
                                      mimetype="application/json")
        if headers:
            response.headers.extend(headers)
        return response


# Swagger UI is a page where people type passwords: never in a frame (clickjacking).
UI_HEADERS = {"X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'"}


def swagger_headers(response):
    """The spec and the UI page name the host they were served for (tokenUrl, the
    OAuth2 redirect URL): no shared cache may hand one host's copy to another."""
    if request.endpoint not in ("api.specs", "api.doc"):
        return response
    if request.endpoint == "api.doc":
        response.headers.update(UI_HEADERS)
    if request.endpoint == "api.doc" or not current_app.config.get("PUBLIC_BASE_URL"):
        response.headers["Cache-Control"] = "no-store"
        response.vary.add("Host")
        if current_app.config.get("TRUSTED_PROXIES"):
            response.vary.add("X-Forwarded-Host")
    return response


blueprint = Blueprint("api", __name__, url_prefix="/api/v1")
blueprint.after_request(swagger_headers)
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
from .audit import audit_ns, own_events_ns  # noqa: E402
from .auth.endpoints import auth_ns  # noqa: E402
from .mfa import mfa_ns  # noqa: E402
from .oauth import oauth_ns  # noqa: E402
from .operations import ops_ns  # noqa: E402
from .recovery import recovery_ns  # noqa: E402
from .users.endpoints import users_ns  # noqa: E402

api.add_namespace(auth_ns, path="/auth")
api.add_namespace(users_ns, path="/users")
api.add_namespace(addresses_ns, path="/addresses")
api.add_namespace(ops_ns)
api.add_namespace(recovery_ns, path="/auth")
api.add_namespace(oauth_ns, path="/auth")
api.add_namespace(mfa_ns, path="/auth/mfa")
api.add_namespace(audit_ns, path="/audit-events")
api.add_namespace(own_events_ns, path="/auth")
