"""Per-application state the services need: keys, lifetimes, the dummy hash."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from ..security.keys import KeySet
from ..security.tokens import NO_AUDIENCE, Audience


@dataclass(frozen=True)
class AuthSettings:
    keys: KeySet
    issuer: str
    access_lifetime: int
    refresh_lifetime: int
    fresh_max_age: int
    leeway: int
    # A real bcrypt hash of a random password at the configured cost: checking an
    # unknown email against it makes that login cost what a wrong password costs.
    dummy_hash: str
    # JWT_AUDIENCE and the RFC 8707 resources of JWT_RESOURCES (docs/oauth.md).
    audience: str | None = None
    resources: tuple[str, ...] = ()
    # What usergate's own endpoints accept (JWT_AUDIENCE), and what introspection and
    # revocation accept: any audience usergate issues tokens for.
    own_audience: Audience = NO_AUDIENCE
    issued_audience: Audience = NO_AUDIENCE
    # The key client secrets are HMAC'd under (services/clients.py).
    client_secret_key: bytes = b""


def auth_settings() -> AuthSettings:
    return current_app.extensions["usergate"]
