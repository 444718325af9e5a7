"""The single clock of the service: tests move it instead of sleeping."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

# Tests move the clock with advance(); nothing in the service sleeps or reads time elsewhere.
_offset = timedelta(0)
_offset_seconds = 0.0  # _offset as a float, for the fast paths below
_frozen: datetime | None = None  # set by freeze(): time stands still until reset()

# Naive UTC datetimes are counted from here. Arithmetic on them (a timedelta from the
# epoch) is what the functions below use: datetime.replace(tzinfo=...) and
# fromtimestamp(..., UTC).replace(...) cost ~2 µs a call in CPython 3.11, and every
# protected request reads the clock (bench/instructions.py).
_EPOCH = datetime(1970, 1, 1)
_SECOND = timedelta(seconds=1)


def utcnow() -> datetime:
    """Now, in UTC, as a naive datetime (what the database columns hold)."""
    if _frozen is not None:
        return _frozen + _offset
    return _EPOCH + timedelta(0, time.time() + _offset_seconds)


def now_seconds() -> int:
    """`timestamp(utcnow())`: whole seconds since the epoch, now (token times)."""
    if _frozen is not None:
        return timestamp(_frozen + _offset)
    return int(time.time() + _offset_seconds)


def advance(seconds: float) -> None:
    """Move the service's clock forward (tests only)."""
    global _offset, _offset_seconds
    _offset += timedelta(seconds=seconds)
    _offset_seconds = _offset.total_seconds()


def freeze() -> None:
    """Stop the service's clock where it is (tests only); advance() still moves it."""
    global _frozen
    _frozen = datetime.now(UTC).replace(tzinfo=None)


def reset() -> None:
    global _offset, _offset_seconds, _frozen
    _offset = timedelta(0)
    _offset_seconds = 0.0
    _frozen = None


def timestamp(moment: datetime) -> int:
    """Whole seconds since the epoch of a naive UTC datetime (an aware one is converted)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return (moment - _EPOCH) // _SECOND


# The range of datetime (years 1 to 9999), which both databases store. A token's
# `exp` may carry any integer; past these bounds it saturates instead of overflowing.
MIN_TIMESTAMP = -62135596800  # 0001-01-01T00:00:00Z
MAX_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z


def from_timestamp(seconds: float) -> datetime:
    """The naive UTC datetime of an epoch time, saturating at years 1 and 9999."""
    return _EPOCH + timedelta(0, min(max(seconds, MIN_TIMESTAMP), MAX_TIMESTAMP))


def rfc3339(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC ending in Z, whole seconds: 2026-11-24T09:30:00Z."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="seconds") + "Z"
