"""The audit log (docs/api.md §6.8, docs/audit.md): every event by a real request.

Each event type is produced through the HTTP API on the real database and found
by the response's X-Request-ID; the log lines are the `usergate.audit` logger's
real records (caplog).
"""

from __future__ import annotations

import json
import logging
import re

import pyotp
import pytest
from sqlalchemy import func, select, text

from mail_support import deliver, link_of
from support import PASSWORD, assert_problem
from test_sql_count import counted_statements
from usergate.extensions import db as _db
from usergate.models import AuditEvent
from usergate.services import audit as audit_service

IP = "203.0.113.9"
AGENT = "audit-test-agent/1.0"
NEW_PASSWORD = "a brand new passphrase"
EVENTS = "/api/v1/audit-events"
OWN = "/api/v1/auth/events"

# docs/api.md §6.8, in its order.
CONTRACT_TYPES = [
    "login_succeeded", "login_failed", "account_locked", "mfa_enabled", "mfa_disabled",
    "refresh_reuse_detected", "session_revoked", "logout", "logout_all", "password_changed",
    "password_reset_requested", "password_reset", "email_verified", "email_changed",
    "user_created", "user_updated", "user_deleted", "client_created",
]


@pytest.fixture
def app(make_app, smtp):
    return make_app(**smtp.settings())


@pytest.fixture
def client(app):
    client = app.test_client()
    client.environ_base.update(REMOTE_ADDR=IP, HTTP_USER_AGENT=AGENT)
    return client


def _events(app, **where) -> list[AuditEvent]:
    with app.app_context():
        stmt = select(AuditEvent).filter_by(**where).order_by(AuditEvent.id)
        return list(_db.session.execute(stmt).scalars())


def _user_id(tokens) -> str:
    import jwt

    return jwt.decode(tokens.access, options={"verify_signature": False})["sub"]


def _sid(tokens) -> str:
    import jwt

    return jwt.decode(tokens.access, options={"verify_signature": False})["sid"]


def _token_from_mail(app, smtp, address: str, subject_word: str) -> str:
    deliver(app)
    (message,) = [m for m in smtp.to(address) if subject_word in m["Subject"]][-1:]
    return link_of(message)[1]


# Each scenario does what makes the event happen and answers
# (the response of the request that made it, the user's id, the actor's id).

def _login_succeeded(ctx):
    user = ctx.auth.register("a@example.com")
    response = ctx.client.post("/api/v1/auth/login",
                               json={"email": "a@example.com", "password": PASSWORD})
    return response, _user_id(user), _user_id(user)


def _login_failed(ctx):
    user = ctx.auth.register("a@example.com")
    response = ctx.client.post("/api/v1/auth/login",
                               json={"email": "a@example.com", "password": "wrong password!"})
    assert response.status_code == 401
    return response, _user_id(user), None


def _refresh_reuse_detected(ctx):
    user = ctx.auth.register("a@example.com")
    assert ctx.client.post("/api/v1/auth/refresh", headers=user.refresh_headers).status_code == 200
    response = ctx.client.post("/api/v1/auth/refresh", headers=user.refresh_headers)
    assert response.status_code == 401
    return response, _user_id(user), None


def _session_revoked(ctx):
    user = ctx.auth.register("a@example.com")
    other = ctx.auth.login("a@example.com")
    response = ctx.client.delete(f"/api/v1/auth/sessions/{_sid(other)}", headers=user.headers)
    return response, _user_id(user), _user_id(user)


def _logout(ctx):
    user = ctx.auth.register("a@example.com")
    response = ctx.client.post("/api/v1/auth/logout", headers=user.headers)
    return response, _user_id(user), _user_id(user)


def _logout_all(ctx):
    user = ctx.auth.register("a@example.com")
    response = ctx.client.post("/api/v1/auth/logout-all", headers=user.headers)
    return response, _user_id(user), _user_id(user)


def _password_changed(ctx):
    user = ctx.auth.register("a@example.com")
    response = ctx.client.put("/api/v1/auth/password", headers=user.headers, json={
        "current_password": PASSWORD, "new_password": NEW_PASSWORD})
    return response, _user_id(user), _user_id(user)


def _password_reset_requested(ctx):
    user = ctx.auth.register("a@example.com")
    response = ctx.client.post("/api/v1/auth/password-reset", json={"email": "a@example.com"})
    return response, _user_id(user), None


def _password_reset(ctx):
    user = ctx.auth.register("a@example.com")
    assert ctx.client.post("/api/v1/auth/password-reset",
                           json={"email": "a@example.com"}).status_code == 202
    token = _token_from_mail(ctx.app, ctx.smtp, "a@example.com", "Reset")
    response = ctx.client.post("/api/v1/auth/password-reset/confirm",
                               json={"token": token, "new_password": NEW_PASSWORD})
    return response, _user_id(user), _user_id(user)


def _email_verified(ctx):
    user = ctx.auth.register("a@example.com")
    token = _token_from_mail(ctx.app, ctx.smtp, "a@example.com", "Confirm")
    response = ctx.client.post("/api/v1/auth/email-verification/confirm", json={"token": token})
    return response, _user_id(user), _user_id(user)


def _email_changed(ctx):
    admin = ctx.auth.admin()
    user = ctx.auth.register("a@example.com")
    response = ctx.client.patch(f"/api/v1/users/{_user_id(user)}", headers=admin.headers,
                                json={"email": "b@example.com"})
    return response, _user_id(user), _user_id(admin)


def _user_created(ctx):
    admin = ctx.auth.admin()
    response = ctx.client.post("/api/v1/users", headers=admin.headers,
                               json={"email": "a@example.com", "password": PASSWORD})
    return response, response.get_json()["id"], _user_id(admin)


def _user_updated(ctx):
    admin = ctx.auth.admin()
    user = ctx.auth.register("a@example.com")
    response = ctx.client.patch(f"/api/v1/users/{_user_id(user)}", headers=admin.headers,
                                json={"disabled": True})
    return response, _user_id(user), _user_id(admin)


def _user_deleted(ctx):
    admin = ctx.auth.admin()
    user = ctx.auth.register("a@example.com")
    response = ctx.client.delete(f"/api/v1/users/{_user_id(user)}", headers=admin.headers)
    return response, _user_id(user), _user_id(admin)


def _enable_mfa(ctx, email="a@example.com"):
    user = ctx.auth.register(email)
    secret = ctx.client.post("/api/v1/auth/mfa/totp", headers=user.headers).get_json()["secret"]
    response = ctx.client.post("/api/v1/auth/mfa/totp/confirm", headers=user.headers,
                               json={"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 200, response.get_json()
    return user, response


def _mfa_enabled(ctx):
    user, response = _enable_mfa(ctx)
    return response, _user_id(user), _user_id(user)


def _mfa_disabled(ctx):
    admin = ctx.auth.admin()
    user, _ = _enable_mfa(ctx)
    response = ctx.client.delete(f"/api/v1/users/{_user_id(user)}/mfa", headers=admin.headers)
    assert response.status_code == 204, response.get_json()
    return response, _user_id(user), _user_id(admin)


def _account_locked(ctx):
    user = ctx.auth.register("a@example.com")
    limit = ctx.app.config["LOGIN_MAX_FAILURES"]
    for _ in range(limit):
        response = ctx.client.post("/api/v1/auth/login",
                                   json={"email": "a@example.com", "password": "wrong password!"})
        assert response.status_code == 401
    return response, _user_id(user), None


SCENARIOS = {
    "account_locked": (_account_locked, {"reason": "too_many_failures"}),
    "mfa_enabled": (_mfa_enabled, {}),
    "mfa_disabled": (_mfa_disabled, {"method": "admin", "sessions_revoked": True}),
    "login_succeeded": (_login_succeeded, {"method": "password"}),
    "login_failed": (_login_failed, {"method": "password", "reason": "wrong_password"}),
    "refresh_reuse_detected": (_refresh_reuse_detected, {"sessions_revoked": True}),
    "session_revoked": (_session_revoked, {}),
    "logout": (_logout, {}),
    "logout_all": (_logout_all, {"sessions_revoked": True}),
    "password_changed": (_password_changed, {"sessions_revoked": True}),
    "password_reset_requested": (_password_reset_requested, {}),
    "password_reset": (_password_reset, {"sessions_revoked": True}),
    "email_verified": (_email_verified, {}),
    "email_changed": (_email_changed, {}),
    "user_created": (_user_created, {"method": "admin", "admin": False}),
    "user_updated": (_user_updated, {"disabled": True, "fields": ["disabled"],
                                     "sessions_revoked": True}),
    "user_deleted": (_user_deleted, {}),
}


class Ctx:
    def __init__(self, app, client, auth, smtp):
        self.app, self.client, self.auth, self.smtp = app, client, auth, smtp


def test_the_service_knows_every_type_of_the_contract_and_the_tests_cover_those_that_exist():
    assert sorted(audit_service.EVENT_TYPES + audit_service.PLANNED) == sorted(CONTRACT_TYPES)
    assert sorted(SCENARIOS) == sorted(set(audit_service.EVENT_TYPES)
                                       - set(audit_service.COMMAND_TYPES))


def test_creating_a_client_is_recorded(app):
    result = app.test_cli_runner().invoke(args=["clients", "create", "billing"])
    assert result.exit_code == 0, result.output
    client_id = result.output.split("client_id: ")[1].split()[0]
    (event,) = _events(app, type="client_created")
    assert event.details == {"client_id": client_id}
    assert "client_secret" not in json.dumps(audit_service.represent(event))
    secret = result.output.split("client_secret: ")[1].split()[0]
    assert secret not in json.dumps(audit_service.represent(event))


@pytest.mark.parametrize("event_type", sorted(SCENARIOS))
def test_each_event_is_recorded_by_the_request_it_happens_in(app, client, auth, smtp,
                                                            caplog, event_type):
    caplog.set_level(logging.INFO, logger="usergate.audit")
    scenario, details = SCENARIOS[event_type]
    response, user_id, actor_id = scenario(Ctx(app, client, auth, smtp))
    assert response.status_code < 500, response.get_data(as_text=True)
    request_id = response.headers["X-Request-ID"]

    (event,) = _events(app, type=event_type, request_id=request_id)
    assert event.user_id == user_id
    assert event.actor_id == actor_id
    assert event.ip == IP
    assert event.user_agent == AGENT
    for key, value in details.items():
        assert event.details[key] == value, event.details
    if "session_id" in event.details:
        assert re.fullmatch(r"[0-9a-f-]{36}", event.details["session_id"])

    # The same event as one JSON line of the usergate.audit logger.
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "usergate.audit"]
    (line,) = [entry for entry in lines
               if entry["type"] == event_type and entry["request_id"] == request_id]
    assert line == audit_service.represent(event)


def test_a_failed_login_of_an_unknown_email_is_recorded_without_a_user(app, client):
    response = client.post("/api/v1/auth/login",
                           json={"email": "nobody@example.com", "password": PASSWORD})
    assert_problem(response, 401)
    (event,) = _events(app, type="login_failed")
    assert event.user_id is None and event.details == {"method": "password",
                                                       "reason": "unknown_email"}
    assert event.request_id == response.headers["X-Request-ID"]


def test_the_password_grant_and_fresh_login_record_their_sign_ins(app, client, auth):
    user = auth.register("a@example.com")
    assert client.post("/api/v1/auth/token", data={
        "grant_type": "password", "username": "a@example.com", "password": "nope nope nope"}
    ).status_code == 400
    assert client.post("/api/v1/auth/token", data={
        "grant_type": "password", "username": "a@example.com", "password": PASSWORD}
    ).status_code == 200
    assert client.post("/api/v1/auth/fresh-login", headers=user.headers,
                       json={"password": "nope nope nope"}).status_code == 401
    assert client.post("/api/v1/auth/fresh-login", headers=user.headers,
                       json={"password": PASSWORD}).status_code == 200

    events = _events(app, user_id=_user_id(user))
    seen = [(e.type, e.details.get("method"), e.details.get("reason")) for e in events]
    assert seen == [
        ("user_created", "register", None), ("login_succeeded", "register", None),
        ("login_failed", "password_grant", "wrong_password"),
        ("login_succeeded", "password_grant", None),
        ("login_failed", "fresh_login", "wrong_password"),
        ("login_succeeded", "fresh_login", None),
    ]
    # A failed password grant is anonymous; a failed fresh login has a signed-in actor.
    assert [e.actor_id for e in events if e.type == "login_failed"] == [None, _user_id(user)]


def _refuse_new_sessions(app):
    """A database trigger that fails every INSERT into sessions (a change failing late)."""
    with app.app_context():
        if _db.engine.dialect.name == "postgresql":
            _db.session.execute(text(
                "CREATE OR REPLACE FUNCTION audit_test_refuse() RETURNS trigger AS $$ "
                "BEGIN RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql"))
            _db.session.execute(text(
                "CREATE TRIGGER audit_test_refuse BEFORE INSERT ON sessions "
                "FOR EACH ROW EXECUTE FUNCTION audit_test_refuse()"))
        else:
            _db.session.execute(text(
                "CREATE TRIGGER audit_test_refuse BEFORE INSERT ON sessions "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"))
        _db.session.commit()


def _allow_new_sessions(app):
    with app.app_context():
        if _db.engine.dialect.name == "postgresql":
            _db.session.execute(text("DROP TRIGGER IF EXISTS audit_test_refuse ON sessions"))
            _db.session.execute(text("DROP FUNCTION IF EXISTS audit_test_refuse()"))
        else:
            _db.session.execute(text("DROP TRIGGER IF EXISTS audit_test_refuse"))
        _db.session.commit()


def test_a_change_that_fails_after_its_event_was_staged_leaves_no_event(app, client, auth,
                                                                       caplog):
    caplog.set_level(logging.INFO, logger="usergate.audit")
    user = auth.register("a@example.com")
    before = len(_events(app))
    # PUT /auth/password stages password_changed, then its commit (with the new
    # session) fails in the database.
    _refuse_new_sessions(app)
    try:
        response = client.put("/api/v1/auth/password", headers=user.headers, json={
            "current_password": PASSWORD, "new_password": NEW_PASSWORD})
    finally:
        # (pytest-flask keeps one app context, so one session, across a test's
        # requests; a server's next request has a session of its own.)
        _db.session.rollback()
        _allow_new_sessions(app)
    # The database's refusal: a 409 on SQLite (an IntegrityError), a 500 on PostgreSQL.
    assert response.status_code in (409, 500)
    assert_problem(response, response.status_code)

    assert len(_events(app)) == before
    assert _events(app, type="password_changed") == []
    assert not [r for r in caplog.records if r.name == "usergate.audit"
                and json.loads(r.getMessage())["type"] == "password_changed"]
    # Nothing else of the change was stored either: the old password still works.
    assert auth.login("a@example.com").access


def test_a_rolled_back_event_is_neither_stored_nor_logged(app, caplog):
    caplog.set_level(logging.INFO, logger="usergate.audit")
    with app.app_context():
        audit_service.record("logout")
        _db.session.rollback()
        _db.session.commit()  # a later commit does not log the rolled-back event
        assert _db.session.execute(select(func.count(AuditEvent.id))).scalar_one() == 0
        audit_service.record("logout")
        assert not [r for r in caplog.records if r.name == "usergate.audit"]  # not before commit
        _db.session.commit()
    assert len([r for r in caplog.records if r.name == "usergate.audit"]) == 1


def test_details_are_an_allow_list(app):
    with app.app_context():
        with pytest.raises(ValueError, match="allow-list"):
            audit_service.record("login_failed", details={"password": PASSWORD})
        with pytest.raises(ValueError, match="shape"):
            audit_service.record("login_failed", details={"reason": PASSWORD})
        with pytest.raises(ValueError, match="unknown audit event type"):
            audit_service.record("password_seen")


def test_no_password_token_or_code_in_any_event_or_log_line(app, client, auth, smtp, caplog):
    caplog.set_level(logging.DEBUG)
    secrets = {PASSWORD, NEW_PASSWORD, "wrong password!"}
    user = auth.register("a@example.com")
    secrets |= {user.access, user.refresh}
    client.post("/api/v1/auth/login", json={"email": "a@example.com",
                                            "password": "wrong password!"})
    rotated = client.post("/api/v1/auth/refresh", headers=user.refresh_headers).get_json()
    secrets |= {rotated["access_token"], rotated["refresh_token"]}
    client.post("/api/v1/auth/refresh", headers=user.refresh_headers)  # reuse
    verify = _token_from_mail(app, smtp, "a@example.com", "Confirm")
    client.post("/api/v1/auth/email-verification/confirm", json={"token": verify})
    client.post("/api/v1/auth/password-reset", json={"email": "a@example.com"})
    reset = _token_from_mail(app, smtp, "a@example.com", "Reset")
    client.post("/api/v1/auth/password-reset/confirm",
                json={"token": reset, "new_password": NEW_PASSWORD})
    fresh = auth.login("a@example.com", NEW_PASSWORD)
    secrets |= {verify, reset, fresh.access, fresh.refresh}
    client.put("/api/v1/auth/password", headers=fresh.headers,
               json={"current_password": "wrong password!", "new_password": PASSWORD})
    client.post("/api/v1/auth/logout", headers=fresh.headers)

    stored = [json.dumps(audit_service.represent(e)) for e in _events(app)]
    assert len(stored) >= 10
    # Every log line of the run but the test's own SMTP server's (aiosmtpd's
    # `mail.log` prints what it receives: the mail, links and all, by design).
    lines = [record.getMessage() for record in caplog.records if record.name != "mail.log"]
    assert any(record.name == "usergate.audit" for record in caplog.records)
    for secret in secrets:
        assert not [s for s in stored if secret in s], secret
        assert not [line for line in lines if secret in line], secret


def test_a_protected_get_writes_nothing(app, client, auth):
    user = auth.register("a@example.com")
    auth.me(user)
    before = len(_events(app))
    with counted_statements(app) as statements:
        assert client.get("/api/v1/auth/user", headers=user.headers).status_code == 200
    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("SELECT")
    with counted_statements(app) as statements:
        assert client.get(OWN, headers=user.headers).status_code == 200
    assert all(s.lstrip().upper().startswith("SELECT") for s in statements), statements
    assert len(_events(app)) == before


def test_admins_search_the_log_by_user_type_and_time_with_links(app, client, auth, clock):
    admin = auth.admin()
    ada = auth.register("ada@example.com")
    bob = auth.register("bob@example.com")
    for _ in range(3):
        client.post("/api/v1/auth/login", json={"email": "ada@example.com", "password": "x" * 9})
    clock.advance(3600)
    ada = auth.login("ada@example.com")
    admin = auth.login("admin@example.com")

    response = client.get(f"{EVENTS}?user={_user_id(ada)}&per_page=2", headers=admin.headers)
    assert response.status_code == 200
    body = response.get_json()
    # user_created, login_succeeded (register), 3 x login_failed, login_succeeded
    assert body["total"] == 6 and body["pages"] == 3 and len(body["items"]) == 2
    assert body["items"][0]["type"] == "login_succeeded"  # newest first
    assert body["items"][0]["at"].endswith("Z")
    assert 'rel="next"' in response.headers["Link"] and "user=" in response.headers["Link"]
    assert {item["user_id"] for item in body["items"]} == {_user_id(ada)}

    failed = client.get(f"{EVENTS}?type=login_failed", headers=admin.headers).get_json()
    assert failed["total"] == 3 and {i["type"] for i in failed["items"]} == {"login_failed"}

    later = client.get(EVENTS, query_string={"user": _user_id(ada),
                                             "since": _rfc3339(clock, -60)},
                       headers=admin.headers).get_json()
    assert [i["details"]["method"] for i in later["items"]] == ["password"]
    earlier = client.get(EVENTS, query_string={"user": _user_id(ada),
                                               "until": _rfc3339(clock, -60)},
                         headers=admin.headers).get_json()
    assert earlier["total"] == 5

    bobs = client.get(f"{EVENTS}?user={_user_id(bob)}", headers=admin.headers).get_json()
    assert {i["type"] for i in bobs["items"]} == {"user_created", "login_succeeded"}

    bad = client.get(f"{EVENTS}?user=nope&type=nope&since=yesterday&until=2026-13-01T00:00:00Z"
                     "&per_page=0", headers=admin.headers)
    assert_problem(bad, 400, "user", "type", "since", "until", "per_page")
    backwards = client.get(EVENTS, query_string={"since": "2026-11-24T10:00:00Z",
                                                 "until": "2026-11-24T09:00:00Z"},
                           headers=admin.headers)
    assert_problem(backwards, 400, "until")

    assert client.get(EVENTS, headers=ada.headers).status_code == 403
    assert client.get(EVENTS).status_code == 401


def _rfc3339(clock, offset: int) -> str:
    from datetime import timedelta

    return clock.rfc3339(clock.utcnow() + timedelta(seconds=offset))


def test_a_user_sees_their_own_events_only(app, client, auth):
    ada = auth.register("ada@example.com")
    bob = auth.register("bob@example.com")
    client.post("/api/v1/auth/logout", headers=bob.headers)

    response = client.get(OWN, headers=ada.headers)
    assert response.status_code == 200 and "Link" in response.headers
    body = response.get_json()
    assert {item["user_id"] for item in body["items"]} == {_user_id(ada)}
    assert body["total"] == 2
    # `user` is not a filter of the caller's own events: it cannot widen them.
    widened = client.get(f"{OWN}?user={_user_id(bob)}", headers=ada.headers).get_json()
    assert widened["total"] == 2
    only = client.get(f"{OWN}?type=user_created", headers=ada.headers).get_json()
    assert [i["type"] for i in only["items"]] == ["user_created"]
    assert client.get(OWN).status_code == 401


def test_purge_deletes_events_past_the_retention_in_batches(make_app, clock):
    app = make_app(AUDIT_RETENTION=30 * 24 * 3600)
    with app.app_context():
        for _ in range(5):
            audit_service.record("logout")
        _db.session.commit()
    clock.advance(30 * 24 * 3600 + 1)
    with app.app_context():
        audit_service.record("logout_all")
        _db.session.commit()

    result = app.test_cli_runner().invoke(args=["audit", "purge", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert "removed 5 audit events" in result.output
    assert [e.type for e in _events(app)] == ["logout_all"]

    clock.advance(29 * 24 * 3600)
    result = app.test_cli_runner().invoke(args=["audit", "purge"])
    assert "removed 0 audit events" in result.output
    assert len(_events(app)) == 1


def test_the_default_retention_is_365_days(app):
    assert app.config["AUDIT_RETENTION"] == 365 * 24 * 3600


def test_the_users_create_command_records_user_created_without_an_actor(app):
    result = app.test_cli_runner().invoke(args=["users", "create", "cli@example.com",
                                                "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    (event,) = _events(app, type="user_created")
    # (No request around a command; pytest-flask's test request context is the only one.)
    assert event.actor_id is None and event.user_agent is None
    assert event.details == {"method": "cli", "admin": False}
