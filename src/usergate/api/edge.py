"""What every request is held to before a view sees it (issue 12).

One rule for text, applied once per source of strings:

- JSON bodies: `validation.parse_json` (every string and key, at any depth,
  through `unstorable_fields`); duplicate keys and nesting deeper than the
  parser allows are a 400 there too.
- Query strings and form bodies: `check_query_and_form`, a `before_request`
  hook: a parameter that is repeated, or holds text that cannot be stored, is
  a 400 naming it (RFC 6749 §5.2 `invalid_request` at `/auth/token`).
- Path parameters: the `public_id` URL converter; every `{id}` in the API is a
  UUID, and anything else is a 404 from the router, before any query runs.
- Headers that are stored (User-Agent, the client address): `client_strings`.

Text that cannot be stored is a NUL character (PostgreSQL refuses it in text)
or a lone surrogate (U+D800..U+DFFF: no UTF-8 encoding exists, so neither
database, nor bcrypt's input, can take it). Other control characters are
refused in free text (names, address fields) by `validation.Text`.

A chunked body has no Content-Length for Werkzeug to check against
MAX_CONTENT_LENGTH: `ChunkedBodyLimit` reads at most one byte more than the
limit and hands the request on with that length declared, so the usual 413
applies to it as to a declared length, instead of the body being cut at the limit.
"""

from __future__ import annotations

import io
import re
import uuid

from flask import Flask, request
from werkzeug.routing import BaseConverter
from werkzeug.routing import ValidationError as RoutingValidationError

from ..errors import OAuthError, ValidationError
from ..request_ids import client_strings, without_control_characters  # noqa: F401

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_MESSAGE = "must not contain a NUL character or a lone surrogate"
REPEATED_MESSAGE = "must be given at most once"
TOKEN_ENDPOINT = "api.auth_token"
# Endpoints whose errors follow RFC 6749 §5.2 rather than problem JSON.
OAUTH_ENDPOINTS = (TOKEN_ENDPOINT, "api.auth_revoke", "api.auth_introspect")
_READ_CHUNK = 64 * 1024


def is_unstorable(text: str) -> bool:
    return UNSTORABLE.search(text) is not None


def display_name(name: str) -> str:
    """A field or parameter name fit to appear in an error (the bad characters replaced)."""
    return UNSTORABLE.sub("\ufffd", name)


def unstorable_fields(data, prefix: str = "") -> dict[str, list[str]]:
    """Every string (value or key) in parsed JSON that cannot be stored, by dotted path."""
    errors: dict[str, list[str]] = {}
    if isinstance(data, dict):
        items = data.items()
    elif isinstance(data, list):
        items = ((str(index), value) for index, value in enumerate(data))
    else:
        return errors
    for key, value in items:
        path = f"{prefix}{display_name(key)}"
        if is_unstorable(key) or (isinstance(value, str) and is_unstorable(value)):
            errors.setdefault(path, []).append(UNSTORABLE_MESSAGE)
        elif isinstance(value, dict | list):
            for name, messages in unstorable_fields(value, f"{path}.").items():
                errors.setdefault(name, []).extend(messages)
    return errors


class PublicIdConverter(BaseConverter):
    """`<public_id:name>`: a UUID in any spelling uuid.UUID reads, canonical to the view.

    Anything else does not match the route, so it is a 404 like an unknown id,
    and nothing that is not a UUID ever reaches a query. The pattern itself is
    strict (not only `to_python`): Werkzeug would otherwise match the path first
    and answer an unlisted method with a 405 that Flask-RESTX cannot route.
    """

    regex = (r"(?:urn:uuid:)?\{?(?:[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-"
             r"[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}|[0-9A-Fa-f]{32})\}?")

    def to_python(self, value: str) -> str:
        try:
            return str(uuid.UUID(value))
        except (ValueError, TypeError):
            raise RoutingValidationError() from None

    def to_url(self, value) -> str:
        return super().to_url(str(value))


def _parameter_errors(multidict, repeatable=()) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for key in multidict:
        values = multidict.getlist(key)
        name = display_name(key)
        if len(values) > 1 and key not in repeatable:
            errors.setdefault(name, []).append(REPEATED_MESSAGE)
        if is_unstorable(key) or any(is_unstorable(value) for value in values):
            errors.setdefault(name, []).append(UNSTORABLE_MESSAGE)
    return errors


def check_query_and_form() -> None:
    """The one place query strings and form bodies are held to the text rule."""
    environ = request.environ  # the raw values first: most requests have neither
    errors = _parameter_errors(request.args) if environ.get("QUERY_STRING") else {}
    if environ.get("CONTENT_TYPE") and request.mimetype == "application/x-www-form-urlencoded":
        # RFC 8707 §2: `resource` may be repeated (the token endpoint answers invalid_target).
        repeatable = ("resource",) if request.endpoint == TOKEN_ENDPOINT else ()
        for name, messages in _parameter_errors(request.form, repeatable).items():
            errors.setdefault(name, []).extend(messages)
    if not errors:
        return
    if request.endpoint in OAUTH_ENDPOINTS:
        # RFC 6749 §3.2: parameters must not be included more than once; §5.2 shape.
        described = "; ".join(f"{name} {' and '.join(messages)}"
                              for name, messages in sorted(errors.items()))
        raise OAuthError("invalid_request", described)
    raise ValidationError(errors)


class ChunkedBodyLimit:
    """WSGI middleware: a chunked request body is read up to MAX_CONTENT_LENGTH + 1 bytes
    and passed on with its length declared, so an oversized one is a 413."""

    def __init__(self, wsgi_app, config):
        self.wsgi_app = wsgi_app
        self.config = config

    def __call__(self, environ, start_response):
        limit = self.config.get("MAX_CONTENT_LENGTH")
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if limit and chunked and not environ.get("CONTENT_LENGTH"):
            data = _read_at_most(environ["wsgi.input"], limit + 1)
            environ["wsgi.input"] = io.BytesIO(data)
            environ["CONTENT_LENGTH"] = str(len(data))
            del environ["HTTP_TRANSFER_ENCODING"]
            environ.pop("wsgi.input_terminated", None)
        return self.wsgi_app(environ, start_response)


def _read_at_most(stream, size: int) -> bytes:
    parts, left = [], size
    while left > 0:
        part = stream.read(min(left, _READ_CHUNK))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def init_app(app: Flask) -> None:
    """Wire the edge in; call before the API blueprint is registered (the converter)."""
    app.url_map.converters["public_id"] = PublicIdConverter
    app.before_request(check_query_and_form)
    app.wsgi_app = ChunkedBodyLimit(app.wsgi_app, app.config)
