"""Two-factor sign-in with TOTP authenticators and recovery codes (docs/mfa.md).

Enrol (an unconfirmed authenticator), confirm (two-factor on, 10 recovery codes),
regenerate recovery codes, disable, verify (the second step of a sign-in), and
an administrator's reset. docs/mfa.md explains the choices.

Replay: a user's authenticator remembers the time step of the last code it
accepted (`mfa_totp.last_step`); a code is accepted only by the one conditional
UPDATE that moves `last_step` forward to its step, so of any number of concurrent
requests with one code exactly one succeeds. Recovery codes are spent the same
way (UPDATE ... WHERE used_at IS NULL).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, current_app
from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ..clock import now_seconds, utcnow
from ..config import ConfigError
from ..errors import (
    ConflictError,
    InvalidMfaCodeError,
    InvalidTokenError,
    ServiceUnavailableError,
    ValidationError,
)
from ..extensions import db
from ..models import RecoveryCode, TotpAuthenticator, User
from ..security import mfa as primitives
from . import audit, lockout, sessions
from .mfa_tokens import FRESH_LOGIN, MfaAuthenticated

log = logging.getLogger("usergate")


@dataclass(frozen=True)
class Enrolment:
    secret: str
    otpauth_uri: str
    qr_svg: str


def init_app(app: Flask) -> None:
    """Build the keys once; production refuses to start if they cannot open stored secrets."""
    try:
        keys = primitives.MfaKeys.from_settings(app.config.get("MFA_ENCRYPTION_KEY"),
                                                app.config["SECRET_KEY"])
    except primitives.MfaKeyError as exc:
        raise ConfigError(str(exc)) from None
    app.extensions["usergate_mfa"] = keys
    if app.config["USERGATE_CONFIG"] == "production":
        with app.app_context():
            _check_keys_open_stored_secrets(keys)


def _check_keys_open_stored_secrets(keys: primitives.MfaKeys) -> None:
    try:
        sealed = db.session.execute(
            select(TotpAuthenticator.secret_sealed)
            .where(TotpAuthenticator.confirmed_at.is_not(None)).limit(1)).scalar_one_or_none()
    except SQLAlchemyError:
        # No schema yet (before `flask db upgrade`) or no database right now: nothing
        # to check against; the requests will say what is wrong.
        sealed = None
    finally:
        db.session.remove()
        db.engine.dispose()  # no connection crosses gunicorn's fork
    if sealed is None:
        return
    try:
        keys.open(sealed)
    except primitives.SecretUnreadable:
        raise ConfigError(
            "two-factor users exist but their TOTP secrets do not decrypt with "
            "MFA_ENCRYPTION_KEY (or, when it is unset, the key derived from SECRET_KEY): "
            "set the key they were sealed with (a new key goes first, the old one after a "
            "comma)") from None


def mfa_keys() -> primitives.MfaKeys:
    return current_app.extensions["usergate_mfa"]


def _now() -> int:
    return now_seconds()


# --- enrolment -----------------------------------------------------------------------

def enrol(user: User) -> Enrolment:
    """A new unconfirmed authenticator (replacing an unconfirmed one); commit."""
    if user.mfa_enabled:
        raise ConflictError("Two-factor sign-in is already on; turn it off first "
                            "(DELETE /auth/mfa/totp) to enrol another authenticator")
    secret = primitives.new_secret()
    db.session.execute(delete(TotpAuthenticator).where(TotpAuthenticator.user_id == user.id)
                       .execution_options(synchronize_session=False))
    db.session.add(TotpAuthenticator(user_id=user.id, secret_sealed=mfa_keys().seal(secret),
                                     created_at=utcnow()))
    db.session.commit()
    uri = primitives.otpauth_uri(secret, email=user.email,
                                 issuer=current_app.config["MFA_ISSUER"])
    return Enrolment(secret, uri, primitives.qr_svg(uri))


def confirm(user: User, code: str) -> list[str]:
    """The first right code turns two-factor on; the 10 recovery codes, shown once."""
    if user.mfa_enabled:
        raise ConflictError("Two-factor sign-in is already on")
    authenticator = db.session.get(TotpAuthenticator, user.id)
    if authenticator is None:
        raise ConflictError("There is no authenticator to confirm: POST /auth/mfa/totp first")
    lockout.check(user.email)
    step = primitives.matching_step(_secret(authenticator), code, now=_now())
    if step is None:
        _wrong_code(user)
        raise ValidationError.single("code", "is not the current code of the authenticator")
    # Confirmation and replay guard in one statement: a concurrent confirm loses here.
    result = db.session.execute(
        update(TotpAuthenticator)
        .where(TotpAuthenticator.user_id == user.id, TotpAuthenticator.confirmed_at.is_(None),
               _step_is_new(step))
        .values(confirmed_at=utcnow(), last_step=step)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise ConflictError("This authenticator was confirmed by another request already")
    lockout.clear(user.email)
    user.mfa_enabled = True
    codes = _replace_recovery_codes(user)
    audit.record("mfa_enabled", user_id=user, actor_id=user)
    db.session.commit()
    return codes


def regenerate_recovery_codes(user: User, *, code: str | None,
                              recovery_code: str | None) -> list[str]:
    """10 new recovery codes for a code of the authenticator (or a recovery code)."""
    _require_enabled(user)
    check_factor(user, code=code, recovery_code=recovery_code, wrong=_bad_input)
    codes = _replace_recovery_codes(user)
    db.session.commit()
    return codes


def disable(user: User, *, code: str | None, recovery_code: str | None) -> None:
    """Two-factor off, for a code of the authenticator or a recovery code."""
    _require_enabled(user)
    check_factor(user, code=code, recovery_code=recovery_code, wrong=_bad_input)
    _remove(user)
    audit.record("mfa_disabled", user_id=user, actor_id=user, details={"method": "self"})
    db.session.commit()


def admin_reset(user: User, *, actor: User) -> None:
    """An administrator turns a user's two-factor off; every session of the user ends."""
    _remove(user)
    sessions.revoke_all_sessions(user)
    audit.record("mfa_disabled", user_id=user, actor_id=actor,
                 details={"method": "admin", "sessions_revoked": True})
    db.session.commit()


def _remove(user: User) -> None:
    for model in (RecoveryCode, TotpAuthenticator):
        db.session.execute(delete(model).where(model.user_id == user.id)
                           .execution_options(synchronize_session=False))
    user.mfa_enabled = False


def _require_enabled(user: User) -> None:
    if not user.mfa_enabled:
        raise ConflictError("Two-factor sign-in is off for this account")


def _replace_recovery_codes(user: User) -> list[str]:
    keys = mfa_keys()
    codes = primitives.new_recovery_codes()
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id)
                       .execution_options(synchronize_session=False))
    moment = utcnow()
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=keys.code_hash(code),
                                    created_at=moment) for code in codes)
    return codes


# --- the second step of a sign-in ----------------------------------------------------

def verify(mfa: MfaAuthenticated, *, code: str | None, recovery_code: str | None,
           client: sessions.Client) -> sessions.IssuedTokens:
    """A right code for an mfa token: a new session (login) or a fresh access token of
    the token's session (fresh-login). The mfa token is spent in the same commit."""
    user = mfa.user
    check_factor(user, code=code, recovery_code=recovery_code, wrong=_bad_code)
    sessions.blacklist_token(mfa.claims, user_id=user.id)  # one use
    try:
        if mfa.purpose == FRESH_LOGIN:
            issued = sessions.fresh_access_token(user, mfa.session_id)
            db.session.commit()
            return issued
        return sessions.start_session(user, client, method="totp")  # commits
    except IntegrityError:  # the same mfa token at a concurrent verify, which won
        db.session.rollback()
        raise InvalidTokenError("The mfa token was already used") from None


# --- checking a code -------------------------------------------------------------------

def check_factor(user: User, *, code: str | None, recovery_code: str | None,
                 wrong: Callable[[str, str], Exception]) -> None:
    """Accept a TOTP code (once) or spend a recovery code, staged in the transaction.

    `code` of six digits is a TOTP code; any other `code` is tried as a recovery code.
    """
    if (code is None) == (recovery_code is None):
        raise ValidationError({"code": ["send either code or recovery_code"],
                               "recovery_code": ["send either code or recovery_code"]})
    lockout.check(user.email)  # a slot of the per-account count; during a lock no code is tried
    if code is not None and primitives.looks_like_totp(code):
        authenticator = db.session.get(TotpAuthenticator, user.id)
        if authenticator is None or authenticator.confirmed_at is None:
            raise ConflictError("Two-factor sign-in is off for this account")
        step = primitives.matching_step(_secret(authenticator), code, now=_now())
        if step is None:
            _wrong_code(user)
            raise wrong("code", "is not the current code of your authenticator")
        if not _claim_step(user, step):
            _wrong_code(user)
            raise wrong("code", "was used already; wait for the next code of your authenticator")
        lockout.clear(user.email)
        return
    field = "code" if recovery_code is None else "recovery_code"
    value = code if recovery_code is None else recovery_code
    result = db.session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.user_id == user.id,
               RecoveryCode.code_hash == mfa_keys().code_hash(value),
               RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow()).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        _wrong_code(user)
        raise wrong(field, "is not one of your unused recovery codes")
    lockout.clear(user.email)


def _step_is_new(step: int):
    return or_(TotpAuthenticator.last_step.is_(None), TotpAuthenticator.last_step < step)


def _claim_step(user: User, step: int) -> bool:
    """Move last_step forward to `step`, atomically; False when it is there already."""
    result = db.session.execute(
        update(TotpAuthenticator)
        .where(TotpAuthenticator.user_id == user.id,
               TotpAuthenticator.confirmed_at.is_not(None), _step_is_new(step))
        .values(last_step=step).execution_options(synchronize_session=False))
    return result.rowcount == 1


def _secret(authenticator: TotpAuthenticator) -> str:
    try:
        return mfa_keys().open(authenticator.secret_sealed)
    except primitives.SecretUnreadable:
        log.error("the TOTP secret of user id %s does not decrypt: MFA_ENCRYPTION_KEY "
                  "(or SECRET_KEY) changed without keeping the old key", authenticator.user_id)
        raise ServiceUnavailableError("Two-factor codes cannot be checked now; "
                                      "the service's keys are misconfigured") from None


def _wrong_code(user: User) -> None:
    """A wrong, replayed or spent code: a failure of the per-account count, stored now.

    Nothing else is staged when a code is refused (the refused UPDATEs changed no
    row), so the commit of `record_failure` stores the `login_failed` event (and an
    `account_locked` one when this failure started a lock) and nothing more.
    """
    lockout.record_failure(user.email)
    sessions.record_failure(user, method="mfa", reason="wrong_code")


def _bad_input(field: str, message: str) -> Exception:
    return ValidationError.single(field, message)


def _bad_code(field: str, message: str) -> Exception:
    return InvalidMfaCodeError(f"The {field.replace('_', ' ')} {message}",
                               errors={field: [message]})
