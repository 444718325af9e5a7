"""Races over real HTTP: gunicorn with 4 workers on PostgreSQL, rate limits in Redis.

The server is started from gunicorn.conf.py as production would start it, on a
database of its own (created here, `flask db upgrade`d, dropped afterwards) and
a Redis key prefix of its own. Requests come from many threads at once, each
through a real socket to whichever worker the kernel hands it to.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from helpers.accounts import PASSWORD
from helpers.databases import postgres_configured, scratch_postgres_database
from helpers.live import GunicornServer
from helpers.settings import REPO

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.skipif(
    not postgres_configured(),
    reason="needs PostgreSQL: set TEST_DATABASE_URL to a postgresql:// URL (tox -e postgres)")]

REDIS_URL = os.environ.get("TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
WORKERS = 4
RATE_LIMIT = 5
START_TIMEOUT = 60
REQUEST_TIMEOUT = 60
_client_ips = itertools.count(1)


def _redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping())
    except redis.RedisError:
        return False


def new_ip() -> str:
    """A client address of its own (sent as X-Forwarded-For; the server trusts one proxy)."""
    n = next(_client_ips)
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


class Server:
    def __init__(self, base_url: str, database_url: str, access_log: Path, error_log: Path,
                 key_prefix: str):
        self.base_url = base_url
        self.database_url = database_url
        self.access_log = access_log
        self.error_log = error_log
        self.key_prefix = key_prefix

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=REQUEST_TIMEOUT, trust_env=False,
                            limits=httpx.Limits(max_connections=100))

    def worker_pids(self, request_ids) -> dict[str, str]:
        """Which worker answered each request, from the access log (by X-Request-ID)."""
        wanted = set(request_ids)
        pattern = re.compile(r"rid=(\S+) pid=<(\d+)>")
        deadline = time.monotonic() + 10
        while True:
            found = {}
            for line in self.access_log.read_text().splitlines():
                match = pattern.search(line)
                if match and match.group(1) in wanted:
                    found[match.group(1)] = match.group(2)
            if len(found) == len(wanted) or time.monotonic() > deadline:
                return found
            time.sleep(0.1)

    def query(self, sql: str, *params):
        import psycopg

        with psycopg.connect(self.database_url) as conn:
            return conn.execute(sql, params).fetchall()


@contextmanager
def serving(workdir: Path, purpose: str, *, config: Path = REPO / "gunicorn.conf.py",
            **settings) -> Iterator[Server]:
    """gunicorn with WORKERS workers (`config`: gunicorn.conf.py unless a test wraps it),
    production settings trusting one proxy, on a scratch PostgreSQL database of its own
    that `flask db upgrade` migrated first; its Redis keys are forgotten afterwards."""
    key_prefix = f"usergate-test-{purpose}-{uuid.uuid4().hex}"
    with scratch_postgres_database(purpose) as database_url:
        gunicorn = GunicornServer(workdir, workers=WORKERS, config=config, **{
            "USERGATE_CONFIG": "production", "SECRET_KEY": secrets.token_urlsafe(48),
            "DATABASE_URL": database_url, "RATELIMIT_KEY_PREFIX": key_prefix,
            "TRUSTED_PROXIES": "1", **settings})
        gunicorn.flask("db", "upgrade")
        try:
            with gunicorn.start(timeout=START_TIMEOUT):
                yield Server(gunicorn.url, database_url, gunicorn.access_log,
                             gunicorn.error_log, key_prefix)
        finally:
            _forget_redis_keys(key_prefix)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # Per hour, not per minute: a slow machine cannot let the window lapse in the middle
    # of the test.
    with serving(tmp_path_factory.mktemp("gunicorn"), "gunicorn", RATELIMIT_ENABLED="true",
                 RATELIMIT_STORAGE_URI=REDIS_URL,
                 RATELIMIT_AUTH=f"{RATE_LIMIT}/hour") as server:
        yield server


def _forget_redis_keys(prefix: str) -> None:
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
        keys = list(client.scan_iter(match=f"*{prefix}*"))
        if keys:
            client.delete(*keys)
    except redis.RedisError:
        pass


def concurrently(count: int, send):
    """Call send(i) from `count` threads released at the same moment; the responses."""
    barrier = threading.Barrier(count, timeout=REQUEST_TIMEOUT)

    def task(i):
        barrier.wait()
        return send(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(task, range(count), timeout=3 * REQUEST_TIMEOUT))


def register(client: httpx.Client, email: str) -> dict:
    response = client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD},
                           headers={"X-Forwarded-For": new_ip()})
    assert response.status_code == 201, response.text
    return response.json()


def statuses(responses) -> dict[int, int]:
    counts: dict[int, int] = {}
    for response in responses:
        counts[response.status_code] = counts.get(response.status_code, 0) + 1
    return counts


def test_of_50_concurrent_refreshes_with_one_token_exactly_one_succeeds(server):
    with server.client() as client:
        tokens = register(client, "refresh-race@example.com")
        auth = {"Authorization": f"Bearer {tokens['refresh_token']}"}
        responses = concurrently(50, lambda i: client.post(
            "/api/v1/auth/refresh", headers={**auth, "X-Forwarded-For": new_ip()}))

        assert statuses(responses) == {200: 1, 401: 49}
        for response in responses:
            if response.status_code == 401:
                assert response.headers["Content-Type"] == "application/problem+json"
                assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
        # The other 49 were reuse of a spent token: the whole session is revoked,
        # so even the winner's new refresh token is dead.
        winner = next(r for r in responses if r.status_code == 200).json()
        again = client.post("/api/v1/auth/refresh",
                            headers={"Authorization": f"Bearer {winner['refresh_token']}",
                                     "X-Forwarded-For": new_ip()})
        assert again.status_code == 401, again.text
    (revoked,) = server.query(
        "SELECT s.revoked_at IS NOT NULL, s.refresh_count FROM sessions s "
        "JOIN users u ON u.id = s.user_id WHERE u.email_key = %s",
        "refresh-race@example.com")
    assert revoked == (True, 1)


def test_of_30_concurrent_registrations_of_one_email_exactly_one_succeeds(server):
    email = "Register.Race@example.com"
    with server.client() as client:
        responses = concurrently(30, lambda i: client.post(
            "/api/v1/auth/register",
            # Different spellings of one address: uniqueness ignores case.
            json={"email": email.upper() if i % 2 else email, "password": PASSWORD},
            headers={"X-Forwarded-For": new_ip()}))

    assert statuses(responses) == {201: 1, 409: 29}
    for response in responses:
        if response.status_code == 409:
            assert response.headers["Content-Type"] == "application/problem+json"
            assert response.json()["status"] == 409
    assert server.query("SELECT count(*) FROM users WHERE email_key = %s",
                        email.lower()) == [(1,)]


def test_of_20_concurrent_make_primary_requests_one_primary_remains(server):
    with server.client() as client:
        tokens = register(client, "primary-race@example.com")
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}
        ids = []
        for n in range(20):
            created = client.post("/api/v1/addresses", headers=auth, json={
                "label": f"address {n}", "line1": f"{n} Main Street", "city": "Berlin",
                "postal_code": "10115", "country": "DE"})
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])

        # Each request makes a different address primary, all at once.
        responses = concurrently(20, lambda i: client.patch(
            f"/api/v1/addresses/{ids[i]}", headers=auth, json={"is_primary": True}))
        assert statuses(responses) == {200: 20}
        assert all(r.json()["is_primary"] is True for r in responses)

        listed = client.get("/api/v1/addresses", params={"per_page": 100}, headers=auth)
        assert listed.status_code == 200, listed.text
        primaries = [a["id"] for a in listed.json()["items"] if a["is_primary"]]
    assert len(primaries) == 1, primaries
    assert server.query(
        "SELECT count(*) FROM addresses a JOIN users u ON u.id = a.user_id "
        "WHERE u.email_key = %s AND a.is_primary", "primary-race@example.com") == [(1,)]


def test_the_login_rate_limit_holds_across_the_workers(server):
    if not _redis_reachable():
        pytest.skip(f"Redis is not reachable at {REDIS_URL} (set TEST_REDIS_URL)")
    ip = new_ip()  # one client address for every attempt below
    with server.client() as client:
        register(client, "limited@example.com")

        def login(request_id: str):
            return client.post(
                "/api/v1/auth/login",
                json={"email": "limited@example.com", "password": PASSWORD},
                headers={"X-Forwarded-For": ip, "X-Request-ID": request_id})

        burst = [uuid.uuid4().hex for _ in range(20)]
        responses = concurrently(20, lambda i: login(burst[i]))
        assert statuses(responses) == {200: RATE_LIMIT, 429: 20 - RATE_LIMIT}
        answered_by = server.worker_pids(burst)

        # Then one request at a time with the other workers kept busy, so each
        # goes to whichever worker is left, until every worker has answered. With
        # counters in each worker's memory, a worker that had not counted 5 yet
        # would let the request through.
        later = []
        for _ in range(100):
            request_id = uuid.uuid4().hex
            with _busy_workers(server.base_url, WORKERS - 1):
                later.append(login(request_id))
            answered_by.update(server.worker_pids([request_id]))
            limited_by = {answered_by.get(r.headers["X-Request-ID"])
                          for r in responses + later if r.status_code == 429}
            if len(limited_by - {None}) == WORKERS:
                break

    assert statuses(later) == {429: len(later)}
    for response in responses + later:
        if response.status_code == 429:
            assert response.headers["Content-Type"] == "application/problem+json"
            body = response.json()
            assert body["status"] == 429 and "Rate limit exceeded" in body["detail"]
            assert 0 < int(response.headers["Retry-After"]) <= 3600
    limited_by = {answered_by[r.headers["X-Request-ID"]]
                  for r in responses + later if r.status_code == 429}
    assert len(limited_by) == WORKERS, (
        f"429s came from {len(limited_by)} of {WORKERS} workers: {answered_by}")


class _busy_workers:
    """Hold `count` workers on requests whose headers never end (sync workers wait)."""

    def __init__(self, base_url: str, count: int):
        host, port = base_url.removeprefix("http://").split(":")
        self.address = (host, int(port))
        self.count = count
        self.sockets: list[socket.socket] = []

    def __enter__(self):
        for _ in range(self.count):
            sock = socket.create_connection(self.address, timeout=5)
            sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: busy\r\n")
            self.sockets.append(sock)
        time.sleep(0.2)  # for the workers to accept them
        return self

    def __exit__(self, *exc):
        for sock in self.sockets:
            sock.close()


def test_tokens_never_reach_the_logs(server):
    marker = f"leak{secrets.token_hex(8)}"
    with server.client() as client:
        tokens = register(client, "logs@example.com")
        rid = uuid.uuid4().hex
        client.get("/api/v1/auth/user", params={"access_token": f"q{marker}"},
                   headers={"Authorization": f"Bearer {tokens['access_token']}",
                            "Referer": f"https://example.com/?token=r{marker}",
                            "X-Request-ID": rid})
        client.post("/api/v1/auth/refresh",
                    headers={"Authorization": f"Bearer {tokens['refresh_token']}",
                             "X-Forwarded-For": new_ip()})
    assert rid in server.worker_pids([rid])
    logged = server.access_log.read_text() + server.error_log.read_text()
    for secret in (marker, tokens["access_token"], tokens["refresh_token"],
                   tokens["access_token"].split(".")[2]):
        assert secret not in logged
    assert "GET /api/v1/auth/user HTTP/1.1" in logged
