"""A real OAuth 2 client that no one here wrote against a live usergate (docs/oauth.md).

Authlib's OAuth2Client (on httpx) talks HTTP to usergate served by werkzeug in a
thread; the example resource server verifies `aud` with the JWKS alone.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import httpx
import jwt
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from authlib.integrations.httpx_client import OAuthError as AuthlibOAuthError
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

from helpers.live import ThreadServer
from usergate.extensions import db as _db
from usergate.security.keys import generate_private_key_pem

PASSWORD = "correct horse battery"
ORDERS = "https://orders.example.com"
STOCK = "https://stock.example.com"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "resource_server.py"


@pytest.fixture
def live(make_app, tmp_path):
    key = tmp_path / "signing.pem"
    key.write_bytes(generate_private_key_pem("ES256"))
    app = make_app(JWT_ALGORITHM="ES256", JWT_PRIVATE_KEY_FILE=str(key),
                   JWT_RESOURCES=f"{ORDERS},{STOCK}")
    with ThreadServer(app) as server:
        yield app, server.url


def new_client(app) -> tuple[str, str]:
    from usergate.services.clients import create_client

    with app.app_context():
        created = create_client("orders service")
        _db.session.commit()
        return created.client.client_id, created.secret


def metadata(base: str) -> AuthorizationServerMetadata:
    with httpx.Client(trust_env=False) as http:
        body = http.get(f"{base}/.well-known/oauth-authorization-server").json()
    return AuthorizationServerMetadata(body)


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_fetches_a_client_credentials_token_and_introspects(live, method):
    app, base = live
    meta = metadata(base)
    client_id, secret = new_client(app)
    with OAuth2Client(client_id, secret, token_endpoint_auth_method=method,
                      trust_env=False) as oauth:
        token = oauth.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
        assert "refresh_token" not in token
        claims = jwt.decode(token["access_token"], options={"verify_signature": False})
        assert claims["sub"] == client_id and claims["client"] is True

        # RFC 7662 with the same client authentication.
        oauth.introspection_endpoint_auth_method = method
        answer = oauth.introspect_token(meta["introspection_endpoint"],
                                        token=token["access_token"])
        assert answer.status_code == 200 and answer.json()["active"] is True

        # A client token opens no user endpoint.
        me = oauth.get(f"{base}/api/v1/auth/user")
        assert me.status_code == 401

    with OAuth2Client(client_id, "not the secret", token_endpoint_auth_method=method,
                      trust_env=False) as wrong, pytest.raises(AuthlibOAuthError) as raised:
        wrong.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    assert raised.value.error == "invalid_client"


def test_authlib_refreshes_a_users_token_and_revokes_it(live):
    app, base = live
    meta = metadata(base)
    with httpx.Client(trust_env=False) as http:
        registered = http.post(f"{base}/api/v1/auth/register",
                               json={"email": "ada@example.com", "password": PASSWORD}).json()
    # A public client: no client authentication at all.
    with OAuth2Client(token=registered, token_endpoint_auth_method="none",
                      revocation_endpoint_auth_method="none", trust_env=False) as oauth:
        refreshed = oauth.refresh_token(meta["token_endpoint"],
                                        refresh_token=registered["refresh_token"])
        assert refreshed["refresh_token"] != registered["refresh_token"]
        assert oauth.get(f"{base}/api/v1/auth/user").status_code == 200

        revoked = oauth.revoke_token(meta["revocation_endpoint"],
                                     token=refreshed["refresh_token"],
                                     token_type_hint="refresh_token")
        assert revoked.status_code == 200
        # The session is gone: its access token and refresh token both stop working.
        assert oauth.get(f"{base}/api/v1/auth/user").status_code == 401
        with pytest.raises(AuthlibOAuthError) as raised:
            oauth.refresh_token(meta["token_endpoint"],
                                refresh_token=refreshed["refresh_token"])
        assert raised.value.error == "invalid_grant"


def test_the_example_resource_server_refuses_a_token_for_another_audience(live):
    app, base = live
    spec = importlib.util.spec_from_file_location("resource_server_aud", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    orders = example.create_app(f"{base}/.well-known/jwks.json", audience=ORDERS).test_client()
    client_id, secret = new_client(app)
    with OAuth2Client(client_id, secret, trust_env=False) as oauth:
        for_orders = oauth.fetch_token(f"{base}/api/v1/auth/token",
                                       grant_type="client_credentials", resource=ORDERS)
        for_stock = oauth.fetch_token(f"{base}/api/v1/auth/token",
                                      grant_type="client_credentials", resource=STOCK)
        plain = oauth.fetch_token(f"{base}/api/v1/auth/token", grant_type="client_credentials")

    def whoami(token):
        return orders.get("/whoami", headers={"Authorization": f"Bearer {token['access_token']}"})

    accepted = whoami(for_orders)
    assert accepted.status_code == 200, accepted.get_data(as_text=True)
    assert accepted.get_json()["client"] is True
    for refused in (for_stock, plain):
        response = whoami(refused)
        assert response.status_code == 401
        assert "audience" in response.get_json()["detail"] or "aud" in response.get_json()["detail"]


# --- the token keeper with a client -------------------------------------------------------


@pytest.fixture
def short_live(make_app):
    app = make_app(JWT_ACCESS_TOKEN_EXPIRES=60)
    with ThreadServer(app) as server:
        yield app, server.url


def test_the_keeper_holds_a_client_token_and_no_user_password(short_live, tmp_path):
    import sqlite3
    import subprocess
    import sys

    from keeper.keeper_support import child_env
    from usergate.keeper import Keeper, TokenStore
    from usergate.keeper.errors import TokenFailedError

    app, base = short_live
    client_id, secret = new_client(app)
    store = tmp_path / "keeper.db"
    token_url = f"{base}/api/v1/auth/token"
    command = [sys.executable, "-m", "usergate.keeper", "--store", str(store), "add", "svc",
               "--token-url", token_url, "--client-id", client_id]
    added = subprocess.run(command, env=child_env(USERGATE_KEEPER_CLIENT_SECRET=secret),
                           capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert added.returncode == 0, added.stderr
    assert secret not in added.stdout + added.stderr
    # Without the variable and without a terminal: refused, never read from argv.
    refused = subprocess.run(command[:-2] + ["--client-id", client_id, "--replace"],
                             env=child_env(), capture_output=True, text=True, timeout=60,
                             stdin=subprocess.DEVNULL)
    assert refused.returncode != 0 and "USERGATE_KEEPER_CLIENT_SECRET" in refused.stderr

    with sqlite3.connect(store) as conn:
        username, grant, refresh = conn.execute(
            "SELECT username, grant_type, refresh_token FROM keeper_tokens").fetchone()
    assert (username, grant, refresh) == (client_id, "client_credentials", None)

    printed = subprocess.run([sys.executable, "-m", "usergate.keeper", "--store", str(store),
                              "token", "svc", "--min-ttl", "10"], env=child_env(),
                             capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0, printed.stderr
    first = printed.stdout.strip()
    assert jwt.decode(first, options={"verify_signature": False})["client"] is True

    # Due within the margin: the keeper renews it with the client's credentials.
    keeper = Keeper(TokenStore(str(store)), margin=120, http_timeout=5)
    assert keeper.refresh("svc") is True
    second = TokenStore(str(store)).get("svc").access_token
    assert second != first

    # Deleting the client ends it: the next renewal fails and says why.
    assert app.test_cli_runner().invoke(args=["clients", "delete", client_id]).exit_code == 0
    with pytest.raises(TokenFailedError, match="refused client"):
        keeper.refresh("svc")
