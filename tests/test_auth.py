"""The auth endpoints of docs/api.md through the real stack."""

from __future__ import annotations

import threading

import pytest

from helpers.accounts import PASSWORD, AuthActions
from helpers.problems import assert_problem
from helpers.tokens import claims_of, header_of

API = "/api/v1/auth"


def assert_no_store(response):
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"


# --- register -------------------------------------------------------------

def test_register_answers_201_token_body_and_location(client):
    response = client.post(f"{API}/register", json={
        "email": "  Ada@Example.COM ", "password": PASSWORD, "name": "Ada"})
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token",
                         "refresh_expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900 and body["refresh_expires_in"] == 30 * 24 * 3600
    assert_no_store(response)
    sub = claims_of(body["access_token"])["sub"]
    assert response.headers["Location"].endswith(f"/api/v1/users/{sub}")
    me = client.get(f"{API}/user", headers={"Authorization": f"Bearer {body['access_token']}"})
    # Trimmed, domain lower-cased, local part kept.
    assert me.get_json()["email"] == "Ada@example.com"


def test_register_taken_email_is_409_case_insensitively(client, auth):
    auth.register("ada@example.com")
    response = client.post(f"{API}/register",
                           json={"email": "ADA@EXAMPLE.com", "password": PASSWORD})
    assert_problem(response, 409)


@pytest.mark.parametrize("body, fields", [
    ({}, ["email", "password"]),
    ({"email": "ada@example.com"}, ["password"]),
    ({"email": "not-an-email", "password": PASSWORD}, ["email"]),
    ({"email": "ada@example.com", "password": "short"}, ["password"]),
    ({"email": "ada@example.com", "password": "x" * 257}, ["password"]),
    ({"email": 5, "password": ["list"]}, ["email", "password"]),
    ({"email": "ada@example.com", "password": PASSWORD, "admin": True}, ["admin"]),
    ({"email": "ada@example.com", "password": PASSWORD, "name": 7}, ["name"]),
])
def test_register_validation_names_every_failing_field(client, body, fields):
    response = client.post(f"{API}/register", json=body)
    problem = assert_problem(response, 400, *fields)
    assert set(problem["errors"]) == set(fields)


def test_register_accepts_256_character_password(client):
    # Not one repeated character, which the password policy refuses (docs/api.md §6.4).
    password = ("pq" * 128)
    response = client.post(f"{API}/register",
                           json={"email": "long@example.com", "password": password})
    assert response.status_code == 201


# --- login ----------------------------------------------------------------

def test_login_json_and_form(client, auth):
    auth.register("ada@example.com")
    for kwargs in ({"json": {"email": "ada@example.com", "password": PASSWORD}},
                   {"data": {"email": "ADA@example.com", "password": PASSWORD}}):
        response = client.post(f"{API}/login", **kwargs)
        assert response.status_code == 200, response.get_json()
        assert_no_store(response)
        assert claims_of(response.get_json()["access_token"])["fresh"] is True


def test_login_unknown_email_and_wrong_password_look_alike(client, auth):
    auth.register("ada@example.com")
    unknown = client.post(f"{API}/login", json={"email": "nobody@example.com",
                                                "password": PASSWORD})
    wrong = client.post(f"{API}/login", json={"email": "ada@example.com",
                                              "password": "wrong password"})
    assert_problem(unknown, 401)
    assert_problem(wrong, 401)
    assert unknown.get_json() == wrong.get_json()
    assert unknown.headers["WWW-Authenticate"] == wrong.headers["WWW-Authenticate"]


def test_login_invalid_email_is_400_naming_email(client):
    assert_problem(client.post(f"{API}/login", json={"email": "nope", "password": "x"}),
                   400, "email")


def test_disabled_user_with_right_password_gets_403(client, auth, db):
    from usergate.models import User

    auth.register("ada@example.com")
    db.session.execute(db.update(User).values(disabled=True))
    db.session.commit()
    assert_problem(client.post(f"{API}/login", json={"email": "ada@example.com",
                                                     "password": PASSWORD}), 403)
    # A wrong password still says only "wrong credentials".
    assert_problem(client.post(f"{API}/login", json={"email": "ada@example.com",
                                                     "password": "not the one"}), 401)


def test_passwords_differing_only_after_byte_72_do_not_both_log_in(client):
    prefix = "é" * 36  # 72 bytes of UTF-8
    assert len(prefix.encode()) == 72
    client.post(f"{API}/register", json={"email": "long@example.com",
                                         "password": prefix + "-one"})
    ok = client.post(f"{API}/login", json={"email": "long@example.com",
                                           "password": prefix + "-one"})
    other = client.post(f"{API}/login", json={"email": "long@example.com",
                                              "password": prefix + "-two"})
    assert ok.status_code == 200
    assert_problem(other, 401)


# --- token claims -----------------------------------------------------------

def test_access_and_refresh_token_claims(client, auth):
    tokens = auth.register("ada@example.com")
    access, refresh = claims_of(tokens.access), claims_of(tokens.refresh)
    assert header_of(tokens.access)["typ"] == "at+jwt"
    assert header_of(tokens.refresh)["typ"] == "rt+jwt"
    assert header_of(tokens.access)["alg"] == "HS256"
    assert header_of(tokens.access)["kid"] == header_of(tokens.refresh)["kid"]
    assert set(access) == {"iss", "sub", "iat", "nbf", "exp", "jti", "type", "fresh", "admin",
                           "sid"}
    assert set(refresh) == {"iss", "sub", "iat", "nbf", "exp", "jti", "type", "sid"}
    assert access["type"] == "access" and refresh["type"] == "refresh"
    assert access["iss"] == refresh["iss"] == "usergate"
    assert access["sub"] == refresh["sub"] == auth.me(tokens)["id"]
    assert access["sid"] == refresh["sid"]
    assert access["jti"] != refresh["jti"]
    assert access["exp"] - access["iat"] == 900
    assert refresh["exp"] - refresh["iat"] == 30 * 24 * 3600
    assert access["fresh"] is True and access["admin"] is False


def test_fresh_after_login_and_fresh_login_not_after_refresh(client, auth):
    tokens = auth.register("ada@example.com")
    assert auth.me(tokens)["fresh"] is True
    assert claims_of(auth.login("ada@example.com").access)["fresh"] is True
    refreshed = client.post(f"{API}/refresh", headers=tokens.refresh_headers)
    assert refreshed.status_code == 200
    assert_no_store(refreshed)
    new = refreshed.get_json()
    assert claims_of(new["access_token"])["fresh"] is False
    headers = {"Authorization": f"Bearer {new['access_token']}"}
    assert client.get(f"{API}/user", headers=headers).get_json()["fresh"] is False
    fresh = client.post(f"{API}/fresh-login", headers=headers, json={"password": PASSWORD})
    assert fresh.status_code == 200
    assert set(fresh.get_json()) == {"access_token", "token_type", "expires_in"}
    fresh_claims = claims_of(fresh.get_json()["access_token"])
    assert fresh_claims["fresh"] is True
    assert fresh_claims["sid"] == claims_of(tokens.access)["sid"]


def test_fresh_login_wrong_password_is_401(client, auth):
    tokens = auth.register()
    response = client.post(f"{API}/fresh-login", headers=tokens.headers,
                           json={"password": "not my password"})
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_fresh_login_checks_token_before_body(client):
    # No token and a bad body: authentication is reported first.
    response = client.post(f"{API}/fresh-login", data="{bad", content_type="application/json")
    assert_problem(response, 401)


def test_current_user_body(client, auth):
    tokens = auth.register("ada@example.com", name="Ada")
    response = client.get(f"{API}/user", headers=tokens.headers)
    assert_no_store(response)
    body = response.get_json()
    assert body["email"] == "ada@example.com" and body["name"] == "Ada"
    assert body["admin"] is False and body["disabled"] is False
    assert body["registered_on"].endswith("Z")
    assert 895 <= body["token_expires_in"] <= 900
    assert body["session_id"] == claims_of(tokens.access)["sid"]
    assert isinstance(body["id"], str) and len(body["id"]) == 36


# --- rotation and reuse -----------------------------------------------------

def test_refresh_rotates_and_reuse_revokes_the_session(client, auth):
    tokens = auth.register()
    first = client.post(f"{API}/refresh", headers=tokens.refresh_headers).get_json()
    assert first["refresh_token"] != tokens.refresh
    second = client.post(f"{API}/refresh",
                         headers={"Authorization": f"Bearer {first['refresh_token']}"})
    assert second.status_code == 200
    latest = second.get_json()

    replay = client.post(f"{API}/refresh", headers=tokens.refresh_headers)
    assert_problem(replay, 401)
    assert 'error="invalid_token"' in replay.headers["WWW-Authenticate"]

    # The whole session is gone: the newest access and refresh tokens too.
    for token, path, method in ((latest["access_token"], "/user", "get"),
                                (latest["refresh_token"], "/refresh", "post")):
        response = getattr(client, method)(f"{API}{path}",
                                           headers={"Authorization": f"Bearer {token}"})
        assert_problem(response, 401)
    # Another session of the same user is not affected.
    other = auth.login("user1@example.com")
    assert client.get(f"{API}/user", headers=other.headers).status_code == 200


def test_concurrent_refreshes_exactly_one_wins(app, auth):
    tokens = auth.register()
    statuses = []
    barrier = threading.Barrier(20)

    def refresh():
        client = app.test_client()
        barrier.wait()
        statuses.append(client.post(f"{API}/refresh", headers=tokens.refresh_headers)
                        .status_code)

    threads = [threading.Thread(target=refresh) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [401] * 19


# --- logout -----------------------------------------------------------------

def test_logout_blacklists_the_access_token_and_ends_the_session(client, auth, db):
    from usergate.models import BlacklistedToken

    tokens = auth.register()
    response = client.post(f"{API}/logout", headers=tokens.headers)
    assert response.status_code == 204 and response.data == b""
    assert "Content-Type" not in response.headers
    assert_problem(client.get(f"{API}/user", headers=tokens.headers), 401)
    assert_problem(client.post(f"{API}/refresh", headers=tokens.refresh_headers), 401)
    row = db.session.execute(db.select(BlacklistedToken)).scalar_one()
    assert row.jti == claims_of(tokens.access)["jti"]
    assert row.token_type == "access"


def test_logout_prunes_expired_blacklist_rows(client, auth, db, clock):
    from usergate.models import BlacklistedToken

    old = auth.register()
    client.post(f"{API}/logout", headers=old.headers)
    clock.advance(1000)  # the old token is past its expiry now
    new = auth.register()
    client.post(f"{API}/logout", headers=new.headers)
    jtis = db.session.execute(db.select(BlacklistedToken.jti)).scalars().all()
    assert jtis == [claims_of(new.access)["jti"]]


# --- token endpoint (RFC 6749) ---------------------------------------------

def test_token_endpoint_password_and_refresh_grants(client, auth):
    auth.register("ada@example.com")
    response = client.post(f"{API}/token", data={
        "grant_type": "password", "username": "ada@example.com", "password": PASSWORD,
        "scope": "ignored", "client_id": "swagger"})
    assert response.status_code == 200
    assert_no_store(response)
    body = response.get_json()
    assert claims_of(body["access_token"])["fresh"] is True
    refreshed = client.post(f"{API}/token", data={"grant_type": "refresh_token",
                                                  "refresh_token": body["refresh_token"]})
    assert refreshed.status_code == 200
    assert claims_of(refreshed.get_json()["access_token"])["fresh"] is False
    # Reuse: 400 invalid_grant and the session is revoked.
    replay = client.post(f"{API}/token", data={"grant_type": "refresh_token",
                                               "refresh_token": body["refresh_token"]})
    assert replay.status_code == 400
    assert replay.get_json()["error"] == "invalid_grant"
    latest = refreshed.get_json()["access_token"]
    assert client.get(f"{API}/user",
                      headers={"Authorization": f"Bearer {latest}"}).status_code == 401


@pytest.mark.parametrize("data, error", [
    ({}, "invalid_request"),
    ({"grant_type": "authorization_code"}, "unsupported_grant_type"),
    ({"grant_type": "password", "username": "ada@example.com"}, "invalid_request"),
    ({"grant_type": "password", "username": "ada@example.com", "password": "wrong pw"},
     "invalid_grant"),
    ({"grant_type": "password", "username": "nobody@example.com", "password": PASSWORD},
     "invalid_grant"),
    ({"grant_type": "password", "username": "not an email", "password": PASSWORD},
     "invalid_grant"),
    ({"grant_type": "refresh_token"}, "invalid_request"),
    ({"grant_type": "refresh_token", "refresh_token": "garbage"}, "invalid_grant"),
])
def test_token_endpoint_errors_follow_rfc6749(client, auth, data, error):
    auth.register("ada@example.com")
    response = client.post(f"{API}/token", data=data)
    assert response.status_code == 400
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"] == error and body["error_description"]
    assert_no_store(response)


def test_token_endpoint_rejects_json_and_access_tokens(client, auth):
    tokens = auth.register("ada@example.com")
    response = client.post(f"{API}/token", json={"grant_type": "password"})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"
    # An access token is not a refresh token.
    response = client.post(f"{API}/token", data={"grant_type": "refresh_token",
                                                 "refresh_token": tokens.access})
    assert response.get_json()["error"] == "invalid_grant"


def test_token_endpoint_disabled_user_is_invalid_grant(client, auth, db):
    from usergate.models import User

    auth.register("ada@example.com")
    db.session.execute(db.update(User).values(disabled=True))
    db.session.commit()
    response = client.post(f"{API}/token", data={
        "grant_type": "password", "username": "ada@example.com", "password": PASSWORD})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"


# --- rate limits ------------------------------------------------------------

def test_auth_endpoints_are_rate_limited_with_problem_json(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_AUTH="3/minute")
    client = app.test_client()
    for _ in range(3):
        response = client.post(f"{API}/login", json={"email": "a@example.com", "password": "x"})
        assert response.status_code == 401
    limited = client.post(f"{API}/login", json={"email": "a@example.com", "password": "x"})
    assert_problem(limited, 429)
    assert int(limited.headers["Retry-After"]) > 0
    # Rate limits come before authentication and validation...
    limited_token = client.post(f"{API}/token", data={})
    assert limited_token.status_code == 400  # each endpoint has its own budget
    for _ in range(3):
        client.post(f"{API}/token", data={})
    limited_token = client.post(f"{API}/token", data={})
    # ...and a 429 at the token endpoint is problem JSON like everywhere else.
    assert_problem(limited_token, 429)


# --- the CLI ------------------------------------------------------------------

def test_cli_creates_users_and_admins(app, client):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create", "Root@Example.com", "--password",
                                 PASSWORD, "--admin"])
    assert result.exit_code == 0, result.output
    assert "created admin Root@example.com" in result.output
    tokens = AuthActions(app, client).login("root@example.com")
    assert claims_of(tokens.access)["admin"] is True
    again = runner.invoke(args=["users", "create", "root@example.com", "--password", PASSWORD])
    assert again.exit_code != 0 and "already exists" in again.output
    bad = runner.invoke(args=["users", "create", "nope", "--password", "short"])
    assert bad.exit_code != 0 and "email" in bad.output and "password" in bad.output


def test_register_blank_name_is_stored_as_no_name(client, auth):
    tokens = auth.register("blank@example.com", name="   ")
    assert auth.me(tokens)["name"] is None


def test_blacklist_rows_are_kept_while_leeway_still_accepts_the_token(make_app, clock):
    from usergate.extensions import db
    from usergate.models import BlacklistedToken

    app = make_app(JWT_LEEWAY=60)
    client = app.test_client()
    auth = AuthActions(app, client)
    old = auth.register()
    client.post(f"{API}/logout", headers=old.headers)
    clock.advance(900 + 10)  # past exp, inside the leeway: the token would still verify
    client.post(f"{API}/logout", headers=auth.register().headers)  # prunes a batch
    with app.app_context():
        jtis = set(db.session.execute(db.select(BlacklistedToken.jti)).scalars())
    assert claims_of(old.access)["jti"] in jtis
    clock.advance(60)  # now past exp + leeway
    client.post(f"{API}/logout", headers=auth.register().headers)
    with app.app_context():
        jtis = set(db.session.execute(db.select(BlacklistedToken.jti)).scalars())
    assert claims_of(old.access)["jti"] not in jtis
