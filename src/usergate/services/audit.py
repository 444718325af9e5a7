"""The audit log: `record()` stages a security event in the caller's transaction.

- The event is an `audit_events` row added to the current database session: it is
  stored by the caller's commit and dropped by its rollback, so a change that fails
  leaves no event (docs/audit.md).
- The request it happens in gives `ip`, `user_agent` and `request_id` (the
  response's `X-Request-ID`); outside a request (a command) they stay empty.
- After the commit, and only then, each event is also written to the
  `usergate.audit` logger as one JSON line, for a log shipper.
- `details` is an allow-list: only the keys of `DETAILS`, each with values of a
  fixed small shape (names, ids, booleans). Nothing a user typed in free text, and
  so never a password, token or code, can be stored or logged.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import datetime, timedelta

from flask import current_app, has_request_context
from sqlalchemy import delete, event, insert, select

from ..clock import rfc3339, utcnow
from ..extensions import db
from ..models import AuditEvent, User
from ..request_ids import client_strings
from ..request_ids import request_id as current_request_id
from .pagination import Page, paginate

log = logging.getLogger("usergate.audit")

# Every event type of docs/api.md §6.8 that this service records today. The
# types of features that have not landed yet are in PLANNED (docs/audit.md).
EVENT_TYPES = (
    "account_locked",
    "mfa_enabled",
    "mfa_disabled",
    "client_created",
    "login_succeeded",
    "login_failed",
    "refresh_reuse_detected",
    "session_revoked",
    "logout",
    "logout_all",
    "password_changed",
    "password_reset_requested",
    "password_reset",
    "email_verified",
    "email_changed",
    "user_created",
    "user_updated",
    "user_deleted",
)
PLANNED: tuple[str, ...] = ()
# Recorded by a command, not a request (no ip, user agent or request id).
COMMAND_TYPES = ("client_created",)

_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _name(value) -> bool:
    return isinstance(value, str) and bool(_NAME.fullmatch(value))


def _id(value) -> bool:
    return isinstance(value, str) and bool(_UUID.fullmatch(value))


def _flag(value) -> bool:
    return isinstance(value, bool)


def _names(value) -> bool:
    return isinstance(value, list | tuple) and len(value) <= 10 and all(map(_name, value))


# The allow-list of details: key -> the one shape its value may have.
DETAILS = {
    "method": _name,      # how: password, password_grant, register, fresh_login, ...
    "reason": _name,      # why a login failed: unknown_email, wrong_password, disabled, ...
    "session_id": _id,    # the session concerned (the `sid` of its tokens)
    "admin": _flag,       # user_updated: the new value of a changed `admin`
    "disabled": _flag,    # user_updated: the new value of a changed `disabled`
    "fields": _names,     # which fields changed
    "sessions_revoked": _flag,
    "client_id": _id,
}

_PENDING = "usergate_audit_pending"
_INSERT = insert(AuditEvent.__table__)


def _clean_details(event_type: str, details: dict | None) -> dict:
    clean = {}
    for key, value in (details or {}).items():
        check = DETAILS.get(key)
        if check is None:
            raise ValueError(f"audit detail {key!r} of {event_type} is not on the allow-list")
        if not check(value):
            raise ValueError(f"audit detail {key!r} of {event_type} has a value of a shape "
                             "the allow-list does not accept")
        clean[key] = list(value) if isinstance(value, tuple) else value
    return clean


def _public_id(user) -> str | None:
    """A user's public id from a User, a public id, or a row id."""
    if user is None:
        return None
    if isinstance(user, User):
        return user.public_id
    if isinstance(user, int):
        row = db.session.get(User, user)  # usually in the identity map already: no query
        return row.public_id if row is not None else None
    text = str(user)
    if not _id(text):
        raise ValueError("audit user ids are users' public ids (UUIDs)")
    return text


def _request_fields() -> tuple[str | None, str | None, str | None]:
    if not has_request_context():
        return None, None, None
    request_id = current_request_id()  # the response's X-Request-ID
    agent, address = client_strings()  # what may be stored: no control characters
    return address, agent and agent[:512], request_id


def record(event_type: str, *, user_id=None, actor_id=None, details: dict | None = None
           ) -> dict:
    """Stage one audit event in the caller's transaction (the caller commits).

    `user_id` and `actor_id` take a User, a user's public id or a user's row id.
    Returns the event as the API shows it.
    """
    if event_type not in EVENT_TYPES and event_type not in PLANNED:
        raise ValueError(f"unknown audit event type {event_type!r}")
    ip, user_agent, request_id = _request_fields()
    values = {"public_id": str(uuid.uuid4()), "type": event_type, "at": utcnow(),
              "user_id": _public_id(user_id), "actor_id": _public_id(actor_id), "ip": ip,
              "user_agent": user_agent, "request_id": request_id,
              "details": _clean_details(event_type, details)}
    # A Core INSERT in the session's transaction (not the ORM's unit of work, which
    # cost a login more than the row itself: bench/audit.py); stored by the caller's
    # commit, gone with its rollback like any other statement of the transaction.
    db.session.execute(_INSERT, values)
    event = _shown(values)
    db.session.info.setdefault(_PENDING, []).append(event)
    return event


def represent(entry: AuditEvent) -> dict:
    """The event as the API shows it (and as its log line holds it)."""
    return {
        "id": entry.public_id,
        "type": entry.type,
        "at": rfc3339(entry.at),
        "user_id": entry.user_id,
        "actor_id": entry.actor_id,
        "ip": entry.ip,
        "user_agent": entry.user_agent,
        "request_id": entry.request_id,
        "details": entry.details or {},
    }


def _shown(values: dict) -> dict:
    """`represent()` of a row from the values it is inserted with."""
    return {"id": values["public_id"], "type": values["type"], "at": rfc3339(values["at"]),
            **{key: values[key] for key in ("user_id", "actor_id", "ip", "user_agent",
                                            "request_id", "details")}}


# --- the log lines: after the commit only --------------------------------------------

def _after_commit(session) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending and log.isEnabledFor(logging.INFO):
        for line in pending:
            log.info(json.dumps(line, separators=(",", ":")))


def _after_rollback(session) -> None:
    session.info.pop(_PENDING, None)


# Every session of `db.session` (its sessionmaker), once per process.
event.listen(db.session, "after_commit", _after_commit)
event.listen(db.session, "after_rollback", _after_rollback)


# --- reading ------------------------------------------------------------------------

def list_events(*, user_id: str | None = None, event_type: str | None = None,
                since: datetime | None = None, until: datetime | None = None,
                page: int, per_page: int) -> Page:
    """Events newest first (the id breaks ties); every filter is optional."""
    stmt = select(AuditEvent)
    if user_id is not None:
        stmt = stmt.where(AuditEvent.user_id == user_id)
    if event_type is not None:
        stmt = stmt.where(AuditEvent.type == event_type)
    if since is not None:
        stmt = stmt.where(AuditEvent.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEvent.at < until)
    stmt = stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    return paginate(stmt, page=page, per_page=per_page)


# --- retention ----------------------------------------------------------------------

def purge(*, batch_size: int = 1000, now: datetime | None = None) -> int:
    """Delete events older than AUDIT_RETENTION in batches, one commit each.

    Short transactions keep locks brief, so pruning is safe while serving.
    """
    cutoff = (now or utcnow()) - timedelta(seconds=current_app.config["AUDIT_RETENTION"])
    removed = 0
    while True:
        ids = list(db.session.execute(
            select(AuditEvent.id).where(AuditEvent.at < cutoff)
            .order_by(AuditEvent.at, AuditEvent.id).limit(batch_size)).scalars())
        if not ids:
            db.session.commit()
            return removed
        db.session.execute(delete(AuditEvent).where(AuditEvent.id.in_(ids))
                           .execution_options(synchronize_session=False))
        db.session.commit()
        removed += len(ids)
