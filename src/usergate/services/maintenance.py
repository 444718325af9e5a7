"""Housekeeping that is safe to run while the server serves."""

from __future__ import annotations

from sqlalchemy import delete

from ..clock import utcnow
from ..extensions import db
from ..models import BlacklistedToken, Session
from .auth import blacklist_cutoff


def purge_expired() -> dict[str, int]:
    """Delete blacklist rows of expired tokens and sessions past their expiry.

    Each DELETE is one statement: rows still in use are never touched, and a
    concurrent request sees either the row or its absence, both correct (an
    expired token is rejected by its `exp` before the blacklist is consulted).
    """
    now = utcnow()
    blacklist = db.session.execute(
        delete(BlacklistedToken).where(BlacklistedToken.expires_at < blacklist_cutoff())
        .execution_options(synchronize_session=False)).rowcount
    sessions = db.session.execute(
        delete(Session).where(Session.expires_at < now)
        .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return {"blacklist": blacklist, "sessions": sessions}
