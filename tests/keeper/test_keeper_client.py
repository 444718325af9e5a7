"""The RFC 6749 client: what it sends, and how it reads every kind of answer.

The token endpoint here is an httpx MockTransport (the HTTP layer, not project
code); the real usergate endpoint is exercised by the end-to-end tests.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs

import httpx
import pytest

from usergate.keeper import (
    EndpointUnreachableError,
    InvalidGrantError,
    TokenClient,
    TokenEndpointError,
)

URL = "https://auth.example.com/api/v1/auth/token"
NOW = 1_800_000_000.5


def jwt(claims: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'HS256', 'typ': 'at+jwt'})}.{part(claims)}.sig"


def client_answering(status: int, body, *, seen: list | None = None, **headers) -> TokenClient:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        if isinstance(body, Exception):
            raise body
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.Response(status, content=content, headers=headers)
    return TokenClient(URL, transport=httpx.MockTransport(handler), clock=lambda: NOW)


def test_refresh_sends_a_form_and_reads_the_token_response():
    seen = []
    access = jwt({"exp": int(NOW) + 900})
    client = client_answering(200, {"access_token": access, "token_type": "Bearer",
                                    "expires_in": 900, "refresh_token": "r-2",
                                    "refresh_expires_in": 2592000}, seen=seen)
    response = client.refresh("r-1")
    request = seen[0]
    assert request.method == "POST" and str(request.url) == URL
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.content.decode()) == {"grant_type": ["refresh_token"],
                                                  "refresh_token": ["r-1"]}
    assert (response.access_token, response.refresh_token) == (access, "r-2")
    # exp agrees with requested_at + expires_in to within the whole-second iat: use exp.
    assert response.access_expires_at == int(NOW) + 900
    assert response.refresh_expires_at == NOW + 2592000 - 1


def test_password_grant_form():
    seen = []
    client = client_answering(200, {"access_token": "opaque", "token_type": "bearer",
                                    "expires_in": 60}, seen=seen)
    response = client.password("svc@example.com", "p&ss=word")
    assert parse_qs(seen[0].content.decode()) == {
        "grant_type": ["password"], "username": ["svc@example.com"], "password": ["p&ss=word"]}
    # No JWT to read exp from: a second is taken off for the server's whole-second clock.
    assert response.access_expires_at == NOW + 60 - 1
    assert response.refresh_token is None


def test_invalid_grant_is_typed():
    client = client_answering(400, {"error": "invalid_grant",
                                    "error_description": "The refresh token was already used"})
    with pytest.raises(InvalidGrantError) as info:
        client.refresh("secret-refresh-token")
    assert (info.value.status, info.value.error, info.value.transient) == (
        400, "invalid_grant", False)
    assert "invalid_grant: The refresh token was already used" in str(info.value)
    assert "secret-refresh-token" not in str(info.value)


@pytest.mark.parametrize("status, body, error, transient, text", [
    (400, {"error": "unsupported_grant_type"}, "unsupported_grant_type", False,
     "HTTP 400, unsupported_grant_type"),
    (429, {"type": "about:blank", "title": "Too Many Requests", "status": 429,
           "detail": "10 per 1 minute"}, "http_429", True, "HTTP 429 (10 per 1 minute)"),
    (502, b"<html>Bad Gateway</html>", "http_502", True, "HTTP 502 (Bad Gateway)"),
])
def test_other_errors(status, body, error, transient, text):
    with pytest.raises(TokenEndpointError) as info:
        client_answering(status, body).password("u", "secret-password")
    assert not isinstance(info.value, InvalidGrantError)
    assert (info.value.error, info.value.transient) == (error, transient)
    assert text in str(info.value) and "secret-password" not in str(info.value)


@pytest.mark.parametrize("body, problem", [
    (b"not json", "the body is not JSON"),
    ({"token_type": "Bearer", "expires_in": 5}, "no access_token"),
    ({"access_token": "x", "token_type": "mac", "expires_in": 5}, "token_type is 'mac'"),
    ({"access_token": "x", "token_type": "Bearer"}, "no expires_in and no exp claim"),
    ({"access_token": "x", "token_type": "Bearer", "expires_in": 0}, "expires_in is 0"),
])
def test_unusable_success_responses(body, problem):
    with pytest.raises(TokenEndpointError, match="unusable token response: " + problem):
        client_answering(200, body).refresh("r")


@pytest.mark.parametrize("exc", [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow"),
                                 httpx.ReadTimeout("slow")])
def test_transport_failures_are_unreachable(exc):
    with pytest.raises(EndpointUnreachableError, match=URL) as info:
        client_answering(200, exc).refresh("r")
    assert info.value.transient


def test_token_url_must_be_http():
    with pytest.raises(ValueError, match="absolute http"):
        TokenClient("file:///etc/passwd")
