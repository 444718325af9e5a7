"""REFRESH_REUSE_GRACE and SESSION_MAX_AGE (docs/browser.md), through the real stack.

The grace: the refresh token the last rotation spent, presented again within the
grace, answers a new access token and the session's current refresh token (same
jti); still one rotation per presented token; older tokens, or the spent one after
the grace, are reuse and revoke the session. The absolute lifetime: with the clock
moved a day at a time, refreshing daily never passes SESSION_MAX_AGE.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import jwt
import pytest
from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import upgrade
from sqlalchemy import select, text

from scratch_db import app_settings, postgres_configured, scratch_postgres_database
from support import PASSWORD, assert_problem
from usergate import clock, create_app
from usergate.extensions import db
from usergate.models import Session

API = "/api/v1/auth"
GRACE = 10
DAY = 24 * 3600


@pytest.fixture(autouse=True)
def _reset_clock():
    yield
    clock.reset()


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def refresh(client, token: str):
    return client.post(f"{API}/refresh", headers={"Authorization": f"Bearer {token}"})


def register(client, email="ada@example.com") -> dict:
    response = client.post(f"{API}/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def session_row(app, session_id: str) -> Session:
    with app.app_context():
        row = db.session.execute(select(Session).where(Session.id == session_id)).scalar_one()
        db.session.expunge(row)
        return row


@pytest.fixture
def grace_app(make_app):
    return make_app(REFRESH_REUSE_GRACE=GRACE)


def test_the_spent_token_within_the_grace_answers_the_current_refresh_token(grace_app):
    clock.freeze()  # the checks below are to the second: no second may turn meanwhile
    client = grace_app.test_client()
    first = register(client)["refresh_token"]
    rotated = refresh(client, first)
    assert rotated.status_code == 200
    current = rotated.get_json()["refresh_token"]
    sid = claims(first)["sid"]

    clock.advance(GRACE - 1)
    again = refresh(client, first)
    assert again.status_code == 200, again.get_json()
    body = again.get_json()
    # The same refresh token (same jti, iat, exp), a new access token that is not fresh.
    assert claims(body["refresh_token"]) == claims(current)
    # What was left when the server answered: the second may have turned since.
    left_now = claims(current)["exp"] - clock.timestamp(clock.utcnow())
    assert left_now <= body["refresh_expires_in"] <= left_now + 1
    assert body["access_token"] != rotated.get_json()["access_token"]
    assert claims(body["access_token"])["fresh"] is False
    me = client.get(f"{API}/user", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.get_json()["session_id"] == sid
    row = session_row(grace_app, sid)
    assert row.refresh_count == 1 and row.refresh_jti == claims(current)["jti"]
    assert row.revoked_at is None
    # Nothing raw is stored: the row holds jtis and times only.
    assert current not in repr(vars(row)) and first not in repr(vars(row))
    # The current token goes on as usual.
    assert refresh(client, current).status_code == 200
    assert session_row(grace_app, sid).refresh_count == 2


def test_the_spent_token_after_the_grace_is_reuse_and_revokes_the_session(grace_app):
    client = grace_app.test_client()
    first = register(client)["refresh_token"]
    current = refresh(client, first).get_json()["refresh_token"]
    clock.advance(GRACE)
    response = refresh(client, first)
    assert_problem(response, 401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert session_row(grace_app, claims(first)["sid"]).revoked_at is not None
    assert refresh(client, current).status_code == 401


def test_an_older_token_is_reuse_even_within_the_grace(grace_app):
    client = grace_app.test_client()
    first = register(client)["refresh_token"]
    second = refresh(client, first).get_json()["refresh_token"]
    third = refresh(client, second).get_json()["refresh_token"]
    # `first` was spent two rotations ago: only `second` has the grace now.
    assert_problem(refresh(client, first), 401)
    assert session_row(grace_app, claims(first)["sid"]).revoked_at is not None
    assert refresh(client, third).status_code == 401


def test_without_the_grace_the_spent_token_is_reuse_at_once(app, client):
    first = register(client)["refresh_token"]
    current = refresh(client, first).get_json()["refresh_token"]
    assert_problem(refresh(client, first), 401)
    assert refresh(client, current).status_code == 401


def test_the_grace_holds_at_the_token_endpoint_too(grace_app):
    client = grace_app.test_client()
    first = register(client)["refresh_token"]
    form = {"grant_type": "refresh_token", "refresh_token": first}
    current = client.post(f"{API}/token", data=form).get_json()["refresh_token"]
    again = client.post(f"{API}/token", data=form)
    assert again.status_code == 200, again.get_json()
    assert claims(again.get_json()["refresh_token"])["jti"] == claims(current)["jti"]


def test_a_revoked_session_gets_no_grace(grace_app):
    client = grace_app.test_client()
    tokens = register(client)
    refresh(client, tokens["refresh_token"])
    client.post(f"{API}/logout", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert_problem(refresh(client, tokens["refresh_token"]), 401)


def race(app, token: str, count: int):
    barrier = threading.Barrier(count)
    answers = [None] * count

    def one(i):
        client = app.test_client()
        barrier.wait()
        answers[i] = refresh(client, token)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return answers


def test_20_concurrent_refreshes_with_one_token_in_the_grace_all_succeed_once_rotated(
        make_app, tmp_path):
    # Threads on a file SQLite database, whatever TEST_DATABASE_URL says: the
    # gunicorn test races on PostgreSQL.
    app = make_app(REFRESH_REUSE_GRACE=GRACE,
                   DATABASE_URL=f"sqlite:///{tmp_path / 'race.db'}")
    client = app.test_client()
    token = register(client)["refresh_token"]
    sid = claims(token)["sid"]

    answers = race(app, token, 20)

    assert [a.status_code for a in answers] == [200] * 20, [
        a.get_json() for a in answers if a.status_code != 200]
    jtis = {claims(a.get_json()["refresh_token"])["jti"] for a in answers}
    row = session_row(app, sid)
    assert row.refresh_count == 1  # exactly one rotation
    assert row.revoked_at is None
    assert jtis == {row.refresh_jti}  # one live refresh jti, held by every answer
    assert row.previous_refresh_jti == claims(token)["jti"]
    assert len({a.get_json()["access_token"] for a in answers}) == 20
    # After the grace the token all 20 presented is reuse.
    clock.advance(GRACE)
    assert_problem(refresh(client, token), 401)
    assert session_row(app, sid).revoked_at is not None


def test_20_concurrent_refreshes_without_the_grace_end_the_session(make_app, tmp_path):
    app = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'race.db'}")
    token = register(app.test_client())["refresh_token"]
    answers = race(app, token, 20)
    assert sorted(a.status_code for a in answers) == [200] + [401] * 19
    row = session_row(app, claims(token)["sid"])
    assert row.refresh_count == 1 and row.revoked_at is not None


def test_refreshing_every_day_never_passes_the_session_max_age(make_app):
    app = make_app()  # the defaults: 30-day refresh tokens, 90-day sessions
    client = app.test_client()
    tokens = register(client)
    token = tokens["refresh_token"]
    sid = claims(token)["sid"]
    created = session_row(app, sid).created_at
    limit = created + timedelta(seconds=90 * DAY)
    assert session_row(app, sid).absolute_expires_at == limit

    days = 0
    while True:
        clock.advance(DAY)
        days += 1
        response = refresh(client, token)
        if response.status_code != 200:
            break
        body = response.get_json()
        token = body["refresh_token"]
        row = session_row(app, sid)
        assert row.expires_at == min(row.last_used_at + timedelta(seconds=30 * DAY), limit)
        assert claims(token)["exp"] <= clock.timestamp(limit)
        assert body["refresh_expires_in"] == claims(token)["exp"] - claims(token)["iat"]
        listed = client.get(f"{API}/sessions", headers={
            "Authorization": f"Bearer {body['access_token']}"}).get_json()["items"]
        assert listed[0]["expires_at"] == clock.rfc3339(row.expires_at)
        if days == 89:
            # The last day: the cookie and token live only until the absolute limit.
            assert body["refresh_expires_in"] <= DAY
    assert days == 90  # day 90 is the limit itself: the session is over
    assert_problem(response, 401)
    assert "expired" in response.get_json()["detail"]
    assert session_row(app, sid).expires_at <= limit


def test_a_short_max_age_caps_the_first_refresh_token(make_app):
    clock.freeze()  # the checks below are to the second: no second may turn meanwhile
    app = make_app(SESSION_MAX_AGE=3600)
    client = app.test_client()
    body = register(client)
    assert body["refresh_expires_in"] == 3600
    assert claims(body["refresh_token"])["exp"] - claims(body["refresh_token"])["iat"] == 3600
    clock.advance(3599)
    again = refresh(client, body["refresh_token"])
    assert again.status_code == 200 and again.get_json()["refresh_expires_in"] == 1
    clock.advance(1)
    assert_problem(refresh(client, again.get_json()["refresh_token"]), 401)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=[
    pytest.mark.postgres,
    pytest.mark.skipif(not postgres_configured(), reason="TEST_DATABASE_URL is not PostgreSQL")])])
def empty_database(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrate.db'}"
        return
    with scratch_postgres_database("browser_migration") as url:
        yield url


def test_the_migration_gives_existing_sessions_created_at_plus_the_max_age(empty_database):
    app = create_app(app_settings(empty_database, SESSION_MAX_AGE=10 * DAY))
    with app.app_context():
        # Just below this revision, whatever the chain before it.
        script = ScriptDirectory.from_config(
            current_app.extensions["migrate"].migrate.get_config())
        upgrade(revision=script.get_revision("a7d3c9e1b5f2").down_revision)
        db.session.execute(text(
            "INSERT INTO users (id, public_id, email, email_key, password_hash, admin, "
            "disabled, registered_on) VALUES (1, 'u1', 'a@example.com', 'a@example.com', 'x', "
            "false, false, '2026-11-01 00:00:00')"))
        for sid, created, expires in (("old", "2026-11-01 00:00:00", "2026-12-20 00:00:00"),
                                      ("new", "2026-11-30 12:00:00", "2026-12-01 12:00:00")):
            db.session.execute(text(
                "INSERT INTO sessions (id, user_id, refresh_jti, created_at, last_used_at, "
                "expires_at, refresh_count) VALUES (:id, 1, 'j', :c, :c, :e, 0)"),
                {"id": sid, "c": datetime.fromisoformat(created),
                 "e": datetime.fromisoformat(expires)})
        db.session.commit()
        upgrade()
        rows = {s.id: s for s in db.session.execute(select(Session)).scalars()}
        assert rows["old"].absolute_expires_at == datetime(2026, 11, 11)
        assert rows["old"].expires_at == datetime(2026, 11, 11)  # cut to the limit
        assert rows["new"].absolute_expires_at == datetime(2026, 12, 10, 12)
        assert rows["new"].expires_at == datetime(2026, 12, 1, 12)  # sooner: kept
        assert rows["old"].previous_refresh_jti is None and rows["old"].rotated_at is None
        db.session.remove()
        db.engine.dispose()
