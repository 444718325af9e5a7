"""The single clock of the service: tests move it instead of sleeping."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, in UTC, as a naive datetime (what the database columns hold)."""
    return datetime.now(UTC).replace(tzinfo=None)


def timestamp(moment: datetime) -> int:
    """Whole seconds since the epoch of a naive UTC datetime."""
    return int(moment.replace(tzinfo=UTC).timestamp())


def from_timestamp(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


def rfc3339(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC ending in Z, whole seconds: 2026-11-24T09:30:00Z."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.replace(microsecond=0).isoformat() + "Z"
