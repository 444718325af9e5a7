"""Staging mail in the caller's transaction (docs/api.md §6.1); services/mail.py delivers it.

- `enqueue()` adds an outbox row to the caller's session and never commits: the
  message exists exactly when the change it reports does.
- A row's `context` (what its templates need; once composed, its link) is sealed:
  encrypted and authenticated (Fernet) with a key derived from SECRET_KEY, so the
  database never shows a usable link token.
- Kinds of message are registered here by the modules that own them (their
  subject, templates and the step that runs right before sending).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.fernet import Fernet
from flask import current_app

from ..clock import utcnow
from ..extensions import db
from ..models import OutboxMessage
from ..models.outbox import PENDING


@dataclass(frozen=True)
class Kind:
    """A kind of message: its subject, its templates, and what it needs before sending.

    `prepare(message, context)` runs in the deliverer right before sending and
    returns the template context (it may add a freshly made link), or None when
    there is nothing to send any more (the message is then dropped).
    """

    name: str
    subject: str  # a format string; {product} is MAIL_PRODUCT_NAME
    template: str  # templates/mail/<template>.txt and .html
    prepare: Callable[[OutboxMessage, dict], dict | None] = field(
        default=lambda _message, context: context)


KINDS: dict[str, Kind] = {}


def register_kind(kind: Kind) -> Kind:
    KINDS[kind.name] = kind
    return kind


def _fernet() -> Fernet:
    secret = current_app.config["SECRET_KEY"].encode()
    key = hashlib.sha256(b"usergate mail outbox context\x00" + secret).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(context: dict) -> str:
    return _fernet().encrypt(json.dumps(context).encode()).decode()


def unseal(sealed: str | None) -> dict:
    """The context; cryptography.fernet.InvalidToken when SECRET_KEY changed since."""
    if not sealed:
        return {}
    return json.loads(_fernet().decrypt(sealed.encode()))


def enqueue(kind: str, to_address: str, *, user_id: int | None = None,
            context: dict | None = None) -> OutboxMessage:
    """Stage a message in the caller's transaction (the caller commits)."""
    now = utcnow()
    message = OutboxMessage(kind=kind, to_address=to_address, user_id=user_id,
                            context=seal(context or {}), status=PENDING, attempts=0,
                            created_at=now, next_attempt_at=now)
    db.session.add(message)
    return message
