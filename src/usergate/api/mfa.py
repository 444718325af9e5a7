"""Two-factor sign-in endpoints (docs/mfa.md) under /auth/mfa, and the admin reset."""

from __future__ import annotations

from functools import partial
from http import HTTPStatus

from flask_restx import Resource, fields

from ..services import mfa as mfa_service
from ..services import users as users_service
from . import browser
from .auth.endpoints import RateLimitedResource, client_info
from .auth.schemas import AccessTokenBody, TokenBody
from .common import item_route, operation, shared_namespace
from .guards import (
    admin_token_required,
    current_auth,
    current_mfa,
    fresh_token_required,
    mfa_token_required,
)
from .representations import NO_STORE, no_content, ok, token_response
from .users.endpoints import ID_PARAM
from .users.schemas import users_ns
from .validation import parse_json

mfa_ns = shared_namespace("two-factor", "Two-factor sign-in: TOTP authenticators and "
                          "recovery codes", path="/auth/mfa")

_CODE = fields.String(min_length=1, max_length=64, example="492039",
                      description="the 6-digit code the authenticator app shows now "
                                  "(a recovery code is accepted here too)")
_RECOVERY = fields.String(min_length=1, max_length=64, example="k7qm-2x4d-ra9f-c3hw",
                          description="one of the recovery codes (each works once)")

Enrolment = mfa_ns.model("TotpEnrolment", {
    "secret": fields.String(example="JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
                            description="base32 TOTP secret, for typing into the app"),
    "otpauth_uri": fields.String(
        example="otpauth://totp/usergate:ada%40example.com?secret=...&issuer=usergate"),
    "qr_svg": fields.String(description="the otpauth URI as a QR code (an SVG document)"),
})
CodeBody = mfa_ns.model("TotpCode", {
    "code": fields.String(required=True, min_length=6, max_length=6, pattern="^[0-9]{6}$",
                          example="492039",
                          description="the 6-digit code the authenticator app shows now"),
}, strict=True)
FactorBody = mfa_ns.model("SecondFactor", {"code": _CODE, "recovery_code": _RECOVERY},
                          strict=True)
RecoveryCodes = mfa_ns.model("RecoveryCodes", {
    "recovery_codes": fields.List(fields.String(example="k7qm-2x4d-ra9f-c3hw"),
                                  description="10 single-use codes, shown only this once"),
})
for _model in (TokenBody, AccessTokenBody):
    mfa_ns.add_model(_model.name, _model)

FACTOR = "`{code}` (6 digits from the app, or a recovery code) or `{recovery_code}`."


def _factor() -> dict:
    """A FactorBody request's second factor: `code` and `recovery_code` (either may be None)."""
    data = parse_json(FactorBody)
    return {"code": data.get("code"), "recovery_code": data.get("recovery_code")}


# Changing your own two-factor settings needs a fresh token.
fresh_operation = partial(operation, mfa_ns, guard=fresh_token_required)
# What such an operation that checks a code can answer besides its success.
CODE_PROBLEMS = (400, 401, 409, 413, 415, 429)


# Every endpoint that checks a code is rate limited like the password endpoints:
# each code is a guess.
@mfa_ns.route("/totp", endpoint="mfa_totp")
class TotpResource(RateLimitedResource):
    @fresh_operation(201, "An unconfirmed authenticator", Enrolment, problems=(400, 401, 409),
                     description="Shows a new secret (and its QR code) to add to an "
                     "authenticator app; two-factor is on only after /auth/mfa/totp/confirm. "
                     "Enrolling again replaces an unconfirmed authenticator.")
    def post(self):
        """Enrol a TOTP authenticator (needs a fresh token)."""
        enrolment = mfa_service.enrol(current_auth.user)
        body = {"secret": enrolment.secret, "otpauth_uri": enrolment.otpauth_uri,
                "qr_svg": enrolment.qr_svg}
        return body, HTTPStatus.CREATED, NO_STORE

    @fresh_operation(204, "Two-factor sign-in is off; its secret and recovery codes are gone",
                     expect=FactorBody, problems=CODE_PROBLEMS,
                     description="Turns two-factor sign-in off. " + FACTOR)
    def delete(self):
        """Turn two-factor sign-in off (needs a fresh token and a code)."""
        mfa_service.disable(current_auth.user, **_factor())
        return no_content()


@mfa_ns.route("/totp/confirm", endpoint="mfa_totp_confirm")
class TotpConfirmResource(RateLimitedResource):
    @fresh_operation(200, "Two-factor sign-in is on", RecoveryCodes, expect=CodeBody,
                     problems=CODE_PROBLEMS, description="The first code of the new "
                     "authenticator turns two-factor sign-in on. The answer holds 10 recovery "
                     "codes, shown only here (stored hashed): keep them where the phone is not.")
    def post(self):
        """Confirm the authenticator with its first code (needs a fresh token)."""
        codes = mfa_service.confirm(current_auth.user, parse_json(CodeBody)["code"])
        return ok({"recovery_codes": codes})


@mfa_ns.route("/recovery-codes", endpoint="mfa_recovery_codes")
class RecoveryCodesResource(RateLimitedResource):
    @fresh_operation(200, "10 new recovery codes; the old ones no longer work", RecoveryCodes,
                     expect=FactorBody, problems=CODE_PROBLEMS,
                     description="Replaces every recovery code (used or not) with 10 new "
                     "ones. " + FACTOR)
    def post(self):
        """New recovery codes (needs a fresh token and a code)."""
        codes = mfa_service.regenerate_recovery_codes(current_auth.user, **_factor())
        return ok({"recovery_codes": codes})


@mfa_ns.route("/verify", endpoint="mfa_verify")
class VerifyResource(RateLimitedResource):
    @operation(mfa_ns, 200, "Signed in: the token body (after a fresh-login: access token only)",
               TokenBody, expect=FactorBody, problems=(400, 401, 413, 415, 429),
               guard=mfa_token_required, params=browser.TRANSPORT_PARAM,
               description="The second step of a sign-in: send the "
               "`mfa_token` of the 401 `mfa_required` answer of /auth/login or "
               "/auth/fresh-login as `Authorization: Bearer <mfa_token>` (in Swagger UI: "
               "paste `Bearer <mfa_token>` into Authorize -> Bearer), and " + FACTOR +
               " After a login the answer is the token body of a new session; after a "
               "fresh-login, a fresh access token of the same session. The mfa token "
               "works once.")
    def post(self):
        """Complete a sign-in with a code (needs the mfa token)."""
        transport = browser.requested_transport()
        issued = mfa_service.verify(current_mfa._get_current_object(), **_factor(),
                                    client=client_info())
        if issued.refresh is None:  # after a fresh-login: the access token only
            return ok(token_response(issued))
        # After a login: the refresh token as login would have delivered it.
        return ok(browser.deliver(issued, transport))


@item_route(users_ns, "/<public_id:user_id>/mfa", "user_mfa", ID_PARAM)
class UserMfaResource(Resource):
    @operation(users_ns, 204, "Two-factor sign-in is off; every session of the user is revoked",
               problems=(400, 401, 403, 404), guard=admin_token_required,
               description="For a user who lost their authenticator and recovery codes. "
               "Every session of the user is revoked.")
    def delete(self, user_id):
        """Turn a user's two-factor sign-in off (administrators)."""
        user = users_service.get_user(user_id, actor=current_auth.user)
        mfa_service.admin_reset(user, actor=current_auth.user)
        return no_content()
