"""Two-factor races over real HTTP: gunicorn with 4 workers on a scratch PostgreSQL
database (the server of tests/test_gunicorn_postgres.py, started for this module)."""

from __future__ import annotations

import time

import pyotp

from support import PASSWORD
from test_gunicorn_postgres import (  # noqa: F401 - `server` is a fixture
    concurrently,
    new_ip,
    pytestmark,
    register,
    server,
    statuses,
)


def test_of_20_concurrent_verifies_with_one_code_exactly_one_succeeds(server):  # noqa: F811
    with server.client() as client:
        tokens = register(client, "mfa-race@example.com")
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}
        secret = client.post("/api/v1/auth/mfa/totp", headers={
            **auth, "X-Forwarded-For": new_ip()}).json()["secret"]
        totp = pyotp.TOTP(secret)
        # Confirm with the previous step's code (inside the ±1 window), so the
        # current step's code is still new for the race below.
        confirmed = client.post("/api/v1/auth/mfa/totp/confirm", json={
            "code": totp.at(int(time.time()) - 30)},
            headers={**auth, "X-Forwarded-For": new_ip()})
        assert confirmed.status_code == 200, confirmed.text

        mfa_tokens = []
        for _ in range(20):
            response = client.post("/api/v1/auth/login", json={
                "email": "mfa-race@example.com", "password": PASSWORD},
                headers={"X-Forwarded-For": new_ip()})
            assert response.status_code == 401 and response.json()["code"] == "mfa_required"
            mfa_tokens.append(response.json()["mfa_token"])
        code = totp.now()
        responses = concurrently(20, lambda i: client.post(
            "/api/v1/auth/mfa/verify", json={"code": code},
            headers={"Authorization": f"Bearer {mfa_tokens[i]}",
                     "X-Forwarded-For": new_ip()}))

    # Each attempt takes a slot of the account's failure count: past LOGIN_MAX_FAILURES
    # a loser may meet the lock (429) before its code is tried. Exactly one wins.
    counts = statuses(responses)
    assert counts[200] == 1 and set(counts) <= {200, 401, 429}, [r.text for r in responses]
    for response in responses:
        if response.status_code == 401:
            assert response.json()["code"] == "invalid_mfa_code"
        elif response.status_code == 429:
            assert response.json()["code"] == "too_many_failures"
    workers = server.worker_pids(r.headers["X-Request-ID"] for r in responses)
    assert len(set(workers.values())) > 1, workers  # the race crossed processes
    rows = server.query(
        "SELECT t.secret_sealed, t.last_step FROM mfa_totp t JOIN users u ON u.id = t.user_id "
        "WHERE u.email_key = %s", "mfa-race@example.com")
    ((sealed, last_step),) = rows
    assert secret not in sealed and last_step is not None
    (count,) = server.query(
        "SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id "
        "WHERE u.email_key = %s", "mfa-race@example.com")
    assert count == (2,)  # the registration's and the one winner's
