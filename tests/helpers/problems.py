"""Problem JSON (RFC 9457) and the Bearer challenges (RFC 6750) of failed requests."""

from __future__ import annotations


def assert_problem(response, status: int, *fields: str) -> dict:
    """The response is RFC 9457 problem JSON with this status, naming these fields."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    assert body["title"] and body["type"] and body["detail"]
    for field in fields:
        assert field in body.get("errors", {}), body
    return body


def assert_invalid_token(response) -> None:
    """401 problem JSON whose challenge says error="invalid_token"."""
    assert_problem(response, 401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
