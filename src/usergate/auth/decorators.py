"""verify_token_in_request() and the four decorators built on it.

Views read the verified token and user from `current_token` / `current_user`
(backed by `flask.g`, so each request has its own); they raise a clear error
when used outside a protected view.
"""

from __future__ import annotations

import re
from functools import wraps

from flask import g, request
from werkzeug.local import LocalProxy

from ..errors import (
    InsufficientScopeError,
    InsufficientUserAuthenticationError,
    InvalidRequestError,
    MissingTokenError,
)
from ..services import auth as auth_service
from ..services.runtime import auth_settings
from . import tokens

# RFC 6750 §2.1 b64token.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def _bearer_token_from_request() -> str:
    header = request.headers.get("Authorization", "")
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
    in_body = (request.mimetype == "application/x-www-form-urlencoded"
               and "access_token" in request.form)
    # (An empty query string is the common case: then there are no args to parse.)
    if (request.query_string and "access_token" in request.args) or in_body:
        raise InvalidRequestError("The token was sent in more than one place")
    return credentials


def verify_token_in_request(kind: str = tokens.ACCESS, *, fresh: bool = False,
                            admin: bool = False) -> auth_service.Authenticated:
    """Check the request's Bearer token; write flask.g only when every check passed."""
    token = _bearer_token_from_request()
    auth = auth_service.authenticate(token, kind)
    if fresh and not auth_service.is_fresh(auth.claims):
        raise InsufficientUserAuthenticationError(
            "This operation needs a fresh token; sign in again with your password",
            max_age=auth_settings().fresh_max_age)
    if admin and not auth.user.admin:
        raise InsufficientScopeError("This operation is for administrators", scope="admin")
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


def _current_auth() -> auth_service.Authenticated:
    auth = g.get("usergate_auth")
    if auth is None:
        raise RuntimeError("current_user/current_token are only set inside a protected view")
    return auth


current_auth: auth_service.Authenticated = LocalProxy(_current_auth)  # type: ignore[assignment]
current_user = LocalProxy(lambda: _current_auth().user)
current_token = LocalProxy(lambda: _current_auth().claims)
