"""Errors that stop create_app() before it serves, said in one line for every launcher.

`flask --app ... <command>`, `gunicorn 'usergate:create_app()'` and `python3 run.py`
all build the app through create_app(); each prints a StartupError as its message
alone, without a traceback:

- flask's CLI shows a click.ClickException as `Error: <message>` (and never goes on
  to "No such command 'db'");
- a gunicorn worker prints an AppImportError's message and the arbiter stops with
  "App failed to load." (with --preload, gunicorn prints a RuntimeError as `Error:`);
- run.py prints `usergate: <message>`.
"""

from __future__ import annotations

import sys

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

# The extra that installs each dialect's driver.
_EXTRAS = {"postgresql": "postgres"}
_NAMES = {"postgresql": "PostgreSQL", "sqlite": "SQLite", "mysql": "MySQL"}


class StartupError(click.ClickException, RuntimeError):
    """usergate cannot start; the message says what to change or install."""


def startup_error(message: str, *bases: type[BaseException]) -> StartupError:
    """A StartupError that also is each of `bases` (so `except ConfigError` still works)."""
    classes: list[type] = [StartupError, *bases]
    gunicorn_errors = sys.modules.get("gunicorn.errors")
    if gunicorn_errors is not None:  # inside gunicorn: print the line, stop the arbiter
        classes.append(gunicorn_errors.AppImportError)
    if len(classes) == 1:
        return StartupError(message)
    return type("StartupError", tuple(classes), {"__module__": __name__})(message)


def check_database_driver(url: str) -> None:
    """Raise a StartupError naming what to install when the URL's driver is missing."""
    try:
        parsed = make_url(url)
        dialect = parsed.get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise startup_error(f"DATABASE_URL is not a database URL SQLAlchemy knows ({exc})") \
            from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        backend = parsed.get_backend_name()
        extra = _EXTRAS.get(backend)
        hint = (f"pip install 'usergate[{extra}]'" if extra
                else f"install the Python driver {exc.name or parsed.drivername!r}")
        raise startup_error(
            f"DATABASE_URL is a {_NAMES.get(backend, backend)} URL but its driver is not "
            f"installed: {hint}"
        ) from None
