"""Two-factor rows: a user's TOTP authenticator and recovery codes (docs/mfa.md).

Nothing here is readable without the service's keys: the TOTP secret is sealed
with Fernet (`security/mfa.py`), a recovery code is kept as its keyed hash.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..clock import utcnow
from ..extensions import db


class TotpAuthenticator(db.Model):
    __tablename__ = "mfa_totp"

    # One authenticator per user: enrolling again replaces an unconfirmed one.
    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    secret_sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # The time step (unix time // 30) of the last code accepted: a code of that step
    # or an earlier one is a replay. Moved forward by one conditional UPDATE only.
    last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class RecoveryCode(db.Model):
    __tablename__ = "mfa_recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
