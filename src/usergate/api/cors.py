"""CORS for browser front-ends on other origins (CORS_ORIGINS), by Flask-Cors.

Only the listed origins get `Access-Control-Allow-Origin` (their own origin echoed,
never `*`) and `Access-Control-Allow-Credentials: true`; any other origin gets no
CORS header at all, so its script cannot read a response. Flask-Cors answers the
preflights. With no CORS_ORIGINS (the default) nothing is installed.
"""

from __future__ import annotations

import re

from flask import Flask
from flask_cors import CORS

from ..config import parse_origins

ALLOW_HEADERS = ["Authorization", "Content-Type", "X-CSRF-Token", "X-Request-ID"]
EXPOSE_HEADERS = ["Location", "Link", "Retry-After", "WWW-Authenticate", "X-Request-ID",
                  "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"]


def init_cors(app: Flask) -> None:
    origins = parse_origins(app.config.get("CORS_ORIGINS"))
    if not origins:
        return
    CORS(app, resources={r"/api/*": {
        # Compiled and anchored: an origin is matched whole, never as a pattern.
        "origins": [re.compile(re.escape(origin) + r"\Z", re.IGNORECASE) for origin in origins],
        "supports_credentials": True,
        "allow_headers": ALLOW_HEADERS,
        "expose_headers": EXPOSE_HEADERS,
        "methods": ["GET", "POST", "PUT", "PATCH", "DELETE"],
        "max_age": 600,
        "always_send": False,
        "vary_header": True,
    }})
