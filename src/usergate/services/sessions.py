"""A user's sessions: list them, end one, end all, change the password.

Revocation is by session, not only by `iat`: a token carries its session id
(`sid`) and `authenticate` rejects every token of a revoked session, so a
password change or "log out everywhere" takes effect for tokens issued in the
same second too. `tokens_valid_after` is set as well, as a second line.
"""

from __future__ import annotations

from sqlalchemy import select, update

from ..auth.passwords import check_password, hash_password
from ..clock import utcnow
from ..errors import InvalidTokenError, NotFoundError, ValidationError
from ..extensions import db
from ..models import Session, User
from .auth import Authenticated, Client, revoke_all_sessions, start_session
from .pagination import Page, paginate


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
    db.session.commit()


def _claim_current_session(auth: Authenticated, moment) -> None:
    """Revoke the caller's own session first, conditionally.

    Of two concurrent requests on one session (two password changes, a password
    change and a logout-all) only the one whose UPDATE matches goes on: the
    other finds the session already revoked and is rejected like its token.
    """
    result = db.session.execute(
        update(Session).where(Session.id == auth.session_id, Session.revoked_at.is_(None))
        .values(revoked_at=moment).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        db.session.rollback()
        raise InvalidTokenError("The session has been revoked")


def logout_everywhere(auth: Authenticated) -> None:
    """Revoke every session of the user, this one included."""
    moment = utcnow()
    _claim_current_session(auth, moment)
    revoke_all_sessions(auth.user, moment=moment)
    db.session.commit()


def change_password(auth: Authenticated, *, current_password: str, new_password: str,
                    client: Client) -> dict:
    """Set a new password, revoke every session, and sign in again in a new one."""
    user = auth.user
    if not check_password(user.password_hash, current_password):
        raise ValidationError.single("current_password", "is not your current password")
    # bcrypt is slow on purpose: hash before the UPDATEs so no lock waits on it.
    new_hash = hash_password(new_password)
    moment = utcnow()
    _claim_current_session(auth, moment)
    revoke_all_sessions(user, moment=moment)
    user.password_hash = new_hash
    # start_session commits: the revocations, the new hash and the new session
    # become visible together.
    return start_session(user, client)
