"""Service clients (docs/oauth.md): registration, client authentication, their tokens.

Secrets are HMAC-SHA256 digests under a server key derived from SECRET_KEY, not
bcrypt: a client secret is 256 random bits (`secrets.token_urlsafe(32)`), so no
dictionary or brute-force attack on a stolen digest can succeed, and a slow hash
would only add ~50 ms of CPU to every client-credentials grant and introspection
for no security gained. The key means a copy of the database alone does not even
let anyone test a guessed secret offline. Digests are compared with
`hmac.compare_digest` (constant time); an unknown client id is compared against a
dummy digest, so both answers cost the same. Rotating SECRET_KEY invalidates every
client secret (create the clients again).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select

from ..clock import now_seconds, utcnow
from ..config import resource_list
from ..errors import NotFoundError, OAuthError
from ..extensions import db
from ..models import ServiceClient
from ..security import tokens
from ..security.tokens import Audience
from . import audit
from .runtime import auth_settings

_KEY_LABEL = b"usergate client secrets v1"
_DUMMY_DIGEST = "0" * 64


def audience_settings(config: dict) -> dict:
    """The AuthSettings fields of JWT_AUDIENCE / JWT_RESOURCES and the client-secret key."""
    audience = config.get("JWT_AUDIENCE") or None
    resources = resource_list(config)
    issued = frozenset(([audience] if audience else []) + list(resources))
    return {
        "audience": audience,
        "resources": resources,
        "own_audience": Audience(frozenset([audience] if audience else []),
                                 required=audience is not None),
        "issued_audience": Audience(issued, required=audience is not None),
        "client_secret_key": hmac.new(config["SECRET_KEY"].encode(), _KEY_LABEL,
                                      hashlib.sha256).digest(),
    }


def hash_secret(secret: str) -> str:
    return hmac.new(auth_settings().client_secret_key, secret.encode(),
                    hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class NewClient:
    client: ServiceClient
    secret: str  # shown once, never stored


def create_client(name: str) -> NewClient:
    """Register a client; the caller shows the secret once and commits."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ValueError("the client name must be 1 to 200 characters")
    secret = secrets.token_urlsafe(32)
    client = ServiceClient(name=name, secret_hash=hash_secret(secret), created_at=utcnow())
    db.session.add(client)
    db.session.flush()
    audit.record("client_created", details={"client_id": client.client_id})
    return NewClient(client, secret)


def list_clients() -> list[ServiceClient]:
    return list(db.session.scalars(select(ServiceClient).order_by(ServiceClient.created_at,
                                                                   ServiceClient.id)))


def delete_client(client_id: str) -> None:
    """Delete a client: every token it holds is rejected from the next request on."""
    result = db.session.execute(delete(ServiceClient).where(ServiceClient.client_id == client_id))
    if result.rowcount != 1:
        db.session.rollback()
        raise NotFoundError("There is no client with this id")
    db.session.commit()


def authenticate_client(client_id: str, secret: str) -> ServiceClient:
    """The client, when the secret is its secret; otherwise invalid_client (401)."""
    client = db.session.scalar(select(ServiceClient).where(ServiceClient.client_id == client_id))
    check_secret(secret, client.secret_hash if client is not None else None)
    return client


def check_secret(secret: str, stored_hash: str | None) -> None:
    """invalid_client (401) unless `secret` is the one whose digest is stored (None: no client)."""
    expected = stored_hash if stored_hash is not None else _DUMMY_DIGEST
    if not hmac.compare_digest(hash_secret(secret), expected) or stored_hash is None:
        raise OAuthError("invalid_client", "Client authentication failed", status=401)


def audience_for(resources: list[str]) -> str | None:
    """The `aud` of a new access token: the one RFC 8707 resource asked for, else JWT_AUDIENCE."""
    settings = auth_settings()
    if not resources:
        return settings.audience
    if len(resources) > 1:
        raise OAuthError("invalid_target", "Name at most one resource per token")
    if resources[0] not in settings.resources:
        raise OAuthError("invalid_target", "The resource is not one usergate issues tokens for")
    return resources[0]


@dataclass(frozen=True)
class ClientToken:
    """A client-credentials answer: an access token alone (the API shapes the body)."""

    access: tokens.Issued
    access_lifetime: int
    refresh_lifetime: int = 0
    refresh: None = None


def issue_client_token(client: ServiceClient, *, audience: str | None) -> ClientToken:
    """sub = the client id, type access, client: true; no session, no refresh token."""
    settings = auth_settings()
    access = tokens.issue_token(tokens.ACCESS, keys=settings.keys, issuer=settings.issuer,
                                subject=client.client_id, session_id=None,
                                lifetime=settings.access_lifetime, now=now_seconds(),
                                audience=audience, client=True)
    # The SELECT of authenticate_client left a read transaction open; end it here.
    db.session.commit()
    return ClientToken(access, settings.access_lifetime)
