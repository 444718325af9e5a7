"""When is a token rejected, and when is it fresh: the one answer.

A request's token goes through three layers, each checking only what it can:
1. `api/guards.py`: the Authorization header (RFC 6750 Bearer syntax, one place);
2. `security/tokens.py::decode_token`: signature, header typ, claims, the times;
3. `authenticate` below: everything the database knows, then fresh and admin.
`authenticate` reads as the ordered list of checks; the first that fails answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, exists, select

from ..clock import from_timestamp, now_seconds, timestamp
from ..errors import (
    InsufficientScopeError,
    InsufficientUserAuthenticationError,
    InvalidTokenError,
)
from ..extensions import db
from ..models import BlacklistedToken, ServiceClient, Session, User
from ..security import tokens
from .runtime import auth_settings


@dataclass(frozen=True)
class Authenticated:
    """A verified token with the rows it stands for."""

    claims: dict
    user: User | None  # None for a service client's token (then `client` is set)
    session_id: str | None
    client: ServiceClient | None = None

    @property
    def kind(self) -> str:
        return self.claims["type"]


def _authenticate_statement():
    blacklisted = exists().where(BlacklistedToken.jti == bindparam("jti"))
    return (select(User, Session.revoked_at, Session.expires_at, blacklisted.label("blacklisted"))
            .join(Session, Session.user_id == User.id)
            .where(Session.id == bindparam("sid"), User.public_id == bindparam("sub")))


# Built once, with bound parameters: building the SELECT and its cache key on every
# request cost more than running it (bench/profile_hot_path.py).
_AUTHENTICATE = _authenticate_statement()

# A service client's token has no session: its principal is the client row, and
# deleting the client is what revokes its tokens (as a revoked session does a
# user's). The same one statement: the principal's row and the blacklist EXISTS.
_AUTHENTICATE_CLIENT = (
    select(ServiceClient, exists().where(BlacklistedToken.jti == bindparam("jti"))
           .label("blacklisted"))
    .where(ServiceClient.client_id == bindparam("sub")))


@dataclass
class Caller:
    """The client asking (introspection): its stored secret digest rides on the token's
    statement, so authenticating the caller costs no statement of its own.

    `looked_up` is False when no statement ran (the token failed before the
    database) or the token's row was missing: then the caller needs its own lookup.
    """

    client_id: str
    looked_up: bool = False
    secret_hash: str | None = None


# From the Core table, not an ORM alias: ORM-annotated columns in a scalar subquery
# are re-hashed on every execution when the result's keys are built (0.1 ms each).
_CALLER = ServiceClient.__table__.alias("caller")
_CALLER_SECRET = (select(_CALLER.c.secret_hash).where(_CALLER.c.client_id == bindparam("caller"))
                  .correlate(None).scalar_subquery().label("caller_secret"))
_INTROSPECT = _AUTHENTICATE.add_columns(_CALLER_SECRET)
_INTROSPECT_CLIENT = _AUTHENTICATE_CLIENT.add_columns(_CALLER_SECRET)


def authenticate(token: str, kind: str = tokens.ACCESS, *, fresh: bool = False,
                 admin: bool = False, clients: bool = False,
                 audience: tokens.Audience | None = None,
                 caller: Caller | None = None) -> Authenticated:
    """Every check a token passes after its header was parsed, in order.

    `clients=True` (introspection) also accepts a service client's token; user
    endpoints never do. `audience` defaults to usergate's own (JWT_AUDIENCE).
    `caller`: the same statement also reads that client's secret digest.
    """
    settings = auth_settings()
    now = now_seconds()
    # 1. Signature, type, issuer, audience, claims, exp/nbf/iat (security/tokens.py).
    try:
        claims = tokens.decode_token(token, kind, keys=settings.keys, issuer=settings.issuer,
                                     leeway=settings.leeway, now=now,
                                     audience=_audience(kind, audience, settings))
    except tokens.TokenError as exc:
        raise InvalidTokenError(str(exc)) from None
    if claims.get("client") is True:
        # §3's "wrong type": a client's token is not a user's, whatever it is signed with.
        if not clients:
            raise InvalidTokenError("A client's token cannot open user endpoints")
        return _authenticate_client(claims, caller)

    # 2. What the database knows, in one query.
    row = _token_row(_AUTHENTICATE, _INTROSPECT, caller,
                     {"jti": claims["jti"], "sid": claims["sid"], "sub": claims["sub"]})
    if row is None:
        raise InvalidTokenError("The token's user or session no longer exists")
    user, revoked_at, expires_at, is_blacklisted = row[:4]
    if is_blacklisted:
        raise InvalidTokenError("The token has been revoked")
    if revoked_at is not None:
        raise InvalidTokenError("The session has been revoked")
    if expires_at <= from_timestamp(now):
        raise InvalidTokenError("The session has expired")
    if user.disabled:
        raise InvalidTokenError("The account is disabled")
    if user.tokens_valid_after is not None and claims["iat"] < timestamp(user.tokens_valid_after):
        raise InvalidTokenError("The token was issued before the last password change or logout")

    # 3. What the operation asks of the token.
    if fresh:
        require_fresh(is_fresh(claims))
    if admin and not user.admin:
        raise InsufficientScopeError("This operation is for administrators", scope="admin")
    return Authenticated(claims, user, claims["sid"])


def _audience(kind: str, audience, settings) -> tokens.Audience:
    """Access tokens: the audience asked for, else usergate's own (JWT_AUDIENCE).
    Refresh tokens carry no `aud`: only usergate ever reads them."""
    if kind == tokens.REFRESH:
        return tokens.NO_AUDIENCE
    return audience or settings.own_audience


def _token_row(statement, with_caller, caller: Caller | None, params: dict):
    """The token's row by `statement`, or, for a `caller`, by `with_caller`, the same
    statement that also reads the caller's secret digest (its last column)."""
    if caller is None:
        row = db.session.execute(statement, params).one_or_none()
    else:
        row = db.session.execute(with_caller, {**params, "caller": caller.client_id}
                                 ).one_or_none()
        if row is not None:
            caller.looked_up, caller.secret_hash = True, row[-1]
    # End this read-only transaction with COMMIT rather than the ROLLBACK the request's
    # teardown would send: on PostgreSQL a ROLLBACK makes psycopg 3 DEALLOCATE ALL, so
    # the auth query would be parsed and planned again on every request. Nothing is
    # pending in the session here (the guard runs before the view), and the user
    # stays loaded (expire_on_commit=False).
    db.session.commit()
    return row


def _authenticate_client(claims: dict, caller: Caller | None) -> Authenticated:
    row = _token_row(_AUTHENTICATE_CLIENT, _INTROSPECT_CLIENT, caller,
                     {"jti": claims["jti"], "sub": claims["sub"]})
    if row is None:
        raise InvalidTokenError("The token's client no longer exists")
    client, is_blacklisted = row[:2]
    if is_blacklisted:
        raise InvalidTokenError("The token has been revoked")
    return Authenticated(claims, None, None, client)


def is_fresh(claims: dict, *, now: int | None = None) -> bool:
    """Issued from a password, and younger than JWT_FRESH_MAX_AGE right now (or at `now`)."""
    age = (now_seconds() if now is None else now) - claims["iat"]
    return bool(claims.get("fresh")) and age < auth_settings().fresh_max_age


def require_fresh(fresh: bool, what: str = "This operation") -> None:
    """The one "needs a fresh token" answer (the guards' and the users service's)."""
    if not fresh:
        raise InsufficientUserAuthenticationError(
            f"{what} needs a fresh token; sign in again with your password",
            max_age=auth_settings().fresh_max_age)


def public_keys() -> dict:
    """The RFC 7517 JWK Set of every key that verifies tokens (none under HS256)."""
    return auth_settings().keys.jwks()
