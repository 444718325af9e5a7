"""The SQLite database's files hold password hashes: only their owner may read them.

SQLite creates a database with the process's umask (usually 0644, readable by
every local user) and gives its `-wal`, `-shm` and `-journal` files the mode of
the database file. So the instance folder is created 0700, the database file is
created 0600 before SQLite opens it, and existing files are narrowed to 0600.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import make_url

FOLDER_MODE = 0o700
FILE_MODE = 0o600
COMPANIONS = ("", "-wal", "-shm", "-journal")


def sqlite_path(database_uri: str) -> Path | None:
    """The file of a `sqlite:///...` URI; None for other databases and in-memory ones."""
    url = make_url(database_uri)
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).resolve()


def secure_sqlite_storage(database_uri: str, instance_path: str) -> None:
    """At start: the instance folder private, the database file created or narrowed 0600."""
    path = sqlite_path(database_uri)
    if path is None:
        return
    _make_private_folder(Path(instance_path))
    if path.parent.is_dir():
        # O_CREAT with 0600: an empty file is a valid (empty) SQLite database. A missing
        # folder (an unmounted volume) is left missing: SQLite's own error says so.
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE))
    narrow(path)


def narrow(path: Path) -> None:
    """The database file and its companions 0600 where they exist."""
    for suffix in COMPANIONS:
        companion = Path(f"{path}{suffix}")
        try:
            if (companion.stat().st_mode & 0o777) != FILE_MODE:
                os.chmod(companion, FILE_MODE)
        except FileNotFoundError:
            continue


def narrow_on_connect(engine, database_uri: str) -> None:
    """Also after each new connection: SQLite creates a database that was missing at
    start (a volume mounted later) with the umask's mode."""
    path = sqlite_path(database_uri)
    if path is None:
        return
    event.listen(engine, "connect", lambda *_: narrow(path))


def _make_private_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True, mode=FOLDER_MODE)
    if (folder.stat().st_mode & 0o777) != FOLDER_MODE:
        os.chmod(folder, FOLDER_MODE)
