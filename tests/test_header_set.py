"""The headers usergate answers with, frozen byte for byte (issue 20).

Cutting work out of the request path (hooks, the limiter on routes without
limits, marshalling) must not change what a client sees. The expected lists
below were captured from the app before any of that work was cut: every header
name, in order, with its exact value; only the values that differ per request
are normalised (a generated X-Request-ID, a Location's id, a rate-limit reset
time).
"""

from __future__ import annotations

import re

import pytest

from support import PASSWORD

USER = "/api/v1/auth/user"
EMAIL = "frozen.headers@example.com"  # fixed length: Content-Length is compared too

_GENERATED_ID = re.compile(r"[0-9a-f]{32}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def normalised(response) -> list[tuple[str, str]]:
    out = []
    for name, value in response.headers.items():
        if name == "X-Request-ID" and _GENERATED_ID.fullmatch(value):
            value = "<generated>"
        elif name == "X-RateLimit-Reset" and value.isdigit():
            value = "<epoch>"
        elif name == "Retry-After" and value.isdigit() and 0 < int(value) <= 60:
            value = "<at most 60>"  # whole seconds left in the window: 60, or 59 if it turned
        elif name == "Location":
            value = _UUID.sub("<uuid>", value)
        out.append((name, value))
    return out


PROTECTED_200 = [
    ("Content-Type", "application/json"),
    ("Content-Length", "317"),
    ("Cache-Control", "no-store"),
    ("Pragma", "no-cache"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Request-ID", "<generated>"),
]
NO_TOKEN_401 = [
    ("Content-Type", "application/problem+json"),
    ("Content-Length", "118"),
    ("WWW-Authenticate", 'Bearer realm="usergate"'),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Request-ID", "<generated>"),
]
BAD_TOKEN_401 = [
    ("Content-Type", "application/problem+json"),
    ("Content-Length", "124"),
    ("WWW-Authenticate",
     'Bearer realm="usergate", error="invalid_token", error_description="The token is malformed"'),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Request-ID", "<generated>"),
]
TWO_TOKENS_400 = [
    ("Content-Type", "application/problem+json"),
    ("Content-Length", "150"),
    ("WWW-Authenticate", 'Bearer realm="usergate", error="invalid_request", '
                         'error_description="The Bearer credentials hold more than one token"'),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Request-ID", "<generated>"),
]
NOT_FOUND_404 = [
    ("Content-Type", "application/problem+json"),
    ("Content-Length", "102"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Request-ID", "<generated>"),
]
HEALTH_200 = [
    ("Content-Type", "application/json"),
    ("Content-Length", "35"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Request-ID", "<generated>"),
]


def _limits(enabled: bool, remaining: str) -> list[tuple[str, str]]:
    if not enabled:
        return []
    return [("X-RateLimit-Limit", "3"), ("X-RateLimit-Remaining", remaining),
            ("X-RateLimit-Reset", "<epoch>")]


def register_201(limiter: bool) -> list[tuple[str, str]]:
    return [
        ("Content-Type", "application/json"),
        ("Content-Length", "987"),
        ("Cache-Control", "no-store"),
        ("Pragma", "no-cache"),
        ("Location", "/api/v1/users/<uuid>"),
        *_limits(limiter, "2"),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Request-ID", "<generated>"),
    ]


def wrong_password_401(limiter: bool, remaining: str) -> list[tuple[str, str]]:
    return [
        ("Content-Type", "application/problem+json"),
        ("Content-Length", "138"),
        ("WWW-Authenticate", 'Bearer realm="usergate"'),
        *_limits(limiter, remaining),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Request-ID", "<generated>"),
    ]


TOO_MANY_429 = [
    ("Content-Type", "application/problem+json"),
    ("Content-Length", "131"),
    ("X-RateLimit-Limit", "3"),
    ("X-RateLimit-Remaining", "0"),
    ("X-RateLimit-Reset", "<epoch>"),
    ("Retry-After", "<at most 60>"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Request-ID", "<generated>"),
]


@pytest.mark.parametrize("limiter", [True, False], ids=["limiter-on", "limiter-off"])
def test_the_header_set_is_unchanged(make_app, limiter):
    app = make_app(RATELIMIT_ENABLED=limiter, RATELIMIT_AUTH="3/minute")
    client = app.test_client()

    registered = client.post("/api/v1/auth/register", json={"email": EMAIL, "password": PASSWORD})
    assert registered.status_code == 201
    assert normalised(registered) == register_201(limiter)
    bearer = {"Authorization": f"Bearer {registered.get_json()['access_token']}"}

    for _ in range(2):  # the second request of a token too (the verified-token cache)
        protected = client.get(USER, headers=bearer)
        assert protected.status_code == 200
        assert normalised(protected) == PROTECTED_200
    assert list(protected.get_json()) == ["id", "email", "name", "admin", "disabled",
                                          "registered_on", "email_verified", "mfa_enabled",
                                          "token_expires_in",
                                          "fresh", "session_id"]

    cases = [
        (client.get(USER), 401, NO_TOKEN_401),
        (client.get(USER, headers={"Authorization": "Bearer abc"}), 401, BAD_TOKEN_401),
        (client.get(USER, headers={"Authorization": "Bearer a b"}), 400, TWO_TOKENS_400),
        (client.get("/api/v1/no-such-thing"), 404, NOT_FOUND_404),
        (client.get("/no-such-thing", headers=bearer), 404, NOT_FOUND_404),
        (client.get("/api/v1/health"), 200, HEALTH_200),
    ]
    for response, status, expected in cases:
        assert response.status_code == status, response.get_data(as_text=True)
        assert normalised(response) == expected, response.request.path

    # A rate-limited route keeps its X-RateLimit-* headers (each route counts apart).
    for remaining in ("2", "1", "0"):
        wrong = client.post("/api/v1/auth/login", json={"email": EMAIL, "password": "wrong!"})
        assert wrong.status_code == 401
        assert normalised(wrong) == wrong_password_401(limiter, remaining)
    if limiter:
        refused = client.post("/api/v1/auth/login", json={"email": EMAIL, "password": "x"})
        assert refused.status_code == 429
        assert normalised(refused) == TOO_MANY_429

def test_an_incoming_request_id_is_echoed(client):
    response = client.get(USER, headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 401
    assert normalised(response) == NO_TOKEN_401[:-1] + [("X-Request-ID", "abc-123")]
