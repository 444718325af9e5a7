"""The token keeper: fresh access tokens from an RFC 6749 token endpoint for many
consumers, at most one refresh per token per expiry across threads and processes.

See docs/keeper.md.  ``usergate.keeper`` imports nothing from the usergate
server (no Flask): it is a client, usable against any RFC 6749 token endpoint.
"""

from .client import TokenClient, TokenResponse
from .core import AccessToken, Keeper
from .errors import (
    CorruptRowError,
    EndpointUnreachableError,
    InvalidGrantError,
    KeeperError,
    KeeperTimeoutError,
    LeaseLostError,
    StoreError,
    TokenEndpointError,
    TokenExistsError,
    TokenFailedError,
    TokenNotFoundError,
)
from .store import TokenRecord, TokenStore
from .worker import Worker

__all__ = [
    "AccessToken", "CorruptRowError", "EndpointUnreachableError", "InvalidGrantError",
    "Keeper", "KeeperError", "KeeperTimeoutError", "LeaseLostError", "StoreError",
    "TokenClient", "TokenEndpointError", "TokenExistsError", "TokenFailedError",
    "TokenNotFoundError", "TokenRecord", "TokenResponse", "TokenStore", "Worker",
]
