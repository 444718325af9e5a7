"""The origin of every absolute URL usergate writes (Swagger's tokenUrl, metadata, mail links).

`PUBLIC_BASE_URL` when it is set; otherwise the origin of the request being served
(docs/api.md, "PUBLIC_BASE_URL"), and `http://localhost` outside any request.
"""

from __future__ import annotations

from flask import current_app, has_request_context, request, url_for


def public_base_url() -> str:
    configured = current_app.config.get("PUBLIC_BASE_URL")
    if configured:
        return configured.rstrip("/")
    if has_request_context():
        return request.host_url.rstrip("/")
    return "http://localhost"


def public_url(endpoint: str, **values) -> str:
    """The absolute URL of an endpoint on that origin."""
    return public_base_url() + url_for(endpoint, **values)
