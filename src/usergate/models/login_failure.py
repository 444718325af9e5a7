from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db


class LoginFailure(db.Model):
    """Failed password checks of one normalised email, known or not (docs/api.md §6.3).

    Keyed by the SHA-256 of the email key, so the table holds no address an
    attacker typed. Times are whole seconds since the epoch, so the one
    conditional upsert in services/lockout.py can do its arithmetic in SQL on
    SQLite and PostgreSQL alike.
    """

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Password checks taken since the last success or lock (reserved before bcrypt runs).
    failures: Mapped[int] = mapped_column(Integer)
    # Locks so far: the next one lasts LOGIN_LOCKOUT * 2**locks seconds, at most an hour.
    locks: Mapped[int] = mapped_column(Integer)
    locked_until: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Past this moment the row is forgotten (treated as absent, and pruned).
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
