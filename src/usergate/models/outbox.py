"""The mail outbox and the link tokens its messages carry (docs/api.md §6.1, §6.2)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..clock import utcnow
from ..extensions import db

# Outbox states: pending (due at next_attempt_at) -> sending (claimed until
# claimed_until) -> sent | failed; dropped when there is nothing to send (a reset
# request for an unknown or disabled account, a verification for a replaced email).
PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"


class OutboxMessage(db.Model):
    """One message to deliver, written in the transaction of the change it reports.

    `context` is what the message's template needs, sealed (encrypted and
    authenticated with a key derived from SECRET_KEY): it holds the link token
    between composing and sending, and the database must never show a usable
    token. A sent message keeps its envelope and times; its context is erased.
    """

    __tablename__ = "mail_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    to_address: Mapped[str] = mapped_column(String(320))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True)
    context: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(10), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    claim_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        # What a deliverer's claim scans: due messages by state and time.
        Index("ix_mail_outbox_due", "status", "next_attempt_at"),
    )


class LinkToken(db.Model):
    """A single-use token of a mail link, by its SHA-256 only (the raw token is mailed).

    `bound_to` is a digest of what the token must still match when it is used:
    the password hash (reset) or the email (verification), so a password change
    by any path kills reset tokens and an email change kills verification tokens.
    """

    __tablename__ = "link_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True)
    bound_to: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
