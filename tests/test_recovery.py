"""Email verification and password reset (docs/api.md §6.2) over a real SMTP server.

Every message here goes through the outbox, the deliverer and aiosmtpd on a free
loopback port; links are taken from the captured mail as a user would click them.
"""

from __future__ import annotations

import logging
import re

import pytest
from sqlalchemy import func, select

from helpers.accounts import PASSWORD
from helpers.concurrency import in_threads
from helpers.problems import assert_problem
from helpers.smtp import deliver, link_of, parts, reset_link
from usergate.extensions import db as _db
from usergate.models import OutboxMessage

NEW_PASSWORD = "a brand new passphrase"
RESET = "/api/v1/auth/password-reset"
RESET_CONFIRM = "/api/v1/auth/password-reset/confirm"
VERIFY = "/api/v1/auth/email-verification"
VERIFY_CONFIRM = "/api/v1/auth/email-verification/confirm"


@pytest.fixture
def app(make_app, smtp):
    return make_app(**smtp.settings())


def test_register_mails_a_verification_link_that_verifies_the_email(app, client, auth, smtp):
    tokens = auth.register("ada@example.com", name="Ada <b>Lovelace</b>")
    assert auth.me(tokens)["email_verified"] is False
    assert smtp.to("ada@example.com") == []  # never sent inside the request

    report = deliver(app)
    assert report.sent == 1
    (message,) = smtp.to("ada@example.com")
    assert message["Subject"] == "Confirm your email address for usergate"
    assert message["To"] == "ada@example.com"
    assert message.get_content_type() == "multipart/alternative"
    text, html = parts(message)
    link, token = link_of(message)
    assert link.startswith("http://localhost/account/verify#token=")
    assert len(token) >= 43  # 256 random bits, base64url
    assert "Ada <b>Lovelace</b>" in text  # plain text is plain
    assert "Ada &lt;b&gt;Lovelace&lt;/b&gt;" in html and "<b>Lovelace" not in html  # escaped
    assert "usergate" in text and "usergate" in html

    response = client.post(VERIFY_CONFIRM, json={"token": token})
    assert response.status_code == 200
    assert response.get_json() == {"email_verified": True}
    assert auth.me(tokens)["email_verified"] is True
    # The link works once.
    assert_problem(client.post(VERIFY_CONFIRM, json={"token": token}), 400, "token")


def test_the_database_keeps_only_hashes_of_link_tokens(app, client, auth, smtp):
    auth.register("hash@example.com")
    deliver(app)
    _, token = link_of(smtp.to("hash@example.com")[0])
    with app.app_context():
        from usergate.models import LinkToken

        rows = _db.session.execute(select(LinkToken)).scalars().all()
        dump = " ".join(str(value) for row in rows for value in vars(row).values())
        outbox = " ".join(str(m.context) for m in
                          _db.session.execute(select(OutboxMessage)).scalars())
    assert rows and token not in dump and token not in outbox


def test_the_verification_request_endpoint_mails_the_current_email(app, client, auth, smtp):
    tokens = auth.register("again@example.com")
    deliver(app)
    response = client.post(VERIFY, headers=tokens.headers)
    assert response.status_code == 202
    assert response.get_json() == {"email": "again@example.com", "email_verified": False}
    deliver(app)
    first, second = smtp.to("again@example.com")
    assert link_of(first)[1] != link_of(second)[1]
    assert client.post(VERIFY_CONFIRM, json={"token": link_of(first)[1]}).status_code == 200
    # Verified: asking again sends nothing.
    assert client.post(VERIFY, headers=tokens.headers).get_json()["email_verified"] is True
    assert deliver(app).sent == 0
    assert client.post(VERIFY).status_code == 401


def test_password_reset_end_to_end_revokes_every_earlier_token(app, client, auth, smtp):
    tokens = auth.register("reset@example.com")
    other = auth.login("reset@example.com")
    link, token = reset_link(client, app, smtp, "reset@example.com")
    assert link.startswith("http://localhost/account/reset#token=")

    response = client.post(RESET_CONFIRM, json={"token": token, "new_password": NEW_PASSWORD})
    assert response.status_code == 204, response.get_data(as_text=True)
    # Every earlier token of the user, access and refresh, of every session, is dead.
    for earlier in (tokens, other):
        assert client.get("/api/v1/auth/user", headers=earlier.headers).status_code == 401
        assert client.post("/api/v1/auth/refresh",
                           headers=earlier.refresh_headers).status_code == 401
    assert client.post("/api/v1/auth/login", json={"email": "reset@example.com",
                                                    "password": PASSWORD}).status_code == 401
    assert auth.login("reset@example.com", NEW_PASSWORD).access
    # Single use.
    assert_problem(client.post(RESET_CONFIRM, json={"token": token, "new_password":
                                                    "yet another passphrase"}), 400, "token")


def test_used_expired_and_foreign_tokens_are_400_naming_token(app, client, auth, smtp, clock):
    auth.register("bad@example.com")
    deliver(app)
    _, verification_token = link_of(smtp.to("bad@example.com")[0])
    _, reset_token = reset_link(client, app, smtp, "bad@example.com")

    body = {"new_password": NEW_PASSWORD}
    # A verification token is not a reset token, and the reverse.
    assert_problem(client.post(RESET_CONFIRM, json={**body, "token": verification_token}),
                   400, "token")
    assert_problem(client.post(VERIFY_CONFIRM, json={"token": reset_token}), 400, "token")
    # Made up, empty, or far too long.
    for token in ("x" * 43, "", "y" * 500):
        assert_problem(client.post(RESET_CONFIRM, json={**body, "token": token}), 400, "token")
    # Expired (PASSWORD_RESET_EXPIRES is 3600 s).
    clock.advance(3601)
    assert_problem(client.post(RESET_CONFIRM, json={**body, "token": reset_token}), 400,
                   "token")
    # Other input is checked too, each failing field named.
    assert_problem(client.post(RESET_CONFIRM, json={"token": reset_token,
                                                    "new_password": "short"}),
                   400, "new_password")
    assert_problem(client.post(RESET_CONFIRM, json={"new_password": NEW_PASSWORD,
                                                    "extra": 1}), 400, "token", "extra")


def test_a_reset_token_dies_when_the_password_changes_by_any_path(app, client, auth, smtp):
    tokens = auth.register("change@example.com")
    _, by_change = reset_link(client, app, smtp, "change@example.com")
    response = client.put("/api/v1/auth/password", headers=tokens.headers,
                          json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert response.status_code == 200
    assert_problem(client.post(RESET_CONFIRM, json={"token": by_change,
                                                    "new_password": "third passphrase"}),
                   400, "token")

    # Two reset links: using one kills the other (the password it was bound to is gone).
    _, first = reset_link(client, app, smtp, "change@example.com")
    _, second = reset_link(client, app, smtp, "change@example.com")
    assert first != second
    assert client.post(RESET_CONFIRM, json={"token": second, "new_password":
                                            "fourth passphrase"}).status_code == 204
    assert_problem(client.post(RESET_CONFIRM, json={"token": first, "new_password":
                                                    "fifth passphrase"}), 400, "token")


def test_an_email_change_verifies_the_new_address_and_tells_the_old(app, client, auth, smtp):
    tokens = auth.register("old@example.com", name="Ada")
    deliver(app)
    _, old_token = link_of(smtp.to("old@example.com")[0])
    user_id = auth.me(tokens)["id"]
    assert client.post(VERIFY_CONFIRM, json={"token": old_token}).status_code == 200

    # A second verification link of the old address, delivered before the change.
    tokens = auth.login("old@example.com")
    assert client.post(VERIFY, headers=tokens.headers).status_code == 202  # verified: none
    response = client.patch(f"/api/v1/users/{user_id}", headers=tokens.headers,
                            json={"email": "new@example.com"})
    assert response.status_code == 200
    assert response.get_json()["email_verified"] is False
    deliver(app)
    notice = [m for m in smtp.to("old@example.com") if "changed" in m["Subject"]]
    assert len(notice) == 1
    text, html = parts(notice[0])
    assert "n***@example.com" in text and "new@example.com" not in text
    (verification,) = smtp.to("new@example.com")
    _, new_token = link_of(verification)
    assert client.post(VERIFY_CONFIRM, json={"token": new_token}).status_code == 200
    assert auth.me(tokens)["email_verified"] is True


def test_a_verification_token_dies_when_the_email_changes(app, client, auth, smtp):
    tokens = auth.register("first@example.com")
    deliver(app)
    _, token = link_of(smtp.to("first@example.com")[0])
    user_id = auth.me(tokens)["id"]
    assert client.patch(f"/api/v1/users/{user_id}", headers=tokens.headers,
                        json={"email": "second@example.com"}).status_code == 200
    assert_problem(client.post(VERIFY_CONFIRM, json={"token": token}), 400, "token")
    assert auth.me(tokens)["email_verified"] is False


def _answer(response) -> tuple[int, bytes, frozenset]:
    """Status, exact body bytes and the set of header names (values like Date differ)."""
    return response.status_code, response.get_data(), frozenset(response.headers.keys())


def test_reset_requests_answer_alike_for_known_unknown_and_disabled(app, client, auth, smtp):
    auth.register("known@example.com")
    auth.create_user("disabled@example.com")
    admin = auth.admin()
    disabled_id = [u["id"] for u in client.get("/api/v1/users", headers=admin.headers)
                   .get_json()["items"] if u["email"] == "disabled@example.com"][0]
    assert client.patch(f"/api/v1/users/{disabled_id}", headers=admin.headers,
                        json={"disabled": True}).status_code == 200
    deliver(app)
    smtp.clear()

    answers = {email: client.post(RESET, json={"email": email})
               for email in ("known@example.com", "nobody@example.com",
                             "disabled@example.com")}
    known, unknown, disabled = (_answer(r) for r in answers.values())
    assert known[0] == 202
    assert known == unknown == disabled
    assert answers["known@example.com"].headers["Cache-Control"] == "no-store"

    report = deliver(app)
    assert (report.sent, report.dropped) == (1, 2)
    assert [rcpt for rcpt, _ in smtp.messages] == [["known@example.com"]]
    with app.app_context():  # dropped requests leave nothing behind
        assert _db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.status != "sent")) == 0


def test_a_syntactically_invalid_email_is_a_400_naming_email(client):
    assert_problem(client.post(RESET, json={"email": "not an email"}), 400, "email")
    assert_problem(client.post(RESET, json={}), 400, "email")
    assert client.post(RESET, data="email=a@example.com").status_code == 415


def test_require_verified_email_refuses_password_sign_in_until_verified(make_app, smtp):
    app = make_app(REQUIRE_VERIFIED_EMAIL=True, **smtp.settings())
    client = app.test_client()
    response = client.post("/api/v1/auth/register",
                           json={"email": "strict@example.com", "password": PASSWORD})
    assert response.status_code == 201
    login = {"email": "strict@example.com", "password": PASSWORD}
    body = assert_problem(client.post("/api/v1/auth/login", json=login), 403)
    assert body["code"] == "email_not_verified"
    grant = client.post("/api/v1/auth/token", data={
        "grant_type": "password", "username": "strict@example.com", "password": PASSWORD})
    assert grant.status_code == 400 and grant.get_json()["error"] == "invalid_grant"
    # A wrong password stays a 401: the 403 never answers for someone without it.
    assert client.post("/api/v1/auth/login", json={**login, "password": "wrong password"}
                       ).status_code == 401

    deliver(app)
    _, token = link_of(smtp.to("strict@example.com")[0])
    assert client.post(VERIFY_CONFIRM, json={"token": token}).status_code == 200
    assert client.post("/api/v1/auth/login", json=login).status_code == 200


def test_mail_rate_limits_per_client_address_and_per_target_email(make_app, smtp):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_MAIL="2/hour",
                   RATELIMIT_KEY_PREFIX="mailtest-limits", **smtp.settings())
    client = app.test_client()
    for n in range(3):
        client.post("/api/v1/auth/register", json={"email": f"r{n}@example.com",
                                                   "password": PASSWORD},
                    environ_base={"REMOTE_ADDR": f"10.0.1.{n}"})
    deliver(app)
    smtp.clear()

    def reset(email, ip):
        response = client.post(RESET, json={"email": email}, environ_base={"REMOTE_ADDR": ip})
        assert response.status_code == 202  # limited or not: no enumeration
        return _answer(response)

    # Per target email: three requests from three addresses, two mails.
    answers = {reset("r0@example.com", f"10.0.2.{n}") for n in range(3)}
    assert len(answers) == 1  # the limited answer is the same answer
    assert deliver(app).sent == 2
    # Per client address: three emails from one address, two mails.
    for n in (1, 2):
        reset(f"r{n}@example.com", "10.0.3.1")
    reset("r0@example.com", "10.0.3.1")
    assert deliver(app).sent == 2
    assert {rcpt[0] for rcpt, _ in smtp.messages[2:]} == {"r1@example.com", "r2@example.com"}

    # The verification request (authenticated) says 429 with Retry-After when limited.
    login = client.post("/api/v1/auth/login", json={"email": "r1@example.com",
                                                    "password": PASSWORD},
                        environ_base={"REMOTE_ADDR": "10.0.4.1"}).get_json()
    headers = {"Authorization": f"Bearer {login['access_token']}"}
    statuses = [client.post(VERIFY, headers=headers, environ_base={"REMOTE_ADDR": "10.0.4.1"})
                for _ in range(3)]
    assert [r.status_code for r in statuses] == [202, 202, 429]
    assert int(statuses[-1].headers["Retry-After"]) > 0
    assert statuses[-1].mimetype == "application/problem+json"


def test_a_failed_register_queues_no_mail(app, client, auth):
    auth.register("once@example.com")
    response = client.post("/api/v1/auth/register",
                           json={"email": "ONCE@example.com", "password": PASSWORD})
    assert response.status_code == 409
    with app.app_context():
        assert _db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1


def test_the_account_pages_have_a_strict_policy_and_no_inline_script(client):
    for path in ("/account/reset", "/account/verify"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.mimetype == "text/html"
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert response.headers["Referrer-Policy"] == "no-referrer"
        page = response.get_data(as_text=True)
        assert '<script src="/account/static/account.js" defer></script>' in page
        assert page.count("<script") == 1  # the one same-origin file, nothing inline
        assert not re.search(r"\son[a-z]+\s*=", page)  # no inline event handlers
    script = client.get("/account/static/account.js")
    assert script.status_code == 200 and "location.hash" in script.get_data(as_text=True)


def test_no_token_link_or_password_in_any_log_line(app, client, auth, smtp, caplog):
    caplog.set_level(logging.DEBUG)
    tokens = auth.register("logs@example.com")
    deliver(app)
    _, verification = link_of(smtp.to("logs@example.com")[0])
    client.post(VERIFY_CONFIRM, json={"token": verification})
    link, reset = reset_link(client, app, smtp, "logs@example.com")
    client.post(RESET_CONFIRM, json={"token": reset, "new_password": NEW_PASSWORD})
    client.post(RESET_CONFIRM, json={"token": reset, "new_password": NEW_PASSWORD})  # a 400
    ours = [r for r in caplog.records if not r.name.startswith("mail.log")]  # not aiosmtpd's
    assert any(r.name == "usergate.mail" for r in ours)  # the deliverer did log
    lines = "\n".join(r.getMessage() + str(r.args) for r in ours)
    for secret in (verification, reset, link, NEW_PASSWORD, PASSWORD, tokens.access):
        assert secret not in lines


def test_links_use_public_base_url_when_set_else_the_requests_origin(make_app, smtp):
    app = make_app(PUBLIC_BASE_URL="https://id.example.com/", **smtp.settings())
    app.test_client().post("/api/v1/auth/register", headers={"Host": "evil.example"},
                           json={"email": "base@example.com", "password": PASSWORD})
    deliver(app)
    link, _ = link_of(smtp.to("base@example.com")[0])
    assert link.startswith("https://id.example.com/account/verify#token=")

    plain = make_app(**smtp.settings())
    plain.test_client().post(RESET, json={"email": "base@example.com"},
                             base_url="http://id.internal:8080")
    plain.test_client().post("/api/v1/auth/register", base_url="http://id.internal:8080",
                             json={"email": "origin@example.com", "password": PASSWORD})
    deliver(plain)
    link, _ = link_of(smtp.to("origin@example.com")[0])
    assert link.startswith("http://id.internal:8080/account/verify#token=")


def test_custom_link_templates_carry_the_token(make_app, smtp):
    app = make_app(PASSWORD_RESET_URL="https://app.example.com/reset?t={token}",
                   **smtp.settings())
    client = app.test_client()
    client.post("/api/v1/auth/register", json={"email": "custom@example.com",
                                               "password": PASSWORD})
    client.post(RESET, json={"email": "custom@example.com"})
    deliver(app)
    (message,) = [m for m in smtp.to("custom@example.com") if "Reset" in m["Subject"]]
    text, _ = parts(message)
    token = re.search(r"https://app\.example\.com/reset\?t=([A-Za-z0-9_-]+)", text).group(1)
    assert client.post(RESET_CONFIRM, json={"token": token,
                                            "new_password": NEW_PASSWORD}).status_code == 204


@pytest.mark.parametrize(("settings", "names"), [
    ({"MAIL_BACKEND": "pigeon"}, "MAIL_BACKEND"),
    ({"MAIL_USE_TLS": True, "MAIL_USE_SSL": True}, "MAIL_USE_TLS"),
    ({"PASSWORD_RESET_URL": "https://app.example.com/reset"}, "PASSWORD_RESET_URL"),
    ({"MAIL_LEASE": 5, "MAIL_TIMEOUT": 10}, "MAIL_LEASE"),
])
def test_mail_settings_that_cannot_work_are_refused(make_app, settings, names):
    from usergate.config import ConfigError

    with pytest.raises(ConfigError, match=names):
        make_app(**settings)


def test_of_concurrent_uses_of_one_reset_token_exactly_one_succeeds(app, client, auth, smtp):
    import threading

    auth.register("race@example.com")
    _, token = reset_link(client, app, smtp, "race@example.com")
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def use(n):
        local = app.test_client()
        barrier.wait()
        response = local.post(RESET_CONFIRM, json={"token": token,
                                                   "new_password": f"racing passphrase {n}"})
        statuses.append(response.status_code)

    in_threads(use, 4)
    assert sorted(statuses) == [204, 400, 400, 400]
