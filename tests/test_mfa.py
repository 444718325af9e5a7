"""Two-factor sign-in (docs/mfa.md) through the real stack, pyotp as the authenticator app."""

from __future__ import annotations

import base64
import threading
from urllib.parse import parse_qs, unquote, urlparse

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from helpers.concurrency import in_threads
from mfa_support import (
    API,
    claims_of,
    code_at,
    early_in_next_step,
    enable_mfa,
    header_of,
    mfa_token,
    server_now,
    verify,
)
from support import PASSWORD, assert_problem
from usergate import create_app
from usergate.config import ConfigError
from usergate.extensions import db as _db


@pytest.fixture
def ada(client, auth, clock):
    tokens = auth.register("ada@example.com")
    return enable_mfa(client, tokens, "ada@example.com", clock)


def test_the_whole_flow_enrol_confirm_login_verify(client, auth, clock):
    tokens = auth.register("ada@example.com")
    assert auth.me(tokens)["mfa_enabled"] is False

    response = client.post(f"{API}/mfa/totp", headers=tokens.headers)
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    enrolment = response.get_json()
    uri = urlparse(enrolment["otpauth_uri"])
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert unquote(uri.path) == "/usergate:ada@example.com"
    query = parse_qs(uri.query)
    assert query["secret"] == [enrolment["secret"]] and query["issuer"] == ["usergate"]
    assert len(base64.b32decode(enrolment["secret"])) == 20  # 160 bits
    assert enrolment["qr_svg"].startswith("<svg") and enrolment["qr_svg"].endswith("</svg>\n")
    # Not on before the first code: login is still one step.
    assert auth.login("ada@example.com").access

    response = client.post(f"{API}/mfa/totp/confirm", headers=tokens.headers,
                           json={"code": code_at(enrolment["secret"])})
    assert response.status_code == 200, response.get_json()
    codes = response.get_json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert auth.me(tokens)["mfa_enabled"] is True
    early_in_next_step(clock)

    response = client.post(f"{API}/login", json={"email": "ada@example.com",
                                                 "password": PASSWORD})
    body = assert_problem(response, 401)
    assert body["code"] == "mfa_required" and "access_token" not in body
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="usergate"'
    assert response.headers["Cache-Control"] == "no-store"
    token = body["mfa_token"]
    assert header_of(token)["typ"] == "mfa+jwt"
    claims = claims_of(token)
    assert claims["type"] == "mfa" and claims["exp"] - claims["iat"] == 300
    assert body["mfa_token_expires_in"] == 300

    response = verify(client, token, code=code_at(enrolment["secret"]))
    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    signed_in = response.get_json()
    assert set(signed_in) == {"access_token", "token_type", "expires_in", "refresh_token",
                              "refresh_expires_in"}
    me = client.get(f"{API}/user", headers={"Authorization":
                                            f"Bearer {signed_in['access_token']}"}).get_json()
    assert me["email"] == "ada@example.com" and me["fresh"] is True and me["mfa_enabled"]
    refreshed = client.post(f"{API}/refresh", headers={
        "Authorization": f"Bearer {signed_in['refresh_token']}"})
    assert refreshed.status_code == 200


def test_a_wrong_password_of_a_two_factor_account_is_the_plain_401(client, ada):
    response = client.post(f"{API}/login", json={"email": ada.email, "password": "wrong pw!"})
    body = assert_problem(response, 401)
    assert body["code"] == "invalid_credentials" and "mfa_token" not in body


def test_a_code_is_accepted_once_a_replay_in_its_step_is_refused(client, ada):
    code = code_at(ada.secret)
    assert verify(client, mfa_token(client, ada.email), code=code).status_code == 200
    response = verify(client, mfa_token(client, ada.email), code=code)
    body = assert_problem(response, 401, "code")
    assert body["code"] == "invalid_mfa_code" and "used already" in body["errors"]["code"][0]


def test_the_confirmation_code_cannot_be_used_again_to_sign_in(client, auth, clock):
    tokens = auth.register("ada@example.com")
    secret = client.post(f"{API}/mfa/totp", headers=tokens.headers).get_json()["secret"]
    early_in_next_step(clock)
    code = code_at(secret)
    assert client.post(f"{API}/mfa/totp/confirm", headers=tokens.headers,
                       json={"code": code}).status_code == 200
    assert_problem(verify(client, mfa_token(client, "ada@example.com"), code=code), 401, "code")


def test_one_step_either_side_is_accepted_two_are_refused(client, ada, clock):
    early_in_next_step(clock)
    for offset in (-2, 2, 3, -3):
        response = verify(client, mfa_token(client, ada.email), code=code_at(ada.secret, offset))
        assert_problem(response, 401, "code")
    # One step behind (a slow phone): accepted, and the step is now spent.
    assert verify(client, mfa_token(client, ada.email),
                  code=code_at(ada.secret, -1)).status_code == 200
    # One step ahead: accepted too (its step is later than the last one accepted).
    assert verify(client, mfa_token(client, ada.email),
                  code=code_at(ada.secret, +1)).status_code == 200
    # Now the current step is behind the last one accepted: refused as a replay.
    response = verify(client, mfa_token(client, ada.email), code=code_at(ada.secret))
    assert_problem(response, 401, "code")


def test_a_recovery_code_works_once_in_any_case_and_with_or_without_dashes(client, ada):
    first, second = ada.recovery_codes[:2]
    assert verify(client, mfa_token(client, ada.email), recovery_code=first).status_code == 200
    response = verify(client, mfa_token(client, ada.email), recovery_code=first)
    body = assert_problem(response, 401, "recovery_code")
    assert body["code"] == "invalid_mfa_code"
    typed = second.replace("-", "").upper()
    assert verify(client, mfa_token(client, ada.email), code=typed).status_code == 200
    assert_problem(verify(client, mfa_token(client, ada.email), code=second), 401, "code")


def test_verify_needs_exactly_one_factor_and_names_bad_fields(client, ada):
    token = mfa_token(client, ada.email)
    assert_problem(verify(client, token), 400, "code", "recovery_code")
    assert_problem(verify(client, token, code=code_at(ada.secret),
                          recovery_code=ada.recovery_codes[0]), 400, "code", "recovery_code")
    assert_problem(verify(client, token, code=123456), 400, "code")
    assert_problem(verify(client, token, code="1", extra=True), 400, "extra")
    # None of these spent the token or the code.
    assert verify(client, token, code=code_at(ada.secret)).status_code == 200


def test_the_mfa_token_works_once_for_five_minutes_and_only_at_verify(app, client, auth, ada,
                                                                     clock):
    token = mfa_token(client, ada.email)
    assert verify(client, token, code=code_at(ada.secret)).status_code == 200
    early_in_next_step(clock)
    response = verify(client, token, code=code_at(ada.secret))
    assert_problem(response, 401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert "already used" in response.get_json()["detail"]

    expiring = mfa_token(client, ada.email)
    clock.advance(301)
    early_in_next_step(clock)
    response = verify(client, expiring, code=code_at(ada.secret))
    assert_problem(response, 401)
    assert "expired" in response.get_json()["detail"]

    # An access token or a refresh token is not an mfa token.
    other = auth.register("grace@example.com")
    for bearer in (other.access, other.refresh):
        response = verify(client, bearer, code="123456")
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def _bearer_operations(app):
    with app.test_request_context():
        spec = app.test_client().get("/api/v1/swagger.json").get_json()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters" or not operation.get("security"):
                continue
            yield method, "/api/v1" + path.replace("{user_id}", "5f0c6a0e-8a57-4a50-9a53-"
                                                  "0f2f3c9d1e11").replace(
                "{address_id}", "5f0c6a0e-8a57-4a50-9a53-0f2f3c9d1e12").replace(
                "{session_id}", "5f0c6a0e-8a57-4a50-9a53-0f2f3c9d1e13")


def test_every_other_endpoint_refuses_the_mfa_token_as_invalid_token(app, client, ada):
    token = mfa_token(client, ada.email)
    operations = [(m, p) for m, p in _bearer_operations(app) if not p.endswith("/mfa/verify")]
    assert len(operations) > 20
    for method, path in operations:
        assert "{" not in path, path
        response = client.open(path, method=method.upper(), json={},
                               headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, (method, path, response.get_json())
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"], (method, path)
    # The token endpoint's refresh grant refuses it too.
    response = client.post(f"{API}/token", data={"grant_type": "refresh_token",
                                                 "refresh_token": token})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"
    # ...and after all that it still works where it belongs.
    assert verify(client, token, code=code_at(ada.secret)).status_code == 200


def test_the_password_grant_says_two_factor_accounts_sign_in_elsewhere(client, ada):
    response = client.post(f"{API}/token", data={"grant_type": "password",
                                                 "username": ada.email, "password": PASSWORD})
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid_grant"
    assert "two factors" in body["error_description"]
    assert "/auth/mfa/verify" in body["error_description"]
    wrong = client.post(f"{API}/token", data={"grant_type": "password",
                                              "username": ada.email, "password": "wrong pw!"})
    assert "two factors" not in wrong.get_json()["error_description"]


def test_fresh_login_ends_in_a_fresh_access_token_of_the_same_session(client, auth, ada, clock):
    signed_in = verify(client, mfa_token(client, ada.email), code=code_at(ada.secret)).get_json()
    headers = {"Authorization": f"Bearer {signed_in['access_token']}"}
    clock.advance(901)  # no longer fresh
    early_in_next_step(clock)
    refreshed = client.post(f"{API}/refresh", headers={
        "Authorization": f"Bearer {signed_in['refresh_token']}"}).get_json()
    headers = {"Authorization": f"Bearer {refreshed['access_token']}"}
    assert client.post(f"{API}/logout-all", headers=headers).status_code == 401

    response = client.post(f"{API}/fresh-login", headers=headers, json={"password": PASSWORD})
    body = assert_problem(response, 401)
    assert body["code"] == "mfa_required"
    token = body["mfa_token"]
    assert claims_of(token)["purpose"] == "fresh-login"
    assert claims_of(token)["sid"] == claims_of(refreshed["access_token"])["sid"]

    response = verify(client, token, code=code_at(ada.secret))
    assert response.status_code == 200, response.get_json()
    fresh = response.get_json()
    assert set(fresh) == {"access_token", "token_type", "expires_in"}
    assert claims_of(fresh["access_token"])["sid"] == claims_of(refreshed["access_token"])["sid"]
    fresh_headers = {"Authorization": f"Bearer {fresh['access_token']}"}
    assert client.get(f"{API}/user", headers=fresh_headers).get_json()["fresh"] is True
    # The session's refresh token still rotates: same session.
    assert client.post(f"{API}/refresh", headers={
        "Authorization": f"Bearer {refreshed['refresh_token']}"}).status_code == 200
    assert client.post(f"{API}/logout-all", headers=fresh_headers).status_code == 204


def test_a_fresh_login_mfa_token_of_a_revoked_session_is_refused(client, ada):
    signed_in = verify(client, mfa_token(client, ada.email), recovery_code=ada.recovery_codes[0])
    headers = {"Authorization": f"Bearer {signed_in.get_json()['access_token']}"}
    token = client.post(f"{API}/fresh-login", headers=headers,
                        json={"password": PASSWORD}).get_json()["mfa_token"]
    assert client.post(f"{API}/logout", headers=headers).status_code == 204
    response = verify(client, token, code=code_at(ada.secret))
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert "revoked" in response.get_json()["detail"]


def test_enrol_confirm_and_disable_need_a_fresh_token(client, auth, clock):
    tokens = auth.register("ada@example.com")
    refreshed = client.post(f"{API}/refresh", headers=tokens.refresh_headers).get_json()
    headers = {"Authorization": f"Bearer {refreshed['access_token']}"}  # never fresh
    for method, path in (("POST", "/mfa/totp"), ("POST", "/mfa/totp/confirm"),
                         ("DELETE", "/mfa/totp"), ("POST", "/mfa/recovery-codes")):
        response = client.open(f"{API}{path}", method=method, headers=headers,
                               json={"code": "123456"})
        assert response.status_code == 401, path
        assert "insufficient_user_authentication" in response.headers["WWW-Authenticate"]


def test_confirm_refuses_a_wrong_code_and_enrol_twice_is_a_conflict(client, auth, ada):
    other = auth.register("grace@example.com")
    secret = client.post(f"{API}/mfa/totp", headers=other.headers).get_json()["secret"]
    wrong = str((int(code_at(secret)) + 1) % 1_000_000).zfill(6)
    response = client.post(f"{API}/mfa/totp/confirm", headers=other.headers,
                           json={"code": wrong})
    assert_problem(response, 400, "code")
    assert_problem(client.post(f"{API}/mfa/totp/confirm", headers=other.headers,
                               json={"code": "12345"}), 400, "code")
    assert auth.me(other)["mfa_enabled"] is False
    assert_problem(client.post(f"{API}/mfa/totp", headers=ada.tokens.headers), 409)
    assert_problem(client.post(f"{API}/mfa/totp/confirm", headers=ada.tokens.headers,
                               json={"code": code_at(ada.secret)}), 409)
    third = auth.register("alan@example.com")
    assert_problem(client.post(f"{API}/mfa/totp/confirm", headers=third.headers,
                               json={"code": "123456"}), 409)


def test_disable_with_a_code_or_a_recovery_code(client, auth, ada, clock):
    wrong = client.delete(f"{API}/mfa/totp", headers=ada.tokens.headers,
                          json={"recovery_code": "aaaa-bbbb-cccc-dddd"})
    assert_problem(wrong, 400, "recovery_code")
    response = client.delete(f"{API}/mfa/totp", headers=ada.tokens.headers,
                             json={"code": code_at(ada.secret)})
    assert response.status_code == 204
    assert auth.me(ada.tokens)["mfa_enabled"] is False
    assert auth.login(ada.email).access  # one step again
    assert_problem(client.delete(f"{API}/mfa/totp", headers=ada.tokens.headers,
                                 json={"code": code_at(ada.secret)}), 409)

    again = enable_mfa(client, ada.tokens, ada.email, clock)
    response = client.delete(f"{API}/mfa/totp", headers=ada.tokens.headers,
                             json={"code": again.recovery_codes[3]})
    assert response.status_code == 204
    assert auth.login(ada.email).access


def test_an_mfa_token_issued_before_disabling_is_refused(client, ada):
    token = mfa_token(client, ada.email)
    assert client.delete(f"{API}/mfa/totp", headers=ada.tokens.headers,
                         json={"recovery_code": ada.recovery_codes[0]}).status_code == 204
    response = verify(client, token, code=code_at(ada.secret))
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_new_recovery_codes_replace_the_old_ones(client, ada):
    response = client.post(f"{API}/mfa/recovery-codes", headers=ada.tokens.headers,
                           json={"code": code_at(ada.secret)})
    assert response.status_code == 200, response.get_json()
    new = response.get_json()["recovery_codes"]
    assert len(new) == 10 and not set(new) & set(ada.recovery_codes)
    assert_problem(verify(client, mfa_token(client, ada.email),
                          recovery_code=ada.recovery_codes[5]), 401, "recovery_code")
    assert verify(client, mfa_token(client, ada.email),
                  recovery_code=new[5]).status_code == 200
    assert_problem(client.post(f"{API}/mfa/recovery-codes", headers=ada.tokens.headers,
                               json={"code": "000000"}), 400, "code")


def test_admin_reset_turns_two_factor_off_and_revokes_every_session(client, auth, ada):
    user_id = auth.me(ada.tokens)["id"]
    second = verify(client, mfa_token(client, ada.email), code=code_at(ada.secret)).get_json()
    not_admin = auth.register("grace@example.com")
    response = client.delete(f"/api/v1/users/{user_id}/mfa", headers=not_admin.headers)
    assert response.status_code == 403
    admin = auth.admin()
    assert client.get(f"/api/v1/users/{user_id}",
                      headers=admin.headers).get_json()["mfa_enabled"] is True
    assert client.delete("/api/v1/users/5f0c6a0e-8a57-4a50-9a53-0f2f3c9d1e11/mfa",
                         headers=admin.headers).status_code == 404

    response = client.delete(f"/api/v1/users/{user_id}/mfa", headers=admin.headers)
    assert response.status_code == 204
    for access in (ada.tokens.access, second["access_token"]):
        response = client.get(f"{API}/user", headers={"Authorization": f"Bearer {access}"})
        assert response.status_code == 401
    assert client.post(f"{API}/refresh", headers={
        "Authorization": f"Bearer {second['refresh_token']}"}).status_code == 401
    assert client.get(f"/api/v1/users/{user_id}",
                      headers=admin.headers).get_json()["mfa_enabled"] is False
    assert auth.login(ada.email).access  # the password alone again


def test_the_database_holds_no_secret_or_recovery_code_in_clear(app, client, ada):
    used = ada.recovery_codes[0]
    assert verify(client, mfa_token(client, ada.email), recovery_code=used).status_code == 200
    with app.app_context():
        rows = [tuple(row) for table in ("mfa_totp", "mfa_recovery_codes", "users",
                                         "token_blacklist", "sessions")
                for row in _db.session.execute(text(f"SELECT * FROM {table}"))]  # noqa: S608
    stored = " ".join(str(value) for row in rows for value in row)
    assert ada.secret not in stored and ada.secret.lower() not in stored
    for code in ada.recovery_codes:
        for form in (code, code.replace("-", ""), code.upper()):
            assert form not in stored
    with app.app_context():
        sealed, last_step = _db.session.execute(
            text("SELECT secret_sealed, last_step FROM mfa_totp")).one()
        hashes = _db.session.execute(text("SELECT code_hash, used_at FROM mfa_recovery_codes")
                                     ).all()
    assert len(hashes) == 10 and sum(used_at is not None for _, used_at in hashes) == 1
    assert last_step is not None and last_step <= server_now() // 30
    # Sealed with a key derived from SECRET_KEY (MFA_ENCRYPTION_KEY unset): the
    # configured one opens it; Fernet under a different key does not.
    from usergate.services.mfa import mfa_keys

    with app.app_context():
        assert mfa_keys().derived and mfa_keys().open(sealed) == ada.secret
    with pytest.raises(Exception):  # noqa: B017 - InvalidToken
        Fernet(Fernet.generate_key()).decrypt(sealed.encode())


def test_mfa_encryption_key_seals_the_secret(make_app):
    key = Fernet.generate_key().decode()
    app = make_app(MFA_ENCRYPTION_KEY=key)
    client, auth = app.test_client(), None
    from support import AuthActions

    auth = AuthActions(app, client)
    tokens = auth.register("ada@example.com")
    secret = client.post(f"{API}/mfa/totp", headers=tokens.headers).get_json()["secret"]
    with app.app_context():
        sealed = _db.session.execute(text("SELECT secret_sealed FROM mfa_totp")).scalar_one()
    assert Fernet(key).decrypt(sealed.encode()).decode() == secret


def test_a_malformed_mfa_encryption_key_refuses_to_start(tmp_path):
    with pytest.raises(ConfigError, match="MFA_ENCRYPTION_KEY"):
        create_app({"USERGATE_CONFIG": "testing", "MFA_ENCRYPTION_KEY": "not-a-fernet-key",
                    "DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}"})


def test_production_refuses_to_start_when_the_key_cannot_open_stored_secrets(tmp_path, clock):
    from support import AuthActions

    url = f"sqlite:///{tmp_path / 'prod.db'}"
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    base = {"DATABASE_URL": url, "BCRYPT_LOG_ROUNDS": 4, "SECRET_KEY": "p" * 48,
            "RATELIMIT_ENABLED": False}
    # No two-factor users yet: any key will do.
    create_app({**base, "USERGATE_CONFIG": "production", "MFA_ENCRYPTION_KEY": new_key})
    app = create_app({**base, "USERGATE_CONFIG": "testing", "MFA_ENCRYPTION_KEY": old_key})
    with app.app_context():
        _db.create_all()
    client = app.test_client()
    enable_mfa(client, AuthActions(app, client).register("ada@example.com"),
               "ada@example.com", clock)
    with app.app_context():
        _db.engine.dispose()

    with pytest.raises(ConfigError, match="do not decrypt"):
        create_app({**base, "USERGATE_CONFIG": "production", "MFA_ENCRYPTION_KEY": new_key})
    with pytest.raises(ConfigError, match="do not decrypt"):  # the key derived from SECRET_KEY
        create_app({**base, "USERGATE_CONFIG": "production"})
    create_app({**base, "USERGATE_CONFIG": "production", "MFA_ENCRYPTION_KEY": old_key})
    # Rotation: a new key in front, the old one after it.
    create_app({**base, "USERGATE_CONFIG": "production",
                "MFA_ENCRYPTION_KEY": f"{new_key},{old_key}"})


def _ada_on_a_file_database(make_app, tmp_path, clock):
    """An app on a SQLite file of its own (threads share it), its client, and Ada with a
    second factor."""
    from support import AuthActions

    app = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'race.db'}")
    client = app.test_client()
    ada = enable_mfa(client, AuthActions(app, client).register("ada@example.com"),
                     "ada@example.com", clock)
    return app, client, ada


def _concurrent_verifies(app, attempts: list[tuple[str, dict]]) -> list[int]:
    """The statuses of verify(token, **fields) for each (token, fields), each from a
    thread and test client of its own, all released at the same moment."""
    barrier = threading.Barrier(len(attempts))
    results: list[int] = []

    def attempt(n: int) -> None:
        own = app.test_client()
        token, fields = attempts[n]
        barrier.wait()
        results.append(verify(own, token, **fields).status_code)

    in_threads(attempt, len(attempts))
    return results


def test_twenty_concurrent_verifies_with_one_code_exactly_one_succeeds(make_app, tmp_path,
                                                                      clock):
    """Threads on a file SQLite database; each has an mfa token of its own, so only the
    conditional UPDATE of last_step decides (tests/test_mfa_gunicorn.py: PostgreSQL)."""
    app, client, ada = _ada_on_a_file_database(make_app, tmp_path, clock)
    tokens = [mfa_token(client, ada.email) for _ in range(20)]
    code = code_at(ada.secret)
    results = _concurrent_verifies(app, [(token, {"code": code}) for token in tokens])
    # Every attempt takes a slot of the account's failure count, so past
    # LOGIN_MAX_FAILURES the losers may be refused by the lock (429) before their code
    # is tried; either way exactly one wins.
    assert results.count(200) == 1 and set(results) <= {200, 401, 429}, results
    assert results.count(401) >= app.config["LOGIN_MAX_FAILURES"] - 1, results
    with app.app_context():
        sessions = _db.session.execute(text("SELECT count(*) FROM sessions")).scalar_one()
    assert sessions == 2  # the registration's and the one winner's


def test_twenty_concurrent_verifies_with_one_mfa_token_exactly_one_succeeds(make_app,
                                                                           tmp_path, clock):
    app, client, ada = _ada_on_a_file_database(make_app, tmp_path, clock)
    token = mfa_token(client, ada.email)
    codes = ada.recovery_codes * 2
    assert len(codes) == 20
    results = _concurrent_verifies(app, [(token, {"recovery_code": code}) for code in codes])
    assert results.count(200) == 1 and set(results) <= {200, 401, 429}, results


def test_wrong_codes_lock_the_account_as_wrong_passwords_do(app, client, ada, clock):
    limit = app.config["LOGIN_MAX_FAILURES"]
    token = mfa_token(client, ada.email)
    wrong = f"{(int(code_at(ada.secret)) + 500_000) % 1_000_000:06d}"
    for _ in range(limit):
        response = verify(client, token, code=wrong)
        assert_problem(response, 401)
        assert response.get_json()["code"] == "invalid_mfa_code"

    # Locked: the right code is not even tried, and the password is locked with it.
    locked = verify(client, token, code=code_at(ada.secret))
    assert_problem(locked, 429)
    assert locked.get_json()["code"] == "too_many_failures"
    assert 0 < int(locked.headers["Retry-After"]) <= app.config["LOGIN_LOCKOUT"]
    login = client.post(f"{API}/login", json={"email": ada.email, "password": PASSWORD})
    assert_problem(login, 429)
    with app.app_context():
        events = dict(_db.session.execute(text(
            "SELECT type, count(*) FROM audit_events GROUP BY type")).all())
    assert events["account_locked"] == 1
    assert events["login_failed"] == limit

    clock.advance(app.config["LOGIN_LOCKOUT"] + 1)
    assert verify(client, mfa_token(client, ada.email), code=code_at(ada.secret)
                  ).status_code == 200


def test_a_right_code_clears_the_failure_count(app, client, ada, clock):
    limit = app.config["LOGIN_MAX_FAILURES"]
    # Both tokens first: a right password clears the count as well.
    first, second = mfa_token(client, ada.email), mfa_token(client, ada.email)
    for token in (first, second):
        wrong = f"{(int(code_at(ada.secret)) + 500_000) % 1_000_000:06d}"
        for _ in range(limit - 1):
            assert verify(client, token, code=wrong).status_code == 401
        # Without the clearing, the second round's last wrong code would be the lock.
        assert verify(client, token, code=code_at(ada.secret)).status_code == 200
        early_in_next_step(clock)  # the next round's code is a new one


def test_wrong_codes_when_signed_in_count_too(app, client, ada):
    """Turning two-factor off with guessed codes meets the same lock."""
    body = verify(client, mfa_token(client, ada.email), code=code_at(ada.secret)).get_json()
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    wrong = f"{(int(code_at(ada.secret)) + 500_000) % 1_000_000:06d}"
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert_problem(client.delete(f"{API}/mfa/totp", json={"code": wrong},
                                     headers=headers), 400)
    locked = client.delete(f"{API}/mfa/totp", json={"code": code_at(ada.secret)},
                           headers=headers)
    assert_problem(locked, 429)
    assert locked.get_json()["code"] == "too_many_failures"


def test_verify_delivers_the_refresh_token_as_login_would_by_cookie(client, ada):
    response = client.post(f"{API}/mfa/verify?transport=cookie", json={
        "code": code_at(ada.secret)}, headers={"Authorization":
                                               f"Bearer {mfa_token(client, ada.email)}"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert "refresh_token" not in body and body["csrf_token"]
    cookies = response.headers.getlist("Set-Cookie")
    assert any(c.startswith("usergate_refresh=") and "HttpOnly" in c for c in cookies)
    assert_problem(client.post(f"{API}/mfa/verify?transport=pigeon", json={"code": "1"},
                               headers={"Authorization":
                                        f"Bearer {mfa_token(client, ada.email)}"}),
                   400, "transport")


def test_deleting_a_two_factor_user_deletes_their_secret_and_codes(app, client, auth, ada):
    admin = auth.admin()
    user_id = auth.me(ada.tokens)["id"]
    assert client.delete(f"/api/v1/users/{user_id}", headers=admin.headers).status_code == 204
    with app.app_context():
        for table in ("mfa_totp", "mfa_recovery_codes"):
            count = _db.session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()  # noqa: S608
            assert count == 0, table
