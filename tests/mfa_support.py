"""Two-factor helpers for the tests: pyotp plays the authenticator app."""

from __future__ import annotations

from dataclasses import dataclass, field

import jwt
import pyotp

from support import PASSWORD, Tokens

API = "/api/v1/auth"
STEP = 30


def server_now() -> int:
    """The service's clock (tests move it with the `clock` fixture)."""
    from usergate.clock import now_seconds

    return now_seconds()


def code_at(secret: str, offset_steps: int = 0) -> str:
    """What the authenticator app shows `offset_steps` steps from the service's now."""
    return pyotp.TOTP(secret).at(server_now() + offset_steps * STEP)


def early_in_next_step(clock) -> None:
    """Move the clock to 1 s into the next time step: a step boundary is ~29 s away."""
    clock.advance(STEP - server_now() % STEP + 1)


def header_of(token: str) -> dict:
    return jwt.get_unverified_header(token)


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


@dataclass
class MfaUser:
    email: str
    secret: str
    recovery_codes: list[str]
    tokens: Tokens
    enrolment: dict = field(default_factory=dict)


def enable_mfa(client, tokens: Tokens, email: str, clock) -> MfaUser:
    """Enrol and confirm an authenticator; the clock ends in a new step, so the
    confirmation's code is not the one the next verify needs."""
    response = client.post(f"{API}/mfa/totp", headers=tokens.headers)
    assert response.status_code == 201, response.get_json()
    enrolment = response.get_json()
    response = client.post(f"{API}/mfa/totp/confirm", headers=tokens.headers,
                           json={"code": code_at(enrolment["secret"])})
    assert response.status_code == 200, response.get_json()
    codes = response.get_json()["recovery_codes"]
    early_in_next_step(clock)
    return MfaUser(email, enrolment["secret"], codes, tokens, enrolment)


def mfa_token(client, email: str, password: str = PASSWORD) -> str:
    response = client.post(f"{API}/login", json={"email": email, "password": password})
    assert response.status_code == 401, response.get_json()
    body = response.get_json()
    assert body["code"] == "mfa_required", body
    return body["mfa_token"]


def verify(client, token: str, **body):
    return client.post(f"{API}/mfa/verify", json=body,
                       headers={"Authorization": f"Bearer {token}"})
