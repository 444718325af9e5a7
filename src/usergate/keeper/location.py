"""Where a store is: a SQLite file path, or a database URL."""

from __future__ import annotations

from pathlib import Path

from .defaults import DEFAULT_STORE

__all__ = ["sqlite_path", "others_may_read"]


def sqlite_path(location: str | None) -> Path | None:
    """The absolute SQLite file a location names (``~`` expanded); None for a URL."""
    location = location or DEFAULT_STORE
    if "://" in location:
        return None
    return Path(location).expanduser().absolute()


def others_may_read(mode: int) -> bool:
    """Whether a store file with this mode is open to its group or others.

    The file holds tokens and maybe a password in clear: owner only (0600).
    """
    return bool(mode & 0o077)
