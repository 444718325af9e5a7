from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..clock import utcnow
from ..extensions import db


class BlacklistedToken(db.Model):
    """A revoked token, by `jti` only: the server never stores a raw token."""

    __tablename__ = "token_blacklist"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    jti: Mapped[str] = mapped_column(String(36), unique=True)
    token_type: Mapped[str] = mapped_column(String(10))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True)
    # The token's own expiry: past it the row is useless and may be purged.
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    blacklisted_on: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
