"""usergate: user management and JWT authentication on Flask-RESTX."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the token keeper imports usergate.keeper without loading Flask
    from flask import Flask

__version__ = "0.1.0"


def create_app(test_config: dict | None = None) -> Flask:
    """Build the application; settings come from the environment, `.env` and test_config."""
    from dotenv import load_dotenv
    from flask import Flask

    from .app_setup import configure_app
    from .config import ConfigError
    from .startup import startup_error

    load_dotenv(os.path.join(os.getcwd(), ".env"), override=False)
    # instance/ of the working directory (where run.py, flask and gunicorn are started),
    # not of the installed package; USERGATE_INSTANCE_PATH moves it.
    instance = os.environ.get("USERGATE_INSTANCE_PATH") or os.path.join(os.getcwd(), "instance")
    app = Flask(__name__, instance_path=os.path.abspath(instance),
                instance_relative_config=True)
    try:
        configure_app(app, test_config)
    except ConfigError as exc:  # one line from flask, gunicorn and run.py, no traceback
        raise startup_error(str(exc), type(exc)) from None
    return app
