"""Accounts: users by email (the email key), creating one, checking a password.

`register_user` and `login` are the two ways a password becomes a session; the
session itself is started by `sessions.start_session`.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..emails import email_key as folded_email_key
from ..errors import AuthenticationError, ConflictError, EmailNotVerifiedError, ForbiddenError
from ..extensions import db
from ..models import User
from ..security.passwords import check_password, hash_password
from . import audit, lockout, mfa_tokens
from .account_mail import queue_verification
from .password_policy import check_password_policy
from .runtime import auth_settings
from .sessions import Client, IssuedTokens, record_failure, start_session


def email_key(email: str) -> str:
    return folded_email_key(email)  # NFKC + casefold of the whole address: emails.py


def find_user_by_email(email: str) -> User | None:
    return db.session.execute(
        select(User).where(User.email_key == email_key(email))).scalar_one_or_none()


def create_user(*, email: str, password: str, name: str | None = None,
                admin: bool = False) -> User:
    """Stage a new user; a taken email (even under a concurrent insert) is a ConflictError.

    The password policy applies to every new user (register, POST /users, the CLI).
    """
    check_password_policy(password, field="password", email=email, name=name)
    if find_user_by_email(email) is not None:
        raise ConflictError("A user with this email already exists")
    user = User(email=email, email_key=email_key(email), password_hash=hash_password(password),
                name=name, admin=admin)
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:
        # Staged only: the caller's transaction ends with the request (or the command).
        raise ConflictError("A user with this email already exists") from None
    return user


def verify_credentials(email: str, password: str, *, method: str = "password") -> User:
    """The user whose password this is; unknown email and wrong password look alike.

    The failure count of the email (known or not) takes its slot first, so during
    a lock the password is not checked at all (TooManyFailuresError). Each refusal
    is stored as a `login_failed` audit event (`method` names the way in).
    """
    lockout.check(email)
    user = find_user_by_email(email)
    if user is None:
        # Same bcrypt work as a real check, so timing does not reveal who exists.
        check_password(auth_settings().dummy_hash, password)
        lockout.record_failure(email)
        record_failure(None, method=method, reason="unknown_email")
        raise AuthenticationError("The email or password is wrong")
    if not check_password(user.password_hash, password):
        lockout.record_failure(email)
        record_failure(user, method=method, reason="wrong_password")
        raise AuthenticationError("The email or password is wrong")
    # Committed at once, not with the session: the session's INSERT waits on the user's
    # row when a password change holds it, and that change clears this same count row;
    # holding the count row meanwhile deadlocked the two on PostgreSQL.
    lockout.clear(email)
    db.session.commit()
    if user.disabled:
        record_failure(user, method=method, reason="disabled")
        raise ForbiddenError("This account is disabled")
    if current_app.config["REQUIRE_VERIFIED_EMAIL"] and not user.email_verified:
        record_failure(user, method=method, reason="email_not_verified")
        raise EmailNotVerifiedError("Confirm your email address with the link mailed to it "
                                    "first (POST /auth/email-verification sends a new one)")
    return user


def register_user(*, email: str, password: str, name: str | None,
                  client: Client) -> tuple[User, IssuedTokens]:
    """Create a user and sign them in; one commit (in start_session) stores both."""
    user = create_user(email=email, password=password, name=name)
    queue_verification(user)  # committed with the user by start_session
    audit.record("user_created", user_id=user, actor_id=user, details={"method": "register"})
    return user, start_session(user, client, method="register")


def login(*, email: str, password: str, client: Client,
          method: str = "password") -> IssuedTokens:
    user = verify_credentials(email, password, method=method)
    if user.mfa_enabled:  # the session starts at /auth/mfa/verify (services/mfa.py)
        db.session.commit()  # the right password cleared the failure count
        raise mfa_tokens.challenge(user, mfa_tokens.LOGIN)
    return start_session(user, client, method=method)
