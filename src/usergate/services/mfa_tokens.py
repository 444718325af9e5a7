"""The mfa token: issued for a right password of a two-factor account, taken only
by /auth/mfa/verify (docs/mfa.md).

A separate module from services/mfa.py so that sessions (fresh login) and
accounts (login) can ask for the second factor without an import cycle.

The token is a JWT with header `typ` mfa+jwt and claim `type` mfa: every other
endpoint verifies tokens as `at+jwt`/`rt+jwt` (security/tokens.py) and so refuses
it as invalid_token. It lives MFA_TOKEN_EXPIRES seconds (default 300) and is
spent by the verify that succeeds (its `jti` goes on the blacklist in that
transaction). `purpose` says what the second factor completes: "login" starts a
new session; "fresh-login" gives a fresh access token of the session `sid`.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import exists, select

from ..clock import from_timestamp, now_seconds, timestamp
from ..errors import InvalidTokenError, MfaRequiredError
from ..extensions import db
from ..models import BlacklistedToken, Session, User
from ..security import tokens
from .runtime import auth_settings

LOGIN = "login"
FRESH_LOGIN = "fresh-login"
PURPOSES = (LOGIN, FRESH_LOGIN)


@dataclass(frozen=True)
class MfaAuthenticated:
    """A verified mfa token and its user."""

    claims: dict
    user: User

    @property
    def purpose(self) -> str:
        return self.claims["purpose"]

    @property
    def session_id(self) -> str | None:
        return self.claims.get("sid")


def challenge(user: User, purpose: str, *, session_id: str | None = None) -> MfaRequiredError:
    """The 401 mfa_required answer, with a new mfa token (raise it)."""
    settings = auth_settings()
    lifetime = current_app.config["MFA_TOKEN_EXPIRES"]
    issued = tokens.issue_mfa_token(keys=settings.keys, issuer=settings.issuer,
                                    subject=user.public_id, purpose=purpose,
                                    session_id=session_id, lifetime=lifetime,
                                    now=now_seconds())
    return MfaRequiredError(
        "The password is right; this account also needs a code from its authenticator app: "
        "POST it to /api/v1/auth/mfa/verify with the mfa_token as the Bearer token",
        mfa_token=issued.token, expires_in=lifetime)


def authenticate_mfa(token: str) -> MfaAuthenticated:
    """Every check an mfa token passes, in order; the first that fails answers."""
    settings = auth_settings()
    now = now_seconds()
    try:
        claims = tokens.decode_token(token, tokens.MFA, keys=settings.keys,
                                     issuer=settings.issuer, leeway=settings.leeway, now=now)
    except tokens.TokenError as exc:
        raise InvalidTokenError(str(exc)) from None
    if claims["purpose"] not in PURPOSES or (
            claims["purpose"] == FRESH_LOGIN and not isinstance(claims.get("sid"), str)):
        raise InvalidTokenError("The mfa token's purpose is unknown")
    spent = exists().where(BlacklistedToken.jti == claims["jti"])
    row = db.session.execute(
        select(User, spent.label("spent")).where(User.public_id == claims["sub"])
    ).one_or_none()
    session = None
    if row is not None and claims["purpose"] == FRESH_LOGIN:
        session = db.session.execute(
            select(Session.revoked_at, Session.expires_at)
            .where(Session.id == claims["sid"], Session.user_id == row[0].id)).one_or_none()
    db.session.commit()  # end the read-only transaction (see authentication.authenticate)
    if row is None:
        raise InvalidTokenError("The token's user no longer exists")
    user, is_spent = row
    if is_spent:
        raise InvalidTokenError("The mfa token was already used")
    if user.disabled:
        raise InvalidTokenError("The account is disabled")
    if user.tokens_valid_after is not None and claims["iat"] < timestamp(user.tokens_valid_after):
        raise InvalidTokenError("The token was issued before the last password change or logout")
    if not user.mfa_enabled:
        raise InvalidTokenError("Two-factor sign-in is off for this account; "
                                "sign in with the password alone")
    if claims["purpose"] == FRESH_LOGIN:
        if session is None or session[0] is not None:
            raise InvalidTokenError("The session has been revoked")
        if session[1] <= from_timestamp(now):
            raise InvalidTokenError("The session has expired")
    return MfaAuthenticated(claims, user)
