"""Brute-force protection per account (docs/api.md §6.3): failed password checks per email.

Every password check for an email (known or not) first takes a slot with
`check(email)`: one atomic conditional upsert in the database, or one Lua script
in Redis when RATELIMIT_STORAGE_URI is a Redis URL, so every worker shares the
count. The slot is counted as a failure *before* bcrypt runs ("reserve, then
check"): of any number of concurrent wrong attempts, no more than
LOGIN_MAX_FAILURES take a slot, so no more reach the password hash. The attempt
that takes the last slot starts the lock at once; the others are refused with
`TooManyFailuresError` (429, `Retry-After`) without the password being checked.

- `check(email)`: take a slot or raise TooManyFailuresError. Commits the
  caller's database session, so call it before staging anything.
- `record_failure(email)`: the password was wrong. The slot `check` took in this
  request already counts it; without a `check` first, it takes one now.
- `clear(email)`: the password was right (or was reset). In the database this
  stages a DELETE in the caller's transaction; in Redis it deletes at once.

Locks last LOGIN_LOCKOUT seconds, doubling with each further lock up to an hour
(or LOGIN_LOCKOUT, if larger). When a lock has passed, the email gets a fresh set
of LOGIN_MAX_FAILURES attempts. A count nobody touched for a day (after its lock)
is forgotten, lock history included.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from flask import current_app, g
from sqlalchemy import case, delete, null, select, text
from sqlalchemy.dialects import postgresql, sqlite

from ..clock import now_seconds
from ..emails import email_key
from ..errors import TooManyFailuresError
from ..extensions import db
from ..models import LoginFailure, User
from . import audit

log = logging.getLogger("usergate")

MAX_LOCKOUT = 3600
FORGET_AFTER = 24 * 3600
PRUNE_BATCH = 100
_EXTENSION = "usergate.lockout"


@dataclass(frozen=True)
class Policy:
    max_failures: int
    durations: tuple[int, ...]  # the n-th lock (from 0) lasts durations[n], the last one after

    def duration(self, locks: int) -> int:
        return self.durations[min(locks, len(self.durations) - 1)]


def _policy() -> Policy:
    config = current_app.config
    first = config["LOGIN_LOCKOUT"]
    cap = max(MAX_LOCKOUT, first)
    durations = []
    while first < cap:
        durations.append(first)
        first *= 2
    durations.append(cap)
    return Policy(config["LOGIN_MAX_FAILURES"], tuple(durations))


def counter_key(email: str) -> str:
    """The counter of an email: the SHA-256 of its uniqueness key (emails.email_key),
    so every spelling of one address shares one count."""
    return hashlib.sha256(email_key(email).encode("utf-8")).hexdigest()


def _reserved() -> set[str]:
    return g.setdefault("lockout_reserved", set())


def check(email: str) -> None:
    """Take one password-check slot for this email, or raise TooManyFailuresError."""
    key = counter_key(email)
    now = now_seconds()
    retry_after = _backend().reserve(key, now, _policy())
    if retry_after is not None:
        raise TooManyFailuresError(retry_after)
    _reserved().add(key)


def record_failure(email: str) -> None:
    """A wrong password: already counted by this request's `check`, else counted now."""
    key = counter_key(email)
    if key in _reserved():
        _reserved().discard(key)
    else:
        _backend().reserve(key, now_seconds(), _policy())
    # This failure took the last slot: the lock starts now (later attempts are refused
    # in check() and never get here, so a lock is recorded once).
    if _backend().retry_after(key, now_seconds()) is not None:
        user = db.session.execute(
            select(User.public_id).where(User.email_key == email_key(email))).scalar()
        audit.record("account_locked", user_id=user, details={"reason": "too_many_failures"})


def clear(email: str) -> None:
    """A right password (or a reset): the email starts again with no failures."""
    key = counter_key(email)
    _reserved().discard(key)
    _backend().clear(key)


def retry_after(email: str) -> int | None:
    """Seconds until the lock of this email ends, or None when it is not locked."""
    return _backend().retry_after(counter_key(email), now_seconds())


# -- the database: one conditional upsert ---------------------------------------------

class DatabaseCounter:
    """The count in the `login_failures` table, shared by every worker on the database."""

    def reserve(self, key: str, now: int, policy: Policy) -> int | None:
        """Take a slot (None) or answer the seconds the current lock has left."""
        postgres = db.session.get_bind().dialect.name == "postgresql"
        for _ in range(3):
            if postgres:
                # Visible to every worker at COMMIT all the same; only the wait for the
                # WAL flush is skipped (a crash may forget the last moment's failures).
                db.session.execute(text("SET LOCAL synchronous_commit TO OFF"))
            row = db.session.execute(_reserve_statement(key, now, policy)).first()
            if row is not None and row.failures == 1 and key[0] == "0":
                # A new count grows the table: one in 16 of them (by key) prunes a batch
                # of forgotten ones, which bounds it whatever an attacker sprays.
                _prune(now)
            db.session.commit()
            if row is not None:
                return None
            # The upsert may have waited for other writers (SQLite's one write lock,
            # a row lock on PostgreSQL): what is left of the lock is counted from the
            # clock now, not from before that wait, and so is a retry.
            now = now_seconds()
            left = self.retry_after(key, now)
            db.session.commit()
            if left is not None:
                return left
            # The lock ended (or a success cleared it) between the two statements: again.
        return None

    def retry_after(self, key: str, now: int) -> int | None:
        locked_until = db.session.execute(
            select(LoginFailure.locked_until).where(LoginFailure.key == key)).scalar()
        if locked_until is None or locked_until <= now:
            return None
        return locked_until - now

    def clear(self, key: str) -> None:
        db.session.execute(delete(LoginFailure).where(LoginFailure.key == key)
                           .execution_options(synchronize_session=False))


def _reserve_statement(key: str, now: int, policy: Policy):
    """INSERT a first failure, or count one more unless a lock is running, atomically.

    ON CONFLICT ... DO UPDATE ... WHERE is one statement on SQLite and PostgreSQL
    alike: concurrent attempts on one email serialise on its row, each sees the
    count the one before it left, and one that finds a running lock changes
    nothing and returns no row. Every right-hand side reads the old row.
    """
    table = LoginFailure.__table__
    c = table.c
    forgotten = c.expires_at <= now
    base_failures = case((forgotten | c.locked_until.is_not(None), 0), else_=c.failures)
    base_locks = case((forgotten, 0), else_=c.locks)
    locking = base_failures + 1 >= policy.max_failures
    duration = case(*[(base_locks == n, seconds) for n, seconds in enumerate(policy.durations)],
                    else_=policy.durations[-1])
    first_lock = policy.max_failures <= 1
    first_until = now + policy.durations[0] if first_lock else None
    insert = (postgresql.insert if db.session.get_bind().dialect.name == "postgresql"
              else sqlite.insert)
    return (
        insert(table)
        .values(key=key, failures=1, locks=int(first_lock), locked_until=first_until,
                expires_at=(first_until or now) + FORGET_AFTER)
        .on_conflict_do_update(
            index_elements=[c.key],
            set_={
                "failures": base_failures + 1,
                "locks": base_locks + case((locking, 1), else_=0),
                "locked_until": case((locking, now + duration), else_=null()),
                "expires_at": case((locking, now + duration + FORGET_AFTER),
                                   else_=now + FORGET_AFTER),
            },
            where=c.locked_until.is_(None) | (c.locked_until <= now),
        )
        .returning(c.failures, c.locked_until)
    )


def _prune(now: int) -> None:
    """Stage the deletion of a small batch of forgotten counts."""
    stale = (select(LoginFailure.key).where(LoginFailure.expires_at <= now)
             .limit(PRUNE_BATCH).scalar_subquery())
    db.session.execute(delete(LoginFailure).where(LoginFailure.key.in_(stale))
                       .execution_options(synchronize_session=False))


# -- Redis: the same rules in one Lua script --------------------------------------------

_RESERVE_LUA = """
local now = tonumber(ARGV[1])
local max_failures = tonumber(ARGV[2])
local forget = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'failures', 'locks', 'locked_until', 'expires_at')
local failures = tonumber(state[1]) or 0
local locks = tonumber(state[2]) or 0
local locked_until = tonumber(state[3])
local expires_at = tonumber(state[4]) or 0
if locked_until and locked_until > now then
  return {0, locked_until - now}
end
if expires_at <= now then
  failures = 0
  locks = 0
elseif locked_until then
  failures = 0
end
failures = failures + 1
local until_ = nil
if failures >= max_failures then
  local index = math.min(locks, #ARGV - 4) + 4
  until_ = now + tonumber(ARGV[index])
  locks = locks + 1
end
expires_at = (until_ or now) + forget
redis.call('HSET', KEYS[1], 'failures', failures, 'locks', locks, 'expires_at', expires_at)
if until_ then
  redis.call('HSET', KEYS[1], 'locked_until', until_)
else
  redis.call('HDEL', KEYS[1], 'locked_until')
end
redis.call('EXPIRE', KEYS[1], expires_at - now)
return {1, 0}
"""


class RedisCounter:
    """The count in Redis (RATELIMIT_STORAGE_URI), one hash per email.

    The script does what the database upsert does, with the service's clock
    (so a moved test clock moves it too); EXPIRE only collects forgotten keys.
    While Redis is unreachable, the database counts instead (shared as well).
    """

    def __init__(self, url: str, prefix: str):
        import redis

        self._errors = redis.RedisError
        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.script = self.client.register_script(_RESERVE_LUA)
        self.prefix = f"{prefix}:lockout:"
        self.fallback = DatabaseCounter()

    def reserve(self, key: str, now: int, policy: Policy) -> int | None:
        try:
            reserved, left = self.script(keys=[self.prefix + key], args=[
                now, policy.max_failures, FORGET_AFTER, *policy.durations])
        except self._errors as exc:
            log.warning("lockout: Redis unreachable (%s); counting in the database",
                        type(exc).__name__)
            return self.fallback.reserve(key, now, policy)
        return None if reserved else int(left)

    def retry_after(self, key: str, now: int) -> int | None:
        try:
            locked_until = self.client.hget(self.prefix + key, "locked_until")
        except self._errors:
            return self.fallback.retry_after(key, now)
        if locked_until is None or int(locked_until) <= now:
            return None
        return int(locked_until) - now

    def clear(self, key: str) -> None:
        try:
            self.client.delete(self.prefix + key)
        except self._errors as exc:
            log.warning("lockout: Redis unreachable (%s); count not cleared",
                        type(exc).__name__)


def redis_url(storage_uri: str) -> str | None:
    """The Redis URL of RATELIMIT_STORAGE_URI, or None for any other store."""
    if storage_uri.startswith(("redis://", "rediss://")):
        return storage_uri
    if storage_uri.startswith("redis+unix://"):
        return "unix://" + storage_uri.removeprefix("redis+unix://")
    return None


def _backend() -> DatabaseCounter | RedisCounter:
    """The app's counter: Redis when the rate limits live there, else the database."""
    backend = current_app.extensions.get(_EXTENSION)
    if backend is None:
        url = redis_url(current_app.config.get("RATELIMIT_STORAGE_URI") or "")
        backend = (RedisCounter(url, current_app.config.get("RATELIMIT_KEY_PREFIX") or "usergate")
                   if url else DatabaseCounter())
        current_app.extensions[_EXTENSION] = backend
    return backend
