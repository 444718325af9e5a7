"""Issue 12 item 9: one normalisation (NFKC + casefold of the whole address) for
the email uniqueness key, and a migration that keeps existing rows valid."""

from __future__ import annotations

import pytest
from flask_migrate import upgrade
from sqlalchemy import text

from support import PASSWORD, assert_problem
from usergate.extensions import db

API = "/api/v1"
SPELLINGS = [
    ("strasse@example.com", "STRAßE@example.com"),
    ("straße@example.com", "STRASSE@EXAMPLE.COM"),
    ("kelvin@example.com", "\u212aelvin@example.com"),  # KELVIN SIGN
    ("ada@example.com", "\uff21da@example.com"),  # FULLWIDTH A
    ("ﬀ@example.com", "FF@example.com"),  # the ff ligature
]


@pytest.mark.parametrize("first, second", SPELLINGS)
def test_two_spellings_of_one_address_are_one_account(client, auth, first, second):
    auth.register(first)
    response = client.post(f"{API}/auth/register", json={"email": second, "password": PASSWORD})
    assert_problem(response, 409)
    # And the other spelling signs in to the one account.
    login = client.post(f"{API}/auth/login", json={"email": second, "password": PASSWORD})
    assert login.status_code == 200, login.get_json()
    assert auth.me(auth.login(first))["email"] == first


def test_an_email_change_to_another_spelling_of_a_taken_address_is_409(auth):
    auth.register("strasse@example.com")
    tokens = auth.register("bob@example.com")
    assert_problem(auth.update_me(tokens, email="Straße@example.com"), 409)


def _insert_legacy_user(n: int, email: str) -> None:
    from usergate.security.passwords import hash_password

    db.session.execute(text(
        "INSERT INTO users (public_id, email, email_key, password_hash, admin, disabled, "
        "registered_on) VALUES (:pid, :email, :key, :hash, false, false, :when)"), {
        "pid": f"00000000-0000-4000-8000-{n:012d}", "email": email, "key": email.lower(),
        "hash": hash_password(PASSWORD), "when": f"2026-01-0{n} 00:00:00"})


def test_the_migration_rekeys_existing_users_and_keeps_every_row(fresh_app):
    app = fresh_app
    with app.app_context():
        upgrade(revision="c856024e21f3")
        # Keys as the code before wrote them (.lower()): four accounts, two addresses.
        for n, email in enumerate(["Straße@example.com", "STRASSE@example.com",
                                   "\u212aelvin@example.com", "Ada@example.com"], start=1):
            _insert_legacy_user(n, email)
        db.session.commit()
        upgrade()
        rows = dict(db.session.execute(text(
            "SELECT public_id, email_key FROM users ORDER BY id")).all())
        db.session.commit()
    assert rows == {
        "00000000-0000-4000-8000-000000000001": "strasse@example.com",
        # Newer than the account it folds onto: kept, but off the lookup key.
        "00000000-0000-4000-8000-000000000002":
            "duplicate:00000000-0000-4000-8000-000000000002:strasse@example.com",
        "00000000-0000-4000-8000-000000000003": "kelvin@example.com",
        "00000000-0000-4000-8000-000000000004": "ada@example.com",
    }
    client = app.test_client()
    for email in ("STRASSE@example.com", "strasse@example.com", "kelvin@example.com",
                  "ADA@example.com"):
        response = client.post(f"{API}/auth/login", json={"email": email, "password": PASSWORD})
        assert response.status_code == 200, (email, response.get_json())
    me = client.get(f"{API}/auth/user", headers={
        "Authorization": f"Bearer {response.get_json()['access_token']}"}).get_json()
    assert me["email"] == "Ada@example.com"
