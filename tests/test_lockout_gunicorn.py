"""The failure count across processes: gunicorn with 4 workers on a scratch PostgreSQL.

50 wrong passwords for one email arrive at once, each from a client address
of its own (the per-address rate limit is not what stops them), spread over
the workers by the kernel. Of them at most LOGIN_MAX_FAILURES may reach bcrypt,
counted in the workers themselves (tests/bcrypt_counting_gunicorn_conf.py);
the rest are 429 with Retry-After, and none is a 5xx. Once with the count in
the database, once in Redis.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from support import PASSWORD
from test_gunicorn_postgres import (  # noqa: F401 - pytestmark marks this module too
    REDIS_URL,
    WORKERS,
    _redis_reachable,
    concurrently,
    new_ip,
    pytestmark,
    serving,
    statuses,
)

CONF = Path(__file__).resolve().parent / "bcrypt_counting_gunicorn_conf.py"


@pytest.fixture(scope="module", params=["database", "redis"])
def server(request, tmp_path_factory):
    if request.param == "redis" and not _redis_reachable():
        pytest.skip(f"Redis is not reachable at {REDIS_URL} (set TEST_REDIS_URL)")
    logs = tmp_path_factory.mktemp(f"lockout-{request.param}")
    with serving(logs, "lockout", config=CONF, RATELIMIT_ENABLED="true",
                 RATELIMIT_STORAGE_URI=REDIS_URL if request.param == "redis" else "memory://",
                 RATELIMIT_AUTH="5/hour", USERGATE_TEST_BCRYPT_LOG=logs / "bcrypt.log") as server:
        yield server, logs / "bcrypt.log"


def _verifications(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


@pytest.mark.parametrize("known", [True, False], ids=["known-email", "unknown-email"])
def test_of_50_concurrent_wrong_passwords_at_most_10_reach_bcrypt_in_any_worker(server, known):
    served, bcrypt_log = server
    email = f"victim-{uuid.uuid4().hex[:8]}@example.com"
    with served.client() as client:
        if known:
            created = client.post("/api/v1/auth/register",
                                  json={"email": email, "password": PASSWORD},
                                  headers={"X-Forwarded-For": new_ip()})
            assert created.status_code == 201, created.text
        before = len(_verifications(bcrypt_log))
        responses = concurrently(50, lambda i: client.post(
            "/api/v1/auth/login", json={"email": email, "password": f"wrong guess {i}"},
            headers={"X-Forwarded-For": new_ip()}))
        checked = _verifications(bcrypt_log)[before:]

        assert len(checked) <= 10
        assert statuses(responses) == {401: len(checked), 429: 50 - len(checked)}
        for response in responses:
            if response.status_code == 429:
                assert response.headers["Content-Type"] == "application/problem+json"
                assert response.json()["code"] == "too_many_failures"
                assert 0 < int(response.headers["Retry-After"]) <= 300
        # Locked for every worker: the right password is refused unchecked, wherever it lands.
        for _ in range(WORKERS * 2):
            again = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD},
                                headers={"X-Forwarded-For": new_ip()})
            assert again.status_code == 429, again.text
        assert len(_verifications(bcrypt_log)) == before + len(checked)
