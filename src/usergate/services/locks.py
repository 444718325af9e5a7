"""Row locks that order concurrent writers on one user (no other rules here)."""

from __future__ import annotations

from sqlalchemy import select, update

from ..errors import NotFoundError
from ..extensions import db
from ..models import User


def lock_user(user_id: int) -> None:
    """Serialise writers on one user's rows (the user and their addresses) until commit.

    PostgreSQL: a row lock on the user. SQLite has no row locks and does not
    render FOR UPDATE; there a write takes the database's write lock, and every
    read after it in the transaction sees no concurrent change. (pysqlite opens
    the transaction at the first write, so no earlier read snapshot can go stale.)
    """
    if db.session.get_bind().dialect.name == "sqlite":
        found = db.session.execute(update(User).where(User.id == user_id).values(id=User.id)
                                   .execution_options(synchronize_session=False)).rowcount
    else:
        found = db.session.execute(
            select(User.id).where(User.id == user_id).with_for_update()).first() is not None
    if not found:  # deleted by a concurrent request since this one read it
        raise NotFoundError("There is no user with this id")
