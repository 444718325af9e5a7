"""How stored objects look on the wire."""

from __future__ import annotations

from ..clock import rfc3339

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def user_public(user) -> dict:
    return {
        "id": user.public_id,
        "email": user.email,
        "name": user.name,
        "admin": user.admin,
        "disabled": user.disabled,
        "registered_on": rfc3339(user.registered_on),
    }
