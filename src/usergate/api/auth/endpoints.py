"""The auth namespace: thin Resources over services.auth."""

from __future__ import annotations

from http import HTTPStatus

from flask import current_app, request
from flask_restx import Resource

from ...auth import tokens
from ...auth.decorators import (
    current_auth,
    fresh_token_required,
    refresh_token_required,
    token_required,
)
from ...clock import timestamp, utcnow
from ...errors import (
    AuthenticationError,
    ForbiddenError,
    InvalidTokenError,
    OAuthError,
)
from ...extensions import limiter
from ...services import auth as auth_service
from ...services import sessions as sessions_service
from ..common import BEARER, errors
from ..pagination import PAGE_HEADERS, PAGE_PARAMS, page_args, paged
from ..representations import NO_STORE, no_content, session_public, user_public
from ..validation import Email, parse_body, parse_json
from .schemas import (
    AccessTokenBody,
    CurrentUser,
    FreshLoginRequest,
    JwkSet,
    LoginRequest,
    OAuthErrorBody,
    PasswordChange,
    SessionList,
    TokenBody,
    UserCreate,
    auth_ns,
    token_form,
)


def _auth_rate_limit() -> str:
    return current_app.config["RATELIMIT_AUTH"]


# Rate limits wrap the whole dispatch, so they are checked before authentication
# and before the body is validated.
rate_limited = limiter.limit(_auth_rate_limit)


def client_info() -> auth_service.Client:
    return auth_service.Client(user_agent=request.headers.get("User-Agent"),
                               ip=request.remote_addr)


@auth_ns.route("/register", endpoint="auth_register")
class RegisterResource(Resource):
    decorators = [rate_limited]

    @auth_ns.doc(security=[])
    @auth_ns.expect(UserCreate)
    @auth_ns.response(201, "Registered; tokens in the body, the user's URL in Location", TokenBody)
    @errors(auth_ns, 400, 409, 413, 415, 429)
    def post(self):
        """Register a new user and sign in."""
        data = parse_json(UserCreate)
        user, body = auth_service.register_user(
            email=data["email"], password=data["password"], name=data.get("name") or None,
            client=client_info())
        location = f"{request.script_root}/api/v1/users/{user.public_id}"
        return body, HTTPStatus.CREATED, {**NO_STORE, "Location": location}


@auth_ns.route("/login", endpoint="auth_login")
class LoginResource(Resource):
    decorators = [rate_limited]

    @auth_ns.doc(security=[], description="JSON body, or the same fields as a form body.")
    @auth_ns.expect(LoginRequest)
    @auth_ns.response(200, "Signed in; a fresh access token and a refresh token", TokenBody)
    @errors(auth_ns, 400, 401, 403, 413, 415, 429)
    def post(self):
        """Sign in with email and password."""
        data = parse_body(LoginRequest, form=True)
        body = auth_service.login(email=data["email"], password=data["password"],
                                  client=client_info())
        return body, HTTPStatus.OK, NO_STORE


_PASSWORD_GRANT = {"username": Email(required=True), "password": LoginRequest["password"]}


@auth_ns.route("/token", endpoint="auth_token")
class TokenResource(Resource):
    decorators = [rate_limited]

    @auth_ns.doc(security=[], description="RFC 6749 token endpoint (form body): "
                 "grant_type=password with username and password, or "
                 "grant_type=refresh_token with refresh_token. Errors follow RFC 6749 §5.2.")
    @auth_ns.expect(token_form)
    @auth_ns.response(200, "Tokens", TokenBody)
    @auth_ns.response(400, "RFC 6749 error (invalid_request, invalid_grant, "
                      "unsupported_grant_type)", OAuthErrorBody)
    @errors(auth_ns, 413, 429)
    def post(self):
        """OAuth2 token endpoint (password and refresh_token grants)."""
        if request.mimetype != "application/x-www-form-urlencoded":
            raise OAuthError("invalid_request",
                             "The body must be application/x-www-form-urlencoded")
        form = request.form
        grant = form.get("grant_type")
        if not grant:
            raise OAuthError("invalid_request", "grant_type is required")
        if grant == "password":
            body = _password_grant(form)
        elif grant == "refresh_token":
            body = _refresh_grant(form)
        else:
            raise OAuthError("unsupported_grant_type",
                             "grant_type must be password or refresh_token")
        return body, HTTPStatus.OK, NO_STORE


def _password_grant(form) -> dict:
    missing = [name for name in ("username", "password") if not form.get(name)]
    if missing:
        raise OAuthError("invalid_request", f"{' and '.join(missing)} required")
    try:
        email = Email().clean(form["username"])
        user = auth_service.verify_credentials(email, form["password"])
    except (ValueError, AuthenticationError):
        raise OAuthError("invalid_grant", "The username or password is wrong") from None
    except ForbiddenError:
        raise OAuthError("invalid_grant", "This account is disabled") from None
    return auth_service.start_session(user, client_info())


def _refresh_grant(form) -> dict:
    token = form.get("refresh_token")
    if not token:
        raise OAuthError("invalid_request", "refresh_token is required")
    try:
        auth = auth_service.authenticate(token, tokens.REFRESH)
        return auth_service.rotate_refresh_token(auth)
    except InvalidTokenError as exc:
        raise OAuthError("invalid_grant", exc.detail) from None


@auth_ns.route("/refresh", endpoint="auth_refresh")
class RefreshResource(Resource):
    decorators = [rate_limited]

    @auth_ns.doc(security=BEARER, description="Send the refresh token as "
                 "`Authorization: Bearer <refresh token>`. The refresh token is rotated: "
                 "presenting a spent one again revokes the whole session.")
    @auth_ns.response(200, "A new (not fresh) access token and a rotated refresh token",
                      TokenBody)
    @errors(auth_ns, 400, 401, 429)
    @refresh_token_required
    def post(self):
        """Trade a refresh token for new tokens."""
        return auth_service.rotate_refresh_token(current_auth), HTTPStatus.OK, NO_STORE


@auth_ns.route("/fresh-login", endpoint="auth_fresh_login")
class FreshLoginResource(Resource):
    decorators = [rate_limited]

    @auth_ns.doc(security=BEARER)
    @auth_ns.expect(FreshLoginRequest)
    @auth_ns.response(200, "A fresh access token in the same session", AccessTokenBody)
    @errors(auth_ns, 400, 401, 413, 415, 429)
    @token_required
    def post(self):
        """Type the password again for a fresh access token."""
        data = parse_json(FreshLoginRequest)
        return auth_service.fresh_login(current_auth, data["password"]), HTTPStatus.OK, NO_STORE


@auth_ns.route("/logout", endpoint="auth_logout")
class LogoutResource(Resource):
    @auth_ns.doc(security=BEARER)
    @auth_ns.response(204, "Signed out: this token and its session's refresh token are revoked")
    @errors(auth_ns, 400, 401)
    @token_required
    def post(self):
        """Sign out of this session."""
        auth_service.logout(current_auth)
        return no_content()


@auth_ns.route("/user", endpoint="auth_user")
class CurrentUserResource(Resource):
    @auth_ns.doc(security=BEARER)
    @auth_ns.response(200, "The signed-in user", CurrentUser)
    @errors(auth_ns, 400, 401)
    @token_required
    def get(self):
        """Who am I? The user behind the access token."""
        auth = current_auth._get_current_object()  # one lookup, not one per attribute
        now = timestamp(utcnow())
        body = user_public(auth.user)
        body.update(token_expires_in=max(0, auth.claims["exp"] - now),
                    fresh=auth_service.is_fresh(auth.claims, now=now), session_id=auth.session_id)
        return body, HTTPStatus.OK, NO_STORE


@auth_ns.route("/logout-all", endpoint="auth_logout_all")
class LogoutAllResource(Resource):
    @auth_ns.doc(security=BEARER)
    @auth_ns.response(204, "Every session of the user is revoked, this one included")
    @errors(auth_ns, 400, 401)
    @fresh_token_required
    def post(self):
        """Sign out everywhere (needs a fresh token)."""
        sessions_service.logout_everywhere(current_auth)
        return no_content()


@auth_ns.route("/password", endpoint="auth_password")
class PasswordResource(Resource):
    # current_password makes this a password oracle for whoever holds a fresh
    # token, so it is rate limited like /auth/fresh-login.
    decorators = [rate_limited]

    @auth_ns.doc(security=BEARER, description="Every session, this one included, is revoked; "
                 "the answer signs in again in a new session.")
    @auth_ns.expect(PasswordChange)
    @auth_ns.response(200, "Password changed; new tokens of a new session", TokenBody)
    @errors(auth_ns, 400, 401, 413, 415, 429)
    @fresh_token_required
    def put(self):
        """Change the password (needs a fresh token)."""
        data = parse_json(PasswordChange)
        body = sessions_service.change_password(
            current_auth, current_password=data["current_password"],
            new_password=data["new_password"], client=client_info())
        return body, HTTPStatus.OK, NO_STORE


@auth_ns.route("/sessions", endpoint="auth_sessions")
class SessionListResource(Resource):
    @auth_ns.doc(security=BEARER, params=PAGE_PARAMS)
    @auth_ns.response(200, "The user's live sessions, newest first", SessionList,
                      headers=PAGE_HEADERS)
    @errors(auth_ns, 400, 401)
    @token_required
    def get(self):
        """List my live sessions."""
        page, per_page = page_args()
        sessions = sessions_service.list_sessions(current_auth.user, page=page, per_page=per_page)
        body, headers = paged(sessions, lambda session: session_public(
            session, current_id=current_auth.session_id))
        return body, HTTPStatus.OK, {**NO_STORE, **headers}


@auth_ns.route("/sessions/<string:session_id>", endpoint="auth_session")
@auth_ns.param("session_id", "the session's id (the `sid` claim of its tokens)")
class SessionResource(Resource):
    @auth_ns.doc(security=BEARER)
    @auth_ns.response(204, "The session is revoked; its tokens stop working")
    @errors(auth_ns, 400, 401, 404)
    @token_required
    def delete(self, session_id: str):
        """End one of my sessions."""
        sessions_service.revoke_user_session(current_auth.user, session_id)
        return no_content()


@auth_ns.route("/jwks.json", endpoint="auth_jwks")
class JwksResource(Resource):
    @auth_ns.doc(security=[], description="RFC 7517 JWK Set of the keys that verify "
                 "usergate's tokens (empty under HS256: a shared secret is never published).")
    @auth_ns.response(200, "The public keys, each with kid, alg and use", JwkSet)
    def get(self):
        """Public keys that verify usergate's tokens."""
        # Short caching: resource servers refetch on an unknown kid anyway.
        return auth_service.public_keys(), HTTPStatus.OK, {"Cache-Control": "public, max-age=300"}

