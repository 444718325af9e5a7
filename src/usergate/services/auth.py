"""Authentication rules: registration, login, sessions, refresh rotation, logout."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, delete, exists, select, update
from sqlalchemy.exc import IntegrityError

from ..auth import tokens
from ..auth.passwords import check_password, hash_password
from ..clock import from_timestamp, timestamp, utcnow
from ..errors import (
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    InvalidTokenError,
)
from ..extensions import db
from ..models import BlacklistedToken, Session, User
from .runtime import auth_settings

PRUNE_BATCH = 100


@dataclass(frozen=True)
class Authenticated:
    """A verified token with the rows it stands for."""

    claims: dict
    user: User
    session_id: str

    @property
    def kind(self) -> str:
        return self.claims["type"]


@dataclass(frozen=True)
class Client:
    """Who is signing in from where, for the session list."""

    user_agent: str | None = None
    ip: str | None = None


def email_key(email: str) -> str:
    return email.lower()


def find_user_by_email(email: str) -> User | None:
    return db.session.execute(
        select(User).where(User.email_key == email_key(email))).scalar_one_or_none()


def create_user(*, email: str, password: str, name: str | None = None,
                admin: bool = False) -> User:
    """Insert a user; a taken email (even under a concurrent insert) is a ConflictError."""
    if find_user_by_email(email) is not None:
        raise ConflictError("A user with this email already exists")
    user = User(email=email, email_key=email_key(email), password_hash=hash_password(password),
                name=name, admin=admin)
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise ConflictError("A user with this email already exists") from None
    return user


def token_body(access: tokens.Issued, refresh: tokens.Issued | None = None) -> dict:
    settings = auth_settings()
    body = {"access_token": access.token, "token_type": "Bearer",
            "expires_in": settings.access_lifetime}
    if refresh is not None:
        body["refresh_token"] = refresh.token
        body["refresh_expires_in"] = settings.refresh_lifetime
    return body


def _issue(kind: str, user: User, session_id: str, now: int, *, fresh: bool = False):
    settings = auth_settings()
    lifetime = settings.access_lifetime if kind == tokens.ACCESS else settings.refresh_lifetime
    return tokens.issue_token(kind, keys=settings.keys, issuer=settings.issuer,
                              subject=user.public_id, session_id=session_id,
                              lifetime=lifetime, now=now, fresh=fresh, admin=user.admin)


def start_session(user: User, client: Client) -> dict:
    """Open a session for a user who just proved their password; commit; tokens out."""
    settings = auth_settings()
    moment = utcnow()
    now = timestamp(moment)
    session = Session(user_id=user.id, refresh_jti="", created_at=moment, last_used_at=moment,
                      expires_at=moment + timedelta(seconds=settings.refresh_lifetime),
                      user_agent=(client.user_agent or None) and client.user_agent[:512],
                      ip=client.ip)
    session.id = tokens.new_id()
    refresh = _issue(tokens.REFRESH, user, session.id, now)
    access = _issue(tokens.ACCESS, user, session.id, now, fresh=True)
    session.refresh_jti = refresh.claims["jti"]
    db.session.add(session)
    db.session.commit()
    return token_body(access, refresh)


def register_user(*, email: str, password: str, name: str | None, client: Client):
    user = create_user(email=email, password=password, name=name)
    return user, start_session(user, client)


def verify_credentials(email: str, password: str) -> User:
    """The user whose password this is; unknown email and wrong password look alike."""
    user = find_user_by_email(email)
    if user is None:
        # Same bcrypt work as a real check, so timing does not reveal who exists.
        check_password(auth_settings().dummy_hash, password)
        raise AuthenticationError("The email or password is wrong")
    if not check_password(user.password_hash, password):
        raise AuthenticationError("The email or password is wrong")
    if user.disabled:
        raise ForbiddenError("This account is disabled")
    return user


def login(*, email: str, password: str, client: Client) -> dict:
    return start_session(verify_credentials(email, password), client)


def _authenticate_statement():
    blacklisted = exists().where(BlacklistedToken.jti == bindparam("jti"))
    return (select(User, Session.revoked_at, Session.expires_at, blacklisted.label("blacklisted"))
            .join(Session, Session.user_id == User.id)
            .where(Session.id == bindparam("sid"), User.public_id == bindparam("sub")))


# Built once, with bound parameters: building the SELECT and its cache key on every
# request cost more than running it (bench/profile_hot_path.py).
_AUTHENTICATE = _authenticate_statement()


def authenticate(token: str, kind: str) -> Authenticated:
    """Verify a token and everything the database knows about it, in one query."""
    settings = auth_settings()
    now = timestamp(utcnow())
    try:
        claims = tokens.decode_token(token, kind, keys=settings.keys, issuer=settings.issuer,
                                     leeway=settings.leeway, now=now)
    except tokens.TokenError as exc:
        raise InvalidTokenError(str(exc)) from None

    row = db.session.execute(
        _AUTHENTICATE, {"jti": claims["jti"], "sid": claims["sid"], "sub": claims["sub"]}
    ).one_or_none()
    # End this read-only transaction with COMMIT rather than the ROLLBACK the request's
    # teardown would send: on PostgreSQL a ROLLBACK makes psycopg 3 DEALLOCATE ALL, so
    # the auth query would be parsed and planned again on every request. Nothing is
    # pending in the session here (the decorator runs before the view), and the user
    # stays loaded (expire_on_commit=False).
    db.session.commit()
    if row is None:
        raise InvalidTokenError("The token's user or session no longer exists")
    user, revoked_at, expires_at, is_blacklisted = row
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
    return Authenticated(claims, user, claims["sid"])


def is_fresh(claims: dict, *, now: int | None = None) -> bool:
    """Issued from a password, and younger than JWT_FRESH_MAX_AGE right now (or at `now`)."""
    age = (timestamp(utcnow()) if now is None else now) - claims["iat"]
    return bool(claims.get("fresh")) and age < auth_settings().fresh_max_age


def rotate_refresh_token(auth: Authenticated) -> dict:
    """Spend a refresh token for a new pair; a spent token presented again ends the session."""
    settings = auth_settings()
    moment = utcnow()
    now = timestamp(moment)
    refresh = _issue(tokens.REFRESH, auth.user, auth.session_id, now)
    access = _issue(tokens.ACCESS, auth.user, auth.session_id, now, fresh=False)
    # One conditional UPDATE decides the winner atomically: of concurrent
    # refreshes with one token exactly one matches refresh_jti (never read-then-write).
    result = db.session.execute(
        update(Session)
        .where(Session.id == auth.session_id,
               Session.refresh_jti == auth.claims["jti"],
               Session.revoked_at.is_(None))
        .values(refresh_jti=refresh.claims["jti"], last_used_at=moment,
                expires_at=moment + timedelta(seconds=settings.refresh_lifetime),
                refresh_count=Session.refresh_count + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        revoke_session(auth.session_id, moment=moment)
        db.session.commit()
        raise InvalidTokenError(
            "The refresh token was already used; the session has been revoked")
    db.session.commit()
    return token_body(access, refresh)


def fresh_login(auth: Authenticated, password: str) -> dict:
    """A new fresh access token in the same session, for a password typed again."""
    if not check_password(auth.user.password_hash, password):
        raise AuthenticationError("The password is wrong")
    access = _issue(tokens.ACCESS, auth.user, auth.session_id, timestamp(utcnow()), fresh=True)
    return token_body(access)


def revoke_session(session_id: str, *, moment=None) -> bool:
    result = db.session.execute(
        update(Session).where(Session.id == session_id, Session.revoked_at.is_(None))
        .values(revoked_at=moment or utcnow()).execution_options(synchronize_session=False))
    return result.rowcount == 1


def revoke_all_sessions(user: User, *, moment=None) -> None:
    """End every session of the user: each of their tokens is rejected from now on."""
    moment = moment or utcnow()
    db.session.execute(
        update(Session).where(Session.user_id == user.id, Session.revoked_at.is_(None))
        .values(revoked_at=moment).execution_options(synchronize_session=False))
    # A second line: tokens issued in an earlier second are rejected even from a
    # session a concurrent login committed after the UPDATE above.
    user.tokens_valid_after = moment


def blacklist_token(claims: dict, *, user_id: int | None) -> None:
    db.session.add(BlacklistedToken(jti=claims["jti"], token_type=claims["type"],
                                    user_id=user_id, expires_at=from_timestamp(claims["exp"])))


def blacklist_cutoff():
    """Rows of tokens that expired before this moment can go: no verification,
    even with JWT_LEEWAY of clock skew, accepts such a token any more."""
    return utcnow() - timedelta(seconds=auth_settings().leeway)


def prune_blacklist(limit: int = PRUNE_BATCH) -> int:
    """Delete a small batch of rows whose tokens are expired anyway."""
    stale = (select(BlacklistedToken.id).where(BlacklistedToken.expires_at < blacklist_cutoff())
             .limit(limit).scalar_subquery())
    result = db.session.execute(delete(BlacklistedToken).where(BlacklistedToken.id.in_(stale))
                                .execution_options(synchronize_session=False))
    return result.rowcount


def logout(auth: Authenticated) -> None:
    """Blacklist this access token and end its session (its refresh token too)."""
    blacklist_token(auth.claims, user_id=auth.user.id)
    revoke_session(auth.session_id)
    # Pruning rides on the only path that grows the table, so it stays bounded.
    prune_blacklist()
    try:
        db.session.commit()
    except IntegrityError:  # the same token logged out twice at once: already done
        db.session.rollback()


def public_keys() -> dict:
    """The RFC 7517 JWK Set of every key that verifies tokens (none under HS256)."""
    return auth_settings().keys.jwks()
