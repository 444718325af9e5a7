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

    load_dotenv(os.path.join(os.getcwd(), ".env"), override=False)
    app = Flask(__name__, instance_relative_config=True)
    configure_app(app, test_config)
    return app
