"""The password reset (docs/api.md §6.2) is the fourth place a password is chosen, and it
clears the failure count (§6.3): a locked-out owner gets back in at once."""

from __future__ import annotations

import pytest

import test_recovery
from helpers.smtp import reset_link
from support import PASSWORD, assert_problem
from test_recovery import RESET_CONFIRM

app = test_recovery.app  # the fixture: an app that mails to the smtp fixture's server
LOGIN = "/api/v1/auth/login"
NEW_PASSWORD = "a completely new passphrase"


@pytest.mark.parametrize("password, why", [
    ("password1", "common"), ("reset.victim", "before the @"), ("Reset Victim", "name"),
    ("11111111", "repeated")])
def test_a_weak_new_password_at_the_reset_is_refused_and_the_link_still_works(
        app, client, auth, smtp, password, why):
    auth.register("reset.victim@example.com", name="Reset Victim")
    _, token = reset_link(client, app, smtp, "reset.victim@example.com")

    response = client.post(RESET_CONFIRM, json={"token": token, "new_password": password})
    body = assert_problem(response, 400, "new_password")
    assert why in body["errors"]["new_password"][0]
    assert password not in response.get_data(as_text=True)

    # Refused before the token was spent: the same link sets a good password.
    ok = client.post(RESET_CONFIRM, json={"token": token, "new_password": NEW_PASSWORD})
    assert ok.status_code == 204, ok.get_data(as_text=True)


def test_a_reset_clears_the_lock_so_the_owner_gets_back_in_at_once(app, client, auth, smtp):
    auth.register("victim@example.com")
    for _ in range(10):  # an attacker locks the account
        client.post(LOGIN, json={"email": "victim@example.com", "password": "a wrong guess"})
    locked = client.post(LOGIN, json={"email": "victim@example.com", "password": PASSWORD})
    assert_problem(locked, 429)

    # The reset path is not locked: the request and the confirmation both work.
    _, token = reset_link(client, app, smtp, "victim@example.com")
    assert client.post(RESET_CONFIRM, json={"token": token,
                                            "new_password": NEW_PASSWORD}).status_code == 204

    response = client.post(LOGIN, json={"email": "victim@example.com", "password": NEW_PASSWORD})
    assert response.status_code == 200, response.get_json()
