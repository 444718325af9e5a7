"""Sessions: start one, rotate its refresh token, fresh login, log out, revoke.

Rotation (docs/api.md, docs/browser.md): one conditional UPDATE decides which of any number of
concurrent refreshes with one token rotates (never read-then-write). The others
find the token spent: that is reuse, and the whole session is revoked, unless
REFRESH_REUSE_GRACE (seconds, 0 = off) is on and the token is the one the last
rotation spent, less than the grace ago. Then the answer is a new access token
and the session's *current* refresh token, signed again from the claims the
session stores (jti, iat, exp): the server still holds no raw token, and every
tab ends up with the one live refresh token.

SESSION_MAX_AGE bounds a session from its sign-in: `expires_at` (the sliding
limit, moved by each refresh) never passes `absolute_expires_at`, and neither
does the `exp` of a refresh token.

Revocation is by session, not only by `iat`: a token carries its session id
(`sid`) and `authentication.authenticate` rejects every token of a revoked
session, so a password change or "log out everywhere" takes effect for tokens
issued in the same second too. `tokens_valid_after` is set as well, as a second line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..clock import from_timestamp, now_seconds, timestamp, utcnow
from ..errors import AuthenticationError, InvalidTokenError, NotFoundError, ValidationError
from ..extensions import db
from ..models import BlacklistedToken, Session, User
from ..security import tokens
from ..security.passwords import check_password, hash_password
from . import audit, lockout, mfa_tokens
from .authentication import Authenticated
from .locks import lock_user
from .maintenance import prune_blacklist
from .pagination import Page, paginate
from .password_policy import check_password_policy
from .runtime import auth_settings
from .session_guard import insert_session_if_credentials_hold


@dataclass(frozen=True)
class Client:
    """Who is signing in from where, for the session list."""

    user_agent: str | None = None
    ip: str | None = None


@dataclass(frozen=True)
class IssuedTokens:
    """What a sign-in, a refresh or a fresh login hands out; the API shapes the body."""

    access: tokens.Issued
    access_lifetime: int
    refresh_lifetime: int
    refresh: tokens.Issued | None = None


def _issue(kind: str, user: User, session_id: str, now: int, *, fresh: bool = False,
           lifetime: int | None = None, jti: str | None = None,
           audience: str | None = None):
    settings = auth_settings()
    if lifetime is None:
        lifetime = settings.access_lifetime if kind == tokens.ACCESS else settings.refresh_lifetime
    # Access tokens carry `aud` (an RFC 8707 resource, else JWT_AUDIENCE); refresh
    # tokens are only ever presented to usergate and carry none.
    aud = (audience or settings.audience) if kind == tokens.ACCESS else None
    return tokens.issue_token(kind, keys=settings.keys, issuer=settings.issuer,
                              subject=user.public_id, session_id=session_id,
                              lifetime=lifetime, now=now, fresh=fresh, admin=user.admin,
                              jti=jti, audience=aud)


def _issued(access: tokens.Issued, refresh: tokens.Issued | None = None, *,
            now: int | None = None) -> IssuedTokens:
    """`refresh_lifetime` is what is left of the refresh token at `now` (default: its iat):
    SESSION_MAX_AGE may cut it short, and one re-issued in the grace is older than now."""
    settings = auth_settings()
    left = settings.refresh_lifetime
    if refresh is not None:
        left = refresh.claims["exp"] - (refresh.claims["iat"] if now is None else now)
    return IssuedTokens(access, settings.access_lifetime, left, refresh)


def session_max_age() -> int:
    return current_app.config["SESSION_MAX_AGE"]


def reuse_grace() -> int:
    return current_app.config["REFRESH_REUSE_GRACE"]


def start_session(user: User, client: Client, *, audience: str | None = None,
                  method: str | None = "password") -> IssuedTokens:
    """Open a session for a user who just proved their password; commit; tokens out.

    `method` names the sign-in in its `login_succeeded` audit event (None: the
    caller records its own event, as a password change does).
    """
    moment = utcnow()
    now = timestamp(moment)
    max_age = session_max_age()
    lifetime = min(auth_settings().refresh_lifetime, max_age)
    session = Session(user_id=user.id, refresh_jti="", created_at=moment, last_used_at=moment,
                      expires_at=moment + timedelta(seconds=lifetime),
                      absolute_expires_at=moment + timedelta(seconds=max_age),
                      user_agent=(client.user_agent or None) and client.user_agent[:512],
                      ip=client.ip)
    session.id = tokens.new_id()
    refresh = _issue(tokens.REFRESH, user, session.id, now, lifetime=lifetime)
    access = _issue(tokens.ACCESS, user, session.id, now, fresh=True, audience=audience)
    session.refresh_jti = refresh.claims["jti"]
    session.refresh_iat, session.refresh_exp = refresh.claims["iat"], refresh.claims["exp"]
    db.session.flush()  # a new user, or a new password hash, is what the insert checks
    values = {name: getattr(session, name) for name in (
        "id", "user_id", "refresh_jti", "created_at", "last_used_at", "expires_at",
        "user_agent", "ip", "absolute_expires_at", "refresh_iat", "refresh_exp")}
    values["refresh_count"] = 0
    if not insert_session_if_credentials_hold(values, user_id=user.id,
                                              password_hash=user.password_hash):
        # The password changed, or the user was disabled or deleted, since it was checked.
        raise AuthenticationError("The email or password is wrong")
    if method is not None:
        audit.record("login_succeeded", user_id=user, actor_id=user,
                     details={"method": method, "session_id": session.id})
    db.session.commit()
    return _issued(access, refresh)


def rotate_refresh_token(auth: Authenticated, *, audience: str | None = None) -> IssuedTokens:
    """Spend a refresh token for a new pair; a spent token presented again ends the session
    (within REFRESH_REUSE_GRACE of its rotation it answers the current one instead)."""
    settings = auth_settings()
    spent = auth.claims["jti"]
    absolute = db.session.execute(
        select(Session.absolute_expires_at).where(Session.id == auth.session_id)
    ).scalar_one_or_none()
    # End the read before the write: a SQLite read transaction that another writer
    # overtook cannot become a write transaction (it would fail, not wait).
    db.session.commit()
    moment = utcnow()
    now = timestamp(moment)
    if absolute is None:
        raise InvalidTokenError("The token's user or session no longer exists")
    exp = min(now + settings.refresh_lifetime, timestamp(absolute))
    if exp <= now:
        raise InvalidTokenError("The session has expired")
    new_jti = tokens.new_id()
    # One conditional UPDATE decides the winner atomically: of concurrent
    # refreshes with one token exactly one matches refresh_jti (never read-then-write).
    result = db.session.execute(
        update(Session)
        .where(Session.id == auth.session_id, Session.refresh_jti == spent,
               Session.revoked_at.is_(None))
        .values(refresh_jti=new_jti, previous_refresh_jti=spent, rotated_at=moment,
                refresh_iat=now, refresh_exp=exp, last_used_at=moment,
                expires_at=min(moment + timedelta(seconds=settings.refresh_lifetime), absolute),
                refresh_count=Session.refresh_count + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:
        db.session.commit()
        refresh = _issue(tokens.REFRESH, auth.user, auth.session_id, now, lifetime=exp - now,
                         jti=new_jti)
    else:
        current = _current_within_grace(auth.session_id, spent, moment)
        if current is None:
            if revoke_session(auth.session_id, moment=moment):
                audit.record("refresh_reuse_detected", user_id=auth.user,
                             details={"session_id": auth.session_id, "sessions_revoked": True})
            db.session.commit()
            raise InvalidTokenError(
                "The refresh token was already used; the session has been revoked")
        db.session.commit()
        jti, iat, current_exp = current
        refresh = _issue(tokens.REFRESH, auth.user, auth.session_id, iat,
                         lifetime=current_exp - iat, jti=jti)
    access = _issue(tokens.ACCESS, auth.user, auth.session_id, now, fresh=False,
                    audience=audience)
    return _issued(access, refresh, now=now)


def _current_within_grace(session_id: str, spent: str, moment: datetime):
    """(jti, iat, exp) of the current refresh token when `spent` is within the grace."""
    grace = reuse_grace()
    if grace <= 0:
        return None
    # Read after our UPDATE in the same transaction: on PostgreSQL the row lock
    # made us wait for the winner's commit; on SQLite we hold the write lock.
    row = db.session.execute(
        select(Session.previous_refresh_jti, Session.rotated_at, Session.revoked_at,
               Session.expires_at, Session.refresh_jti, Session.refresh_iat,
               Session.refresh_exp)
        .where(Session.id == session_id)
    ).one_or_none()
    if row is None:
        return None
    previous, rotated_at, revoked_at, expires_at, jti, iat, exp = row
    if (previous != spent or rotated_at is None or revoked_at is not None
            or iat is None or exp is None or expires_at <= moment
            or moment >= rotated_at + timedelta(seconds=grace)):
        return None
    return jti, iat, exp


def fresh_login(auth: Authenticated, password: str) -> IssuedTokens:
    """A new fresh access token in the same session, for a password typed again.

    A two-factor account gets the mfa_required answer instead; its mfa token
    carries this session's id, and /auth/mfa/verify then calls fresh_access_token.
    """
    lockout.check(auth.user.email)
    if not check_password(auth.user.password_hash, password):
        lockout.record_failure(auth.user.email)
        record_failure(auth.user, method="fresh_login", reason="wrong_password",
                       actor=auth.user)
        raise AuthenticationError("The password is wrong")
    lockout.clear(auth.user.email)
    if auth.user.mfa_enabled:
        db.session.commit()
        raise mfa_tokens.challenge(auth.user, mfa_tokens.FRESH_LOGIN, session_id=auth.session_id)
    audit.record("login_succeeded", user_id=auth.user, actor_id=auth.user,
                 details={"method": "fresh_login", "session_id": auth.session_id})
    issued = fresh_access_token(auth.user, auth.session_id)
    db.session.commit()
    return issued


def fresh_access_token(user: User, session_id: str) -> IssuedTokens:
    """A fresh access token of an existing session (no refresh token)."""
    return _issued(_issue(tokens.ACCESS, user, session_id, now_seconds(), fresh=True))


def record_failure(user: User | None, *, method: str, reason: str,
                   actor: User | None = None) -> None:
    """Store a `login_failed` event now: it must outlive the error answered next.

    Nothing else is pending on a failing password check, so this commit stores
    the event only. `actor`: the signed-in caller (fresh login, password change).
    """
    audit.record("login_failed", user_id=user, actor_id=actor,
                 details={"method": method, "reason": reason})
    db.session.commit()


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


def logout(auth: Authenticated) -> None:
    """Blacklist this access token and end its session (its refresh token too)."""
    blacklist_token(auth.claims, user_id=auth.user.id)
    revoke_session(auth.session_id)
    audit.record("logout", user_id=auth.user, actor_id=auth.user,
                 details={"session_id": auth.session_id})
    # Pruning rides on the only path that grows the table, so it stays bounded.
    prune_blacklist()
    try:
        db.session.commit()
    except IntegrityError:  # the same token logged out twice at once: already done
        db.session.rollback()


def _live(user_id: int):
    """The conditions of a session whose tokens can still be used."""
    return (Session.user_id == user_id, Session.revoked_at.is_(None),
            Session.expires_at > utcnow())


def list_sessions(user: User, *, page: int, per_page: int) -> Page:
    """The user's live sessions, newest first (the id breaks ties, so pages are stable)."""
    stmt = (select(Session).where(*_live(user.id))
            .order_by(Session.created_at.desc(), Session.id.desc()))
    return paginate(stmt, page=page, per_page=per_page)


def revoke_user_session(user: User, session_id: str) -> None:
    """End one of the user's own live sessions; anyone else's or a dead one is NotFound."""
    # One conditional UPDATE: the owner check and the revocation cannot be split
    # by a concurrent request, and another user's session looks like no session.
    result = db.session.execute(
        update(Session).where(Session.id == session_id, *_live(user.id))
        .values(revoked_at=utcnow()).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        db.session.rollback()
        raise NotFoundError("There is no live session of yours with this id")
    audit.record("session_revoked", user_id=user, actor_id=user,
                 details={"session_id": session_id})
    db.session.commit()


def _claim_current_session(auth: Authenticated, moment) -> None:
    """Stage the revocation of the caller's own session first, conditionally.

    Of two concurrent requests on one session (two password changes, a password
    change and a logout-all) only the one whose UPDATE matches goes on: the
    other finds the session already revoked and is rejected like its token.
    """
    result = db.session.execute(
        update(Session).where(Session.id == auth.session_id, Session.revoked_at.is_(None))
        .values(revoked_at=moment).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise InvalidTokenError("The session has been revoked")


def logout_everywhere(auth: Authenticated) -> None:
    """Revoke every session of the user, this one included."""
    moment = utcnow()
    lock_user(auth.user.id)  # before any session row: see services/session_guard.py
    _claim_current_session(auth, moment)
    revoke_all_sessions(auth.user, moment=moment)
    audit.record("logout_all", user_id=auth.user, actor_id=auth.user,
                 details={"session_id": auth.session_id, "sessions_revoked": True})
    db.session.commit()


def change_password(auth: Authenticated, *, current_password: str, new_password: str,
                    client: Client) -> IssuedTokens:
    """Set a new password, revoke every session, and sign in again in a new one."""
    user = auth.user
    # The policy first: a refused new password costs no slot of the failure count.
    check_password_policy(new_password, field="new_password", email=user.email, name=user.name)
    lockout.check(user.email)
    if not check_password(user.password_hash, current_password):
        lockout.record_failure(user.email)
        record_failure(user, method="password_change", reason="wrong_password", actor=user)
        raise ValidationError.single("current_password", "is not your current password")
    # bcrypt is slow on purpose: hash before the UPDATEs so no lock waits on it.
    new_hash = hash_password(new_password)
    moment = utcnow()
    # The user's row first: a login racing this change either waits for it and then
    # finds the new hash, or is waited for and then revoked below with the others.
    lock_user(user.id)
    lockout.clear(user.email)  # staged: committed with the new session
    _claim_current_session(auth, moment)
    revoke_all_sessions(user, moment=moment)
    user.password_hash = new_hash
    audit.record("password_changed", user_id=user, actor_id=user,
                 details={"sessions_revoked": True})
    # start_session commits: the revocations, the new hash, the new session and
    # the event become visible together.
    return start_session(user, client, method=None)
