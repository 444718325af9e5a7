"""Email verification and password reset (docs/api.md §6.2).

Link tokens are 256 random bits (`secrets.token_urlsafe(32)`); the database keeps
their SHA-256 only. Each is single use (a conditional UPDATE of `used_at`), has a
lifetime (`PASSWORD_RESET_EXPIRES`, `EMAIL_VERIFICATION_EXPIRES`) and is bound to
what it was made for: a reset token to a digest of the password hash (a password
change by any path kills it), a verification token to a digest of the email (an
email change kills it).

The tokens are made when the message is composed, in the deliverer (see
services/mail.py), not in the request. A password-reset request therefore does
the same work whether or not the account exists: it writes one outbox row naming
the address and commits. The deliverer drops the row of an unknown or disabled
account; nothing else tells the two apart (body, headers, time).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from ..clock import now_seconds, timestamp, utcnow
from ..errors import ValidationError
from ..extensions import db
from ..models import LinkToken, User
from ..security.passwords import hash_password
from . import audit, lockout
from .account_mail import EMAIL_CHANGED, RESET, VERIFY
from .accounts import find_user_by_email
from .outbox import Kind, register_kind
from .password_policy import check_password_policy
from .sessions import revoke_all_sessions

TOKEN_BYTES = 32  # 256 bits; the contract asks for at least 128
MAX_TOKEN_LENGTH = 128

INVALID = "is invalid, already used or expired; ask for a new link"


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def link_for(purpose: str, token: str, base_url: str) -> str:
    setting = "PASSWORD_RESET_URL" if purpose == RESET else "EMAIL_VERIFICATION_URL"
    template = current_app.config.get(setting) or (
        # A fragment never reaches a server: no access log or Referer can show it.
        f"{base_url}/account/{'reset' if purpose == RESET else 'verify'}#token={{token}}")
    return template.replace("{token}", token)


def _make_token(user: User, purpose: str, bound_to: str, lifetime: int) -> tuple[str, int]:
    """A new link token for the user (staged in the session): (raw token, expiry)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = utcnow()
    expires = now + timedelta(seconds=lifetime)
    db.session.add(LinkToken(purpose=purpose, token_hash=digest(token), user_id=user.id,
                             bound_to=bound_to, created_at=now, expires_at=expires))
    return token, timestamp(expires)


def _with_link(context: dict, user: User, purpose: str, bound_to: str, lifetime: int) -> dict:
    """The context with a live link: the one made on an earlier attempt, or a new one."""
    still_good = (context.get("bound_to") == bound_to
                  and context.get("expires", 0) > now_seconds() + 60)
    if not still_good:
        token, expires = _make_token(user, purpose, bound_to, lifetime)
        context.update(link=link_for(purpose, token, context.get("base_url") or ""),
                       expires=expires, bound_to=bound_to)
    context.update(name=user.name, email=user.email,
                   lifetime_minutes=max(1, lifetime // 60))
    return context


# --- what the deliverer does before sending (see services/outbox.Kind) ----------------

def _prepare_verification(message, context: dict) -> dict | None:
    user = db.session.get(User, message.user_id) if message.user_id else None
    if user is None or user.email_verified or user.email != message.to_address:
        return None  # nothing to prove any more, or the address was replaced meanwhile
    return _with_link(context, user, VERIFY, digest(user.email),
                      current_app.config["EMAIL_VERIFICATION_EXPIRES"])


def _prepare_reset(message, context: dict) -> dict | None:
    user = find_user_by_email(message.to_address)
    if user is None or user.disabled:
        return None  # unknown or disabled: the request answered alike, nothing is sent
    message.user_id = user.id
    return _with_link(context, user, RESET, digest(user.password_hash),
                      current_app.config["PASSWORD_RESET_EXPIRES"])


register_kind(Kind(VERIFY, "Confirm your email address for {product}",
                   "email_verification", _prepare_verification))
register_kind(Kind(RESET, "Reset your {product} password", "password_reset", _prepare_reset))
register_kind(Kind(EMAIL_CHANGED, "The email address of your {product} account was changed",
                   "email_changed"))


# --- what the confirm endpoints do ------------------------------------------------

def _find_token(token: str, purpose: str) -> tuple[LinkToken, User]:
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_LENGTH:
        raise ValidationError.single("token", INVALID)
    row = db.session.execute(
        select(LinkToken, User).join(User, User.id == LinkToken.user_id)
        .where(LinkToken.token_hash == digest(token), LinkToken.purpose == purpose)
    ).one_or_none()
    if row is None:
        raise ValidationError.single("token", INVALID)
    link, user = row
    if link.used_at is not None or link.expires_at <= utcnow() or user.disabled:
        raise ValidationError.single("token", INVALID)
    return link, user


def _spend(link: LinkToken, moment) -> None:
    """Mark the token used; of two concurrent uses exactly one gets here."""
    result = db.session.execute(
        update(LinkToken).where(LinkToken.id == link.id, LinkToken.used_at.is_(None))
        .values(used_at=moment).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise ValidationError.single("token", INVALID)


def confirm_email(token: str) -> User:
    link, user = _find_token(token, VERIFY)
    if not secrets.compare_digest(link.bound_to, digest(user.email)):
        raise ValidationError.single("token", INVALID)  # the email changed since
    _spend(link, utcnow())
    user.email_verified = True
    audit.record("email_verified", user_id=user, actor_id=user)
    db.session.commit()
    return user


def check_reset_token(token: str) -> tuple[LinkToken, User]:
    link, user = _find_token(token, RESET)
    if not secrets.compare_digest(link.bound_to, digest(user.password_hash)):
        raise ValidationError.single("token", INVALID)  # the password changed since
    return link, user


def reset_password(token: str, new_password: str) -> User:
    """Set the password from a reset link; every session and token of the user ends."""
    link, user = check_reset_token(token)
    check_password_policy(new_password, field="new_password", email=user.email, name=user.name)
    old_hash = user.password_hash
    new_hash = hash_password(new_password)  # slow on purpose: before any lock is taken
    moment = utcnow()
    _spend(link, moment)
    # Conditional on the hash the token is bound to: a password change committed
    # since the check above wins, and this token dies with the old password.
    changed = db.session.execute(
        update(User).where(User.id == user.id, User.password_hash == old_hash)
        .values(password_hash=new_hash).execution_options(synchronize_session=False))
    if changed.rowcount != 1:
        db.session.rollback()
        raise ValidationError.single("token", INVALID)
    user.password_hash = new_hash
    revoke_all_sessions(user, moment=moment)
    audit.record("password_reset", user_id=user, actor_id=user,
                 details={"sessions_revoked": True})
    # A reset proves the mailbox, not the password: it clears the failure count (§6.3).
    lockout.clear(user.email)
    db.session.commit()
    return user
