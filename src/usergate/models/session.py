from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..clock import utcnow
from ..extensions import db
from .user import User, new_uuid


class Session(db.Model):
    """One sign-in: its id is the `sid` claim of every token it issued."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The only refresh token of this session that may still be spent.
    refresh_jti: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    user_agent: Mapped[str | None] = mapped_column(String(512), nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    refresh_count: Mapped[int] = mapped_column(Integer, default=0)
    # SESSION_MAX_AGE after sign-in: no refresh moves expires_at past this moment.
    absolute_expires_at: Mapped[datetime] = mapped_column(DateTime)
    # What REFRESH_REUSE_GRACE needs, and never a raw token: the jti spent by the
    # last rotation and when, and the iat/exp of the current refresh token, so it
    # can be signed again with the same claims for a tab that raced the rotation.
    previous_refresh_jti: Mapped[str | None] = mapped_column(String(36), nullable=True)
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    refresh_iat: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    refresh_exp: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    user: Mapped[User] = relationship(User, lazy="raise")
