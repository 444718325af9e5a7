"""Email verification and password reset endpoints (docs/api.md §6.2), under /auth."""

from __future__ import annotations

import hashlib
import time
from http import HTTPStatus

from flask import current_app, request
from flask_restx import Resource, fields
from limits import parse_many

from ..errors import ApiError
from ..extensions import db, limiter
from ..services import account_mail, recovery
from ..services.accounts import email_key
from .common import operation, shared_namespace
from .guards import current_auth, token_required
from .representations import NO_STORE, no_content, ok
from .validation import Email, Password, parse_json

recovery_ns = shared_namespace("account recovery", "Email verification and password reset",
                               path="/auth")

VerificationRequested = recovery_ns.model("VerificationRequested", {
    "email": fields.String(example="ada@example.com"),
    "email_verified": fields.Boolean(example=False),
})
TokenConfirm = recovery_ns.model("TokenConfirm", {
    "token": fields.String(required=True, min_length=1, max_length=256,
                           description="the token of the mailed link"),
}, strict=True)
EmailVerified = recovery_ns.model("EmailVerified", {
    "email_verified": fields.Boolean(example=True),
})
ResetRequest = recovery_ns.model("PasswordResetRequest", {
    "email": Email(required=True),
}, strict=True)
ResetAccepted = recovery_ns.model("PasswordResetAccepted", {
    "detail": fields.String(example=recovery.INVALID),
})
ResetConfirm = recovery_ns.model("PasswordResetConfirm", {
    "token": fields.String(required=True, min_length=1, max_length=256,
                           description="the token of the mailed link"),
    "new_password": Password(required=True, example="a new and longer passphrase"),
}, strict=True)

RESET_ACCEPTED = {"detail": "If an account with this email exists and is enabled, a link to "
                            "reset its password is on its way."}


class MailRateLimited(ApiError):
    status = HTTPStatus.TOO_MANY_REQUESTS
    code = "rate_limited"


def mail_allowed(endpoint: str, email: str) -> tuple[bool, int]:
    """Count one mail request per client address AND per target email (RATELIMIT_MAIL).

    (allowed, seconds until both counters allow one again). The email counter's
    key is a digest, so the limiter's store holds no addresses.
    """
    if not limiter.enabled or not current_app.config.get("RATELIMIT_ENABLED", True):
        return True, 0
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX") or "usergate"
    target = hashlib.sha256(email_key(email).encode()).hexdigest()
    keys = [(prefix, "mail", endpoint, "ip", request.remote_addr or "-"),
            (prefix, "mail", endpoint, "email", target)]
    allowed, retry_after = True, 0
    for item in parse_many(current_app.config["RATELIMIT_MAIL"]):
        for key in keys:
            if not limiter.limiter.hit(item, *key):
                allowed = False
                reset = limiter.limiter.get_window_stats(item, *key).reset_time
                retry_after = max(retry_after, int(reset - time.time()) + 1)
    return allowed, retry_after


@recovery_ns.route("/email-verification", endpoint="auth_email_verification")
class EmailVerificationResource(Resource):
    @operation(recovery_ns, 202, "Accepted: the link is on its way", VerificationRequested,
               problems=(400, 401, 429), guard=token_required,
               description="Mails a verification link to your current email (nothing when it "
               "is verified already). Rate limited by RATELIMIT_MAIL per client address and "
               "per email.")
    def post(self):
        """Send me a link that verifies my email address."""
        user = current_auth.user
        if not user.email_verified:
            allowed, retry_after = mail_allowed("email-verification", user.email)
            if not allowed:
                raise MailRateLimited("Too many verification mails asked for; retry later",
                                      headers={"Retry-After": str(retry_after)})
            account_mail.queue_verification(user)
            db.session.commit()
        body = {"email": user.email, "email_verified": user.email_verified}
        return body, HTTPStatus.ACCEPTED, NO_STORE


@recovery_ns.route("/email-verification/confirm", endpoint="auth_email_verification_confirm")
class EmailVerificationConfirmResource(Resource):
    @operation(recovery_ns, 200, "The email is verified", EmailVerified, expect=TokenConfirm,
               problems=(400, 413, 415), security=[])
    def post(self):
        """Confirm an email address with the token of the mailed link."""
        data = parse_json(TokenConfirm)
        recovery.confirm_email(data["token"])
        return ok({"email_verified": True})


@recovery_ns.route("/password-reset", endpoint="auth_password_reset")
class PasswordResetResource(Resource):
    @operation(recovery_ns, 202, "Accepted", ResetAccepted, expect=ResetRequest,
               problems=(400, 413, 415), security=[],
               description="Always 202 with the same body and headers, whether or not the "
               "account exists, is disabled or the request was rate limited (RATELIMIT_MAIL "
               "per client address and per email): the answer tells nobody whether an "
               "account exists.")
    def post(self):
        """Ask for a password reset link."""
        data = parse_json(ResetRequest)
        allowed, _ = mail_allowed("password-reset", data["email"])
        if allowed:
            account_mail.request_password_reset(data["email"])
        return RESET_ACCEPTED, HTTPStatus.ACCEPTED, NO_STORE


@recovery_ns.route("/password-reset/confirm", endpoint="auth_password_reset_confirm")
class PasswordResetConfirmResource(Resource):
    @operation(recovery_ns, 204, "The password is set; every session is revoked",
               expect=ResetConfirm, problems=(400, 413, 415), security=[],
               description="Sets the password and revokes every session of the account; the "
               "link's token works once.")
    def post(self):
        """Set a new password with the token of the mailed link."""
        data = parse_json(ResetConfirm)
        recovery.reset_password(data["token"], data["new_password"])
        return no_content()
