"""Issue 12, one test per class of input: every answer a 4xx problem, never a 500.

Each test runs on SQLite and, with TEST_DATABASE_URL, on PostgreSQL (where a NUL
character is a database error, not only an encoding one).
"""

from __future__ import annotations

import http.client
import json
import os
import stat
import threading

import jwt
import pytest
from werkzeug.serving import make_server

from support import PASSWORD, assert_problem

API = "/api/v1"
REGISTER = f"{API}/auth/register"
LOGIN = f"{API}/auth/login"
TOKEN = f"{API}/auth/token"
ADDRESS = {"line1": "12 Analytical Row", "city": "London", "postal_code": "W1 2AB",
           "country": "GB"}
UNSTORABLE = ["a\x00b", "\ud800", "x\udfffy", "\x00"]


def _users(db):
    from usergate.models import User

    return [(u.email, u.name, u.password_hash) for u in
            db.session.execute(db.select(User).order_by(User.id)).scalars()]


# 1. Text the database cannot store ------------------------------------------------------

@pytest.mark.parametrize("text", UNSTORABLE)
def test_register_refuses_text_the_database_cannot_store(client, db, text):
    for field, body in [
        ("name", {"email": "ada@example.com", "password": PASSWORD, "name": text}),
        ("password", {"email": "ada@example.com", "password": PASSWORD + text}),
        ("email", {"email": f"ada{text}@example.com", "password": PASSWORD}),
    ]:
        response = client.post(REGISTER, data=json.dumps(body),
                               content_type="application/json")
        assert_problem(response, 400, field)
    assert _users(db) == []


@pytest.mark.parametrize("text", UNSTORABLE)
def test_every_json_endpoint_refuses_unstorable_text_naming_the_field(client, auth, db, text):
    tokens = auth.register("ada@example.com", name="Ada")
    before = _users(db)
    created = client.post(f"{API}/addresses", json=ADDRESS, headers=tokens.headers)
    address = created.get_json()["id"]
    me = auth.me(tokens)["id"]

    def send(method, url, body):
        return client.open(url, method=method, data=json.dumps(body),
                           content_type="application/json", headers=tokens.headers)

    cases = [
        ("POST", LOGIN, {"email": "ada@example.com", "password": text}, "password"),
        ("POST", f"{API}/auth/fresh-login", {"password": text}, "password"),
        ("PUT", f"{API}/auth/password", {"current_password": text,
                                          "new_password": "another long password"},
         "current_password"),
        ("PUT", f"{API}/auth/password", {"current_password": PASSWORD,
                                          "new_password": "long password" + text},
         "new_password"),
        ("PATCH", f"{API}/users/{me}", {"name": text}, "name"),
        ("POST", f"{API}/addresses", {**ADDRESS, "city": "Lon" + text}, "city"),
        ("PUT", f"{API}/addresses/{address}", {**ADDRESS, "line2": text}, "line2"),
        ("PATCH", f"{API}/addresses/{address}", {"label": text}, "label"),
    ]
    for method, url, body, field in cases:
        assert_problem(send(method, url, body), 400, field)
    assert _users(db) == before
    assert client.get(f"{API}/addresses/{address}",
                      headers=tokens.headers).get_json() == created.get_json()


def test_query_strings_and_form_bodies_follow_the_same_rule(client, auth):
    admin = auth.admin()
    assert_problem(client.get(f"{API}/users?q=a%00b", headers=admin.headers), 400, "q")
    assert_problem(client.get(f"{API}/users?sort=%00", headers=admin.headers), 400, "sort")
    assert_problem(client.get(f"{API}/addresses?user=%00", headers=admin.headers), 400, "user")
    response = client.post(LOGIN, data={"email": "admin@example.com", "password": "a\x00b"})
    assert_problem(response, 400, "password")
    response = client.post(TOKEN, data={"grant_type": "password",
                                        "username": "admin@example.com", "password": "\x00"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"
    assert "password" in response.get_json()["error_description"]


def test_path_parameters_with_unstorable_text_are_404(client, auth):
    tokens = auth.register()
    for url in (f"{API}/users/%00", f"{API}/addresses/a%00b", f"{API}/auth/sessions/%00",
                f"{API}/users/%00/addresses"):
        method = "DELETE" if "sessions" in url else "GET"
        assert_problem(client.open(url, method=method, headers=tokens.headers), 404)


def test_a_user_agent_with_control_characters_is_stored_without_them(client, auth):
    tokens = auth.register("ada@example.com")
    response = client.post(LOGIN, json={"email": "ada@example.com", "password": PASSWORD},
                           headers={"User-Agent": "curl\x00/8\x07"})
    assert response.status_code == 200
    sessions = client.get(f"{API}/auth/sessions", headers=tokens.headers).get_json()["items"]
    assert {s["user_agent"] for s in sessions} >= {"curl/8"}


# 2. Deep JSON --------------------------------------------------------------------------

@pytest.mark.parametrize("raw", ["[" * 10_000, '{"a":' * 10_000, "[" * 10_000 + "]" * 10_000])
def test_json_nested_deeper_than_the_parser_allows_is_400(client, auth, raw):
    tokens = auth.register()
    for url, method in ((REGISTER, "POST"), (LOGIN, "POST"), (f"{API}/addresses", "POST"),
                        (f"{API}/auth/fresh-login", "POST")):
        response = client.open(url, method=method, data=raw, content_type="application/json",
                               headers=tokens.headers)
        assert_problem(response, 400, "body")


def test_duplicate_json_keys_are_400_naming_the_field(client, db):
    raw = ('{"email": "ada@example.com", "password": "' + PASSWORD
           + '", "email": "eve@example.com"}')
    assert_problem(client.post(REGISTER, data=raw, content_type="application/json"), 400,
                   "email")
    assert _users(db) == []


# 3. Chunked body over MAX_CONTENT_LENGTH -------------------------------------------------

@pytest.fixture
def live_server(make_app):
    app = make_app(MAX_CONTENT_LENGTH=1024)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, server.server_port
    server.shutdown()
    thread.join(timeout=10)


def _post_chunked(port: int, path: str, body: bytes, content_type: str):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    chunks = (body[i:i + 100] for i in range(0, len(body), 100))
    connection.request("POST", path, body=chunks, encode_chunked=True,
                       headers={"Content-Type": content_type})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, response.getheader("Content-Type"), data


def test_a_chunked_body_over_the_limit_is_413_and_nothing_is_stored(live_server):
    app, port = live_server
    # A valid JSON prefix: cut at the limit it would register a user.
    body = json.dumps({"email": "ada@example.com", "password": PASSWORD}).encode() + b" " * 2000
    status, content_type, _ = _post_chunked(port, REGISTER, body, "application/json")
    assert status == 413
    assert content_type == "application/problem+json"
    form = ("grant_type=password&username=ada%40example.com&password=x&pad="
            + "y" * 2000).encode()
    assert _post_chunked(port, TOKEN, form, "application/x-www-form-urlencoded")[0] == 413
    from usergate.extensions import db
    from usergate.models import User

    with app.app_context():
        assert db.session.execute(db.select(User)).first() is None


def test_a_chunked_body_under_the_limit_is_read_whole(live_server):
    _, port = live_server
    body = json.dumps({"email": "ada@example.com", "password": PASSWORD}).encode()
    status, _, data = _post_chunked(port, REGISTER, body, "application/json")
    assert status == 201, data


# 4. Repeated parameters ------------------------------------------------------------------

def test_repeated_token_endpoint_parameters_are_invalid_request(client, auth):
    tokens = auth.register("ada@example.com")
    for body in (
        "grant_type=password&grant_type=password&username=ada%40example.com&password=x",
        f"grant_type=password&username=ada%40example.com&username=b%40example.com"
        f"&password={PASSWORD}",
        f"grant_type=password&username=ada%40example.com&password={PASSWORD}&password=x",
        f"grant_type=refresh_token&refresh_token={tokens.refresh}&refresh_token=x",
        f"grant_type=refresh_token&refresh_token={tokens.refresh}"
        f"&refresh_token={tokens.refresh}",
    ):
        response = client.post(TOKEN, data=body,
                               content_type="application/x-www-form-urlencoded")
        assert response.status_code == 400, body
        assert response.get_json()["error"] == "invalid_request"
    # The repeated refresh token was not spent: it still works, once.
    response = client.post(TOKEN, data={"grant_type": "refresh_token",
                                        "refresh_token": tokens.refresh})
    assert response.status_code == 200, response.get_json()


def test_repeated_query_parameters_are_400_naming_them(client, auth):
    admin = auth.admin()
    assert_problem(client.get(f"{API}/users?page=1&page=2", headers=admin.headers), 400, "page")
    assert_problem(client.get(f"{API}/users?sort=email&sort=-email", headers=admin.headers),
                   400, "sort")


# 5. Huge numbers -------------------------------------------------------------------------

@pytest.mark.parametrize("page", [10**25, 2**63, 2**64, 10**100, int("9" * 4000)])
def test_a_page_far_past_the_last_is_200_and_empty(client, auth, page):
    admin = auth.admin()
    for url in (f"{API}/users", f"{API}/addresses", f"{API}/auth/sessions"):
        response = client.get(f"{url}?page={page}&per_page=10", headers=admin.headers)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert body["items"] == [] and body["page"] == page
        expected_total = 1 if url != f"{API}/addresses" else 0
        assert body["total"] == expected_total and body["pages"] == expected_total
        assert 'rel="next"' not in response.headers["Link"]


@pytest.mark.parametrize("per_page", ["1" + "0" * 25, str(2**63), "9" * 5000, "-1", "0", "1e3",
                                      "½"])
def test_an_absurd_per_page_is_400_naming_it(client, auth, per_page):
    admin = auth.admin()
    response = client.get(f"{API}/users?per_page={per_page}", headers=admin.headers)
    assert_problem(response, 400, "per_page")


def _resign(app, token: str, **claims) -> str:
    settings = app.extensions["usergate"]
    header = jwt.get_unverified_header(token)
    payload = {**jwt.decode(token, options={"verify_signature": False}), **claims}
    key = settings.keys.signing
    return jwt.encode(payload, key.signing_key, algorithm=key.algorithm, headers=header)


@pytest.mark.parametrize("exp", [2**40, 10**30, 2**63 + 1])
def test_a_token_expiring_past_year_9999_is_handled(app, client, auth, exp):
    tokens = auth.register()
    forever = _resign(app, tokens.access, exp=exp)
    headers = {"Authorization": f"Bearer {forever}"}
    me = client.get(f"{API}/auth/user", headers=headers)
    assert me.status_code < 500
    response = client.post(f"{API}/auth/logout", headers=headers)
    assert response.status_code in (204, 401), response.get_data(as_text=True)
    # Logged out (or refused): the token does not work afterwards either way.
    assert client.get(f"{API}/auth/user", headers=headers).status_code == 401


# 6. Ids that are not UUIDs ---------------------------------------------------------------

@pytest.mark.parametrize("bad_id", ["not-a-uuid", "x" * 300, "%00", "a%00b", "%ED%A0%80",
                                    "1", "-1", "9" * 40, "%F0%9F%98%80", "%E2%80%AE"])
def test_ids_that_are_not_uuids_are_404_on_every_id_route(client, auth, bad_id):
    tokens = auth.admin()
    for method, url in (("DELETE", f"{API}/auth/sessions/{bad_id}"),
                        ("GET", f"{API}/users/{bad_id}"),
                        ("PATCH", f"{API}/users/{bad_id}"),
                        ("DELETE", f"{API}/users/{bad_id}"),
                        ("GET", f"{API}/users/{bad_id}/addresses"),
                        ("GET", f"{API}/addresses/{bad_id}"),
                        ("PUT", f"{API}/addresses/{bad_id}"),
                        ("PATCH", f"{API}/addresses/{bad_id}"),
                        ("DELETE", f"{API}/addresses/{bad_id}"),
                        ("TRACE", f"{API}/users/{bad_id}")):  # a method no route lists
        response = client.open(url, method=method, headers=tokens.headers, json={})
        assert_problem(response, 404)


# 8. Swagger -----------------------------------------------------------------------------

def test_swagger_token_url_comes_from_public_base_url_whatever_the_host(make_app):
    app = make_app(PUBLIC_BASE_URL="https://id.example.com/")
    client = app.test_client()
    for host in ("evil.example.net", "localhost"):
        response = client.get(f"{API}/swagger.json", base_url=f"http://{host}")
        token_url = response.get_json()["securityDefinitions"]["oauth2"]["tokenUrl"]
        assert token_url == "https://id.example.com/api/v1/auth/token"


def test_without_public_base_url_the_spec_follows_the_host_but_no_cache_keeps_it(client):
    response = client.get(f"{API}/swagger.json", base_url="http://evil.example.net")
    assert (response.get_json()["securityDefinitions"]["oauth2"]["tokenUrl"]
            == "http://evil.example.net/api/v1/auth/token")
    assert "no-store" in response.headers["Cache-Control"]
    assert "Host" in response.headers["Vary"]


def test_swagger_ui_cannot_be_framed(client):
    response = client.get(f"{API}/ui")
    assert response.status_code == 200
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_public_base_url_must_be_an_origin(make_app):
    from usergate.config import ConfigError

    for bad in ("id.example.com", "ftp://id.example.com", "https://"):
        with pytest.raises(ConfigError, match="PUBLIC_BASE_URL"):
            make_app(PUBLIC_BASE_URL=bad)


# 10. Files -------------------------------------------------------------------------------

@pytest.mark.skipif(os.environ.get("TEST_DATABASE_URL", "").startswith("postgres"),
                    reason="SQLite files only")
def test_instance_folder_is_0700_and_sqlite_files_0600(tmp_path, monkeypatch):
    from usergate import create_app
    from usergate.extensions import db

    monkeypatch.setenv("USERGATE_INSTANCE_PATH", str(tmp_path / "instance"))
    old = os.umask(0o022)
    try:
        app = create_app({"USERGATE_CONFIG": "testing", "BCRYPT_LOG_ROUNDS": 4,
                          "DATABASE_URL": ""})
        with app.app_context():
            db.create_all()
            db.session.execute(db.text("CREATE TABLE probe (x)"))
            db.session.commit()
            folder = tmp_path / "instance"
            files = ["usergate.db", "usergate.db-wal", "usergate.db-shm"]
            assert all((folder / name).exists() for name in files)
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700
            for name in files:
                assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name
            db.engine.dispose()
    finally:
        os.umask(old)


@pytest.mark.skipif(os.environ.get("TEST_DATABASE_URL", "").startswith("postgres"),
                    reason="SQLite files only")
def test_existing_sqlite_files_are_narrowed_to_0600(tmp_path):
    from usergate import create_app

    path = tmp_path / "old.db"
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"old.db{suffix}").touch(mode=0o644)
        os.chmod(tmp_path / f"old.db{suffix}", 0o644)
    create_app({"USERGATE_CONFIG": "testing", "DATABASE_URL": f"sqlite:///{path}"})
    for suffix in ("", "-wal", "-shm"):
        assert stat.S_IMODE((tmp_path / f"old.db{suffix}").stat().st_mode) == 0o600


@pytest.mark.skipif(os.environ.get("TEST_DATABASE_URL", "").startswith("postgres"),
                    reason="SQLite files only")
def test_a_database_sqlite_creates_later_is_narrowed_when_connected(tmp_path):
    from usergate import create_app
    from usergate.extensions import db

    volume = tmp_path / "volume"
    app = create_app({"USERGATE_CONFIG": "testing",
                      "DATABASE_URL": f"sqlite:///{volume / 'late.db'}"})
    assert not volume.exists()  # an unmounted volume is not created
    volume.mkdir()
    old = os.umask(0o022)
    try:
        with app.app_context():
            db.create_all()
            db.engine.dispose()
    finally:
        os.umask(old)
    assert stat.S_IMODE((volume / "late.db").stat().st_mode) == 0o600


def test_durations_that_would_overflow_a_datetime_are_refused_at_start(make_app):
    from usergate.config import ConfigError

    with pytest.raises(ConfigError, match="JWT_REFRESH_TOKEN_EXPIRES"):
        make_app(JWT_REFRESH_TOKEN_EXPIRES=10**12)
