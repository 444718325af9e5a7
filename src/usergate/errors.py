"""Every error becomes RFC 9457 problem JSON, here and nowhere else.

Services raise exceptions that carry a meaning (`NotFoundError`,
`InvalidTokenError`, ...); this module turns meaning into status codes,
`WWW-Authenticate` challenges and bodies.
"""

from __future__ import annotations

import logging
import re
from http import HTTPStatus

from flask import Flask, Response, json, request
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from .request_ids import request_id

log = logging.getLogger("usergate")

PROBLEM_JSON = "application/problem+json"
REALM = "usergate"
# RFC 6750 §3: error_description is %x20-21 / %x23-5B / %x5D-7E (no `"` or `\`).
_UNSAFE_DESCRIPTION = re.compile(r'[^\x20\x21\x23-\x5b\x5d-\x7e]')


class ApiError(Exception):
    """Base of every error a service may raise on purpose."""

    status = HTTPStatus.INTERNAL_SERVER_ERROR
    code: str | None = None  # a stable machine-readable name, sent as `code`
    extra: dict = {}  # further members of the problem body (e.g. mfa_token)

    def __init__(self, detail: str | None = None, *, errors: dict | None = None, headers=None):
        super().__init__(detail or self.status.phrase)
        self.detail = detail or self.status.description
        self.errors = errors
        self.headers = dict(headers or {})


class BadRequestError(ApiError):
    status = HTTPStatus.BAD_REQUEST


class ValidationError(BadRequestError):
    """Input failed validation; ``errors`` maps each failing field to its messages."""

    code = "validation_error"

    def __init__(self, errors: dict[str, list[str]], detail: str | None = None):
        names = ", ".join(sorted(errors))
        super().__init__(detail or f"Input failed validation: {names}", errors=errors)

    @classmethod
    def single(cls, field: str, message: str) -> ValidationError:
        return cls({field: [message]})


class AuthenticationError(ApiError):
    """Credentials (email and password) were wrong: a 401 with a bare challenge."""

    status = HTTPStatus.UNAUTHORIZED
    code = "invalid_credentials"


class MfaRequiredError(ApiError):
    """The password was right; the account asks for its second factor (docs/mfa.md)."""

    status = HTTPStatus.UNAUTHORIZED
    code = "mfa_required"

    def __init__(self, detail: str, *, mfa_token: str, expires_in: int):
        super().__init__(detail, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
        self.extra = {"mfa_token": mfa_token, "mfa_token_expires_in": expires_in}


class InvalidMfaCodeError(ApiError):
    """A wrong, replayed or spent second-factor code at /auth/mfa/verify: a 401 like a
    wrong password at login; ``errors`` names the field."""

    status = HTTPStatus.UNAUTHORIZED
    code = "invalid_mfa_code"


class ForbiddenError(ApiError):
    status = HTTPStatus.FORBIDDEN


class EmailNotVerifiedError(ForbiddenError):
    """REQUIRE_VERIFIED_EMAIL is on and the account's email is not verified yet."""

    code = "email_not_verified"


class NotFoundError(ApiError):
    status = HTTPStatus.NOT_FOUND


class ConflictError(ApiError):
    status = HTTPStatus.CONFLICT


class ServiceUnavailableError(ApiError):
    status = HTTPStatus.SERVICE_UNAVAILABLE


class TooManyFailuresError(ApiError):
    """Password checks for this email are locked (docs/api.md §6.3): a 429 with Retry-After."""

    status = HTTPStatus.TOO_MANY_REQUESTS
    code = "too_many_failures"

    def __init__(self, retry_after: int):
        super().__init__("Too many failed password attempts for this account; "
                         "retry after the time in Retry-After or reset the password",
                         headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class BearerError(ApiError):
    """An RFC 6750 / RFC 9470 error of a protected resource."""

    status = HTTPStatus.UNAUTHORIZED
    bearer_error: str | None = None

    def __init__(self, detail: str | None = None, **params):
        super().__init__(detail)
        self.params = params  # extra challenge parameters: scope, max_age

    @property
    def code(self):  # type: ignore[override]
        return self.bearer_error


class MissingTokenError(BearerError):
    """No credentials, or another scheme: RFC 6750 §3.1 says no error code."""

    def __init__(self, detail: str = "This resource needs a Bearer access token"):
        super().__init__(detail)


class InvalidRequestError(BearerError):
    status = HTTPStatus.BAD_REQUEST
    bearer_error = "invalid_request"


class InvalidTokenError(BearerError):
    bearer_error = "invalid_token"


class InsufficientUserAuthenticationError(BearerError):
    bearer_error = "insufficient_user_authentication"


class InsufficientScopeError(BearerError):
    status = HTTPStatus.FORBIDDEN
    bearer_error = "insufficient_scope"


class OAuthError(Exception):
    """An RFC 6749 §5.2 error of the token endpoint (not problem JSON)."""

    def __init__(self, error: str, description: str, status: int = 400, *, headers=None):
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.headers = dict(headers or {})


def safe_description(text: str) -> str:
    return _UNSAFE_DESCRIPTION.sub("'", text)


def bearer_challenge(error: str | None = None, description: str | None = None, **params) -> str:
    parts = [f'Bearer realm="{REALM}"']
    if error:
        parts.append(f'error="{error}"')
        if description:
            parts.append(f'error_description="{safe_description(description)}"')
    for name, value in params.items():
        parts.append(f'{name}="{safe_description(str(value))}"')
    return ", ".join(parts)


def problem(status: int, detail: str | None = None, *, errors=None, headers=None,
            code: str | None = None, **extra) -> Response:
    phrase = HTTPStatus(status).phrase
    body = {"type": "about:blank", "title": phrase, "status": status,
            "detail": detail or phrase}
    if code:
        body["code"] = code
    if errors:
        body["errors"] = errors
    body.update(extra)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def oauth_error_response(exc: OAuthError) -> Response:
    body = {"error": exc.error, "error_description": safe_description(exc.description)}
    response = Response(json.dumps(body), status=exc.status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    for name, value in exc.headers.items():
        response.headers[name] = value
    _keep_retry_after(exc.headers)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = f'Basic realm="{REALM}"'
    return response


# Where a request's own Retry-After waits for app_setup.EveryResponse (WSGI environ).
RETRY_AFTER_KEY = "usergate.retry_after"


def _keep_retry_after(headers: dict) -> None:
    """A Retry-After the service means (a locked account, docs/api.md §6.3) is the one sent:
    Flask-Limiter would replace it with its own window's, app_setup restores it."""
    if "Retry-After" in headers:
        request.environ[RETRY_AFTER_KEY] = headers["Retry-After"]


def _api_error_response(exc: ApiError) -> Response:
    headers = dict(exc.headers)
    _keep_retry_after(headers)
    if isinstance(exc, BearerError):
        headers["WWW-Authenticate"] = bearer_challenge(exc.bearer_error, exc.detail, **exc.params)
    elif exc.status == HTTPStatus.UNAUTHORIZED:
        # RFC 9110 §15.5.2: every 401 carries a challenge.
        headers["WWW-Authenticate"] = bearer_challenge()
    return problem(exc.status, exc.detail, errors=exc.errors, headers=headers, code=exc.code,
                   **exc.extra)


_HTTP_DETAILS = {
    400: "The request could not be understood",
    404: "There is nothing at this URL",
    405: "This method is not allowed on this URL",
    413: "The request body is larger than the server accepts",
    415: "The request body must be application/json",
    429: "Too many requests; slow down and retry after the time in Retry-After",
}


def _http_error_response(exc: HTTPException) -> Response:
    status = exc.code or 500
    headers = {}
    if status == 405:
        allow = exc.get_response().headers.get("Allow")
        if allow:
            headers["Allow"] = allow
    detail = _HTTP_DETAILS.get(status) or exc.description
    if status == 400 and exc.description and "JSON" in exc.description:
        detail = "The request body is not valid JSON"
    if status == 429:
        detail = f"Rate limit exceeded ({exc.description}); retry later"
    if status == 401:
        headers["WWW-Authenticate"] = bearer_challenge()
    return problem(status, detail, headers=headers)


def handle_exception(exc: BaseException) -> Response:
    """Turn any exception into a response: the one place errors are shaped."""
    if isinstance(exc, OAuthError):
        return oauth_error_response(exc)
    if isinstance(exc, ApiError):
        return _api_error_response(exc)
    if isinstance(exc, HTTPException):
        return _http_error_response(exc)
    if isinstance(exc, (OperationalError, DBAPIError)) and _is_connection_error(exc):
        log.warning("database unreachable (request %s): %s", _request_id(), type(exc).__name__)
        return problem(503, "The database is unreachable; retry later",
                       headers={"Retry-After": "5"}, database="unreachable")
    if isinstance(exc, StaleDataError):  # an UPDATE/DELETE found its row gone
        log.warning("row gone under a concurrent change (request %s)", _request_id())
        return problem(404, "What this request changes no longer exists")
    if isinstance(exc, IntegrityError):
        # The last line behind the services' own checks: a row this request relied
        # on was changed or deleted by a concurrent one (its user deleted meanwhile).
        log.warning("conflict with a concurrent change (request %s): %s", _request_id(),
                    type(exc).__name__)
        return problem(409, "A concurrent request changed what this request relies on; "
                            "read it again and retry", code="concurrent_change")
    log.error("unhandled error (request %s)", _request_id(), exc_info=exc)
    return problem(500, f"An unexpected error occurred; quote request id {_request_id()}")


def _is_connection_error(exc: Exception) -> bool:
    if getattr(exc, "connection_invalidated", False):
        return True
    text = str(getattr(exc, "orig", exc)).lower()
    return any(word in text for word in (
        "connection", "could not connect", "server closed", "unable to open database",
        "terminating", "database is locked", "timeout",
    ))


def _request_id() -> str:
    return request_id()


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(Exception, handle_exception)
    app.register_error_handler(HTTPException, handle_exception)

