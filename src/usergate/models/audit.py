"""The audit log of security events (docs/api.md §6.8, docs/audit.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..clock import utcnow
from ..extensions import db
from .user import new_uuid


class AuditEvent(db.Model):
    """One security event, written in the transaction of the change it records.

    `user_id` and `actor_id` hold users' public ids (UUIDs), not foreign keys:
    an event outlives its user (`user_deleted` must still say whom it was about),
    and the API shows these ids as they are.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    type: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    user_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    actor_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(512), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    details: Mapped[dict] = mapped_column(JSON, default=dict)

    __table_args__ = (
        # Each filter of GET /audit-events (and GET /auth/events) with the sort
        # (newest first, the id breaking ties) in one index range.
        Index("ix_audit_events_user_at", "user_id", "at", "id"),
        Index("ix_audit_events_type_at", "type", "at", "id"),
        # since/until alone, and `flask audit purge` (everything older than a moment).
        Index("ix_audit_events_at", "at", "id"),
    )
