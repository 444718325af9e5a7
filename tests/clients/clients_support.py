"""The names the real-client tests import as `from clients_support import ...`.

The live server is helpers.live.LiveServer: usergate in a child process, a SQLite
file of its own migrated with the project's Alembic revisions, port 0.
"""

from __future__ import annotations

from pathlib import Path

from helpers.accounts import PASSWORD
from helpers.live import SERVE, LiveServer
from helpers.settings import REPO, SRC

HERE = Path(__file__).resolve().parent

__all__ = ["HERE", "PASSWORD", "REPO", "SERVE", "SRC", "LiveServer"]
