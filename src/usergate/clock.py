"""The single clock of the service: tests move it instead of sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# Tests move the clock with advance(); nothing in the service sleeps or reads time elsewhere.
_offset = timedelta(0)
_frozen: datetime | None = None  # set by freeze(): time stands still until reset()


def utcnow() -> datetime:
    """Now, in UTC, as a naive datetime (what the database columns hold)."""
    if _frozen is not None:
        return _frozen + _offset
    return datetime.now(UTC).replace(tzinfo=None) + _offset


def advance(seconds: float) -> None:
    """Move the service's clock forward (tests only)."""
    global _offset
    _offset += timedelta(seconds=seconds)


def freeze() -> None:
    """Stop the service's clock where it is (tests only); advance() still moves it."""
    global _frozen
    _frozen = datetime.now(UTC).replace(tzinfo=None)


def reset() -> None:
    global _offset, _frozen
    _offset = timedelta(0)
    _frozen = None


def timestamp(moment: datetime) -> int:
    """Whole seconds since the epoch of a naive UTC datetime."""
    return int(moment.replace(tzinfo=UTC).timestamp())


# The range of datetime (years 1 to 9999), which both databases store. A token's
# `exp` may carry any integer; past these bounds it saturates instead of overflowing.
MIN_TIMESTAMP = -62135596800  # 0001-01-01T00:00:00Z
MAX_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z


def from_timestamp(seconds: float) -> datetime:
    seconds = min(max(seconds, MIN_TIMESTAMP), MAX_TIMESTAMP)
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


def rfc3339(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC ending in Z, whole seconds: 2026-11-24T09:30:00Z."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.replace(microsecond=0).isoformat() + "Z"
