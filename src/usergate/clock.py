"""The single clock of the service: tests move it instead of sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# Tests move the clock with advance(); nothing in the service sleeps or reads time elsewhere.
_offset = timedelta(0)


def utcnow() -> datetime:
    """Now, in UTC, as a naive datetime (what the database columns hold)."""
    return datetime.now(UTC).replace(tzinfo=None) + _offset


def advance(seconds: float) -> None:
    """Move the service's clock forward (tests only)."""
    global _offset
    _offset += timedelta(seconds=seconds)


def reset() -> None:
    global _offset
    _offset = timedelta(0)


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
