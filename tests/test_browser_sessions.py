"""The cookie transport of browser sessions with the Flask test client (docs/browser.md).

Every attribute of both cookies, the CSRF proof (double submit bound to the session)
and the Origin check on refresh and logout, refusals that change nothing, one
session model for cookie and Bearer, and CORS for listed origins only.
"""

from __future__ import annotations

import jwt
import pytest
from sqlalchemy import select

from helpers.cookies import parse_set_cookies
from support import PASSWORD, assert_problem
from usergate.config import ConfigError
from usergate.extensions import db
from usergate.models import Session

API = "/api/v1/auth"
FRONTEND = "https://app.example.com"


def sign_up(client, email="ada@example.com"):
    response = client.post(f"{API}/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def cookie_login(client, email="ada@example.com", query="?transport=cookie"):
    response = client.post(f"{API}/login{query}", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.get_json()
    return response


def session_row(app, session_id):
    with app.app_context():
        row = db.session.execute(select(Session).where(Session.id == session_id)).scalar_one()
        db.session.expunge(row)
        return row


def sid_of(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["sid"]


def refresh_cookie(client) -> str:
    cookie = client.get_cookie("usergate_refresh", path="/api/v1/auth")
    assert cookie is not None
    return cookie.value


@pytest.fixture
def cookie_client(app, client):
    """A client signed in with the cookie transport: (client, login body, session id)."""
    sign_up(client)
    body = cookie_login(client).get_json()
    return client, body, sid_of(refresh_cookie(client))


def test_login_by_cookie_sets_both_cookies_with_every_attribute(app, client):
    sign_up(client)
    response = cookie_login(client)
    body = response.get_json()
    assert "refresh_token" not in body
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_expires_in",
                         "csrf_token"}
    assert body["refresh_expires_in"] == 30 * 24 * 3600
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"

    cookies = parse_set_cookies(response)
    assert set(cookies) == {"usergate_refresh", "usergate_csrf"}
    refresh, csrf = cookies["usergate_refresh"], cookies["usergate_csrf"]
    assert refresh["httponly"] is True and refresh["secure"] is True
    assert refresh["samesite"] == "Strict"
    assert refresh["path"] == "/api/v1/auth"
    assert refresh["max-age"] == str(30 * 24 * 3600)
    claims = jwt.decode(refresh["value"], options={"verify_signature": False})
    assert claims["type"] == "refresh"
    assert jwt.get_unverified_header(refresh["value"])["typ"] == "rt+jwt"

    assert "httponly" not in csrf  # the front-end's script reads it
    assert csrf["secure"] is True and csrf["samesite"] == "Strict"
    assert csrf["path"] == "/" and csrf["max-age"] == str(30 * 24 * 3600)
    assert csrf["value"] == body["csrf_token"]
    # Bound to the session: another session of the same user has another value.
    other = cookie_login(client).get_json()["csrf_token"]
    assert other != body["csrf_token"]


def test_the_body_transport_is_unchanged_and_sets_no_cookie(client):
    sign_up(client)
    for query in ("", "?transport=body"):
        response = cookie_login(client, query=query)
        assert "refresh_token" in response.get_json()
        assert "csrf_token" not in response.get_json()
        assert response.headers.getlist("Set-Cookie") == []


def test_the_setting_makes_cookie_the_default_and_the_query_still_chooses(make_app):
    app = make_app(REFRESH_TOKEN_TRANSPORT="cookie")
    client = app.test_client()
    sign_up(client)
    by_default = cookie_login(client, query="")
    assert "refresh_token" not in by_default.get_json()
    assert "usergate_refresh" in parse_set_cookies(by_default)
    in_body = cookie_login(client, query="?transport=body")
    assert "refresh_token" in in_body.get_json()
    assert parse_set_cookies(in_body) == {}


def test_an_unknown_transport_is_a_400_naming_it_and_opens_no_session(app, client):
    sign_up(client)
    response = client.post(f"{API}/login?transport=header",
                           json={"email": "ada@example.com", "password": PASSWORD})
    assert_problem(response, 400, "transport")
    with app.app_context():
        assert db.session.query(Session).count() == 1  # the one of registering


def test_refresh_by_cookie_rotates_the_cookie(app, cookie_client):
    client, login, sid = cookie_client
    before = refresh_cookie(client)
    response = client.post(f"{API}/refresh", headers={"X-CSRF-Token": login["csrf_token"]})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert "refresh_token" not in body and body["csrf_token"] == login["csrf_token"]
    cookies = parse_set_cookies(response)
    assert cookies["usergate_refresh"]["httponly"] is True
    assert cookies["usergate_refresh"]["path"] == "/api/v1/auth"
    assert cookies["usergate_refresh"]["value"] != before
    assert refresh_cookie(client) == cookies["usergate_refresh"]["value"]
    assert session_row(app, sid).refresh_count == 1
    me = client.get(f"{API}/user", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.get_json()["session_id"] == sid


@pytest.mark.parametrize("headers, detail", [
    ({}, "X-CSRF-Token header is missing"),
    ({"X-CSRF-Token": "not-the-token"}, "does not match"),
    ({"Origin": "https://evil.example"}, "origin https://evil.example"),
    ({"Origin": "null"}, "origin null"),
    ({"Origin": "http://localhost.evil.example"}, "origin"),
])
@pytest.mark.parametrize("path", ["refresh", "logout"])
def test_a_cookie_request_without_a_good_csrf_proof_is_refused_and_changes_nothing(
        app, cookie_client, headers, detail, path):
    client, login, sid = cookie_client
    before = session_row(app, sid)
    cookie_before = refresh_cookie(client)
    sent = {"X-CSRF-Token": login["csrf_token"], **headers} if "Origin" in headers else headers
    response = client.post(f"{API}/{path}", headers=sent)
    body = assert_problem(response, 403)
    assert body["code"] == "csrf_failed"
    assert detail in body["detail"]
    assert response.headers.getlist("Set-Cookie") == []
    after = session_row(app, sid)
    assert (after.refresh_jti, after.refresh_count, after.revoked_at, after.last_used_at) == (
        before.refresh_jti, before.refresh_count, None, before.last_used_at)
    assert refresh_cookie(client) == cookie_before
    # The session still works for the right proof.
    again = client.post(f"{API}/refresh", headers={"X-CSRF-Token": login["csrf_token"]})
    assert again.status_code == 200, again.get_json()


def test_a_planted_csrf_pair_that_is_not_the_sessions_is_refused(app, cookie_client):
    # Cookie tossing: whoever can set cookies for the site sets both the cookie and
    # the header to one value; the value is not the HMAC of this session's id.
    client, _, sid = cookie_client
    client.set_cookie("usergate_csrf", "planted", path="/")
    response = client.post(f"{API}/refresh", headers={"X-CSRF-Token": "planted"})
    body = assert_problem(response, 403)
    assert body["code"] == "csrf_failed" and "does not belong" in body["detail"]
    assert session_row(app, sid).refresh_count == 0


def test_the_csrf_value_of_another_session_is_refused(app, client):
    sign_up(client)
    other = cookie_login(client).get_json()["csrf_token"]  # an earlier session's value
    mine = cookie_login(client).get_json()["csrf_token"]
    client.set_cookie("usergate_csrf", other, path="/")
    response = client.post(f"{API}/refresh", headers={"X-CSRF-Token": other})
    assert assert_problem(response, 403)["code"] == "csrf_failed"
    client.set_cookie("usergate_csrf", mine, path="/")
    assert client.post(f"{API}/refresh", headers={"X-CSRF-Token": mine}).status_code == 200


@pytest.mark.parametrize("origin", ["http://localhost", FRONTEND, FRONTEND.upper()])
def test_the_services_own_origin_and_listed_ones_are_accepted(make_app, origin):
    app = make_app(CORS_ORIGINS=f"{FRONTEND}, https://other.example.com")
    client = app.test_client()
    sign_up(client)
    csrf = cookie_login(client).get_json()["csrf_token"]
    response = client.post(f"{API}/refresh", headers={"X-CSRF-Token": csrf, "Origin": origin})
    assert response.status_code == 200, response.get_json()


def test_a_cookie_transport_refresh_token_works_as_a_bearer_header(app, cookie_client):
    client, _, sid = cookie_client
    token = refresh_cookie(client)
    bearer_client = app.test_client()  # no cookies, no CSRF header: the Bearer path
    response = bearer_client.post(f"{API}/refresh", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert sid_of(body["refresh_token"]) == sid and "csrf_token" not in body
    assert response.headers.getlist("Set-Cookie") == []
    # One session model: the cookie's token was spent by that Bearer refresh.
    assert session_row(app, sid).refresh_count == 1
    # And the other way round: a body token moves into the cookie with ?transport=cookie.
    moved = bearer_client.post(f"{API}/refresh?transport=cookie",
                               headers={"Authorization": f"Bearer {body['refresh_token']}"})
    assert moved.status_code == 200
    assert "refresh_token" not in moved.get_json()
    assert sid_of(parse_set_cookies(moved)["usergate_refresh"]["value"]) == sid


def test_with_a_bearer_header_and_the_cookie_the_bearer_header_wins(app, cookie_client):
    client, _, cookie_sid = cookie_client
    other = client.post(f"{API}/login", json={"email": "ada@example.com",
                                              "password": PASSWORD}).get_json()
    cookie_before = refresh_cookie(client)
    # No CSRF header: the Bearer header is what authenticates, and a browser never
    # adds one by itself.
    response = client.post(f"{API}/refresh",
                           headers={"Authorization": f"Bearer {other['refresh_token']}"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert sid_of(body["refresh_token"]) == sid_of(other["refresh_token"])
    assert session_row(app, sid_of(other["refresh_token"])).refresh_count == 1
    assert session_row(app, cookie_sid).refresh_count == 0  # the cookie was not looked at
    assert refresh_cookie(client) == cookie_before
    # A broken Bearer header is its error, never a fallback to the cookie.
    broken = client.post(f"{API}/refresh", headers={"Authorization": "Bearer"})
    assert_problem(broken, 400)
    # Another scheme (a browser's cached Basic credentials) is not a Bearer header.
    basic = client.post(f"{API}/refresh", headers={"Authorization": "Basic dXNlcjpwdw==",
                                                   "X-CSRF-Token": refresh_csrf(client)})
    assert basic.status_code == 200, basic.get_json()


def refresh_csrf(client) -> str:
    return client.get_cookie("usergate_csrf", path="/").value


def test_a_refresh_by_cookie_is_never_answered_in_the_body(app, cookie_client):
    client, login, sid = cookie_client
    response = client.post(f"{API}/refresh?transport=body",
                           headers={"X-CSRF-Token": login["csrf_token"]})
    assert_problem(response, 400, "transport")
    assert session_row(app, sid).refresh_count == 0


def test_a_bad_refresh_cookie_is_a_401(app, client):
    sign_up(client)
    csrf = cookie_login(client).get_json()["csrf_token"]
    client.set_cookie("usergate_refresh", "not a token", path="/api/v1/auth")
    response = client.post(f"{API}/refresh", headers={"X-CSRF-Token": csrf})
    assert_problem(response, 401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_logout_by_cookie_revokes_the_session_and_clears_both_cookies(app, cookie_client):
    client, login, sid = cookie_client
    response = client.post(f"{API}/logout", headers={"X-CSRF-Token": login["csrf_token"]})
    assert response.status_code == 204
    cookies = parse_set_cookies(response)
    assert cookies["usergate_refresh"]["value"] == ""
    assert cookies["usergate_refresh"]["max-age"] == "0"
    assert cookies["usergate_refresh"]["path"] == "/api/v1/auth"
    assert cookies["usergate_csrf"]["value"] == "" and cookies["usergate_csrf"]["max-age"] == "0"
    assert cookies["usergate_csrf"]["path"] == "/"
    assert client.get_cookie("usergate_refresh", path="/api/v1/auth") is None
    assert session_row(app, sid).revoked_at is not None
    # The access token of that session is dead too.
    me = client.get(f"{API}/user", headers={"Authorization": f"Bearer {login['access_token']}"})
    assert me.status_code == 401


def test_logout_by_bearer_clears_the_cookies_too(app, cookie_client):
    client, login, sid = cookie_client
    response = client.post(f"{API}/logout",
                           headers={"Authorization": f"Bearer {login['access_token']}"})
    assert response.status_code == 204
    assert parse_set_cookies(response)["usergate_refresh"]["max-age"] == "0"
    assert session_row(app, sid).revoked_at is not None


def test_logout_by_bearer_without_cookies_sets_none(client):
    tokens = sign_up(client)
    response = client.post(f"{API}/logout",
                           headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert response.status_code == 204
    assert response.headers.getlist("Set-Cookie") == []


def test_logout_with_neither_is_the_bare_challenge_as_before(client):
    response = client.post(f"{API}/logout")
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="usergate"'


@pytest.mark.parametrize("config, base_url, secure", [
    ("development", "http://localhost", False),
    ("development", "http://127.0.0.1:5000", False),
    ("development", "http://localhost.example.com", True),
    ("development", "https://localhost", True),
    ("testing", "http://localhost", True),
    ("production", "http://localhost", True),
])
def test_secure_is_dropped_only_in_development_on_http_localhost(make_app, config, base_url,
                                                                 secure):
    overrides = {"USERGATE_CONFIG": config}
    if config == "production":
        overrides["SECRET_KEY"] = "a-production-secret-that-is-long-enough-0123456789"
    app = make_app(**overrides, RATELIMIT_ENABLED=False)
    client = app.test_client()
    client.post(f"{API}/register", json={"email": "ada@example.com", "password": PASSWORD},
                base_url=base_url)
    response = client.post(f"{API}/login?transport=cookie", base_url=base_url,
                           json={"email": "ada@example.com", "password": PASSWORD})
    assert response.status_code == 200, response.get_json()
    cookies = parse_set_cookies(response)
    for name in ("usergate_refresh", "usergate_csrf"):
        assert cookies[name].get("secure", False) is secure
        assert cookies[name]["samesite"] == "Strict"
    assert cookies["usergate_refresh"]["httponly"] is True


def preflight(client, origin, path=f"{API}/refresh"):
    return client.options(path, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-csrf-token"})


def test_cors_answers_listed_origins_only_with_credentials(make_app):
    app = make_app(CORS_ORIGINS=f"{FRONTEND},http://127.0.0.1:8081")
    client = app.test_client()
    allowed = preflight(client, FRONTEND)
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == FRONTEND
    assert allowed.headers["Access-Control-Allow-Credentials"] == "true"
    assert "x-csrf-token" in allowed.headers["Access-Control-Allow-Headers"].lower()
    assert "POST" in allowed.headers["Access-Control-Allow-Methods"]
    assert "Origin" in allowed.headers["Vary"]

    for origin in ("https://evil.example", "https://app.example.com.evil.example",
                   "http://app.example.com", "null"):
        refused = preflight(client, origin)
        assert "Access-Control-Allow-Origin" not in refused.headers, origin
        assert "Access-Control-Allow-Credentials" not in refused.headers, origin

    # On a real answer (an error too), for a listed origin: its script may read it.
    answer = client.get(f"{API}/user", headers={"Origin": "http://127.0.0.1:8081"})
    assert answer.status_code == 401
    assert answer.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:8081"
    assert "WWW-Authenticate" in answer.headers["Access-Control-Expose-Headers"]
    # No Origin, no CORS headers.
    assert "Access-Control-Allow-Origin" not in client.get("/api/v1/health").headers


def test_without_cors_origins_no_origin_gets_cors_headers(client):
    response = preflight(client, FRONTEND)
    assert "Access-Control-Allow-Origin" not in response.headers
    response = client.get("/api/v1/health", headers={"Origin": FRONTEND})
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("value", ["*", "https://app.example.com/path", "app.example.com",
                                   "https://*.example.com"])
def test_cors_origins_must_be_origins(make_app, value):
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        make_app(CORS_ORIGINS=value)


@pytest.mark.parametrize("setting, value", [("REFRESH_TOKEN_TRANSPORT", "header"),
                                            ("SESSION_MAX_AGE", 0)])
def test_browser_settings_are_validated(make_app, setting, value):
    with pytest.raises(ConfigError, match=setting):
        make_app(**{setting: value})


def test_swagger_documents_the_transport_parameter(client):
    spec = client.get("/api/v1/swagger.json").get_json()
    for path in ("/auth/login", "/auth/refresh"):
        params = {p["name"]: p for p in spec["paths"][path]["post"].get("parameters", [])}
        assert params["transport"]["enum"] == ["body", "cookie"], path


def test_browser_settings_come_from_the_environment():
    from usergate.config import load_config

    settings = load_config(environ={
        "USERGATE_CONFIG": "testing", "REFRESH_TOKEN_TRANSPORT": " Cookie ",
        "REFRESH_REUSE_GRACE": "10", "SESSION_MAX_AGE": "86400",
        "CORS_ORIGINS": "https://app.example.com, http://127.0.0.1:8081"})
    assert settings["REFRESH_TOKEN_TRANSPORT"] == "cookie"
    assert settings["REFRESH_REUSE_GRACE"] == 10 and settings["SESSION_MAX_AGE"] == 86400
    assert settings["CORS_ORIGINS"] == "https://app.example.com, http://127.0.0.1:8081"
    defaults = load_config(environ={"USERGATE_CONFIG": "testing"})
    assert (defaults["REFRESH_TOKEN_TRANSPORT"], defaults["REFRESH_REUSE_GRACE"],
            defaults["SESSION_MAX_AGE"], defaults["CORS_ORIGINS"]) == ("body", 0, 90 * 86400,
                                                                       None)
