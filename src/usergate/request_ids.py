"""The request id: the client's X-Request-ID when well-formed, else a new one."""

from __future__ import annotations

import ipaddress
import re
import secrets
import unicodedata

from flask import has_request_context, request

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
REQUEST_ID_KEY = "usergate.request_id"


def request_id() -> str:
    """This request's id, decided on first use (logs, a 500's detail, the header).

    Made on demand rather than in a before_request hook: most requests need it
    only for the X-Request-ID header, and a hook per request is not free.
    """
    if not has_request_context():
        return "-"
    return request_id_of(request.environ)


def request_id_of(environ: dict) -> str:
    """The id of the request of this WSGI environ, which belongs to that request alone
    (flask.g is the app context's, which a test client or a CLI may share)."""
    rid = environ.get(REQUEST_ID_KEY)
    if rid is None:
        incoming = environ.get("HTTP_X_REQUEST_ID")
        rid = environ[REQUEST_ID_KEY] = (
            incoming if incoming and _REQUEST_ID.fullmatch(incoming) else secrets.token_hex(16))
    return rid


def without_control_characters(text: str) -> str:
    return "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cs"))


def client_strings() -> tuple[str | None, str | None]:
    """The User-Agent and client address as they may be stored: printable text, a real IP."""
    agent = request.headers.get("User-Agent")
    agent = without_control_characters(agent).strip() if agent else None
    address = request.remote_addr
    try:
        address = str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        address = None  # e.g. a forged X-Forwarded-For behind a trusted proxy
    return agent or None, address
