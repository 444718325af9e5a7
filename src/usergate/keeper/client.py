"""A small client for an RFC 6749 token endpoint (usergate's ``/auth/token``).

Two grants: ``refresh_token`` (RFC 6749 section 6) and ``password``
(section 4.3), both as form bodies.  Errors (section 5.2) become typed
exceptions; the client never logs or raises with a token or password in it.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from .defaults import DEFAULT_HTTP_TIMEOUT
from .errors import EndpointUnreachableError, InvalidGrantError, TokenEndpointError
from .records import check_token_url

__all__ = ["TokenClient", "TokenResponse", "check_token_url", "jwt_exp",
           "DEFAULT_HTTP_TIMEOUT"]


def jwt_exp(token: str) -> int | None:
    """The ``exp`` claim of a JWT, read without verifying it; None if absent.

    Used only to tighten the expiry the keeper records (see TokenResponse).
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        return None
    return int(exp)


@dataclass(frozen=True)
class TokenResponse:
    """A successful token response, with the time the request was sent."""

    access_token: str
    token_type: str
    expires_in: float
    refresh_token: str | None
    refresh_expires_in: float | None
    requested_at: float

    @property
    def access_expires_at(self) -> float:
        """When the keeper must consider the access token expired (epoch seconds).

        ``expires_in`` counts from when the server issued the token, which is
        after we sent the request, so ``requested_at + expires_in`` is
        independent of clock skew.  But a JWT's ``exp`` is ``iat`` + lifetime
        with ``iat`` in whole seconds, so the token may die up to a second
        earlier: when the ``exp`` claim agrees with our estimate to within that
        second we take it (exact on a shared clock), otherwise we subtract the
        second.
        """
        estimate = self.requested_at + self.expires_in
        exp = jwt_exp(self.access_token)
        if exp is not None and estimate - 2.0 <= exp <= estimate:
            return float(exp)
        return estimate - 1.0

    @property
    def refresh_expires_at(self) -> float | None:
        if self.refresh_expires_in is None:
            return None
        return self.requested_at + self.refresh_expires_in - 1.0


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


class TokenClient:
    """POSTs grants to one token endpoint.  Use as a context manager or call close()."""

    def __init__(self, token_url: str, *, timeout: float = DEFAULT_HTTP_TIMEOUT,
                 transport: httpx.BaseTransport | None = None,
                 clock: Callable[[], float] = time.time):
        self.token_url = check_token_url(token_url)
        self._clock = clock
        # Every phase (connect, write, read, pool) is bounded, so a refresh
        # cannot outlive the lease that protects it (see Keeper).
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout), follow_redirects=False, transport=transport,
            headers={"Accept": "application/json", "User-Agent": "usergate-keeper"})

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TokenClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def refresh(self, refresh_token: str) -> TokenResponse:
        """Exchange a refresh token (which the server then spends) for new tokens."""
        return self._post({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def password(self, username: str, password: str) -> TokenResponse:
        """Sign in with the resource owner's password (RFC 6749 section 4.3)."""
        return self._post({"grant_type": "password", "username": username,
                           "password": password})

    def client_credentials(self, client_id: str, client_secret: str) -> TokenResponse:
        """A token of the client itself (RFC 6749 section 4.4), client_secret_basic."""
        from urllib.parse import quote_plus

        # RFC 6749 section 2.3.1: each part form-urlencoded, then HTTP Basic.
        return self._post({"grant_type": "client_credentials"},
                          auth=(quote_plus(client_id), quote_plus(client_secret)))

    def _post(self, form: dict[str, str], auth: tuple[str, str] | None = None) -> TokenResponse:
        started = self._clock()
        try:
            response = self._http.post(self.token_url, data=form, auth=auth)
        except httpx.TimeoutException as exc:
            raise EndpointUnreachableError(
                f"token endpoint {self.token_url} timed out ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise EndpointUnreachableError(
                f"cannot reach token endpoint {self.token_url}: {exc}") from None
        if response.status_code == 200:
            return self._parse_success(response, started)
        raise self._parse_error(response)

    def _parse_success(self, response: httpx.Response, started: float) -> TokenResponse:
        def bad(problem: str) -> TokenEndpointError:
            return TokenEndpointError(
                f"token endpoint {self.token_url} sent an unusable token response: {problem}",
                status=response.status_code)

        try:
            body = response.json()
        except ValueError:
            raise bad("the body is not JSON") from None
        if not isinstance(body, dict):
            raise bad("the body is not a JSON object")
        access = body.get("access_token")
        if not isinstance(access, str) or not access:
            raise bad("no access_token")
        token_type = body.get("token_type")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise bad(f"token_type is {token_type!r}, not 'Bearer'")
        expires_in = _number(body.get("expires_in"))
        if expires_in is None:
            exp = jwt_exp(access)
            if exp is None:
                raise bad("no expires_in and no exp claim")
            expires_in = exp - started
        if expires_in <= 0:
            raise bad(f"expires_in is {body.get('expires_in')!r}")
        refresh = body.get("refresh_token")
        if refresh is not None and (not isinstance(refresh, str) or not refresh):
            raise bad("refresh_token is not a string")
        return TokenResponse(
            access_token=access, token_type="Bearer", expires_in=expires_in,
            refresh_token=refresh, refresh_expires_in=_number(body.get("refresh_expires_in")),
            requested_at=started)

    def _parse_error(self, response: httpx.Response) -> TokenEndpointError:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            error = body["error"]
            description = body.get("error_description")
            description = description if isinstance(description, str) else None
            refused = error in ("invalid_grant", "invalid_client")
            cls = InvalidGrantError if refused else TokenEndpointError
            text = f"{error}: {description}" if description else error
            return cls(f"token endpoint {self.token_url} refused the request "
                       f"(HTTP {status}, {text})",
                       status=status, error=error, description=description)
        # Not RFC 6749 (a 429 or 503 problem JSON, a proxy's HTML page ...).
        detail = None
        if isinstance(body, dict):
            detail = body.get("detail") or body.get("title")
        detail = detail if isinstance(detail, str) else response.reason_phrase
        return TokenEndpointError(
            f"token endpoint {self.token_url} answered HTTP {status} ({detail})",
            status=status, error=f"http_{status}", description=detail)
