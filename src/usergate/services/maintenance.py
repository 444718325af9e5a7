"""Housekeeping that is safe to run while the server serves: the blacklist and old sessions."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select

from ..clock import utcnow
from ..extensions import db
from ..models import BlacklistedToken, Session
from .runtime import auth_settings

PRUNE_BATCH = 100


def blacklist_cutoff():
    """Rows of tokens that expired before this moment can go: no verification,
    even with JWT_LEEWAY of clock skew, accepts such a token any more."""
    return utcnow() - timedelta(seconds=auth_settings().leeway)


def prune_blacklist(limit: int = PRUNE_BATCH) -> int:
    """Stage the deletion of a small batch of rows whose tokens are expired anyway."""
    stale = (select(BlacklistedToken.id).where(BlacklistedToken.expires_at < blacklist_cutoff())
             .limit(limit).scalar_subquery())
    result = db.session.execute(delete(BlacklistedToken).where(BlacklistedToken.id.in_(stale))
                                .execution_options(synchronize_session=False))
    return result.rowcount


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
