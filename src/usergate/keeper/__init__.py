"""The token keeper: fresh access tokens from an RFC 6749 token endpoint for many
consumers, at most one refresh per token per expiry across threads and processes.

See docs/keeper.md.  ``usergate.keeper`` imports nothing from the usergate
server (no Flask): it is a client, usable against any RFC 6749 token endpoint.

The names below load on first use (PEP 562): ``usergate-keeper token`` with a
token still valid runs without SQLAlchemy and httpx, and importing this
package for it must not pull them in.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from . import errors
from .errors import *  # noqa: F403  (every exception: errors.__all__)
from .records import TokenRecord

if TYPE_CHECKING:
    from .client import TokenClient, TokenResponse
    from .core import AccessToken, Keeper
    from .store import TokenStore
    from .worker import Worker

_LAZY = {
    "AccessToken": "core", "Keeper": "core",
    "TokenClient": "client", "TokenResponse": "client",
    "TokenStore": "store", "Worker": "worker",
}

__all__ = [
    "AccessToken", "Keeper", "TokenClient", "TokenRecord", "TokenResponse", "TokenStore",
    "Worker", *errors.__all__,
]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
