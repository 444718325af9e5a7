"""Issue 12 item 7 under real concurrency: on a file SQLite database served by a
threaded server, and on PostgreSQL served by gunicorn with 4 workers.

(a) Logins with the old password racing a password change: once the change has
    answered 200, no session minted with the old password is live (50 rounds).
(b) Logins, password grants and address creation racing the deletion of their
    user: never a 5xx (50 rounds).
"""

from __future__ import annotations

import secrets
import sqlite3
import uuid

import httpx
import pytest

from helpers.databases import postgres_configured
from helpers.live import ThreadServer
from support import PASSWORD
from test_gunicorn_postgres import concurrently, new_ip, register, serving

ROUNDS = 50
NEW_PASSWORD = "a brand new passphrase"
ADDRESS = {"line1": "1 Main Street", "city": "Berlin", "postal_code": "10115", "country": "DE"}

pytestmark = pytest.mark.slow


class Target:
    """A served usergate and a way to read its database directly."""

    def __init__(self, base_url: str, live_sessions):
        self.base_url = base_url
        self.live_sessions = live_sessions  # email -> set of live session ids

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=60,
                            limits=httpx.Limits(max_connections=50))


@pytest.fixture(scope="module")
def sqlite_target(tmp_path_factory):
    from usergate import create_app
    from usergate.extensions import db

    folder = tmp_path_factory.mktemp("races")
    path = folder / "usergate.db"
    app = create_app({"USERGATE_CONFIG": "testing", "DATABASE_URL": f"sqlite:///{path}",
                      "SECRET_KEY": secrets.token_urlsafe(48), "BCRYPT_LOG_ROUNDS": 4,
                      "RATELIMIT_ENABLED": False})
    with app.app_context():
        db.create_all()

    def live_sessions(email: str) -> set[str]:
        with sqlite3.connect(path, timeout=30) as conn:
            rows = conn.execute(
                "SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id "
                "WHERE u.email = ? AND s.revoked_at IS NULL", (email,)).fetchall()
        return {row[0] for row in rows}

    with ThreadServer(app) as server:
        yield Target(server.url, live_sessions)
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="module")
def postgres_target(tmp_path_factory):
    if not postgres_configured():
        pytest.skip("needs PostgreSQL: set TEST_DATABASE_URL to a postgresql:// URL")
    with serving(tmp_path_factory.mktemp("gunicorn-races"), "races",
                 RATELIMIT_ENABLED="false") as server:

        def live_sessions(email: str) -> set[str]:
            rows = server.query(
                "SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id "
                "WHERE u.email = %s AND s.revoked_at IS NULL", email)
            return {row[0] for row in rows}

        yield Target(server.base_url, live_sessions)
        errors = server.error_log
        if errors.exists() and "Traceback" in errors.read_text():
            print(errors.read_text()[-4000:])


@pytest.fixture(params=["sqlite", "postgres"])
def target(request):
    return request.getfixturevalue(f"{request.param}_target")


def _rounds(client: httpx.Client, race: str):
    """ROUNDS times: the round, the email of a user it registers, and its Bearer header."""
    for round_ in range(ROUNDS):
        email = f"race-{race}-{round_}-{uuid.uuid4().hex[:6]}@example.com"
        tokens = register(client, email)
        yield round_, email, {"Authorization": f"Bearer {tokens['access_token']}"}


def _sid(token: str) -> str:
    import jwt

    return jwt.decode(token, options={"verify_signature": False})["sid"]


def test_a_login_racing_a_password_change_never_leaves_an_old_password_session(target):
    failures = []
    with target.client() as client:
        for round_, email, bearer in _rounds(client, "a"):
            def send(i, email=email, bearer=bearer):
                if i == 0:
                    return client.put("/api/v1/auth/password", headers=bearer, json={
                        "current_password": PASSWORD, "new_password": NEW_PASSWORD})
                return client.post("/api/v1/auth/login", json={
                    "email": email, "password": PASSWORD}, headers={"X-Forwarded-For": new_ip()})

            change, *logins = concurrently(4, send)
            assert change.status_code < 500 and all(r.status_code < 500 for r in logins), (
                [change.text] + [r.text for r in logins])
            if change.status_code != 200:
                continue
            live = target.live_sessions(email)
            if live != {_sid(change.json()["access_token"])}:
                failures.append((round_, [r.status_code for r in logins]))
            for login in logins:
                if login.status_code == 200:
                    me = client.get("/api/v1/auth/user", headers={
                        "Authorization": f"Bearer {login.json()['access_token']}"})
                    if me.status_code != 401:
                        failures.append((round_, "old-password token works", me.status_code))
    assert failures == [], failures


def test_logins_and_writes_racing_the_users_deletion_are_never_a_5xx(target):
    seen: dict[int, int] = {}
    server_errors = []
    with target.client() as client:
        for round_, email, bearer in _rounds(client, "b"):
            me = client.get("/api/v1/auth/user", headers=bearer).json()["id"]

            def send(i, email=email, bearer=bearer, me=me):
                ip = {"X-Forwarded-For": new_ip()}
                if i == 0:
                    return client.delete(f"/api/v1/users/{me}", headers=bearer)
                if i in (1, 2):
                    return client.post("/api/v1/auth/login", headers=ip,
                                       json={"email": email, "password": PASSWORD})
                if i == 3:
                    return client.post("/api/v1/auth/token", headers=ip, data={
                        "grant_type": "password", "username": email, "password": PASSWORD})
                return client.post("/api/v1/addresses", headers=bearer, json=ADDRESS)

            responses = concurrently(5, send)
            for response in responses:
                seen[response.status_code] = seen.get(response.status_code, 0) + 1
                if response.status_code >= 500:
                    server_errors.append((round_, response.request.url.path, response.text))
            assert responses[0].status_code == 204, responses[0].text
            assert target.live_sessions(email) == set()
    assert server_errors == [], server_errors
    assert seen.get(204, 0) == ROUNDS
