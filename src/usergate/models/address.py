from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..clock import utcnow
from ..extensions import db
from .user import User, new_uuid


class Address(db.Model):
    """One of a user's postal addresses; at most one per user is primary."""

    __tablename__ = "addresses"

    # The integer key never leaves the server; `public_id` is the API's `id`.
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True)
    label: Mapped[str | None] = mapped_column(String(50), nullable=True)
    line1: Mapped[str] = mapped_column(String(200))
    line2: Mapped[str | None] = mapped_column(String(200), nullable=True)
    city: Mapped[str] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(100), nullable=True)
    postal_code: Mapped[str] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))  # ISO 3166-1 alpha-2, upper case
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    # The addresses of a request all belong to users it already read: one JOIN
    # gives the owner's public id for the response.
    user: Mapped[User] = relationship(User, lazy="joined", innerjoin=True)

    __table_args__ = (
        # "At most one primary address per user", enforced by the database
        # itself: a partial unique index (SQLite >= 3.8 and PostgreSQL), so no
        # interleaving of concurrent requests can ever leave two primaries.
        Index("uq_addresses_user_id_primary", "user_id", unique=True,
              sqlite_where=text("is_primary"), postgresql_where=text("is_primary")),
    )

    def __repr__(self) -> str:
        return f"<Address {self.public_id}>"
