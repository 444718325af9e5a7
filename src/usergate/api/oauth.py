"""RFC 7009 revocation, RFC 7662 introspection and client authentication (docs/oauth.md).

Client authentication (RFC 6749 §2.3.1) is HTTP Basic (`client_secret_basic`) or
`client_id` + `client_secret` in the form (`client_secret_post`), never both.
Errors follow RFC 6749 §5.2 like /auth/token; a 429 is problem JSON.
"""

from __future__ import annotations

import base64
import binascii
from http import HTTPStatus
from urllib.parse import unquote_plus

from flask import Response, current_app, request
from flask_restx import Resource, fields, reqparse

from ..errors import OAuthError
from ..extensions import limiter
from ..models import ServiceClient
from ..services import clients as clients_service
from ..services import oauth as oauth_service
from .common import errors, shared_namespace
from .representations import NO_STORE

oauth_ns = shared_namespace("oauth", "Standard authorization-server endpoints "
                            "(RFC 7009 revocation, RFC 7662 introspection)", path="/auth")

OAuthErrorBody = oauth_ns.model("OAuthClientError", {
    "error": fields.String(example="invalid_client"),
    "error_description": fields.String(example="Client authentication failed"),
})
Introspection = oauth_ns.model("Introspection", {
    "active": fields.Boolean(example=True),
    "sub": fields.String(example="5f0c6a0e-8a57-4a50-9a53-0f2f3c9d1e11"),
    "type": fields.String(example="access"),
    "exp": fields.Integer(example=1796000000),
})

token_hint_form = reqparse.RequestParser()
token_hint_form.add_argument("token", location="form", required=True)
token_hint_form.add_argument("token_type_hint", location="form",
                             choices=("access_token", "refresh_token"))
token_hint_form.add_argument("client_id", location="form", help="client_secret_post")
token_hint_form.add_argument("client_secret", location="form", help="client_secret_post")

INVALID_CLIENT = "Client authentication failed"
FORM_TYPE = "application/x-www-form-urlencoded"


def _client_rate_limit() -> str:
    return current_app.config["RATELIMIT_INTROSPECT"]


def _basic_credentials() -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError("invalid_client", "The Basic credentials are malformed",
                         status=401) from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise OAuthError("invalid_client", "The Basic credentials are malformed", status=401)
    # RFC 6749 §2.3.1: both are form-urlencoded before base64.
    credentials = unquote_plus(client_id), unquote_plus(secret)
    # An empty pair (Swagger UI without a client) is no client authentication.
    return None if credentials == ("", "") else credentials


def authenticated_client(*, required: bool) -> ServiceClient | None:
    """The client the request authenticates as; None when it sent no client credentials."""
    credentials = client_credentials(required=required)
    return None if credentials is None else clients_service.authenticate_client(*credentials)


def client_credentials(*, required: bool, form=None) -> tuple[str, str] | None:
    """(client_id, client_secret) as the request sent them, not yet checked; None if none.

    A bare `client_id` without a secret is a public client naming itself: not
    authentication, so it is ignored. `form`: the urlencoded body, when the caller
    has it already.
    """
    basic = _basic_credentials()
    if form is None:
        form = request.form if request.mimetype == FORM_TYPE else {}
    # An empty pair, like an empty Basic pair, is no client authentication.
    posted = bool(form.get("client_secret") or form.get("client_id") and "client_secret" in form)
    if basic and posted:
        raise OAuthError("invalid_request", "Use one client authentication method, not two")
    if basic:
        return basic
    if posted:
        if not form.get("client_id"):
            raise OAuthError("invalid_client", "client_secret needs client_id", status=401)
        return form["client_id"], form["client_secret"]
    if required:
        raise OAuthError("invalid_client", "This endpoint needs client authentication "
                         "(HTTP Basic, or client_id and client_secret in the form)", status=401)
    return None


def _posted_form():
    """The urlencoded body (RFC 7009 §2.1, RFC 7662 §2.1), else invalid_request."""
    if request.mimetype != FORM_TYPE:
        raise OAuthError("invalid_request", "The body must be application/x-www-form-urlencoded")
    return request.form


def _form_token(form) -> tuple[str, str | None]:
    token = form.get("token")
    if not token:
        raise OAuthError("invalid_request", "token is required")
    return token, form.get("token_type_hint") or None


@oauth_ns.route("/revoke", endpoint="auth_revoke")
class RevokeResource(Resource):
    decorators = [limiter.route_limit(_client_rate_limit)]

    @oauth_ns.doc(security=[], description="RFC 7009: revoke an access token (blacklist) or "
                  "a refresh token (its session). 200 for unknown and invalid tokens too. "
                  "Client authentication is optional: the token is its own proof.")
    @oauth_ns.expect(token_hint_form)
    @oauth_ns.response(200, "Revoked, or nothing to revoke")
    @oauth_ns.response(400, "invalid_request", OAuthErrorBody)
    @oauth_ns.response(401, "invalid_client", OAuthErrorBody)
    @errors(oauth_ns, 413, 429)
    def post(self):
        """Revoke a token (RFC 7009)."""
        token, hint = _form_token(_posted_form())
        authenticated_client(required=False)
        oauth_service.revoke(token, hint)
        response = Response(status=HTTPStatus.OK, headers=NO_STORE)
        response.headers.remove("Content-Type")
        return response


@oauth_ns.route("/introspect", endpoint="auth_introspect")
class IntrospectResource(Resource):
    decorators = [limiter.route_limit(_client_rate_limit)]

    @oauth_ns.doc(security=[], description="RFC 7662, for registered clients only: the "
                  "token's claims with its state in the database, or {\"active\": false}.")
    @oauth_ns.expect(token_hint_form)
    @oauth_ns.response(200, "The token's state", Introspection)
    @oauth_ns.response(400, "invalid_request", OAuthErrorBody)
    @oauth_ns.response(401, "invalid_client", OAuthErrorBody)
    @errors(oauth_ns, 413, 429)
    def post(self):
        """Introspect a token (RFC 7662)."""
        form = _posted_form()
        client_id, secret = client_credentials(required=True, form=form)
        token, hint = _form_token(form)
        body = oauth_service.introspect(token, hint, client_id=client_id, client_secret=secret)
        return body, HTTPStatus.OK, NO_STORE
