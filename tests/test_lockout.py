"""Brute-force protection per account (docs/api.md §6.3) through the real stack.

bcrypt verifications are counted by wrapping the app's Bcrypt instance (the
wrapper calls the real one): "reach the password hash" is measured, not assumed.
"""

from __future__ import annotations

import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from support import PASSWORD, AuthActions, assert_problem
from usergate.extensions import bcrypt
from usergate.extensions import db as _db
from usergate.models import LoginFailure
from usergate.services import lockout

API = "/api/v1/auth"
WRONG = "not the password at all"
NEW_PASSWORD = "a completely new passphrase"
# Headers that differ between any two responses, whatever they answer.
VOLATILE = {"X-Request-ID", "Date", "Retry-After", "Content-Length"}


class BcryptCounter:
    def __init__(self):
        self.count = 0
        self._lock = threading.Lock()

    def wrap(self, original):
        def counting(*args, **kwargs):
            with self._lock:
                self.count += 1
            return original(*args, **kwargs)
        return counting


REDIS_URL = os.environ.get("TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"


def _redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping())
    except redis.RedisError:
        return False


@pytest.fixture(params=["database", "redis"])
def app(request, make_app):
    """Each test runs with the count in the database and in Redis (RATELIMIT_STORAGE_URI)."""
    if request.param == "database":
        yield make_app()
        return
    if not _redis_reachable():
        pytest.skip(f"Redis is not reachable at {REDIS_URL} (set TEST_REDIS_URL)")
    import redis

    prefix = f"usergate-test-policy-{uuid.uuid4().hex}"
    app = make_app(RATELIMIT_STORAGE_URI=REDIS_URL, RATELIMIT_KEY_PREFIX=prefix)
    with app.app_context():
        assert isinstance(lockout._backend(), lockout.RedisCounter)
    yield app
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)


@pytest.fixture
def verifications(monkeypatch):
    counter = BcryptCounter()
    monkeypatch.setattr(bcrypt, "check_password_hash", counter.wrap(bcrypt.check_password_hash))
    return counter


@pytest.fixture
def clock():
    from usergate import clock as _clock

    yield _clock
    _clock.reset()


def login(client, email: str, password: str = WRONG):
    return client.post(f"{API}/login", json={"email": email, "password": password})


def assert_locked(response, lock: int) -> int:
    body = assert_problem(response, 429)
    assert body["code"] == "too_many_failures"
    retry_after = int(response.headers["Retry-After"])
    # The clock runs on between the lock and this answer: a second or two may have
    # passed on a loaded machine.
    assert lock - 2 <= retry_after <= lock, (retry_after, lock)
    return retry_after


# --- 50 at once ------------------------------------------------------------------

def _fifty_at_once(app, email: str):
    barrier = threading.Barrier(50, timeout=60)

    def attempt(_):
        client = app.test_client()
        barrier.wait()
        return login(client, email)

    with ThreadPoolExecutor(max_workers=50) as pool:
        return list(pool.map(attempt, range(50), timeout=120))


def _statuses(responses) -> dict[int, int]:
    counts: dict[int, int] = {}
    for response in responses:
        counts[response.status_code] = counts.get(response.status_code, 0) + 1
    return counts


@pytest.mark.parametrize("known", [True, False], ids=["known-email", "unknown-email"])
def test_of_50_concurrent_wrong_passwords_at_most_the_limit_reach_bcrypt(
        app, verifications, known):
    # A file SQLite database (conftest's default without TEST_DATABASE_URL) shared by 50 threads.
    email = "victim@example.com"
    if known:
        AuthActions(app, app.test_client()).create_user(email)
    verifications.count = 0

    responses = _fifty_at_once(app, email)

    assert verifications.count == 10
    assert _statuses(responses) == {401: 10, 429: 40}
    for response in responses:
        if response.status_code == 429:
            assert_locked(response, 300)
    # And the right password is not even checked now.
    assert_locked(login(app.test_client(), email, PASSWORD), 300)
    assert verifications.count == 10


def test_an_unknown_email_answers_exactly_like_a_known_one(app, clock):
    client = app.test_client()
    AuthActions(app, client).create_user("ada@example.com")

    def sequence(email):
        answers = []
        for _ in range(12):
            response = login(client, email)
            answers.append((response.status_code,
                            sorted(set(response.headers.keys()) - VOLATILE),
                            {k: v for k, v in response.get_json().items()},
                            response.headers.get("Retry-After")))
        return answers

    known, unknown = sequence("ada@example.com"), sequence("nobody@example.com")
    assert [a[0] for a in known] == [401] * 10 + [429] * 2
    for (k_status, k_headers, k_body, k_retry), (u_status, u_headers, u_body, u_retry) in zip(
            known, unknown, strict=True):
        assert (k_status, k_headers, k_body) == (u_status, u_headers, u_body)
        if k_retry is not None:
            assert abs(int(k_retry) - int(u_retry)) <= 1


# --- lock durations with a moved clock -------------------------------------------------

def _lock(client, email: str, failures: int = 10) -> None:
    for _ in range(failures):
        assert login(client, email).status_code == 401


def test_locks_double_up_to_an_hour_and_end_on_time(client, auth, clock):
    auth.create_user("ada@example.com")
    failures = 10
    for lock in (300, 600, 1200, 2400, 3600, 3600):
        _lock(client, "ada@example.com", failures)
        left = assert_locked(login(client, "ada@example.com", PASSWORD), lock)
        # Still locked a few seconds before the end (a margin for real time passing) ...
        clock.advance(left - 5)
        assert 1 <= assert_locked(login(client, "ada@example.com", PASSWORD), 5) <= 5
        clock.advance(5)  # ... and over at its end.
        # Over: a fresh set of attempts (the next lock is longer). A wrong one is a 401,
        # the first failure of the next count.
        assert login(client, "ada@example.com").status_code == 401
        failures = 9


def test_a_success_clears_the_count_and_the_lock_history(client, auth, clock):
    auth.create_user("ada@example.com")
    _lock(client, "ada@example.com")
    clock.advance(300)
    for _ in range(9):
        assert login(client, "ada@example.com").status_code == 401
    assert login(client, "ada@example.com", PASSWORD).status_code == 200
    # Cleared: ten more failures before a lock, and the lock is the first one again.
    _lock(client, "ada@example.com")
    assert_locked(login(client, "ada@example.com"), 300)


def test_a_password_reset_clears_the_lock(app, client, auth, clock):
    auth.create_user("ada@example.com")
    _lock(client, "ada@example.com")
    assert_locked(login(client, "ada@example.com", PASSWORD), 300)
    with app.test_request_context():
        # What the reset confirmation calls, in its transaction (docs/api.md §6.2).
        lockout.clear("ada@example.com")
        _db.session.commit()
    assert login(client, "ada@example.com", PASSWORD).status_code == 200


def test_a_count_is_forgotten_a_day_after_its_last_lock(app, client, auth, clock):
    auth.create_user("ada@example.com")
    in_database = lockout.redis_url(app.config["RATELIMIT_STORAGE_URI"]) is None
    _lock(client, "ada@example.com")
    clock.advance(300)
    _lock(client, "ada@example.com")
    assert_locked(login(client, "ada@example.com"), 600)
    clock.advance(600 + lockout.FORGET_AFTER)
    _lock(client, "ada@example.com")
    assert_locked(login(client, "ada@example.com"), 300)
    if not in_database:
        return  # Redis forgets by EXPIRE
    # Forgotten rows are pruned when a new count starts (for one key in 16).
    clock.advance(300 + lockout.FORGET_AFTER)
    pruner = next(email for email in (f"pruner{n}@example.com" for n in range(1000))
                  if lockout.counter_key(email).startswith("0"))
    login(client, pruner)
    with app.app_context():
        keys = set(_db.session.execute(_db.select(LoginFailure.key)).scalars())
    assert keys == {lockout.counter_key(pruner)}


def test_emails_are_counted_by_their_normalised_form(client, auth):
    auth.create_user("ada@example.com")
    for n in range(10):
        spelling = "ADA@Example.com" if n % 2 else "  ada@EXAMPLE.COM "
        assert login(client, spelling).status_code == 401
    assert_locked(login(client, "Ada@example.com", PASSWORD), 300)


def test_a_small_limit_and_lock_are_configurable(make_app, clock):
    app = make_app(LOGIN_MAX_FAILURES=3, LOGIN_LOCKOUT=60)
    client = app.test_client()
    AuthActions(app, client).create_user("ada@example.com")
    for _ in range(3):
        assert login(client, "ada@example.com").status_code == 401
    assert_locked(login(client, "ada@example.com", PASSWORD), 60)


# --- every entry point of a password --------------------------------------------------

def _fresh_login(client, tokens, password):
    return client.post(f"{API}/fresh-login", headers=tokens.headers, json={"password": password})


def _password_change(client, tokens, password):
    return client.put(f"{API}/password", headers=tokens.headers,
                      json={"current_password": password, "new_password": NEW_PASSWORD})


def _token_grant(client, tokens, password):
    return client.post(f"{API}/token", data={"grant_type": "password",
                                             "username": "ada@example.com",
                                             "password": password})


def _login(client, tokens, password):
    return login(client, "ada@example.com", password)


def _wrong_login(response):
    assert_problem(response, 401)


def _wrong_grant(response):
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"


def _wrong_current_password(response):
    assert_problem(response, 400, "current_password")


def _locked_grant(response, lock):
    assert response.status_code == 400
    assert response.mimetype == "application/json"
    assert response.get_json()["error"] == "invalid_grant"
    assert lock - 2 <= int(response.headers["Retry-After"]) <= lock


ENTRY_POINTS = {
    "login": (_login, _wrong_login, assert_locked),
    "password-grant": (_token_grant, _wrong_grant, _locked_grant),
    "fresh-login": (_fresh_login, _wrong_login, assert_locked),
    "password-change": (_password_change, _wrong_current_password, assert_locked),
}


@pytest.mark.parametrize("name", list(ENTRY_POINTS))
def test_every_password_entry_point_counts_and_locks(client, auth, clock, verifications, name):
    send, assert_wrong, assert_lock = ENTRY_POINTS[name]
    tokens = auth.register("ada@example.com")
    for _ in range(10):
        assert_wrong(send(client, tokens, WRONG))
    before = verifications.count
    # Locked: the right password is refused without being checked.
    assert_lock(send(client, tokens, PASSWORD), 300)
    assert verifications.count == before
    clock.advance(300)
    assert send(client, tokens, PASSWORD).status_code == 200


def test_the_count_is_shared_by_the_entry_points(client, auth):
    tokens = auth.register("ada@example.com")
    for n in range(10):
        send, assert_wrong, _ = list(ENTRY_POINTS.values())[n % 4]
        assert_wrong(send(client, tokens, WRONG))
    assert_locked(_fresh_login(client, tokens, PASSWORD), 300)
    _locked_grant(_token_grant(client, tokens, PASSWORD), 300)


def test_a_refused_new_password_costs_no_attempt(client, auth):
    tokens = auth.register("ada@example.com")
    for _ in range(12):
        response = client.put(f"{API}/password", headers=tokens.headers,
                              json={"current_password": WRONG, "new_password": "password"})
        assert_problem(response, 400, "new_password")
    assert login(client, "ada@example.com", PASSWORD).status_code == 200


def test_with_rate_limits_on_the_lock_sends_its_own_retry_after(make_app):
    # Flask-Limiter sets Retry-After to its own window's end on every response.
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_AUTH="100/hour")
    client = app.test_client()
    AuthActions(app, client).create_user("ada@example.com")
    _lock(client, "ada@example.com")
    assert_locked(login(client, "ada@example.com", PASSWORD), 300)
    _locked_grant(_token_grant(client, None, PASSWORD), 300)
    # Other answers still carry none.
    assert "Retry-After" not in login(client, "bob@example.com").headers


def test_while_redis_is_unreachable_the_database_counts(make_app, caplog):
    import logging
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    app = make_app(RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{closed}/0")
    client = app.test_client()
    AuthActions(app, client).create_user("ada@example.com")
    with caplog.at_level(logging.WARNING, logger="usergate"):
        _lock(client, "ada@example.com")
        assert_locked(login(client, "ada@example.com", PASSWORD), 300)
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("counting in the database" in m for m in messages), messages
    assert not any("ada" in m for m in messages)
    with app.app_context():
        assert _db.session.execute(_db.select(LoginFailure.failures)).scalar() == 10
