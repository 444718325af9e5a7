"""Every row of docs/api.md "Bearer errors": status, WWW-Authenticate, problem JSON."""

from __future__ import annotations

import re

import jwt
import pytest

from helpers.problems import assert_problem

USER = "/api/v1/auth/user"
# RFC 6750 §3: error_description = 1*( %x20-21 / %x23-5B / %x5D-7E )
DESCRIPTION = re.compile(r'error_description="([\x20\x21\x23-\x5b\x5d-\x7e]+)"')


def challenge(response) -> str:
    value = response.headers.get("WWW-Authenticate")
    assert value, "no WWW-Authenticate header"
    return value


def assert_bearer_error(response, status: int, error: str, **params) -> str:
    assert_problem(response, status)
    value = challenge(response)
    assert value.startswith('Bearer realm="usergate", ')
    assert f'error="{error}"' in value
    match = DESCRIPTION.search(value)
    assert match, f"error_description missing or holds characters RFC 6750 forbids: {value}"
    for name, expected in params.items():
        assert f'{name}="{expected}"' in value
    assert response.get_json()["code"] == error
    return value


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"Authorization": "Digest username=x"},
    {"Authorization": ""},
])
def test_no_credentials_or_other_scheme_is_401_without_error_code(client, headers):
    response = client.get(USER, headers=headers)
    assert_problem(response, 401)
    assert challenge(response) == 'Bearer realm="usergate"'


@pytest.mark.parametrize("value", [
    "Bearer",
    "Bearer ",
    "Bearer a.b.c d.e.f",
    "Bearer abc$def",
    'Bearer "quoted"',
    "Bearer abc\\def",
])
def test_malformed_bearer_credentials_are_400_invalid_request(client, value):
    response = client.get(USER, headers={"Authorization": value})
    assert_bearer_error(response, 400, "invalid_request")


def test_token_in_header_and_query_is_400(client, auth):
    tokens = auth.register()
    response = client.get(f"{USER}?access_token={tokens.access}", headers=tokens.headers)
    assert_bearer_error(response, 400, "invalid_request")


def test_token_in_header_and_form_body_is_400(client, auth):
    tokens = auth.register()
    response = client.post("/api/v1/auth/logout", headers=tokens.headers,
                           data={"access_token": tokens.access})
    assert_bearer_error(response, 400, "invalid_request")
    # The session is untouched: the token still works.
    assert client.get(USER, headers=tokens.headers).status_code == 200


def test_scheme_name_is_case_insensitive(client, auth):
    tokens = auth.register()
    for scheme in ("bearer", "BEARER", "Bearer"):
        response = client.get(USER, headers={"Authorization": f"{scheme} {tokens.access}"})
        assert response.status_code == 200


def test_bad_signature_is_401_invalid_token(client, auth):
    tokens = auth.register()
    head, body, signature = tokens.access.split(".")
    forged = f"{head}.{body}.{signature[:-4]}AAAA"
    assert_bearer_error(client.get(USER, headers={"Authorization": f"Bearer {forged}"}),
                        401, "invalid_token")


def test_expired_token_is_401_invalid_token(client, auth, clock):
    tokens = auth.register()
    clock.advance(901)
    value = assert_bearer_error(client.get(USER, headers=tokens.headers), 401, "invalid_token")
    assert "expired" in value


def test_not_yet_valid_token_is_401(client, auth, clock):
    clock.advance(600)  # issued "in the future" relative to the real clock
    tokens = auth.register()
    clock.reset()
    assert_bearer_error(client.get(USER, headers=tokens.headers), 401, "invalid_token")


def test_refresh_token_where_access_expected_is_401(client, auth):
    tokens = auth.register()
    assert_bearer_error(client.get(USER, headers=tokens.refresh_headers), 401, "invalid_token")


def test_access_token_where_refresh_expected_is_401(client, auth):
    tokens = auth.register()
    assert_bearer_error(client.post("/api/v1/auth/refresh", headers=tokens.headers),
                        401, "invalid_token")


def test_wrong_issuer_is_401(make_app):
    app = make_app()
    other = make_app(JWT_ISSUER="someone-else")
    response = other.test_client().post("/api/v1/auth/register", json={
        "email": "x@example.com", "password": "long enough pw"})
    token = response.get_json()["access_token"]
    value = assert_bearer_error(
        app.test_client().get(USER, headers={"Authorization": f"Bearer {token}"}),
        401, "invalid_token")
    assert "issued by someone else" in value


def test_blacklisted_token_is_401(client, auth):
    tokens = auth.register()
    assert client.post("/api/v1/auth/logout", headers=tokens.headers).status_code == 204
    assert_bearer_error(client.get(USER, headers=tokens.headers), 401, "invalid_token")


def test_revoked_session_is_401(client, auth):
    tokens = auth.register()
    refreshed = client.post("/api/v1/auth/refresh", headers=tokens.refresh_headers).get_json()
    # Reuse of the spent refresh token revokes the session...
    client.post("/api/v1/auth/refresh", headers=tokens.refresh_headers)
    # ...so even the newest access token of that session is refused.
    headers = {"Authorization": f"Bearer {refreshed['access_token']}"}
    assert_bearer_error(client.get(USER, headers=headers), 401, "invalid_token")


def test_user_gone_is_401(app, client, auth, db):
    from usergate.models import User

    tokens = auth.register("gone@example.com")
    db.session.delete(db.session.execute(db.select(User)).scalar_one())
    db.session.commit()
    assert_bearer_error(client.get(USER, headers=tokens.headers), 401, "invalid_token")


def test_disabled_user_token_is_401(client, auth, db):
    from usergate.models import User

    tokens = auth.register("off@example.com")
    user = db.session.execute(db.select(User)).scalar_one()
    user.disabled = True
    db.session.commit()
    assert_bearer_error(client.get(USER, headers=tokens.headers), 401, "invalid_token")


def test_not_fresh_where_fresh_required_is_401_insufficient_user_authentication(
        app, client, auth):
    from flask_restx import Resource

    from usergate.api.guards import fresh_token_required

    # A probe route on the real app, protected by the real decorator.
    @app.route("/probe/fresh", methods=["GET"])
    @fresh_token_required
    def probe():
        return {"ok": True}

    assert Resource  # the decorator works on plain views as on Resources
    tokens = auth.register()
    assert client.get("/probe/fresh", headers=tokens.headers).status_code == 200
    refreshed = client.post("/api/v1/auth/refresh", headers=tokens.refresh_headers).get_json()
    response = client.get("/probe/fresh",
                          headers={"Authorization": f"Bearer {refreshed['access_token']}"})
    assert_bearer_error(response, 401, "insufficient_user_authentication", max_age="900")


def test_fresh_token_goes_stale_after_max_age(make_app, clock):
    from helpers.accounts import AuthActions
    from usergate.api.guards import fresh_token_required

    clock.freeze()  # 899 s then 901 s of age, to the second: no second may turn meanwhile
    app = make_app(JWT_ACCESS_TOKEN_EXPIRES=3600)
    client = app.test_client()
    auth = AuthActions(app, client)

    @app.route("/probe/fresh2")
    @fresh_token_required
    def probe():
        return {"ok": True}

    tokens = auth.register()
    clock.advance(899)
    assert client.get("/probe/fresh2", headers=tokens.headers).status_code == 200
    clock.advance(2)
    assert_bearer_error(client.get("/probe/fresh2", headers=tokens.headers), 401,
                        "insufficient_user_authentication", max_age="900")


def test_non_admin_on_admin_endpoint_is_403_insufficient_scope(app, client, auth):
    from usergate.api.guards import admin_token_required

    @app.route("/probe/admin")
    @admin_token_required
    def probe():
        return {"ok": True}

    tokens = auth.register()
    assert_bearer_error(client.get("/probe/admin", headers=tokens.headers), 403,
                        "insufficient_scope", scope="admin")
    admin = auth.admin()
    assert client.get("/probe/admin", headers=admin.headers).status_code == 200


def test_demoted_admin_token_no_longer_opens_admin_endpoints(app, client, auth, db):
    from usergate.api.guards import admin_token_required
    from usergate.models import User

    @app.route("/probe/admin2")
    @admin_token_required
    def probe():
        return {"ok": True}

    admin = auth.admin("boss@example.com")
    assert jwt.decode(admin.access, options={"verify_signature": False})["admin"] is True
    user = db.session.execute(db.select(User)).scalar_one()
    user.admin = False
    db.session.commit()
    assert_bearer_error(client.get("/probe/admin2", headers=admin.headers), 403,
                        "insufficient_scope", scope="admin")


def test_failed_login_401_carries_a_challenge(client, auth):
    auth.register("ada@example.com")
    response = client.post("/api/v1/auth/login",
                           json={"email": "ada@example.com", "password": "wrong password"})
    assert_problem(response, 401)
    assert challenge(response).startswith("Bearer realm=")


def test_current_user_outside_a_protected_view_raises(app):
    from usergate.api.guards import current_user

    with app.test_request_context("/"), pytest.raises(RuntimeError, match="protected view"):
        _ = current_user.email


def test_error_description_never_holds_quotes_or_backslashes():
    from usergate.errors import bearer_challenge

    value = bearer_challenge("invalid_token", 'bad "quoted" \\ text\n')
    assert DESCRIPTION.search(value).group(1) == "bad 'quoted' ' text'"
