"""Standard authorization-server endpoints (docs/oauth.md) through the real app and database.

Metadata, service clients, client_credentials, RFC 7009 revocation, RFC 7662
introspection, `aud` / RFC 8707 `resource`, and the one statement per introspection.
"""

from __future__ import annotations

import base64

import jwt
import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

from support import PASSWORD, assert_problem
from test_sql_count import _tables, counted_statements
from usergate.extensions import db as _db
from usergate.models import ServiceClient

API = "/api/v1"
TOKEN = f"{API}/auth/token"
REVOKE = f"{API}/auth/revoke"
INTROSPECT = f"{API}/auth/introspect"
SECRET = "test-secret-key-that-is-long-enough-0123456789"


def new_client(app, name: str = "orders") -> tuple[str, str]:
    from usergate.services.clients import create_client

    with app.app_context():
        created = create_client(name)
        _db.session.commit()
        return created.client.client_id, created.secret


def basic(client_id: str, secret: str) -> dict:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def client_token(client, client_id, secret, **form) -> dict:
    response = client.post(TOKEN, data={"grant_type": "client_credentials", **form},
                           headers=basic(client_id, secret))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def introspect(client, creds, token: str, **form) -> dict:
    response = client.post(INTROSPECT, data={"token": token, **form}, headers=basic(*creds))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_json()


def assert_oauth_error(response, status: int, error: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"] == error, body
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Basic ")
    return body


# --- metadata -----------------------------------------------------------------------------


def test_metadata_validates_with_authlib_and_uses_public_base_url(make_app):
    app = make_app(PUBLIC_BASE_URL="https://id.example.com", JWT_ISSUER="https://id.example.com")
    client = app.test_client()
    response = client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    body = response.get_json()
    AuthorizationServerMetadata(body).validate()
    assert body["issuer"] == "https://id.example.com"
    assert body["token_endpoint"] == "https://id.example.com/api/v1/auth/token"
    assert body["revocation_endpoint"] == "https://id.example.com/api/v1/auth/revoke"
    assert body["introspection_endpoint"] == "https://id.example.com/api/v1/auth/introspect"
    assert body["jwks_uri"] == "https://id.example.com/.well-known/jwks.json"
    assert set(body["grant_types_supported"]) == {"password", "refresh_token",
                                                  "client_credentials"}
    assert body["introspection_endpoint_auth_methods_supported"] == [
        "client_secret_basic", "client_secret_post"]
    assert "authorization_endpoint" not in body

    openid = client.get("/.well-known/openid-configuration").get_json()
    assert "authorization_endpoint" not in openid and "userinfo_endpoint" not in openid
    assert "id_token_signing_alg_values_supported" not in openid
    assert openid["token_endpoint"] == body["token_endpoint"]
    assert openid["jwks_uri"] == body["jwks_uri"]


def test_metadata_urls_follow_the_request_without_public_base_url(client):
    body = client.get("/.well-known/oauth-authorization-server",
                      base_url="http://gate.internal:8080").get_json()
    assert body["token_endpoint"] == "http://gate.internal:8080/api/v1/auth/token"


def test_jwks_is_also_at_well_known(make_app, tmp_path):
    from usergate.security.keys import generate_private_key_pem

    key = tmp_path / "es.pem"
    key.write_bytes(generate_private_key_pem("ES256"))
    app = make_app(JWT_ALGORITHM="ES256", JWT_PRIVATE_KEY_FILE=str(key))
    client = app.test_client()
    well_known = client.get("/.well-known/jwks.json")
    assert well_known.status_code == 200
    assert well_known.get_json() == client.get(f"{API}/auth/jwks.json").get_json()
    assert len(well_known.get_json()["keys"]) == 1


# --- clients: the commands ----------------------------------------------------------------


def test_clients_create_list_delete_commands(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["clients", "create", "billing"])
    assert result.exit_code == 0, result.output
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
    client_id, secret = lines["client_id"], lines["client_secret"]
    assert len(secret) >= 43  # 256 random bits

    with app.app_context():
        stored = _db.session.query(ServiceClient).one()
        assert stored.client_id == client_id and stored.name == "billing"
        assert secret not in stored.secret_hash and len(stored.secret_hash) == 64

    listed = runner.invoke(args=["clients", "list"])
    assert client_id in listed.output and "billing" in listed.output
    assert secret not in listed.output

    assert runner.invoke(args=["clients", "delete", client_id]).exit_code == 0
    again = runner.invoke(args=["clients", "delete", client_id])
    assert again.exit_code != 0 and "no client" in again.output


# --- client_credentials ---------------------------------------------------------------------


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_client_credentials_issue_a_client_access_token(app, client, method):
    client_id, secret = new_client(app)
    if method == "client_secret_basic":
        response = client.post(TOKEN, data={"grant_type": "client_credentials"},
                               headers=basic(client_id, secret))
    else:
        response = client.post(TOKEN, data={"grant_type": "client_credentials",
                                             "client_id": client_id, "client_secret": secret})
    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert set(body) == {"access_token", "token_type", "expires_in"}  # no refresh token
    claims = claims_of(body["access_token"])
    assert jwt.get_unverified_header(body["access_token"])["typ"] == "at+jwt"
    assert claims["sub"] == client_id
    assert claims["type"] == "access" and claims["client"] is True
    assert "sid" not in claims


@pytest.mark.parametrize("how", ["wrong secret", "unknown client", "no credentials",
                                 "bare client_id", "malformed basic"])
def test_client_authentication_failures_are_invalid_client(app, client, how):
    client_id, secret = new_client(app)
    data = {"grant_type": "client_credentials"}
    headers = {}
    if how == "wrong secret":
        headers = basic(client_id, secret + "x")
    elif how == "unknown client":
        headers = basic("5f0c6a0e-8a57-4a50-9a53-0f2f3c9d1e11", secret)
    elif how == "bare client_id":
        data["client_id"] = client_id
    elif how == "malformed basic":
        headers = {"Authorization": "Basic !!!"}
    body = assert_oauth_error(client.post(TOKEN, data=data, headers=headers), 401,
                              "invalid_client")
    assert secret not in str(body)


def test_two_client_authentication_methods_at_once_are_invalid_request(app, client):
    client_id, secret = new_client(app)
    response = client.post(TOKEN, data={"grant_type": "client_credentials",
                                        "client_id": client_id, "client_secret": secret},
                           headers=basic(client_id, secret))
    assert_oauth_error(response, 400, "invalid_request")


@pytest.mark.parametrize("path", [f"{API}/auth/user", f"{API}/users", f"{API}/addresses",
                                  f"{API}/auth/sessions"])
def test_a_client_token_never_opens_user_endpoints(app, client, path):
    token = client_token(client, *new_client(app))["access_token"]
    response = client.get(path, headers={"Authorization": f"Bearer {token}"})
    body = assert_problem(response, 401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert "client" in body["detail"]


# --- introspection ----------------------------------------------------------------------


def test_introspection_needs_client_authentication(app, client, auth):
    tokens = auth.register("ada@example.com")
    response = client.post(INTROSPECT, data={"token": tokens.access})
    assert_oauth_error(response, 401, "invalid_client")
    client_id, secret = new_client(app)
    response = client.post(INTROSPECT, data={"token": tokens.access},
                           headers=basic(client_id, "wrong"))
    assert_oauth_error(response, 401, "invalid_client")


def test_introspection_bad_requests_are_invalid_request(app, client):
    creds = new_client(app)
    assert_oauth_error(client.post(INTROSPECT, data={}, headers=basic(*creds)), 400,
                       "invalid_request")
    assert_oauth_error(client.post(INTROSPECT, json={"token": "x"}, headers=basic(*creds)),
                       400, "invalid_request")


def test_introspection_of_a_user_token_answers_its_claims(app, client, auth):
    creds = new_client(app)
    tokens = auth.register("ada@example.com")
    body = introspect(client, creds, tokens.access)
    claims = claims_of(tokens.access)
    assert body["active"] is True
    assert body["sub"] == claims["sub"] and body["jti"] == claims["jti"]
    assert body["exp"] == claims["exp"] and body["sid"] == claims["sid"]
    assert body["type"] == "access" and body["token_type"] == "Bearer"
    assert body["username"] == "ada@example.com"
    assert body["fresh"] is True and body["admin"] is False

    refresh = introspect(client, creds, tokens.refresh, token_type_hint="refresh_token")
    assert refresh["active"] is True and refresh["type"] == "refresh"
    # A wrong hint only changes the order of the search (RFC 7662 §2.1).
    assert introspect(client, creds, tokens.refresh, token_type_hint="access_token")["active"]


@pytest.mark.parametrize("token", ["garbage", "a.b.c", ""])
def test_introspection_of_unknown_tokens_is_inactive(app, client, token):
    creds = new_client(app)
    if not token:
        response = client.post(INTROSPECT, data={"token": token}, headers=basic(*creds))
        assert_oauth_error(response, 400, "invalid_request")
        return
    assert introspect(client, creds, token) == {"active": False}


def test_introspection_is_inactive_after_logout(app, client, auth):
    creds = new_client(app)
    tokens = auth.register("ada@example.com")
    assert client.post(f"{API}/auth/logout", headers=tokens.headers).status_code == 204
    assert introspect(client, creds, tokens.access) == {"active": False}
    assert introspect(client, creds, tokens.refresh) == {"active": False}


def test_introspection_is_inactive_after_a_password_change(app, client, auth):
    creds = new_client(app)
    tokens = auth.register("ada@example.com")
    response = client.put(f"{API}/auth/password", headers=tokens.headers,
                          json={"current_password": PASSWORD,
                                "new_password": "another long passphrase"})
    assert response.status_code == 200
    assert introspect(client, creds, tokens.access) == {"active": False}
    assert introspect(client, creds, response.get_json()["access_token"])["active"] is True


def test_introspection_is_inactive_after_the_user_is_disabled(app, client, auth):
    creds = new_client(app)
    admin = auth.admin()
    tokens = auth.register("ada@example.com")
    user_id = auth.me(tokens)["id"]
    response = client.patch(f"{API}/users/{user_id}", json={"disabled": True},
                            headers=admin.headers)
    assert response.status_code == 200, response.get_json()
    assert introspect(client, creds, tokens.access) == {"active": False}


def test_introspection_of_a_client_token_and_after_the_client_is_deleted(app, client):
    creds = new_client(app, "inventory")
    other = new_client(app, "billing")
    token = client_token(client, *other)["access_token"]
    body = introspect(client, creds, token)
    assert body["active"] is True and body["client"] is True
    assert body["client_id"] == other[0] == body["sub"]
    assert "sid" not in body

    assert app.test_cli_runner().invoke(args=["clients", "delete", other[0]]).exit_code == 0
    assert introspect(client, creds, token) == {"active": False}


def test_one_sql_statement_per_introspection(app, client, auth):
    creds = new_client(app)
    tokens = auth.register("ada@example.com")
    service_token = client_token(client, *new_client(app, "other"))["access_token"]
    # The caller's secret digest rides on the token's own statement.
    for token, hint in [(tokens.access, None), (tokens.refresh, None),
                        (tokens.refresh, "access_token"), (service_token, None)]:
        introspect(client, creds, token)  # warm
        with counted_statements(app) as statements:
            body = introspect(client, creds, token,
                              **({"token_type_hint": hint} if hint else {}))
        assert body["active"] is True
        assert len(statements) == 1, statements
        assert {"token_blacklist", "clients"} <= _tables(statements[0]), statements
    # Revoked: still one statement, answering inactive.
    assert client.post(f"{API}/auth/logout", headers=tokens.headers).status_code == 204
    with counted_statements(app) as statements:
        assert introspect(client, creds, tokens.access) == {"active": False}
    assert len(statements) == 1, statements
    # A forged token never reaches the database: only the caller is looked up.
    with counted_statements(app) as statements:
        assert introspect(client, creds, tokens.access[:-4] + "AAAA") == {"active": False}
    assert len(statements) == 1 and "token_blacklist" not in statements[0], statements


@pytest.mark.parametrize("token", ["valid", "garbage"])
def test_a_wrong_caller_secret_is_401_whatever_the_token(app, client, auth, token):
    client_id, _secret = new_client(app)
    tokens = auth.register("ada@example.com")
    value = tokens.access if token == "valid" else "garbage"
    response = client.post(INTROSPECT, data={"token": value}, headers=basic(client_id, "nope"))
    body = assert_oauth_error(response, 401, "invalid_client")
    assert "active" not in body


# --- revocation -------------------------------------------------------------------------


@pytest.mark.parametrize("with_client", [False, True])
def test_revoking_an_access_token_rejects_it_right_after(app, client, auth, with_client):
    tokens = auth.register("ada@example.com")
    headers = basic(*new_client(app)) if with_client else {}
    response = client.post(REVOKE, data={"token": tokens.access,
                                         "token_type_hint": "access_token"}, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert client.get(f"{API}/auth/user", headers=tokens.headers).status_code == 401
    # Only the access token: the session and its refresh token live on.
    assert client.post(f"{API}/auth/refresh", headers=tokens.refresh_headers).status_code == 200


def test_revoking_a_refresh_token_ends_its_session(app, client, auth):
    tokens = auth.register("ada@example.com")
    # No hint: the search covers both kinds.
    assert client.post(REVOKE, data={"token": tokens.refresh}).status_code == 200
    response = client.post(TOKEN, data={"grant_type": "refresh_token",
                                        "refresh_token": tokens.refresh})
    assert_oauth_error(response, 400, "invalid_grant")
    assert client.get(f"{API}/auth/user", headers=tokens.headers).status_code == 401
    sessions = auth.login("ada@example.com")
    listed = client.get(f"{API}/auth/sessions", headers=sessions.headers).get_json()
    assert claims_of(tokens.access)["sid"] not in [item["id"] for item in listed["items"]]


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 500])
def test_revoking_unknown_tokens_is_200(client, token):
    assert client.post(REVOKE, data={"token": token}).status_code == 200


def test_revoking_twice_is_200(client, auth):
    tokens = auth.register("ada@example.com")
    for _ in range(2):
        assert client.post(REVOKE, data={"token": tokens.access}).status_code == 200


def test_revocation_errors_follow_rfc6749(app, client, auth):
    tokens = auth.register("ada@example.com")
    client_id, secret = new_client(app)
    assert_oauth_error(client.post(REVOKE, data={"token": tokens.access},
                                   headers=basic(client_id, "wrong")), 401, "invalid_client")
    assert client.get(f"{API}/auth/user", headers=tokens.headers).status_code == 200
    assert_oauth_error(client.post(REVOKE, data={}), 400, "invalid_request")
    assert_oauth_error(client.post(REVOKE, json={"token": tokens.access}), 400,
                       "invalid_request")


def test_a_revoked_client_token_is_rejected(app, client):
    creds = new_client(app)
    token = client_token(client, *creds)["access_token"]
    assert client.post(REVOKE, data={"token": token}, headers=basic(*creds)).status_code == 200
    assert introspect(client, creds, token) == {"active": False}


def test_too_many_introspections_are_problem_json(make_app, auth):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_INTROSPECT="2/minute")
    client = app.test_client()
    creds = new_client(app)
    for _ in range(2):
        introspect(client, creds, "garbage")
    response = client.post(INTROSPECT, data={"token": "garbage"}, headers=basic(*creds))
    assert_problem(response, 429)
    assert response.headers["Retry-After"]
    # Each endpoint counts on its own.
    for _ in range(2):
        assert client.post(REVOKE, data={"token": "garbage"}).status_code == 200
    assert_problem(client.post(REVOKE, data={"token": "garbage"}), 429)


# --- aud and RFC 8707 resource ------------------------------------------------------------

AUDIENCE = "https://api.example.com"
ORDERS = "https://orders.example.com"


@pytest.fixture
def aud_app(make_app):
    return make_app(JWT_AUDIENCE=AUDIENCE, JWT_RESOURCES=f"{ORDERS}, https://stock.example.com")


def forge(app, **changes) -> str:
    """A token signed with usergate's own key, claims edited."""
    from support import AuthActions

    tokens = AuthActions(app, app.test_client()).register(f"forged{len(changes)}@example.com")
    claims = claims_of(tokens.access)
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    kid = jwt.get_unverified_header(tokens.access)["kid"]
    return jwt.encode(claims, SECRET, algorithm="HS256", headers={"kid": kid, "typ": "at+jwt"})


def test_every_access_token_carries_jwt_audience(aud_app):
    client = aud_app.test_client()
    response = client.post(f"{API}/auth/register",
                           json={"email": "ada@example.com", "password": PASSWORD})
    body = response.get_json()
    assert claims_of(body["access_token"])["aud"] == AUDIENCE
    assert "aud" not in claims_of(body["refresh_token"])
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get(f"{API}/auth/user", headers=headers).status_code == 200


@pytest.mark.parametrize("aud", [None, "https://evil.example.com", ["https://evil.example.com"]])
def test_tokens_without_or_with_another_aud_are_rejected(aud_app, aud):
    token = forge(aud_app, aud=aud)
    response = aud_app.test_client().get(f"{API}/auth/user",
                                         headers={"Authorization": f"Bearer {token}"})
    body = assert_problem(response, 401)
    assert "aud" in body["detail"] or "audience" in body["detail"]


def test_a_forged_token_with_the_right_aud_is_accepted(aud_app):
    # The control for the test above: only `aud` differs.
    token = forge(aud_app, aud=[AUDIENCE, ORDERS])
    response = aud_app.test_client().get(f"{API}/auth/user",
                                         headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_without_jwt_audience_a_token_with_an_aud_is_rejected(app):
    token = forge(app, aud=ORDERS)
    response = app.test_client().get(f"{API}/auth/user",
                                     headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 401)


def test_resource_narrows_aud_to_one_listed_resource(aud_app):
    client = aud_app.test_client()
    AuthActionsClient = __import__("support").AuthActions(aud_app, client)
    AuthActionsClient.register("ada@example.com")
    response = client.post(TOKEN, data={"grant_type": "password", "username": "ada@example.com",
                                        "password": PASSWORD, "resource": ORDERS})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert claims_of(body["access_token"])["aud"] == ORDERS
    # Meant for the orders service: it does not open usergate's own endpoints ...
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get(f"{API}/auth/user", headers=headers).status_code == 401
    # ... but usergate still answers for it to a resource server.
    creds = new_client(aud_app)
    assert introspect(client, creds, body["access_token"])["aud"] == ORDERS
    assert introspect(client, creds, body["refresh_token"])["active"] is True

    refreshed = client.post(TOKEN, data={"grant_type": "refresh_token", "resource": ORDERS,
                                         "refresh_token": body["refresh_token"]}).get_json()
    assert "access_token" in refreshed, refreshed
    assert claims_of(refreshed["access_token"])["aud"] == ORDERS
    service = client_token(client, *creds, resource="https://stock.example.com")
    assert claims_of(service["access_token"])["aud"] == "https://stock.example.com"


@pytest.mark.parametrize("resources", [["https://evil.example.com"], [ORDERS, AUDIENCE]])
def test_an_unlisted_or_second_resource_is_invalid_target(aud_app, resources):
    creds = new_client(aud_app)
    response = aud_app.test_client().post(
        TOKEN, data={"grant_type": "client_credentials", "resource": resources},
        headers=basic(*creds))
    assert_oauth_error(response, 400, "invalid_target")


def test_jwt_resources_must_be_absolute_uris(make_app):
    from usergate.config import ConfigError

    with pytest.raises(ConfigError, match="JWT_RESOURCES"):
        make_app(JWT_RESOURCES="orders")


@pytest.mark.parametrize("path", [REVOKE, INTROSPECT])
def test_a_repeated_parameter_at_revoke_and_introspect_is_invalid_request(app, client, path):
    response = client.post(path, data={"token": ["a", "b"]}, headers=basic(*new_client(app)))
    body = assert_oauth_error(response, 400, "invalid_request")
    assert "token" in body["error_description"]
