"""The HTTP side of authentication: verify_token_in_request() and four decorators.

Only the Authorization header is parsed here; every other check (signature,
claims, times, the database, fresh, admin) is `services.authentication.authenticate`.

Views read the verified token and user from `current_token` / `current_user`
(backed by `flask.g`, so each request has its own); they raise a clear error
when used outside a protected view.
"""

from __future__ import annotations

import re
from functools import wraps

from flask import g, request
from werkzeug.local import LocalProxy

from ..errors import InvalidRequestError, MissingTokenError
from ..security import tokens
from ..services.authentication import Authenticated, authenticate
from ..services.mfa_tokens import MfaAuthenticated, authenticate_mfa

# RFC 6750 §2.1 b64token.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def _bearer_token_from_request() -> str:
    req = request._get_current_object()  # one context look-up for the checks below
    environ = req.environ
    header = environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, credentials = header.strip().partition(" ")
    if not scheme or scheme.lower() != "bearer":
        raise MissingTokenError()
    credentials = credentials.strip()
    if not credentials:
        raise InvalidRequestError("The Bearer credentials hold no token")
    if not _B64TOKEN.fullmatch(credentials):
        if len(credentials.split()) > 1:
            raise InvalidRequestError("The Bearer credentials hold more than one token")
        raise InvalidRequestError("The token holds characters a Bearer token cannot hold")
    # RFC 6750 §2: a client must not send the token in more than one place.
    # (No Content-Type, the common case of a GET: then there is no body to parse;
    # an empty query string, the common case too: then there are no args to parse.)
    in_body = (environ.get("CONTENT_TYPE")
               and req.mimetype == "application/x-www-form-urlencoded"
               and "access_token" in req.form)
    if (environ.get("QUERY_STRING") and "access_token" in req.args) or in_body:
        raise InvalidRequestError("The token was sent in more than one place")
    return credentials


def verify_token_in_request(kind: str = tokens.ACCESS, *, fresh: bool = False,
                            admin: bool = False) -> Authenticated:
    """Check the request's Bearer token; write flask.g only when every check passed."""
    auth = authenticate(_bearer_token_from_request(), kind, fresh=fresh, admin=admin)
    g.usergate_auth = auth
    return auth


def _protect(**checks):
    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            verify_token_in_request(**checks)
            return view(*args, **kwargs)

        return wrapper

    return decorator


token_required = _protect()
fresh_token_required = _protect(fresh=True)
admin_token_required = _protect(admin=True)
refresh_token_required = _protect(kind=tokens.REFRESH)


def _set_by_guard(key: str, outside: str):
    """A reader of what a guard stored in flask.g under `key` (RuntimeError `outside`
    when no guard ran): the function behind a LocalProxy."""

    def current():
        value = g.get(key)
        if value is None:
            raise RuntimeError(outside)
        return value

    return current


_current_auth = _set_by_guard(
    "usergate_auth", "current_user/current_token are only set inside a protected view")
current_auth: Authenticated = LocalProxy(_current_auth)  # type: ignore[assignment]
current_user = LocalProxy(lambda: _current_auth().user)
current_token = LocalProxy(lambda: _current_auth().claims)


def mfa_token_required(view):
    """The one guard that takes an mfa token (`typ` mfa+jwt): /auth/mfa/verify's."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        g.usergate_mfa = authenticate_mfa(_bearer_token_from_request())
        return view(*args, **kwargs)

    return wrapper


current_mfa: MfaAuthenticated = LocalProxy(_set_by_guard(  # type: ignore[assignment]
    "usergate_mfa", "current_mfa is only set inside a view guarded by mfa_token_required"))
