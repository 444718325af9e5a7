"""The run-wide secret check (helpers/leaks.py) sees what it must and only that."""

from __future__ import annotations

from helpers import leaks
from mfa_support import code_at, enable_mfa, mfa_token, verify


def test_the_client_remembers_what_the_service_issued_and_accepted(client, auth, clock):
    tokens = auth.register("ada@example.com")
    assert {tokens.access, tokens.refresh} <= leaks.SECRETS
    mfa = enable_mfa(client, tokens, "ada@example.com", clock)
    assert mfa.secret in leaks.SECRETS and set(mfa.recovery_codes) <= leaks.SECRETS
    code = code_at(mfa.secret)
    assert verify(client, mfa_token(client, "ada@example.com"), code=code).status_code == 200
    assert code in leaks.SECRETS
    refused = client.post("/api/v1/auth/login", json={"email": "ada@example.com",
                                                      "password": "not it, refused"})
    assert refused.status_code == 401 and "not it, refused" not in leaks.SECRETS


def test_a_secret_in_a_line_or_an_event_is_found_and_masked():
    token, code, password = "eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl", "123456", "correct horse bat"
    lines = [f"refreshed with {token}.", "request id 0a1234567b8c", f"hi {password}!"]
    found = leaks.leaks({token, code, password}, lines, [f'{{"details": "{code}"}}'])
    assert len(found) == 3, found
    assert sum("audit event" in f for f in found) == 1
    assert not [f for f in found if token in f or password in f]  # the report masks them


def test_six_digits_inside_a_hex_request_id_are_not_a_code():
    assert leaks.leaks({"123456"}, ["request 9f1234567ab0 answered"], []) == []
