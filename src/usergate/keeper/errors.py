"""The keeper's exceptions.

Every failure a caller can act on has its own class, and every message says
what went wrong and what to do about it.  Nothing here ever includes a token
or a password.
"""

from __future__ import annotations

__all__ = [
    "KeeperError", "EndpointUnreachableError", "TokenEndpointError", "InvalidGrantError",
    "StoreError", "TokenNotFoundError", "TokenExistsError", "CorruptRowError", "LeaseLostError",
    "TokenFailedError", "KeeperTimeoutError",
]


class KeeperError(Exception):
    """Base class of every error the token keeper raises."""


# -- the token endpoint -----------------------------------------------------


class EndpointUnreachableError(KeeperError):
    """The token endpoint could not be reached (refused, DNS, TLS, timeout).

    Transient: nothing was spent, the stored tokens are untouched.
    """

    transient = True


class TokenEndpointError(KeeperError):
    """The token endpoint answered with an error (RFC 6749 section 5.2).

    ``error`` is the RFC 6749 error code (``invalid_grant``, ``invalid_request``
    ...) or ``http_<status>`` when the body was not an RFC 6749 error.
    """

    def __init__(self, message: str, *, status: int | None = None,
                 error: str = "invalid_response", description: str | None = None):
        super().__init__(message)
        self.status = status
        self.error = error
        self.description = description

    @property
    def transient(self) -> bool:
        """Whether trying again later may succeed (429, 408 and 5xx)."""
        return self.status is not None and (
            self.status in (408, 429) or self.status >= 500)


class InvalidGrantError(TokenEndpointError):
    """``invalid_grant``: a spent, revoked or expired refresh token, or a wrong password."""


# -- the store ----------------------------------------------------------------


class StoreError(KeeperError):
    """The token store could not be opened, read or written."""


class TokenNotFoundError(StoreError):
    """No token of that name in the store."""

    def __init__(self, name: str):
        super().__init__(
            f"no token named {name!r} in the store; add it with "
            f"'usergate-keeper add {name} --token-url URL --username USER'")
        self.name = name


class TokenExistsError(StoreError):
    """``add`` of a name that is already stored (use ``replace=True``)."""

    def __init__(self, name: str):
        super().__init__(
            f"a token named {name!r} is already stored; use --replace to sign in again")
        self.name = name


class CorruptRowError(StoreError):
    """A stored row holds values the keeper cannot use; it is left as it is."""

    def __init__(self, name: str, problem: str):
        super().__init__(
            f"stored token {name!r} is corrupt ({problem}); nothing was changed. "
            f"Fix the row or sign in again with 'usergate-keeper add --replace {name} ...'")
        self.name = name
        self.problem = problem


class LeaseLostError(StoreError):
    """Our lease was taken over by another holder before we could store the result."""


# -- the keeper -----------------------------------------------------------------


class TokenFailedError(KeeperError):
    """The token cannot be refreshed any more; a person has to sign in again.

    ``error`` is the reason stored in the row, the same text every consumer sees.
    """

    def __init__(self, name: str, error: str | None):
        error = error or "unknown error"
        super().__init__(f"token {name!r} has failed: {error}")
        self.name = name
        self.error = error


class KeeperTimeoutError(KeeperError):
    """No access token valid for long enough appeared within the wait bound."""
