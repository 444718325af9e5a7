"""`flask tokens purge`: deletes what is expired anyway and keeps everything else."""

from __future__ import annotations

import jwt
import pytest
from sqlalchemy import func, select

from helpers.accounts import AuthActions
from usergate import clock
from usergate.extensions import db
from usergate.models import BlacklistedToken, Session

API = "/api/v1/auth"
pytestmark = pytest.mark.usefixtures("clock")  # the service clock, reset after each test


def sid_of(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["sid"]


def jti_of(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["jti"]


def rows(app) -> tuple[set[str], set[str]]:
    """(blacklisted jtis, session ids) in the database."""
    with app.app_context():
        jtis = set(db.session.execute(select(BlacklistedToken.jti)).scalars())
        sessions = set(db.session.execute(select(Session.id)).scalars())
        return jtis, sessions


def purge(app) -> str:
    result = app.test_cli_runner().invoke(args=["tokens", "purge"])
    assert result.exit_code == 0, result.output
    return result.output.strip()


def test_purge_removes_expired_rows_and_keeps_the_rest(make_app):
    app = make_app(JWT_ACCESS_TOKEN_EXPIRES=900, JWT_REFRESH_TOKEN_EXPIRES=1000)
    client = app.test_client()
    auth = AuthActions(app, client)

    # Rows that must stay: made now.
    live = auth.register("ada@example.com")
    logged_out = auth.login("ada@example.com")
    assert client.post(f"{API}/logout", headers=logged_out.headers).status_code == 204

    # Rows that must go: made 2000 s ago, so their tokens (900 s) and sessions
    # (1000 s) are past expiry now.
    clock.advance(-2000)
    stale = auth.login("ada@example.com")
    stale_logged_out = auth.login("ada@example.com")
    assert client.post(f"{API}/logout", headers=stale_logged_out.headers).status_code == 204
    kept_alive = auth.login("ada@example.com")
    # Refreshed 1100 s and 200 s ago: each refresh moves the session's expiry to
    # +1000 s, so this session, opened with the stale ones, now ends in 800 s.
    refresh_token = kept_alive.refresh
    for _ in range(2):
        clock.advance(900)
        refreshed = client.post(f"{API}/refresh",
                                headers={"Authorization": f"Bearer {refresh_token}"})
        assert refreshed.status_code == 200
        refresh_token = refreshed.get_json()["refresh_token"]
    clock.reset()

    jtis, sessions = rows(app)
    assert jtis == {jti_of(logged_out.access), jti_of(stale_logged_out.access)}
    assert sessions == {sid_of(t.access) for t in (live, logged_out, stale, stale_logged_out,
                                                     kept_alive)}

    assert purge(app) == "removed 1 blacklist rows and 2 sessions"

    jtis, sessions = rows(app)
    assert jtis == {jti_of(logged_out.access)}
    assert sessions == {sid_of(live.access), sid_of(logged_out.access),
                        sid_of(kept_alive.access)}
    # What was kept still does its job: live tokens work, revoked ones stay revoked.
    assert client.get(f"{API}/user", headers=live.headers).status_code == 200
    assert client.get(f"{API}/user", headers=logged_out.headers).status_code == 401
    assert client.post(f"{API}/refresh", headers=logged_out.refresh_headers).status_code == 401
    new_access = refreshed.get_json()["access_token"]
    assert client.get(f"{API}/user", headers={"Authorization": f"Bearer {new_access}"}
                      ).status_code == 200
    # A purged session's refresh token is refused, not resurrected.
    assert client.post(f"{API}/refresh", headers=stale.refresh_headers).status_code == 401

    # Nothing left to do the second time.
    assert purge(app) == "removed 0 blacklist rows and 0 sessions"


def test_purge_on_an_empty_database(app):
    assert purge(app) == "removed 0 blacklist rows and 0 sessions"
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Session)).scalar_one() == 0
