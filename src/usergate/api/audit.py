"""The audit log over HTTP (docs/api.md §6.8): GET /audit-events and GET /auth/events."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import request
from flask_restx import Resource, fields

from ..services import audit as audit_service
from ..services.users import normalise_public_id
from .common import NullableString, operation, shared_namespace
from .guards import admin_token_required, current_auth, token_required
from .pagination import PAGE_HEADERS, PAGE_PARAMS, collection_model, page_args
from .representations import page_response

audit_ns = shared_namespace("audit", "The audit log of security events (administrators)",
                            path="/audit-events")
own_events_ns = shared_namespace("my audit events", "Your own security events", path="/auth")

AuditEventBody = audit_ns.model("AuditEvent", {
    "id": fields.String(example="6f1c7d1e-2b7a-4d7e-9a53-0f8e4b1c2d3e"),
    "type": fields.String(example="login_succeeded",
                          enum=list(audit_service.EVENT_TYPES + audit_service.PLANNED)),
    "at": fields.String(example="2026-11-24T09:30:00Z"),
    "user_id": NullableString(description="the user the event is about, when known"),
    "actor_id": NullableString(description="who did it, when a signed-in user did"),
    "ip": NullableString(example="203.0.113.7"),
    "user_agent": NullableString(example="Mozilla/5.0"),
    "request_id": NullableString(description="the X-Request-ID of the request"),
    "details": fields.Raw(example={"method": "password", "session_id": "..."},
                          description="a small object of allow-listed keys"),
})
own_events_ns.add_model(AuditEventBody.name, AuditEventBody)
AuditEventPage = collection_model(audit_ns, "AuditEventPage", AuditEventBody)
own_events_ns.add_model(AuditEventPage.name, AuditEventPage)

_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
_TIME_HELP = "must be an RFC 3339 time such as 2026-11-24T09:30:00Z"

FILTER_PARAMS = {
    **PAGE_PARAMS,
    "type": {"in": "query", "type": "string",
             "enum": list(audit_service.EVENT_TYPES + audit_service.PLANNED),
             "description": "only events of this type"},
    "since": {"in": "query", "type": "string", "format": "date-time",
              "description": "only events at or after this RFC 3339 time"},
    "until": {"in": "query", "type": "string", "format": "date-time",
              "description": "only events before this RFC 3339 time"},
}
ADMIN_PARAMS = {
    **FILTER_PARAMS,
    "user": {"in": "query", "type": "string", "format": "uuid",
             "description": "only events about this user (a user id)"},
}


def _time_arg(name: str, errors: dict[str, list[str]]) -> datetime | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    text = raw.strip()
    if not _TIME.fullmatch(text):
        errors[name] = [_TIME_HELP]
        return None
    try:
        moment = datetime.fromisoformat(text.upper().replace("Z", "+00:00").replace(" ", "T"))
    except ValueError:
        errors[name] = [_TIME_HELP]
        return None
    return moment.astimezone(UTC).replace(tzinfo=None)


def _filters(*, with_user: bool) -> tuple[dict, int, int]:
    """The query's filters; one 400 names every bad parameter."""
    errors: dict[str, list[str]] = {}
    filters: dict = {}
    if with_user and request.args.get("user") is not None:
        filters["user_id"] = normalise_public_id(request.args["user"].strip())
        if filters["user_id"] is None:
            errors["user"] = ["must be a user id (a UUID)"]
    event_type = request.args.get("type")
    if event_type is not None:
        if event_type not in audit_service.EVENT_TYPES + audit_service.PLANNED:
            errors["type"] = ["must be one of " + ", ".join(
                audit_service.EVENT_TYPES + audit_service.PLANNED)]
        filters["event_type"] = event_type
    filters["since"] = _time_arg("since", errors)
    filters["until"] = _time_arg("until", errors)
    if filters["since"] and filters["until"] and filters["since"] > filters["until"]:
        errors["until"] = ["must not be before since"]
    page, per_page = page_args(errors)
    return filters, page, per_page


@audit_ns.route("", endpoint="audit_events")
class AuditEventListResource(Resource):
    @operation(audit_ns, 200, "One page of events, newest first; RFC 8288 Link header",
               AuditEventPage, headers=PAGE_HEADERS, params=ADMIN_PARAMS,
               problems=(400, 401, 403), guard=admin_token_required)
    def get(self):
        """Search the audit log (administrators)."""
        filters, page, per_page = _filters(with_user=True)
        return page_response(audit_service.list_events(**filters, page=page, per_page=per_page),
                             audit_service.represent)


@own_events_ns.route("/events", endpoint="auth_events")
class OwnEventListResource(Resource):
    @operation(own_events_ns, 200, "One page of your events, newest first; RFC 8288 Link header",
               AuditEventPage, headers=PAGE_HEADERS, params=FILTER_PARAMS, problems=(400, 401),
               guard=token_required)
    def get(self):
        """My security events: sign-ins, failed sign-ins, password changes, ..."""
        filters, page, per_page = _filters(with_user=False)
        return page_response(
            audit_service.list_events(user_id=current_auth.user.public_id, **filters,
                                      page=page, per_page=per_page),
            audit_service.represent)
