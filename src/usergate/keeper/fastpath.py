"""The read path of ``usergate-keeper token``: a stored token still good, read directly.

A shell consumer asks for a token once per request.  When the stored access
token is valid beyond the margin there is nothing to refresh, so importing
SQLAlchemy and httpx (about a quarter of a second of CPU) would be wasted:
this module reads the row with the standard library's ``sqlite3`` (read-only)
or, for a ``postgresql://`` store, with psycopg 3 alone, and validates it with
the same ``TokenRecord.from_row`` as the store.

It answers only that one case and returns None for everything else -- another
kind of URL, no psycopg 3, a missing or unreadable file, a store others may
read (the full path warns about it), a database error, no such row, a corrupt
or failed row, a token that is due -- so that the full path (``core.Keeper``
on ``store.TokenStore``) handles it with its own messages and exit codes.  It
never writes, and never creates a file or a table.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from pathlib import Path

from .errors import CorruptRowError
from .location import others_may_read, sqlite_path
from .records import COLUMNS, TokenRecord

__all__ = ["stored_token"]

_SELECT = f"SELECT {', '.join(COLUMNS)} FROM keeper_tokens WHERE name = "  # noqa: S608
# PostgreSQL URLs this module reads with psycopg 3 (the store may use psycopg2 when
# it is installed; reading a row is the same).  Other drivers take the full path.
_POSTGRESQL_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


def stored_token(location: str | None, name: str, *, min_valid: float,
                 now: float | None = None) -> TokenRecord | None:
    """The stored record of ``name`` if its access token stays valid ``min_valid`` s.

    None means "take the full path", never "there is no token".
    """
    path = sqlite_path(location)
    row = _sqlite_row(path, name) if path is not None else _postgresql_row(location, name)
    if row is None:
        return None
    try:
        record = TokenRecord.from_row(row)
    except CorruptRowError:
        return None
    if record.state == "failed":
        return None
    if record.ttl(time.time() if now is None else now) < min_valid:
        return None
    return record


def _sqlite_row(path: Path, name: str) -> sqlite3.Row | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode) or others_may_read(stat.S_IMODE(info.st_mode)):
        return None
    try:
        # mode=ro: never create the file nor write to it; a short busy
        # timeout, since the full path (30 s) is the one that waits.
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=1.0,
                               isolation_level=None)
    except sqlite3.Error:
        return None
    try:
        conn.row_factory = sqlite3.Row
        return conn.execute(_SELECT + "?", (name,)).fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def _postgresql_row(location: str, name: str) -> dict | None:
    scheme, _, rest = location.partition("://")
    if scheme not in _POSTGRESQL_SCHEMES:
        return None
    try:
        import psycopg
        from psycopg.rows import dict_row
    except ImportError:
        return None
    try:
        with psycopg.connect(f"postgresql://{rest}", autocommit=True,
                             row_factory=dict_row) as conn:
            return conn.execute(_SELECT + "%s", (name,)).fetchone()
    except (psycopg.Error, ValueError):
        return None
