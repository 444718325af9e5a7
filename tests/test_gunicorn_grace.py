"""REFRESH_REUSE_GRACE over real HTTP: gunicorn with 4 workers on PostgreSQL.

The server is started from gunicorn.conf.py as production would start it, on a
scratch database of its own (created, `flask db upgrade`d, dropped afterwards),
with a grace of a few seconds. Twenty threads present one refresh token at the
same moment, each through its own socket to whichever worker the kernel picks.
"""

from __future__ import annotations

import time

import jwt
import pytest

from test_gunicorn_postgres import (  # noqa: F401 - pytestmark marks this module too
    concurrently,
    new_ip,
    pytestmark,
    register,
    serving,
    statuses,
)

GRACE = 4


@pytest.fixture(scope="module")
def grace_server(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("gunicorn-grace"), "grace",
                 RATELIMIT_ENABLED="false", REFRESH_REUSE_GRACE=str(GRACE)) as server:
        yield server


def jti(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["jti"]


def test_20_concurrent_refreshes_in_the_grace_all_succeed_with_one_rotation(grace_server):
    with grace_server.client() as client:
        tokens = register(client, "grace-race@example.com")
        spent = tokens["refresh_token"]
        auth = {"Authorization": f"Bearer {spent}"}
        responses = concurrently(20, lambda i: client.post(
            "/api/v1/auth/refresh", headers={**auth, "X-Forwarded-For": new_ip()}))
        assert statuses(responses) == {200: 20}, [r.text for r in responses
                                                  if r.status_code != 200]
        answered = {jti(r.json()["refresh_token"]) for r in responses}
        ((count, live_jti, previous, revoked),) = grace_server.query(
            "SELECT s.refresh_count, s.refresh_jti, s.previous_refresh_jti, "
            "s.revoked_at IS NOT NULL FROM sessions s JOIN users u ON u.id = s.user_id "
            "WHERE u.email_key = %s", "grace-race@example.com")
        assert count == 1  # exactly one rotation
        assert answered == {live_jti}  # every answer holds the one live refresh jti
        assert previous == jti(spent) and revoked is False

        current = responses[0].json()["refresh_token"]
        # The spent token after the grace is reuse: 401, and the session is revoked
        # (the live token with it).
        (rotated_at_age,) = grace_server.query(
            "SELECT EXTRACT(EPOCH FROM (now() AT TIME ZONE 'UTC') - s.rotated_at) FROM sessions s "
            "WHERE s.refresh_jti = %s", live_jti)[0]
        time.sleep(max(0.0, GRACE - float(rotated_at_age)) + 1.0)
        late = client.post("/api/v1/auth/refresh",
                           headers={**auth, "X-Forwarded-For": new_ip()})
        assert late.status_code == 401, late.text
        assert 'error="invalid_token"' in late.headers["WWW-Authenticate"]
        assert client.post("/api/v1/auth/refresh", headers={
            "Authorization": f"Bearer {current}", "X-Forwarded-For": new_ip()}).status_code == 401
    assert grace_server.query(
        "SELECT s.revoked_at IS NOT NULL, s.refresh_count FROM sessions s "
        "JOIN users u ON u.id = s.user_id WHERE u.email_key = %s",
        "grace-race@example.com") == [(True, 1)]
