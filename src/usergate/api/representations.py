"""How stored objects look on the wire."""

from __future__ import annotations

from flask import Response

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


def session_public(session, *, current_id: str) -> dict:
    return {
        "id": session.id,
        "created_at": rfc3339(session.created_at),
        "last_used_at": rfc3339(session.last_used_at),
        "expires_at": rfc3339(session.expires_at),
        "user_agent": session.user_agent,
        "ip": session.ip,
        "current": session.id == current_id,
    }


def address_public(address) -> dict:
    return {
        "id": address.public_id,
        "user_id": address.user.public_id,
        "label": address.label,
        "line1": address.line1,
        "line2": address.line2,
        "city": address.city,
        "region": address.region,
        "postal_code": address.postal_code,
        "country": address.country,
        "is_primary": address.is_primary,
        "created_at": rfc3339(address.created_at),
        "updated_at": rfc3339(address.updated_at),
    }


def no_content() -> Response:
    """A bare 204: no body and no Content-Type."""
    response = Response(status=204)
    # Response() always sets its default mimetype (text/html); a 204 has no body to type.
    response.headers.remove("Content-Type")
    return response
