"""Issue and verify usergate's JWTs with PyJWT. Pure: no Flask imports.

Time is passed in (`now`, whole seconds) so tests move a clock instead of sleeping.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import jwt

from .keys import KeySet

ACCESS = "access"
REFRESH = "refresh"
TYP = {ACCESS: "at+jwt", REFRESH: "rt+jwt"}
_COMMON = ["iss", "sub", "iat", "nbf", "exp", "jti", "type", "sid"]
REQUIRED = {ACCESS: [*_COMMON, "fresh", "admin"], REFRESH: _COMMON}


class TokenError(Exception):
    """The token cannot be used; the message is safe to show the client."""


class TokenExpiredError(TokenError):
    pass


@dataclass(frozen=True)
class Issued:
    token: str
    claims: dict


def issue_token(kind: str, *, keys: KeySet, issuer: str, subject: str, session_id: str,
                lifetime: int, now: int, fresh: bool = False, admin: bool = False) -> Issued:
    claims = {
        "iss": issuer, "sub": subject, "iat": now, "nbf": now, "exp": now + lifetime,
        "jti": str(uuid.uuid4()), "type": kind, "sid": session_id,
    }
    if kind == ACCESS:
        claims["fresh"] = bool(fresh)
        claims["admin"] = bool(admin)
    key = keys.signing
    token = jwt.encode(claims, key.signing_key, algorithm=key.algorithm,
                       headers={"kid": key.kid, "typ": TYP[kind]})
    return Issued(token, claims)


def decode_token(token: str, kind: str, *, keys: KeySet, issuer: str, leeway: int,
                 now: int) -> dict:
    """Verify signature, type, issuer, every required claim and the times."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise TokenError("The token is malformed") from None
    key = keys.get(header.get("kid")) if isinstance(header.get("kid"), str) else None
    if key is None:
        raise TokenError("The token was not signed by a known key")
    # Explicit typing (RFC 8725 §3.11): a missing typ is never taken for an access token.
    if header.get("typ") != TYP[kind]:
        raise TokenError(f"The token is not an {kind} token")
    try:
        claims = jwt.decode(
            token, key.verify_key,
            # Pinned to the key's own algorithm, never the one the token names.
            algorithms=[key.algorithm],
            issuer=issuer,
            options={"require": REQUIRED[kind], "verify_exp": False, "verify_nbf": False,
                     "verify_iat": False, "verify_aud": False},
        )
    except jwt.InvalidIssuerError:
        raise TokenError("The token was issued by someone else") from None
    except jwt.MissingRequiredClaimError as exc:
        raise TokenError(f"The token lacks the {exc.claim} claim") from None
    except jwt.PyJWTError:
        raise TokenError("The token signature is invalid") from None
    if claims.get("type") != kind:
        raise TokenError(f"The token is not an {kind} token")
    for name in ("iat", "nbf", "exp"):
        if not isinstance(claims[name], int) or isinstance(claims[name], bool):
            raise TokenError(f"The token's {name} claim is not a number")
    for name in ("sub", "sid", "jti"):
        if not isinstance(claims[name], str):
            raise TokenError(f"The token's {name} claim is not a string")
    if claims["exp"] <= now - leeway:
        raise TokenExpiredError("The token has expired")
    if claims["nbf"] > now + leeway:
        raise TokenError("The token is not valid yet")
    if claims["iat"] > now + leeway:
        raise TokenError("The token was issued in the future")
    return claims


def new_id() -> str:
    return str(uuid.uuid4())
