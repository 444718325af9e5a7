"""The settings of a test app, and the environment of every child process the tests start.

A child never inherits the developer's shell: its environment is built here from a
few process variables (PATH, HOME, LANG, TMPDIR) and the settings the test names, and
it runs in a folder of its own, so neither a developer's JWT_* variables nor the
checkout's `.env` reach it.
"""

from __future__ import annotations

import os
from pathlib import Path

import usergate

REPO = Path(__file__).resolve().parents[2]
# The folder holding the usergate package, for child processes, installed or not.
SRC = Path(usergate.__file__).resolve().parents[1]
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
SECRET_KEY = "test-secret-key-that-is-long-enough-0123456789"
PROCESS_VARIABLES = ("PATH", "HOME", "LANG", "TMPDIR")


def app_settings(database_url: str, **overrides) -> dict:
    """create_app() settings of a test: testing config, cheap bcrypt, no rate limits."""
    settings = {
        "USERGATE_CONFIG": "testing",
        "SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": database_url,
        "BCRYPT_LOG_ROUNDS": 4,
        "RATELIMIT_ENABLED": False,
        "RATELIMIT_STORAGE_URI": "memory://",
    }
    settings.update(overrides)
    return settings


def clean_env(**extra) -> dict[str, str]:
    """The environment of a newcomer's shell: nothing of the developer's settings."""
    env = {key: os.environ[key] for key in PROCESS_VARIABLES if key in os.environ}
    env.update({key: _text(value) for key, value in extra.items()})
    return env


def server_env(**settings) -> dict[str, str]:
    """A clean environment that imports usergate from this checkout, with `settings`."""
    return clean_env(PYTHONPATH=str(SRC), **settings)


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
