"""The password policy (docs/api.md §6.4) at every place a password is chosen, and NFKC."""

from __future__ import annotations

import hashlib
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from support import PASSWORD, assert_problem
from usergate.extensions import bcrypt
from usergate.extensions import db as _db
from usergate.models import User
from usergate.security.passwords import _prehash
from usergate.services.password_policy import common_passwords

API = "/api/v1"
EMAIL = "ada.lovelace@example.com"
NAME = "Ada Lovelace"


# --- the three places a password is chosen (the reset is the fourth: issue 14) ----------

def _register(client, auth, password):
    return client.post(f"{API}/auth/register",
                       json={"email": EMAIL, "password": password, "name": NAME}), "password"


def _create_user(client, auth, password):
    admin = auth.admin()
    return client.post(f"{API}/users", headers=admin.headers,
                       json={"email": EMAIL, "password": password, "name": NAME}), "password"


def _change_password(client, auth, password):
    tokens = auth.register(EMAIL, name=NAME)
    return client.put(f"{API}/auth/password", headers=tokens.headers,
                      json={"current_password": PASSWORD, "new_password": password}), \
        "new_password"


PLACES = {"register": _register, "post-users": _create_user, "password-change": _change_password}

REFUSED = {
    "common": ("qwertyuiop", "common"),
    "common-any-case": ("TrustNo1", "common"),
    "repeated": ("zzzzzzzzzzzz", "repeated"),
    "email": ("Ada.Lovelace@Example.com", "email"),
    "local-part": ("ada.lovelace", "before the @"),
    "name": ("ada lovelace", "name"),
    "name-without-spaces": ("AdaLovelace", "name"),
    "service": ("UserGate", "usergate"),
    "short-after-nfkc": ("ｓｈｏｒｔ", "at least 8"),
}


@pytest.mark.parametrize("place", list(PLACES))
@pytest.mark.parametrize("case", list(REFUSED))
def test_a_weak_password_is_refused_everywhere_naming_the_field(client, auth, place, case):
    password, why = REFUSED[case]
    response, field = PLACES[place](client, auth, password)
    body = assert_problem(response, 400, field)
    assert set(body["errors"]) == {field}
    assert why in " ".join(body["errors"][field]).lower()
    assert password not in response.get_data(as_text=True)


@pytest.mark.parametrize("place", list(PLACES))
def test_a_good_password_is_accepted_everywhere(client, auth, place):
    response, _ = PLACES[place](client, auth, "violet staple mountain tram")
    assert response.status_code in (200, 201), response.get_json()


def test_the_minimum_length_can_be_raised(make_app):
    client = make_app(PASSWORD_MIN_LENGTH=15).test_client()
    response = client.post(f"{API}/auth/register",
                           json={"email": EMAIL, "password": "fourteen chars"})
    body = assert_problem(response, 400, "password")
    assert body["errors"]["password"] == ["must be at least 15 characters long"]
    assert client.post(f"{API}/auth/register", json={
        "email": EMAIL, "password": "fifteen chars!!"}).status_code == 201


def test_the_cli_applies_the_policy(app):
    from usergate.cli import create_user_command

    result = app.test_cli_runner().invoke(create_user_command,
                                          [EMAIL, "--password", "password1"])
    assert result.exit_code != 0
    assert "password: is one of the most common passwords" in result.output
    assert "password1" not in result.output.replace("--password", "")


def test_the_offline_list_is_large_and_a_set():
    words = common_passwords()
    assert isinstance(words, frozenset)
    assert len(words) >= 20_000
    assert {"password", "123456789", "iloveyou", "pic's"} <= words
    assert PASSWORD not in words
    assert common_passwords() is words  # loaded once


# --- NFKC, and hashes from before it ------------------------------------------------------

def test_a_password_is_nfkc_normalised_before_hashing(client):
    # Full-width letters (another keyboard or input method) and a ligature.
    typed = "ｃｏｒｒｅｃｔ horse ﬁsh"
    assert client.post(f"{API}/auth/register",
                       json={"email": EMAIL, "password": typed}).status_code == 201
    for password in (typed, "correct horse fish"):
        response = client.post(f"{API}/auth/login", json={"email": EMAIL, "password": password})
        assert response.status_code == 200, response.get_json()


def _store_old_hash(app, email: str, password: str) -> None:
    """The hash exactly as usergate stored it before NFKC: bcrypt of the typed form."""
    with app.app_context():
        user = _db.session.execute(_db.select(User).where(User.email_key == email)).scalar_one()
        user.password_hash = bcrypt.generate_password_hash(_prehash(password)).decode("ascii")
        _db.session.commit()


@pytest.mark.parametrize("old_password", [
    "ｃｏｒｒｅｃｔ horse ﬁsh",  # NFKC changes it: the typed form is tried too
    "password1",  # on the list now, but it was accepted then
    "correct horse battery",
], ids=["not-nfkc", "now-common", "ascii"])
def test_a_password_accepted_before_this_change_still_logs_in(app, client, auth, old_password):
    auth.create_user(EMAIL)
    _store_old_hash(app, EMAIL, old_password)
    response = client.post(f"{API}/auth/login", json={"email": EMAIL, "password": old_password})
    assert response.status_code == 200, response.get_json()
    wrong = client.post(f"{API}/auth/login", json={"email": EMAIL, "password": "ｗｒｏｎｇ one"})
    assert wrong.status_code == 401


# --- Pwned Passwords against a local fake range server ---------------------------------------

BREACHED = "violet staple mountain tram"


def _sha1(password: str) -> str:
    return hashlib.sha1(password.encode("utf-8")).hexdigest().upper()


class FakeRangeServer:
    """A Pwned Passwords range API: records what arrives, answers SUFFIX:COUNT lines."""

    def __init__(self, *, delay: float = 0.0, status: int = 200):
        self.requests: list[tuple[str, dict, bytes]] = []
        self.delay, self.status = delay, status
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                length = int(self.headers.get("Content-Length") or 0)
                fake.requests.append((self.path, dict(self.headers), self.rfile.read(length)))
                time.sleep(fake.delay)
                prefix = self.path.rsplit("/", 1)[-1]
                lines = ["0018A45C4D1DEF81644B54AB7F969B88D65:0",  # padding
                         "00D4F6E8FA6EECAD2A3AA415EEC418D38EC:2"]
                breached = _sha1(BREACHED)
                if breached.startswith(prefix):
                    lines.append(f"{breached[5:].lower()}:3861493")
                body = "\r\n".join(lines).encode()
                try:
                    self.send_response(fake.status)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up (the timeout test)
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/range/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def range_server():
    servers = []

    def start(**kwargs):
        servers.append(FakeRangeServer(**kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_a_breached_password_is_refused_and_only_5_hex_characters_leave(make_app, range_server):
    server = range_server()
    client = make_app(PASSWORD_BREACH_CHECK="hibp", HIBP_API_URL=server.url).test_client()

    response = client.post(f"{API}/auth/register", json={"email": EMAIL, "password": BREACHED})
    body = assert_problem(response, 400, "password")
    assert "breach" in body["errors"]["password"][0]
    assert BREACHED not in response.get_data(as_text=True)

    ((path, headers, sent),) = server.requests
    assert path == "/range/" + _sha1(BREACHED)[:5]
    assert headers["Add-Padding"] == "true"
    assert sent == b""
    leaked = path + "".join(f"{k}: {v}" for k, v in headers.items())
    assert _sha1(BREACHED)[5:] not in leaked.upper() and BREACHED not in leaked

    # Another password's range answers only padding and other suffixes: accepted.
    ok = client.post(f"{API}/auth/register", json={"email": EMAIL, "password": PASSWORD})
    assert ok.status_code == 201, ok.get_json()
    assert len(server.requests) == 2


def test_no_request_leaves_without_the_setting_or_for_a_password_refused_offline(
        make_app, range_server):
    server = range_server()
    client = make_app(HIBP_API_URL=server.url).test_client()
    assert client.post(f"{API}/auth/register",
                       json={"email": EMAIL, "password": BREACHED}).status_code == 201
    client = make_app(PASSWORD_BREACH_CHECK="hibp", HIBP_API_URL=server.url).test_client()
    assert client.post(f"{API}/auth/register", json={
        "email": "b@example.com", "password": "password1"}).status_code == 400
    assert server.requests == []


@pytest.mark.parametrize("kind", ["timeout", "server-error", "unreachable"])
def test_an_unavailable_range_api_lets_the_password_through_with_a_warning(
        make_app, range_server, caplog, kind):
    if kind == "unreachable":
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            url = f"http://127.0.0.1:{sock.getsockname()[1]}/range/"
    else:
        url = range_server(**({"delay": 3.0} if kind == "timeout" else {"status": 503})).url
    client = make_app(PASSWORD_BREACH_CHECK="hibp", HIBP_API_URL=url).test_client()

    with caplog.at_level(logging.WARNING, logger="usergate"):
        response = client.post(f"{API}/auth/register",
                               json={"email": EMAIL, "password": BREACHED})
    assert response.status_code == 201, response.get_json()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("breach check unavailable" in message for message in warnings), warnings
    logged = " ".join(warnings).upper()
    assert BREACHED.upper() not in logged
    assert _sha1(BREACHED)[:5] not in logged and _sha1(BREACHED)[5:] not in logged


# --- the settings -----------------------------------------------------------------------

def test_the_settings_are_read_from_the_environment_and_checked():
    from usergate.config import ConfigError, load_config

    settings = load_config(environ={
        "LOGIN_MAX_FAILURES": "5", "LOGIN_LOCKOUT": "60", "PASSWORD_MIN_LENGTH": "12",
        "PASSWORD_BREACH_CHECK": "hibp", "HIBP_API_URL": "http://127.0.0.1:9/range/"})
    assert (settings["LOGIN_MAX_FAILURES"], settings["LOGIN_LOCKOUT"],
            settings["PASSWORD_MIN_LENGTH"]) == (5, 60, 12)
    assert settings["PASSWORD_BREACH_CHECK"] == "hibp"
    assert settings["HIBP_API_URL"] == "http://127.0.0.1:9/range/"
    defaults = load_config(environ={})
    assert (defaults["LOGIN_MAX_FAILURES"], defaults["LOGIN_LOCKOUT"],
            defaults["PASSWORD_MIN_LENGTH"], defaults["PASSWORD_BREACH_CHECK"]) == (10, 300, 8, "")
    for environ, name in (({"LOGIN_MAX_FAILURES": "0"}, "LOGIN_MAX_FAILURES"),
                          ({"LOGIN_LOCKOUT": "0"}, "LOGIN_LOCKOUT"),
                          ({"PASSWORD_MIN_LENGTH": "7"}, "PASSWORD_MIN_LENGTH"),
                          ({"PASSWORD_BREACH_CHECK": "yes"}, "PASSWORD_BREACH_CHECK")):
        with pytest.raises(ConfigError, match=name):
            load_config(environ=environ)
