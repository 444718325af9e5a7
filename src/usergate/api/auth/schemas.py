"""Request and response models of the auth namespace."""

from __future__ import annotations

from flask_restx import fields, reqparse

from ..common import NullableString, shared_namespace
from ..pagination import collection_model
from ..validation import Email, Password, Text

auth_ns = shared_namespace("auth", "Registration, login, tokens, sessions")

UserCreate = auth_ns.model("UserCreate", {
    "email": Email(required=True),
    "password": Password(required=True),
    "name": Text(max_length=200, example="Ada Lovelace"),
}, strict=True)

LoginRequest = auth_ns.model("LoginRequest", {
    "email": Email(required=True),
    # Any length is accepted at login: a wrong password is a 401, not a 400.
    "password": fields.String(required=True, max_length=256,
                              example="correct horse battery staple"),
}, strict=True)

FreshLoginRequest = auth_ns.model("FreshLoginRequest", {
    "password": fields.String(required=True, max_length=256,
                              example="correct horse battery staple"),
}, strict=True)

TokenBody = auth_ns.model("TokenBody", {
    "access_token": fields.String(example="eyJhbGciOi..."),
    "token_type": fields.String(example="Bearer"),
    "expires_in": fields.Integer(example=900),
    "refresh_token": fields.String(example="eyJhbGciOi..."),
    "refresh_expires_in": fields.Integer(example=2592000),
})

AccessTokenBody = auth_ns.model("AccessTokenBody", {
    "access_token": fields.String(example="eyJhbGciOi..."),
    "token_type": fields.String(example="Bearer"),
    "expires_in": fields.Integer(example=900),
})

OAuthErrorBody = auth_ns.model("OAuthError", {
    "error": fields.String(example="invalid_grant"),
    "error_description": fields.String(example="The email or password is wrong"),
})

# A user as the API shows one: GET /users/ID (UserPublic) and, with the token's
# facts added, GET /auth/user (CurrentUser).
USER_FIELDS = {
    "id": fields.String(example="5f0c6a0e-8a57-4a50-9a53-0f2f3c9d1e11"),
    "email": fields.String(example="ada@example.com"),
    "name": NullableString(example="Ada Lovelace"),
    "admin": fields.Boolean(example=False),
    "disabled": fields.Boolean(example=False),
    "registered_on": fields.String(example="2026-11-24T09:30:00Z"),
    "email_verified": fields.Boolean(example=False),
    "mfa_enabled": fields.Boolean(example=False, description="two-factor sign-in is on"),
}

CurrentUser = auth_ns.model("CurrentUser", {
    **USER_FIELDS,
    "token_expires_in": fields.Integer(example=873),
    "fresh": fields.Boolean(example=True),
    "session_id": fields.String(example="0b7e4f7e-2f5e-4d7e-9d43-6a1c7d1b8a2f"),
})

# Documentation of the RFC 6749 form body of /auth/token (parsed by hand: unknown
# parameters are ignored, errors follow RFC 6749 §5.2).
token_form = reqparse.RequestParser()
token_form.add_argument("grant_type", location="form", required=True,
                        choices=("password", "refresh_token", "client_credentials"))
token_form.add_argument("username", location="form", help="email (password grant)")
token_form.add_argument("password", location="form", help="password (password grant)")
token_form.add_argument("refresh_token", location="form",
                        help="refresh token (refresh_token grant)")
token_form.add_argument("resource", location="form",
                        help="RFC 8707: one of JWT_RESOURCES, the access token's aud")
token_form.add_argument("client_id", location="form", help="client_secret_post")
token_form.add_argument("client_secret", location="form", help="client_secret_post")

PasswordChange = auth_ns.model("PasswordChange", {
    # Any length is accepted here: a wrong current password is a 400 naming it.
    "current_password": fields.String(required=True, max_length=256,
                                      example="correct horse battery staple"),
    "new_password": Password(required=True, example="a new and longer passphrase"),
}, strict=True)

SessionPublic = auth_ns.model("SessionPublic", {
    "id": fields.String(example="0b7e4f7e-2f5e-4d7e-9d43-6a1c7d1b8a2f"),
    "created_at": fields.String(example="2026-11-24T09:30:00Z"),
    "last_used_at": fields.String(example="2026-11-24T09:45:00Z",
                                  description="the last refresh (or the sign-in)"),
    "expires_at": fields.String(example="2026-12-24T09:45:00Z"),
    "user_agent": NullableString(example="Mozilla/5.0"),
    "ip": NullableString(example="203.0.113.7"),
    "current": fields.Boolean(example=True, description="the session of the token used"),
})

SessionList = collection_model(auth_ns, "SessionList", SessionPublic)

Jwk = auth_ns.model("Jwk", {
    "kty": fields.String(example="EC"),
    "crv": fields.String(example="P-256"),
    "x": fields.String(), "y": fields.String(), "n": fields.String(), "e": fields.String(),
    "kid": fields.String(example="NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"),
    "alg": fields.String(example="ES256"),
    "use": fields.String(example="sig"),
})

JwkSet = auth_ns.model("JwkSet", {"keys": fields.List(fields.Nested(Jwk))})
