"""Where the rate-limit counters live: Redis when configured, and what happens when it is down.

(tests/test_gunicorn_postgres.py shows the shared limit across 4 real workers.)
"""

from __future__ import annotations

import os
import socket
import uuid

import pytest

from helpers.accounts import PASSWORD

REDIS_URL = os.environ.get("TEST_REDIS_URL", "")
LIMIT = 3


def _login(client, email: str):
    return client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens there once the socket is closed


@pytest.fixture
def redis_marker():
    """Redis, and a client address of this test's own that every key will contain.

    The keys are told apart by the client address rather than RATELIMIT_KEY_PREFIX:
    Flask-Limiter's one Limiter keeps the first prefix it was given for the whole
    process, and other tests have made apps before this one.
    """
    if not REDIS_URL:
        pytest.skip("set TEST_REDIS_URL (tox -e postgres does) to test Redis storage")
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"TEST_REDIS_URL={REDIS_URL} is not reachable: {exc}")
    marker = f"test-client-{uuid.uuid4().hex}"
    yield client, marker
    keys = list(client.scan_iter(match=f"*{marker}*"))
    if keys:
        client.delete(*keys)


def test_counts_live_in_redis_and_outlive_the_worker(make_app, redis_marker):
    redis_client, marker = redis_marker
    settings = dict(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=REDIS_URL,
                    RATELIMIT_KEY_PREFIX=f"usergate-test-{uuid.uuid4().hex}",
                    RATELIMIT_AUTH=f"{LIMIT}/hour")
    client = make_app(**settings).test_client()
    client.environ_base["REMOTE_ADDR"] = marker
    assert [_login(client, "nobody@example.com").status_code for _ in range(LIMIT)] == [401] * LIMIT
    assert list(redis_client.scan_iter(match=f"*{marker}*")), "no counter was written to Redis"

    # A new app (a restarted or another worker) starts with empty memory: the
    # counter it sees is the one in Redis.
    second = make_app(**settings).test_client()
    second.environ_base["REMOTE_ADDR"] = marker
    response = _login(second, "nobody@example.com")
    assert response.status_code == 429
    assert response.mimetype == "application/problem+json"
    assert int(response.headers["Retry-After"]) > 0


def test_unreachable_redis_falls_back_to_memory_instead_of_500(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_AUTH=f"{LIMIT}/hour",
                   RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{_closed_port()}/0",
                   RATELIMIT_KEY_PREFIX=f"usergate-test-{uuid.uuid4().hex}")
    client = app.test_client()
    statuses = [_login(client, "nobody@example.com").status_code for _ in range(LIMIT + 2)]
    # Still limited (in this process's memory), never a 500.
    assert statuses == [401] * LIMIT + [429, 429]
