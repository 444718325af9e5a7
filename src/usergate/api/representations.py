"""How stored objects look on the wire."""

from __future__ import annotations

from http import HTTPStatus

from flask import Response

from ..clock import rfc3339
from .pagination import paged

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def token_response(issued) -> dict:
    """The token body of docs/api.md: an access token, and a refresh token when one was issued."""
    body = {"access_token": issued.access.token, "token_type": "Bearer",
            "expires_in": issued.access_lifetime}
    if issued.refresh is not None:
        body["refresh_token"] = issued.refresh.token
        body["refresh_expires_in"] = issued.refresh_lifetime
    return body


def user_public(user) -> dict:
    return {
        "id": user.public_id,
        "email": user.email,
        "name": user.name,
        "admin": user.admin,
        "disabled": user.disabled,
        "registered_on": rfc3339(user.registered_on),
        "email_verified": user.email_verified,
        "mfa_enabled": user.mfa_enabled,
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


def ok(body):
    """A 200 that no cache keeps (every JSON answer of the API is private)."""
    return body, HTTPStatus.OK, NO_STORE


def no_content() -> Response:
    """A bare 204: no body and no Content-Type."""
    response = Response(status=204)
    # Response() always sets its default mimetype (text/html); a 204 has no body to type.
    response.headers.remove("Content-Type")
    return response


def created(body: dict, location: str):
    """A 201 with the new resource's URL in Location."""
    return body, HTTPStatus.CREATED, {**NO_STORE, "Location": location}


def page_response(page, represent):
    """One page of a collection (a `services.pagination.Page`), with its Link header."""
    body, headers = paged(page, represent)
    return body, HTTPStatus.OK, {**headers, **NO_STORE}
