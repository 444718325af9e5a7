"""The auth namespace: thin Resources over services.accounts, .authentication, .sessions."""

from __future__ import annotations

from http import HTTPStatus

from flask import current_app, request
from flask_restx import Resource

from ...clock import now_seconds
from ...errors import (
    AuthenticationError,
    EmailNotVerifiedError,
    ForbiddenError,
    InvalidTokenError,
    OAuthError,
    TooManyFailuresError,
)
from ...extensions import db, limiter
from ...security import tokens
from ...services import accounts as accounts_service
from ...services import authentication
from ...services import clients as clients_service
from ...services import sessions as sessions_service
from .. import browser
from ..common import errors, operation
from ..edge import client_strings
from ..guards import (
    current_auth,
    fresh_token_required,
    token_required,
)
from ..oauth import authenticated_client
from ..pagination import PAGE_HEADERS, PAGE_PARAMS, page_args
from ..representations import (
    created,
    no_content,
    ok,
    page_response,
    session_public,
    token_response,
    user_public,
)
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
rate_limited = limiter.route_limit(_auth_rate_limit)


class RateLimitedResource(Resource):
    """A Resource whose every method counts against RATELIMIT_AUTH (it takes a guess at
    a password, a token or a code)."""

    decorators = [rate_limited]


# What the operations that check the signed-in user's password can answer besides success.
PASSWORD_PROBLEMS = (400, 401, 413, 415, 429)


def client_info() -> sessions_service.Client:
    user_agent, ip = client_strings()
    return sessions_service.Client(user_agent=user_agent, ip=ip)


@auth_ns.route("/register", endpoint="auth_register")
class RegisterResource(RateLimitedResource):
    @operation(auth_ns, 201, "Registered; tokens in the body, the user's URL in Location",
               TokenBody, expect=UserCreate, problems=(400, 409, 413, 415, 429), security=[])
    def post(self):
        """Register a new user and sign in."""
        data = parse_json(UserCreate)
        user, issued = accounts_service.register_user(
            email=data["email"], password=data["password"], name=data.get("name") or None,
            client=client_info())
        location = f"{request.script_root}/api/v1/users/{user.public_id}"
        return created(token_response(issued), location)


@auth_ns.route("/login", endpoint="auth_login")
class LoginResource(RateLimitedResource):
    @operation(auth_ns, 200, "Signed in; a fresh access token and a refresh token", TokenBody,
               expect=LoginRequest, problems=(400, 401, 403, 413, 415, 429), security=[],
               description="JSON body, or the same fields as a form body.",
               params=browser.TRANSPORT_PARAM)
    def post(self):
        """Sign in with email and password."""
        transport = browser.requested_transport()
        data = parse_body(LoginRequest, form=True)
        issued = accounts_service.login(email=data["email"], password=data["password"],
                                        client=client_info())
        return ok(browser.deliver(issued, transport))


_PASSWORD_GRANT = {"username": Email(required=True), "password": LoginRequest["password"]}


@auth_ns.route("/token", endpoint="auth_token")
class TokenResource(RateLimitedResource):

    @auth_ns.doc(security=[], description="RFC 6749 token endpoint (form body): "
                 "grant_type=password with username and password, "
                 "grant_type=refresh_token with refresh_token, or "
                 "grant_type=client_credentials with client authentication (HTTP Basic, or "
                 "client_id and client_secret). `resource` (RFC 8707) narrows the access "
                 "token's aud. Errors follow RFC 6749 §5.2.")
    @auth_ns.expect(token_form)
    @auth_ns.response(200, "Tokens", TokenBody)
    @auth_ns.response(400, "RFC 6749 error (invalid_request, invalid_grant, "
                      "unsupported_grant_type)", OAuthErrorBody)
    @auth_ns.response(401, "RFC 6749 invalid_client: client authentication failed "
                      "(WWW-Authenticate: Basic)", OAuthErrorBody)
    @errors(auth_ns, 413, 429)
    def post(self):
        """OAuth2 token endpoint (password, refresh_token and client_credentials grants)."""
        if request.mimetype != "application/x-www-form-urlencoded":
            raise OAuthError("invalid_request",
                             "The body must be application/x-www-form-urlencoded")
        form = request.form
        grant = form.get("grant_type")
        if not grant:
            raise OAuthError("invalid_request", "grant_type is required")
        # RFC 8707: `resource` narrows the access token's aud (invalid_target otherwise).
        audience = clients_service.audience_for(form.getlist("resource"))
        # Client credentials, when sent, must be right, whatever the grant (RFC 6749 §2.3).
        client = authenticated_client(required=grant == "client_credentials")
        if grant == "password":
            issued = _password_grant(form, audience)
        elif grant == "refresh_token":
            issued = _refresh_grant(form, audience)
        elif grant == "client_credentials":
            issued = clients_service.issue_client_token(client, audience=audience)
        else:
            raise OAuthError("unsupported_grant_type",
                             "grant_type must be password, refresh_token or client_credentials")
        return ok(token_response(issued))


def _password_grant(form, audience) -> sessions_service.IssuedTokens:
    missing = [name for name in ("username", "password") if not form.get(name)]
    if missing:
        raise OAuthError("invalid_request", f"{' and '.join(missing)} required")
    try:
        email = Email().clean(form["username"])
        user = accounts_service.verify_credentials(email, form["password"],
                                                   method="password_grant")
        if user.mfa_enabled:
            db.session.commit()  # the right password cleared the failure count
            raise OAuthError("invalid_grant", "This account signs in with two factors, which "
                             "the password grant cannot carry: POST /api/v1/auth/login, then "
                             "the code to /api/v1/auth/mfa/verify")
        # Inside the try: a password change or deletion racing this grant refuses it.
        return sessions_service.start_session(user, client_info(), audience=audience,
                                              method="password_grant")
    except (ValueError, AuthenticationError):
        raise OAuthError("invalid_grant", "The username or password is wrong") from None
    except EmailNotVerifiedError:
        raise OAuthError("invalid_grant", "The account's email is not verified yet") from None
    except ForbiddenError:
        raise OAuthError("invalid_grant", "This account is disabled") from None
    except TooManyFailuresError as exc:
        # docs/api.md §6.3: invalid_grant here, with the Retry-After of the 429 elsewhere.
        raise OAuthError("invalid_grant", exc.detail, headers=exc.headers) from None


def _refresh_grant(form, audience) -> sessions_service.IssuedTokens:
    token = form.get("refresh_token")
    if not token:
        raise OAuthError("invalid_request", "refresh_token is required")
    try:
        auth = authentication.authenticate(token, tokens.REFRESH)
        return sessions_service.rotate_refresh_token(auth, audience=audience)
    except InvalidTokenError as exc:
        raise OAuthError("invalid_grant", exc.detail) from None


@auth_ns.route("/refresh", endpoint="auth_refresh")
class RefreshResource(RateLimitedResource):
    @operation(auth_ns, 200, "A new (not fresh) access token and a rotated refresh token",
               TokenBody, problems=(400, 401, 403, 429),
               guard=browser.refresh_token_or_cookie_required, params=browser.TRANSPORT_PARAM,
               description="Send the refresh token as `Authorization: Bearer <refresh "
               "token>`, or let the browser send the `usergate_refresh` cookie with an "
               "`X-CSRF-Token` header (a Bearer header wins over the cookie). The refresh "
               "token is rotated: presenting a spent one again revokes the whole session.")
    def post(self):
        """Trade a refresh token for new tokens."""
        transport = browser.requested_transport()
        issued = sessions_service.rotate_refresh_token(current_auth)
        return ok(browser.deliver(issued, transport))


@auth_ns.route("/fresh-login", endpoint="auth_fresh_login")
class FreshLoginResource(RateLimitedResource):
    @operation(auth_ns, 200, "A fresh access token in the same session", AccessTokenBody,
               expect=FreshLoginRequest, problems=PASSWORD_PROBLEMS, guard=token_required)
    def post(self):
        """Type the password again for a fresh access token."""
        password = parse_json(FreshLoginRequest)["password"]
        return ok(token_response(sessions_service.fresh_login(current_auth, password)))


@auth_ns.route("/logout", endpoint="auth_logout")
class LogoutResource(Resource):
    @operation(auth_ns, 204, "Signed out: this token and its session's refresh token are revoked",
               problems=(400, 401, 403), guard=browser.access_token_or_cookie_required,
               description="An access token as Bearer, or the `usergate_refresh` cookie with "
               "an `X-CSRF-Token` header. Clears both cookies.")
    def post(self):
        """Sign out of this session."""
        sessions_service.logout(current_auth)
        browser.clear_cookies()
        return no_content()


@auth_ns.route("/user", endpoint="auth_user")
class CurrentUserResource(Resource):
    @operation(auth_ns, 200, "The signed-in user", CurrentUser, problems=(400, 401),
               guard=token_required)
    def get(self):
        """Who am I? The user behind the access token."""
        auth = current_auth._get_current_object()  # one lookup, not one per attribute
        now = now_seconds()
        body = user_public(auth.user)
        body.update(token_expires_in=max(0, auth.claims["exp"] - now),
                    fresh=authentication.is_fresh(auth.claims, now=now), session_id=auth.session_id)
        return ok(body)


@auth_ns.route("/logout-all", endpoint="auth_logout_all")
class LogoutAllResource(Resource):
    @operation(auth_ns, 204, "Every session of the user is revoked, this one included",
               problems=(400, 401), guard=fresh_token_required)
    def post(self):
        """Sign out everywhere (needs a fresh token)."""
        sessions_service.logout_everywhere(current_auth)
        return no_content()


# current_password makes this a password oracle for whoever holds a fresh
# token, so it is rate limited like /auth/fresh-login.
@auth_ns.route("/password", endpoint="auth_password")
class PasswordResource(RateLimitedResource):
    @operation(auth_ns, 200, "Password changed; new tokens of a new session", TokenBody,
               expect=PasswordChange, problems=PASSWORD_PROBLEMS, guard=fresh_token_required,
               description="Every session, this one included, is revoked; the answer signs "
               "in again in a new session.")
    def put(self):
        """Change the password (needs a fresh token)."""
        data = parse_json(PasswordChange)
        issued = sessions_service.change_password(
            current_auth, current_password=data["current_password"],
            new_password=data["new_password"], client=client_info())
        return ok(token_response(issued))


@auth_ns.route("/sessions", endpoint="auth_sessions")
class SessionListResource(Resource):
    @operation(auth_ns, 200, "The user's live sessions, newest first", SessionList,
               headers=PAGE_HEADERS, params=PAGE_PARAMS, problems=(400, 401),
               guard=token_required)
    def get(self):
        """List my live sessions."""
        page, per_page = page_args()
        sessions = sessions_service.list_sessions(current_auth.user, page=page, per_page=per_page)
        return page_response(sessions, lambda session: session_public(
            session, current_id=current_auth.session_id))


@auth_ns.route("/sessions/<public_id:session_id>", endpoint="auth_session")
@auth_ns.param("session_id", "the session's id (the `sid` claim of its tokens)")
class SessionResource(Resource):
    @operation(auth_ns, 204, "The session is revoked; its tokens stop working",
               problems=(400, 401, 404), guard=token_required)
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
        return authentication.public_keys(), HTTPStatus.OK, {"Cache-Control": "public, max-age=300"}

