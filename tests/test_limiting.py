"""The rate limiter works on the requests that meet a limit, and only on those (issue 20).

Flask-Limiter keeps its per-request state on the request context
(`_limiter_request_context`, created on first use): a request that never
creates it did no limiter work. The headers and 429s the limits produce are
frozen in test_header_set.py.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.globals import request_ctx

from usergate.extensions import limiter as usergate_limiter

STATE = "_limiter_request_context"


def _limiter_state_seen(app) -> list[bool]:
    """After every request of `app`: did Flask-Limiter touch its per-request state?"""
    seen: list[bool] = []

    @app.teardown_request
    def look(_exc):
        seen.append(hasattr(request_ctx._get_current_object(), STATE))

    return seen


def test_routes_without_a_limit_do_no_limiter_work(make_app, auth):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_AUTH="100/minute")
    client = app.test_client()
    tokens = auth.register("limits@example.com")
    seen = _limiter_state_seen(app)

    for response in (client.get("/api/v1/auth/user", headers=tokens.headers),
                     client.get("/api/v1/auth/user"),
                     client.get("/api/v1/health"),
                     client.get("/api/v1/no-such-thing")):
        assert response.status_code in (200, 401, 404)
    assert seen == [False] * 4

    limited = client.post("/api/v1/auth/login",
                          json={"email": "limits@example.com", "password": "wrong!"})
    assert limited.status_code == 401
    assert limited.headers["X-RateLimit-Limit"] == "100"
    assert seen[-1] is True


def test_the_limit_still_counts_and_refuses(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_AUTH="2/minute")
    client = app.test_client()
    body = {"email": "nobody@example.com", "password": "wrong password"}
    statuses = [client.post("/api/v1/auth/login", json=body).status_code for _ in range(3)]
    assert statuses == [401, 401, 429]
    # Other routes are not counted against it, nor refused.
    assert client.get("/api/v1/health").status_code == 200


@pytest.mark.parametrize("setting", ["constructor", "RATELIMIT_DEFAULT"])
def test_a_limit_on_every_route_keeps_the_check_on_every_route(setting):
    """The saving applies only when no limit covers every route (usergate sets none)."""
    limiter_class = type(usergate_limiter)
    app = Flask(__name__)
    app.config.update(RATELIMIT_STORAGE_URI="memory://", RATELIMIT_HEADERS_ENABLED=True)
    if setting == "constructor":
        limiter = limiter_class(key_func=lambda: "one-client", default_limits=["2/minute"])
    else:
        app.config["RATELIMIT_DEFAULT"] = "2/minute"
        limiter = limiter_class(key_func=lambda: "one-client")
    limiter.init_app(app)

    @app.get("/open")
    def open_route():
        return "ok"

    client = app.test_client()
    responses = [client.get("/open") for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert responses[0].headers["X-RateLimit-Limit"] == "2"
