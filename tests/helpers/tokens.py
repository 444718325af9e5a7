"""Reading tokens in tests (never verifying them) and the Bearer header."""

from __future__ import annotations

import base64

import jwt


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def header_of(token: str) -> dict:
    return jwt.get_unverified_header(token)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def b64(data: bytes) -> str:
    """base64url without padding, as in a JWT."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
