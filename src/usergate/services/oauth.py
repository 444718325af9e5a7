"""Token revocation (RFC 7009) and introspection (RFC 7662) (docs/oauth.md).

Introspection asks `authentication.authenticate` — the very checks and the one
SQL statement of a protected request — so its answer is the one a request with
the token would get right now. Revocation blacklists an access token and ends a
refresh token's session, as logout does.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..clock import now_seconds
from ..errors import InvalidTokenError
from ..extensions import db
from ..models import User
from ..security import tokens
from .authentication import Caller, authenticate, is_fresh
from .clients import authenticate_client, check_secret
from .maintenance import prune_blacklist
from .runtime import auth_settings
from .sessions import blacklist_token, revoke_session

INACTIVE = {"active": False}
_HINTS = {"access_token": tokens.ACCESS, "refresh_token": tokens.REFRESH}


def _kinds(hint: str | None) -> list[str]:
    """Kinds to try, the hinted one first (RFC 7009 §2.1: an unknown hint is ignored)."""
    first = _HINTS.get(hint or "", tokens.ACCESS)
    return [first, tokens.REFRESH if first == tokens.ACCESS else tokens.ACCESS]


def introspect(token: str, hint: str | None, *, client_id: str, client_secret: str) -> dict:
    """The active token's claims with its state from the database, or {"active": false},
    for a caller whose credentials are right (else invalid_client, whatever the token).

    A token of the other kind fails at its header `typ` before any query, and the
    caller's secret digest is read by the token's own statement, so an
    introspection costs one statement whichever kind the token is. Only when no
    statement found the token's row (a forged or expired token, a deleted user or
    client) is the caller looked up on its own.
    """
    settings = auth_settings()
    caller = Caller(client_id)
    auth = None
    for kind in _kinds(hint):
        try:
            auth = authenticate(token, kind, clients=True, audience=settings.issued_audience,
                                caller=caller)
        except InvalidTokenError:
            continue
        break
    if caller.looked_up:
        check_secret(client_secret, caller.secret_hash)
    else:
        authenticate_client(client_id, client_secret)
        db.session.commit()
    return dict(INACTIVE) if auth is None else _active(auth)


def _active(auth) -> dict:
    claims = auth.claims
    body = {"active": True}
    body.update({name: claims[name] for name in ("iss", "sub", "aud", "iat", "nbf", "exp", "jti")
                 if name in claims})
    body["type"] = claims["type"]
    if claims["type"] == tokens.ACCESS:
        body["token_type"] = "Bearer"
    if auth.client is not None:
        body.update(client=True, client_id=auth.client.client_id, fresh=False, admin=False)
        return body
    body["sid"] = claims["sid"]
    body["username"] = auth.user.email
    if claims["type"] == tokens.ACCESS:
        # The state now, as GET /auth/user says it, not as the token was issued.
        body["fresh"] = is_fresh(claims)
        body["admin"] = auth.user.admin
    return body


def revoke(token: str, hint: str | None = None) -> None:
    """Revoke an access token (blacklist) or a refresh token (its session).

    A token that does not verify (unknown, forged, expired) is nothing to revoke:
    the answer is the same 200 (RFC 7009 §2.2).
    """
    settings = auth_settings()
    now = now_seconds()
    for kind in _kinds(hint):
        try:
            claims = tokens.decode_token(token, kind, keys=settings.keys, issuer=settings.issuer,
                                         leeway=settings.leeway, now=now,
                                         audience=settings.issued_audience
                                         if kind == tokens.ACCESS else tokens.NO_AUDIENCE)
        except tokens.TokenError:
            continue
        if kind == tokens.REFRESH:
            revoke_session(claims["sid"])
            db.session.commit()
            return
        owner = None if claims.get("client") is True else (
            select(User.id).where(User.public_id == claims["sub"]).scalar_subquery())
        try:
            blacklist_token(claims, user_id=owner)
            prune_blacklist()  # autoflushes the INSERT above
            db.session.commit()
        except IntegrityError:  # revoked twice at once: already done
            db.session.rollback()
        return
