"""The cookie transport of browser sessions (docs/browser.md).

`?transport=cookie` (or REFRESH_TOKEN_TRANSPORT=cookie) on login and refresh puts
the refresh token in an HttpOnly cookie scoped to /api/v1/auth instead of the
body, so script in a page (an XSS) never reads it. A request the browser
authenticates with that cookie by itself (refresh, logout) needs a CSRF proof:
the `X-CSRF-Token` header equal to the `usergate_csrf` cookie (double submit),
whose value is an HMAC of the session id under SECRET_KEY (bound to the session,
no storage), and an `Origin`, when sent, that is the service's own or listed in
CORS_ORIGINS. An `Authorization: Bearer` header always wins over the cookie: it
is never sent by a browser on its own, so it needs no CSRF proof.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import wraps
from urllib.parse import urlsplit

from flask import after_this_request, current_app, g, request

from ..config import parse_origins
from ..errors import ForbiddenError, InvalidTokenError, ValidationError
from ..security import tokens
from ..services.authentication import Authenticated, authenticate
from .guards import _B64TOKEN, verify_token_in_request
from .representations import token_response

REFRESH_COOKIE = "usergate_refresh"
CSRF_COOKIE = "usergate_csrf"
CSRF_HEADER = "X-CSRF-Token"
REFRESH_COOKIE_PATH = "/api/v1/auth"
CSRF_COOKIE_PATH = "/"  # a same-origin front-end reads it with document.cookie
TRANSPORTS = ("body", "cookie")
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}

TRANSPORT_PARAM = {
    "transport": {
        "in": "query", "type": "string", "enum": list(TRANSPORTS),
        "description": "`cookie`: the refresh token is set as an HttpOnly cookie and left "
                       "out of the body, which carries `csrf_token` instead "
                       "(default: REFRESH_TOKEN_TRANSPORT, `body` unless configured).",
    },
}


class CsrfError(ForbiddenError):
    """A cookie-authenticated request without a valid CSRF proof, or from a foreign Origin."""

    code = "csrf_failed"


def csrf_token_for(session_id: str) -> str:
    """The session's double-submit value: HMAC-SHA256 of its id under SECRET_KEY."""
    key = hashlib.sha256(b"usergate-csrf\x00" + current_app.config["SECRET_KEY"].encode()).digest()
    digest = hmac.new(key, session_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authenticated_by_cookie() -> bool:
    return bool(g.get("usergate_by_cookie"))


def requested_transport() -> str:
    """`transport` of the query, else `cookie` after a cookie refresh, else the setting."""
    value = request.args.get("transport") if request.query_string else None
    if value is not None and value not in TRANSPORTS:
        raise ValidationError.single("transport", "must be body or cookie")
    if authenticated_by_cookie():
        # Answering a cookie refresh in the body would hand the refresh token to
        # whatever script can make that request: the cookie stays the cookie.
        if value == "body":
            raise ValidationError.single(
                "transport", "a refresh by cookie is answered by cookie, never in the body")
        return "cookie"
    return value or current_app.config["REFRESH_TOKEN_TRANSPORT"]


def deliver(issued, transport: str) -> dict:
    """The token body of `issued` (IssuedTokens) as the transport wants it; a cookie
    transport sets the cookies on the response."""
    body = token_response(issued)
    if transport != "cookie":
        return body
    refresh = body.pop("refresh_token")
    csrf = csrf_token_for(issued.refresh.claims["sid"])
    max_age = body["refresh_expires_in"]
    secure = _secure()

    @after_this_request
    def set_cookies(response):
        response.set_cookie(REFRESH_COOKIE, refresh, max_age=max_age, path=REFRESH_COOKIE_PATH,
                            secure=secure, httponly=True, samesite="Strict")
        response.set_cookie(CSRF_COOKIE, csrf, max_age=max_age, path=CSRF_COOKIE_PATH,
                            secure=secure, httponly=False, samesite="Strict")
        return response

    # Cross-origin front-ends cannot read the API origin's cookies: the body tells them.
    body["csrf_token"] = csrf
    return body


def clear_cookies() -> None:
    """Expire both cookies, when the request carried one (the Bearer path stays as it was)."""
    if REFRESH_COOKIE not in request.cookies and CSRF_COOKIE not in request.cookies:
        return
    secure = _secure()

    @after_this_request
    def expire(response):
        response.delete_cookie(REFRESH_COOKIE, path=REFRESH_COOKIE_PATH, secure=secure,
                               httponly=True, samesite="Strict")
        response.delete_cookie(CSRF_COOKIE, path=CSRF_COOKIE_PATH, secure=secure,
                               httponly=False, samesite="Strict")
        return response


def _secure() -> bool:
    """Secure, except in development on http://localhost (browsers keep such cookies)."""
    if current_app.config["USERGATE_CONFIG"] != "development" or request.scheme != "http":
        return True
    return (urlsplit(f"//{request.host}").hostname or "") not in _LOOPBACK


def _allowed_origins() -> set[str]:
    own = {f"{request.scheme}://{request.host}".lower()}
    public = current_app.config.get("PUBLIC_BASE_URL")
    if public:
        parts = urlsplit(public)
        own.add(f"{parts.scheme}://{parts.netloc}".lower())
    return own | set(parse_origins(current_app.config.get("CORS_ORIGINS")))


def check_csrf_proof() -> None:
    """Origin and the double submit, before the token is even looked at."""
    origin = request.headers.get("Origin")
    if origin is not None and origin.rstrip("/").lower() not in _allowed_origins():
        raise CsrfError(f"Requests from the origin {origin[:200]} are not accepted here")
    header = request.headers.get(CSRF_HEADER)
    if not header:
        raise CsrfError(f"The {CSRF_HEADER} header is missing: a request authenticated by "
                        f"the {REFRESH_COOKIE} cookie needs it")
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not hmac.compare_digest(header.encode(), cookie.encode()):
        raise CsrfError(f"The {CSRF_HEADER} header does not match the {CSRF_COOKIE} cookie")


def verify_refresh_cookie() -> Authenticated:
    """Authenticate by the refresh cookie, with its CSRF proof; nothing is written."""
    check_csrf_proof()
    token = request.cookies.get(REFRESH_COOKIE, "")
    if not _B64TOKEN.fullmatch(token):
        raise InvalidTokenError(f"The {REFRESH_COOKIE} cookie holds no token")
    auth = authenticate(token, tokens.REFRESH)
    if not hmac.compare_digest(request.headers[CSRF_HEADER].encode(),
                               csrf_token_for(auth.session_id).encode()):
        raise CsrfError("The CSRF token does not belong to this session")
    g.usergate_auth = auth
    g.usergate_by_cookie = True
    return auth


def _has_bearer() -> bool:
    scheme, _, _ = request.headers.get("Authorization", "").strip().partition(" ")
    return scheme.lower() == "bearer"


def _bearer_or_cookie(kind: str):
    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not _has_bearer() and REFRESH_COOKIE in request.cookies:
                verify_refresh_cookie()
            else:
                verify_token_in_request(kind)
            return view(*args, **kwargs)

        return wrapper

    return decorator


# /auth/refresh: a refresh token as Bearer (as before), or the refresh cookie.
refresh_token_or_cookie_required = _bearer_or_cookie(tokens.REFRESH)
# /auth/logout: an access token as Bearer (as before), or the refresh cookie.
access_token_or_cookie_required = _bearer_or_cookie(tokens.ACCESS)
