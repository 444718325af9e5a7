"""/.well-known documents (docs/oauth.md): RFC 8414 metadata, the OpenID subset, the JWKS.

Absolute URLs start at PUBLIC_BASE_URL when it is set, else at the request's origin.
"""

from __future__ import annotations

from flask import Blueprint, current_app, url_for

from ..services.account_mail import public_base_url
from ..services.authentication import public_keys

well_known = Blueprint("well_known", __name__, url_prefix="/.well-known")

CLIENT_AUTH = ["client_secret_basic", "client_secret_post"]
_CACHE = {"Cache-Control": "public, max-age=300", "Vary": "Host"}


def _url(endpoint: str) -> str:
    # url_for keeps a SCRIPT_NAME prefix; the origin comes from configuration.
    return public_base_url() + url_for(endpoint)


def authorization_server_metadata() -> dict:
    """RFC 8414 §2: what usergate has, and nothing it lacks (no authorization endpoint)."""
    return {
        "issuer": current_app.config["JWT_ISSUER"],
        "token_endpoint": _url("api.auth_token"),
        "jwks_uri": _url("well_known.jwks"),
        # REQUIRED by RFC 8414 and non-empty: "none" (OAuth 2.0 Multiple Response Type
        # Encoding Practices §4) issues nothing, the one value true without an
        # authorization endpoint.
        "response_types_supported": ["none"],
        "grant_types_supported": ["password", "refresh_token", "client_credentials"],
        # "none": the password and refresh grants need no client.
        "token_endpoint_auth_methods_supported": [*CLIENT_AUTH, "none"],
        "revocation_endpoint": _url("api.auth_revoke"),
        # "none": a token is its own proof for its revocation.
        "revocation_endpoint_auth_methods_supported": [*CLIENT_AUTH, "none"],
        "introspection_endpoint": _url("api.auth_introspect"),
        "introspection_endpoint_auth_methods_supported": CLIENT_AUTH,
        "service_documentation": _url("api.doc"),
    }


@well_known.get("/oauth-authorization-server")
def oauth_authorization_server():
    return authorization_server_metadata(), 200, _CACHE


@well_known.get("/openid-configuration")
def openid_configuration():
    """The OpenID Connect Discovery 1.0 members that apply: usergate issues no ID tokens
    and has no authorization or userinfo endpoint, so those members are left out."""
    body = authorization_server_metadata()
    body["subject_types_supported"] = ["public"]
    return body, 200, _CACHE


@well_known.get("/jwks.json")
def jwks():
    return public_keys(), 200, {"Cache-Control": "public, max-age=300"}
