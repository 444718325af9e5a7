"""schemathesis hooks for tests/clients/test_schemathesis.py (loaded via SCHEMATHESIS_HOOKS).

- ``FreshSignIn``: every generated request carries a token from a fresh sign-in of
  the role named by USERGATE_ST_EMAIL / USERGATE_ST_PASSWORD (a refresh token for
  ``/auth/refresh``), so an operation that ends a session (logout, deleting a
  session, a password change) cannot starve the rest of credentials. A user that a
  generated request deleted or renamed is created again (an admin through the real
  ``flask users create --admin``).
- ``content_type_conformance_or_bare_204``: schemathesis' content_type_conformance,
  except that a 204 must be bare: no body and no Content-Type. Swagger 2.0 declares
  media types per operation (``produces``), not per response, and RFC 9110 gives a
  response without content no Content-Type.
"""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import schemathesis
from schemathesis.specs.openapi.checks import content_type_conformance

API = os.environ["USERGATE_ST_API"]
ROLE = os.environ["USERGATE_ST_ROLE"]
EMAIL = os.environ["USERGATE_ST_EMAIL"]
PASSWORD = os.environ["USERGATE_ST_PASSWORD"]
RUN_PY = os.environ["USERGATE_ST_RUN_PY"]

_client = httpx.Client(base_url=API, timeout=30)


def _create() -> None:
    if ROLE == "admin":
        done = subprocess.run([sys.executable, "-m", "flask", "--app", RUN_PY, "users", "create",
                               EMAIL, "--password", PASSWORD, "--admin"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
    else:
        response = _client.post("/auth/register", json={"email": EMAIL, "password": PASSWORD})
        assert response.status_code == 201, response.text


def sign_in() -> dict:
    response = _client.post("/auth/login", json={"email": EMAIL, "password": PASSWORD})
    if response.status_code == 401:
        # A generated request deleted this user or changed its email: start again.
        _create()
        response = _client.post("/auth/login", json={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()


@schemathesis.auth(refresh_interval=None, retry_on=[])
class FreshSignIn:
    def get(self, case, ctx):
        return sign_in()

    def set(self, case, data, ctx):
        kind = "refresh_token" if case.operation.path == "/auth/refresh" else "access_token"
        case.headers = dict(case.headers or {})
        case.headers["Authorization"] = f"Bearer {data[kind]}"


@schemathesis.check
def content_type_conformance_or_bare_204(ctx, response, case):
    if response.status_code == 204:
        assert not response.content, f"a 204 with a body: {response.content[:100]!r}"
        assert "Content-Type" not in response.headers, (
            f"a 204 with Content-Type: {response.headers['Content-Type']}")
        return None
    return content_type_conformance(ctx, response, case)
