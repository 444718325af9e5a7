"""Issue and verify usergate's JWTs with PyJWT. Pure: no Flask imports.

Time is passed in (`now`, whole seconds) so tests move a clock instead of sleeping.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass

import jwt

from .keys import KeySet

ACCESS = "access"
REFRESH = "refresh"
MFA = "mfa"  # the second step of a sign-in (docs/mfa.md): only /auth/mfa/verify takes it
TYP = {ACCESS: "at+jwt", REFRESH: "rt+jwt", MFA: "mfa+jwt"}
_COMMON = ["iss", "sub", "iat", "nbf", "exp", "jti", "type", "sid"]
REQUIRED = {ACCESS: [*_COMMON, "fresh", "admin"], REFRESH: _COMMON,
            MFA: ["iss", "sub", "iat", "nbf", "exp", "jti", "type", "purpose"]}
# A service client's access token (client_credentials): no session, so no `sid`.
CLIENT_REQUIRED = [name for name in REQUIRED[ACCESS] if name != "sid"] + ["client"]
_JWS = jwt.PyJWS()


class TokenError(Exception):
    """The token cannot be used; the message is safe to show the client."""


class TokenExpiredError(TokenError):
    pass


@dataclass(frozen=True)
class Audience:
    """Which `aud` values a verification accepts (RFC 7519 §4.1.3, RFC 8707).

    `required`: a token without `aud` is rejected. A token that carries an `aud`
    is accepted only when one of its values is in `accepted`, so a token narrowed
    to another resource server never opens this one.
    """

    accepted: frozenset = frozenset()
    required: bool = False


NO_AUDIENCE = Audience()


@dataclass(frozen=True)
class Issued:
    token: str
    claims: dict


def issue_token(kind: str, *, keys: KeySet, issuer: str, subject: str,
                session_id: str | None, lifetime: int, now: int, fresh: bool = False,
                admin: bool = False, jti: str | None = None, audience: str | None = None,
                client: bool = False) -> Issued:
    """A signed token; `client=True` is a service client's access token (no session)."""
    # `jti` (with `now` = its iat) signs a stored refresh token again (REFRESH_REUSE_GRACE).
    claims = {
        "iss": issuer, "sub": subject, "iat": now, "nbf": now, "exp": now + lifetime,
        "jti": jti or str(uuid.uuid4()), "type": kind,
    }
    if not client:
        claims["sid"] = session_id
    if audience is not None:
        claims["aud"] = audience
    if kind == ACCESS:
        claims["fresh"] = bool(fresh)
        claims["admin"] = bool(admin)
        if client:
            claims["client"] = True
    key = keys.signing
    token = jwt.encode(claims, key.signing_key, algorithm=key.algorithm,
                       headers={"kid": key.kid, "typ": TYP[kind]})
    return Issued(token, claims)


def issue_mfa_token(*, keys: KeySet, issuer: str, subject: str, purpose: str,
                    session_id: str | None, lifetime: int, now: int) -> Issued:
    """The token between a correct password and the second factor (`typ` mfa+jwt).

    `purpose` is what the second factor completes: "login" (a new session) or
    "fresh-login" (a fresh access token of the session `sid`).
    """
    claims = {
        "iss": issuer, "sub": subject, "iat": now, "nbf": now, "exp": now + lifetime,
        "jti": str(uuid.uuid4()), "type": MFA, "purpose": purpose,
    }
    if session_id is not None:
        claims["sid"] = session_id
    key = keys.signing
    token = jwt.encode(claims, key.signing_key, algorithm=key.algorithm,
                       headers={"kid": key.kid, "typ": TYP[MFA]})
    return Issued(token, claims)


def decode_token(token: str, kind: str, *, keys: KeySet, issuer: str, leeway: int,
                 now: int, audience: Audience = NO_AUDIENCE) -> dict:
    """Verify signature, type, issuer, audience, every required claim and the times."""
    try:
        raw = token if isinstance(token, bytes) else token.encode()
    except (AttributeError, UnicodeError):
        raise TokenError("The token is malformed") from None
    # The audience by its fields: a frozen dataclass hashes in Python, its fields in C.
    cache_key = (hashlib.sha256(raw).digest(), kind, keys, issuer, audience.accepted,
                 audience.required)
    with _VERIFIED_LOCK:
        claims = _VERIFIED.get(cache_key)
        if claims is not None:
            _VERIFIED.move_to_end(cache_key)
    if claims is None:
        claims = _verify(token, kind, keys=keys, issuer=issuer, audience=audience)
        with _VERIFIED_LOCK:
            _VERIFIED[cache_key] = claims
            while len(_VERIFIED) > VERIFIED_CACHE_SIZE:
                _VERIFIED.popitem(last=False)
    claims = dict(claims)
    if claims["exp"] <= now - leeway:
        raise TokenExpiredError("The token has expired")
    if claims["nbf"] > now + leeway:
        raise TokenError("The token is not valid yet")
    if claims["iat"] > now + leeway:
        raise TokenError("The token was issued in the future")
    return claims


# A client sends one access token many times in its lifetime. Whether a token
# verifies against a key set is a pure function of the two (the times are checked
# on every call above, against the service's clock; revocation is the database's
# business, checked on every request), so a successful verification is
# remembered and a repeated token skips parsing, signature and claim checks.
# Bounded (LRU); failures are never kept, so only tokens that verified take a
# place; keyed by the token's SHA-256, so the process keeps no raw token.
VERIFIED_CACHE_SIZE = 2048
_VERIFIED: OrderedDict[tuple, dict] = OrderedDict()
_VERIFIED_LOCK = threading.Lock()


def _verify(token: str, kind: str, *, keys: KeySet, issuer: str, audience: Audience) -> dict:
    """Everything about a token that does not depend on the time."""
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
        # PyJWS checks the headers and the signature; the claims are checked below,
        # by hand: PyJWT's own claim validation (options merging, its clock) cost
        # as much again as the rest of the verification, and every time claim
        # is checked here against the service's clock anyway.
        signed = _JWS.decode_complete(
            token, key.verify_key,
            # Pinned to the key's own algorithm, never the one the token names.
            algorithms=[key.algorithm])
    except jwt.PyJWTError:
        raise TokenError("The token signature is invalid") from None
    try:
        claims = json.loads(signed["payload"])
    except (ValueError, RecursionError):
        claims = None
    if not isinstance(claims, dict):
        raise TokenError("The token is malformed")
    is_client = kind == ACCESS and claims.get("client") is True
    for name in CLIENT_REQUIRED if is_client else REQUIRED[kind]:
        if claims.get(name) is None:
            raise TokenError(f"The token lacks the {name} claim")
    if claims["iss"] != issuer:
        raise TokenError("The token was issued by someone else")
    if claims["type"] != kind:
        raise TokenError(f"The token is not an {kind} token")
    for name in ("iat", "nbf", "exp"):
        if not isinstance(claims[name], int) or isinstance(claims[name], bool):
            raise TokenError(f"The token's {name} claim is not a number")
    for name in ("sub", "jti") if is_client else ("sub", "sid", "jti"):
        if name in claims and not isinstance(claims[name], str):  # presence: REQUIRED
            raise TokenError(f"The token's {name} claim is not a string")
    _check_audience(claims, audience)
    return claims


def _check_audience(claims: dict, audience: Audience) -> None:
    if "aud" not in claims:
        if audience.required:
            raise TokenError("The token lacks the aud claim")
        return
    aud = claims["aud"]
    values = [aud] if isinstance(aud, str) else aud
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise TokenError("The token's aud claim is not a string or a list of strings")
    if not audience.accepted.intersection(values):
        raise TokenError("The token is meant for another audience")


def new_id() -> str:
    return str(uuid.uuid4())
