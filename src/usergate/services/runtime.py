"""Per-application state the services need: keys, lifetimes, the dummy hash."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from ..auth.keys import KeySet


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


def auth_settings() -> AuthSettings:
    return current_app.extensions["usergate"]
