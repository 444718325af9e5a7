"""A separate microservice that accepts usergate's access tokens.

It imports nothing from usergate and shares no secret with it: it knows only
usergate's JWKS URL and issuer, and verifies each access token locally with
the public keys published at `GET /api/v1/auth/jwks.json` (PyJWT's
`PyJWKClient` fetches and caches them; a token signed by a key it has not seen
makes it fetch the set again, at most once per cooldown).

What it checks, as usergate itself does (docs/api.md, "Tokens"): the header `typ` is
`at+jwt` (RFC 9068) and a `kid` is present; the algorithm is one of an
allow-list of asymmetric algorithms, and the one the key from the JWKS is
bound to, never the one the token names alone; the signature; `iss`; `exp`,
`nbf`, `iat` with `LEEWAY`; every claim usergate puts in an access token; and
the `type` claim is `access`; and `aud`: with USERGATE_AUDIENCE set (this
service's own identifier, the RFC 8707 `resource` its clients ask usergate for)
a token must name it, so a token usergate issued for another service is refused;
without it, a token that names any audience is refused. A service client's
token (client_credentials: `client: true`, no `sid`) is accepted too.
Failures answer RFC 6750 errors with a `WWW-Authenticate` challenge and an
RFC 9457 problem JSON body.

What it cannot see with the JWKS alone: a logout, a password change or a
disabled user. Such a token stays valid here until it expires (usergate's
access tokens live `JWT_ACCESS_TOKEN_EXPIRES`, 900 s by default). For an
operation that must honour revocation at once, ask usergate
(`GET /api/v1/auth/user` with the same token) instead; see docs/resource-server.md.

Run it (usergate signing with ES256, RS256 or EdDSA, serving on port 5000):

    USERGATE_JWKS_URL=http://127.0.0.1:5000/api/v1/auth/jwks.json \\
    python examples/resource_server.py          # serves http://127.0.0.1:5001

    curl -H "Authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:5001/whoami

Settings (environment): USERGATE_JWKS_URL (required), USERGATE_ISSUER
(default `usergate`), USERGATE_AUDIENCE (default none), USERGATE_ALGORITHMS
(default `ES256,RS256,EdDSA`), USERGATE_LEEWAY (seconds, default 0),
JWKS_CACHE_SECONDS (default 300), JWKS_REFRESH_COOLDOWN_SECONDS (least time
between two refetches for an unknown kid, default 30), RESOURCE_HOST /
RESOURCE_PORT (default 127.0.0.1:5001).
"""

from __future__ import annotations

import json
import logging
import os
import re
from functools import wraps

import jwt
from flask import Flask, Response, g, request

log = logging.getLogger("resource_server")

# A resource server verifies with public keys only: a shared-secret algorithm
# (HS256) would let anyone holding the key mint tokens, and `none` is no signature.
ASYMMETRIC = frozenset({"RS256", "ES256", "EdDSA"})
ACCESS_CLAIMS = ["iss", "sub", "iat", "nbf", "exp", "jti", "type", "fresh", "admin"]
# `sid` too, except in a service client's token (`client: true`), which has no session.
REALM = "example-resource"
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750 §2.1
_UNSAFE = re.compile(r'[^\x20\x21\x23-\x5b\x5d-\x7e]')  # RFC 6750 §3: no `"` or `\`


class BearerError(Exception):
    """An RFC 6750 error: status, error code (None for no credentials), description."""

    def __init__(self, status: int, error: str | None, description: str):
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


def invalid_token(description: str) -> BearerError:
    return BearerError(401, "invalid_token", description)


class JwksUnavailable(Exception):
    """usergate's JWKS could not be fetched and no cached key matches."""


class TokenVerifier:
    """Verifies usergate access tokens against the JWKS endpoint alone."""

    def __init__(self, jwks_url: str, *, issuer: str = "usergate",
                 algorithms: tuple[str, ...] = ("ES256", "RS256", "EdDSA"), leeway: int = 0,
                 audience: str | None = None,
                 cache_seconds: float = 300, cooldown_seconds: float = 30,
                 timeout: float = 5):
        unsupported = set(algorithms) - ASYMMETRIC
        if unsupported or not algorithms:
            raise ValueError(f"algorithms must be among {sorted(ASYMMETRIC)}, "
                             f"not {sorted(unsupported) or 'none'}")
        self.issuer = issuer
        self.audience = audience
        self.algorithms = tuple(algorithms)
        self.leeway = leeway
        # The JWK Set is cached for `cache_seconds`; an unknown kid refetches it at
        # most once per `cooldown_seconds`, so a flood of made-up kids cannot turn
        # this service into a flood of requests to usergate.
        self.jwks = jwt.PyJWKClient(jwks_url, cache_jwk_set=True, lifespan=cache_seconds,
                                    cooldown_duration=cooldown_seconds, timeout=timeout)

    def _key_for(self, token: str) -> jwt.PyJWK:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise invalid_token("The token is malformed") from None
        # Explicit typing (RFC 8725 §3.11): only an access token opens this service.
        if header.get("typ") != "at+jwt":
            raise invalid_token("The token is not an access token")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise invalid_token("The token names no signing key")
        if header.get("alg") not in self.algorithms:
            raise invalid_token("The token's algorithm is not accepted")
        try:
            key = self.jwks.get_signing_key(kid)
        except (jwt.PyJWKClientConnectionError, ValueError):  # unreachable, or not JSON
            raise JwksUnavailable() from None
        except jwt.PyJWTError:  # unknown kid, or a JWK Set without usable keys
            raise invalid_token("The token was not signed by a known key") from None
        if key.algorithm_name not in self.algorithms:
            raise invalid_token("The token's key uses an algorithm that is not accepted")
        return key

    def verify(self, token: str) -> dict:
        """The verified claims of an access token, or BearerError / JwksUnavailable."""
        key = self._key_for(token)
        try:
            claims = jwt.decode(
                token, key,
                # Pinned: the algorithm the published key is bound to.
                algorithms=[key.algorithm_name],
                issuer=self.issuer,
                leeway=self.leeway,
                # With an audience the token must name it; without one, PyJWT refuses
                # a token that names any audience (it is meant for someone else).
                audience=self.audience,
                options={"require": ACCESS_CLAIMS + (["aud"] if self.audience else [])},
            )
        except jwt.ExpiredSignatureError:
            raise invalid_token("The token has expired") from None
        except jwt.ImmatureSignatureError:
            raise invalid_token("The token is not valid yet") from None
        except jwt.InvalidIssuerError:
            raise invalid_token("The token was issued by someone else") from None
        except jwt.InvalidAudienceError:
            raise invalid_token("The token is meant for another audience") from None
        except jwt.MissingRequiredClaimError as exc:
            raise invalid_token(f"The token lacks the {exc.claim} claim") from None
        except jwt.PyJWTError:
            raise invalid_token("The token signature or claims are invalid") from None
        if claims.get("type") != "access":
            raise invalid_token("The token is not an access token")
        if claims.get("client") is not True and not isinstance(claims.get("sid"), str):
            raise invalid_token("The token lacks the sid claim")
        return claims


def bearer_token() -> str:
    """The token of `Authorization: Bearer <token>` (RFC 6750 §2.1)."""
    scheme, _, credentials = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer":
        raise BearerError(401, None, "This resource needs a Bearer access token from usergate")
    credentials = credentials.strip()
    if not credentials or not _B64TOKEN.fullmatch(credentials):
        raise BearerError(400, "invalid_request", "The Bearer credentials are malformed")
    return credentials


def token_required(view):
    """Let the view run only with a verified usergate access token in `g.claims`."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        verifier: TokenVerifier = g.verifier
        g.claims = verifier.verify(bearer_token())
        return view(*args, **kwargs)

    return wrapper


def problem(status: int, title: str, detail: str, headers: dict | None = None) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return Response(json.dumps(body), status=status, headers=headers or {},
                    mimetype="application/problem+json")


def _challenge(exc: BearerError) -> str:
    parts = [f'Bearer realm="{REALM}"']
    if exc.error:  # no error code when there were no credentials (RFC 6750 §3.1)
        parts += [f'error="{exc.error}"',
                  f'error_description="{_UNSAFE.sub("_", exc.description)}"']
    return ", ".join(parts)


def create_app(jwks_url: str | None = None, *, issuer: str | None = None,
               algorithms: tuple[str, ...] | None = None, leeway: int | None = None,
               audience: str | None = None,
               cache_seconds: float | None = None,
               cooldown_seconds: float | None = None) -> Flask:
    """The example service; arguments override the environment."""
    env = os.environ
    jwks_url = jwks_url or env.get("USERGATE_JWKS_URL")
    if not jwks_url:
        raise RuntimeError("set USERGATE_JWKS_URL, e.g. "
                           "http://127.0.0.1:5000/api/v1/auth/jwks.json")
    verifier = TokenVerifier(
        jwks_url,
        issuer=issuer or env.get("USERGATE_ISSUER", "usergate"),
        algorithms=algorithms or tuple(
            a.strip() for a in env.get("USERGATE_ALGORITHMS", "ES256,RS256,EdDSA").split(",")
            if a.strip()),
        leeway=leeway if leeway is not None else int(env.get("USERGATE_LEEWAY", "0")),
        audience=audience or env.get("USERGATE_AUDIENCE") or None,
        cache_seconds=cache_seconds or float(env.get("JWKS_CACHE_SECONDS", "300")),
        cooldown_seconds=(cooldown_seconds if cooldown_seconds is not None
                          else float(env.get("JWKS_REFRESH_COOLDOWN_SECONDS", "30"))),
    )
    app = Flask("resource_server")
    app.extensions["token_verifier"] = verifier

    @app.before_request
    def _bind_verifier():
        g.verifier = verifier

    @app.errorhandler(BearerError)
    def _bearer_error(exc: BearerError):
        titles = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden"}
        return problem(exc.status, titles[exc.status], exc.description,
                       {"WWW-Authenticate": _challenge(exc)})

    @app.errorhandler(JwksUnavailable)
    def _jwks_unavailable(_exc):
        log.warning("usergate's JWKS is unreachable: %s", verifier.jwks.uri)
        return problem(503, "Service Unavailable",
                       "The keys that verify tokens cannot be fetched; retry later",
                       {"Retry-After": "5"})

    @app.get("/health")
    def health():
        return {"status": "ok"}

    @app.get("/whoami")
    @token_required
    def whoami():
        """What this service learns from a verified token: who, which session, since when."""
        claims = g.claims
        return {"user_id": claims["sub"], "session_id": claims.get("sid"),
                "client": claims.get("client", False),
                "admin": claims["admin"], "fresh": claims["fresh"],
                "expires_at": claims["exp"]}

    return app


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    create_app().run(host=os.environ.get("RESOURCE_HOST", "127.0.0.1"),
                     port=int(os.environ.get("RESOURCE_PORT", "5001")))
