"""The service clock's conversions, against the standard library's own answers."""

from __future__ import annotations

import calendar
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from usergate import clock

naive = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59))
seconds = st.integers(min_value=clock.MIN_TIMESTAMP, max_value=clock.MAX_TIMESTAMP)


@pytest.fixture(autouse=True)
def _reset_clock():
    clock.reset()
    yield
    clock.reset()


@given(naive)
def test_timestamp_is_whole_seconds_since_the_epoch(moment):
    assert clock.timestamp(moment) == calendar.timegm(moment.utctimetuple())


@given(naive, st.integers(min_value=-14 * 60, max_value=14 * 60))
def test_an_aware_moment_is_converted_to_utc_first(moment, minutes):
    zone = timezone(timedelta(minutes=minutes))
    aware = moment.replace(tzinfo=UTC)
    try:
        shown = aware.astimezone(zone)
    except OverflowError:  # past year 1 or 9999 in that zone
        return
    assert clock.timestamp(shown) == clock.timestamp(moment)


@given(seconds)
def test_from_timestamp_is_the_inverse_of_timestamp(value):
    moment = clock.from_timestamp(value)
    assert moment.tzinfo is None
    assert moment == datetime.fromtimestamp(value, UTC).replace(tzinfo=None)
    assert clock.timestamp(moment) == value


@given(st.integers())
def test_from_timestamp_saturates_at_the_years_datetime_can_hold(value):
    moment = clock.from_timestamp(value)
    bounded = min(max(value, clock.MIN_TIMESTAMP), clock.MAX_TIMESTAMP)
    assert clock.timestamp(moment) == bounded


def test_now_follows_the_system_clock():
    before = time.time()
    now, whole = clock.utcnow(), clock.now_seconds()
    after = time.time()
    assert now.tzinfo is None
    assert before - 0.001 <= (now.replace(tzinfo=UTC)).timestamp() <= after + 0.001
    assert int(before) <= whole <= int(after)


def test_advance_moves_both_readings():
    clock.advance(3600)
    expected = time.time() + 3600
    assert abs(clock.utcnow().replace(tzinfo=UTC).timestamp() - expected) < 1
    assert abs(clock.now_seconds() - expected) <= 1


def test_a_frozen_clock_stands_still_until_advanced():
    clock.freeze()
    first, whole = clock.utcnow(), clock.now_seconds()
    time.sleep(0.01)
    assert clock.utcnow() == first
    assert clock.now_seconds() == whole == clock.timestamp(first)
    clock.advance(90)
    assert clock.utcnow() == first + timedelta(seconds=90)
    assert clock.now_seconds() == whole + 90


@given(naive | st.datetimes(timezones=st.just(UTC)))
def test_rfc3339_is_utc_whole_seconds_ending_in_z(moment):
    shown = clock.rfc3339(moment)
    assert shown.endswith("Z") and "." not in shown and "+" not in shown
    assert datetime.fromisoformat(shown[:-1]) == moment.replace(microsecond=0, tzinfo=None)
