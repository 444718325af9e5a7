"""What requests stage for account mail: verification links, notices, reset requests.

Only the outbox rows are written here (services/outbox.py); the link tokens are
made by the deliverer when it composes the message (services/recovery.py), so a
request never holds a raw token and a reset request does the same work for any
email.
"""

from __future__ import annotations

from sqlalchemy import select

from ..emails import email_key
from ..extensions import db
from ..models import User
from ..origins import public_base_url
from . import audit
from .outbox import enqueue

RESET = "password_reset"
VERIFY = "email_verification"
EMAIL_CHANGED = "email_changed"


def queue_verification(user: User) -> None:
    """Stage a verification mail to the user's current email (the caller commits)."""
    enqueue(VERIFY, user.email, user_id=user.id, context={"base_url": public_base_url()})


def queue_email_change(user: User, old_email: str) -> None:
    """The email changed: unverified again; verify the new one, tell the old one."""
    user.email_verified = False
    queue_verification(user)
    enqueue(EMAIL_CHANGED, old_email, user_id=user.id, context={
        "name": user.name, "new_email": mask_email(user.email)})


def mask_email(email: str) -> str:
    """a***@example.com: enough for the owner to recognise, little for anyone else."""
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}***@{domain}"


def request_password_reset(email: str) -> None:
    """Write the reset request to the outbox and commit: the same work for any email.

    Whether an enabled account has this email is decided by the deliverer, which
    drops the request otherwise; nothing here depends on it.
    """
    enqueue(RESET, email, context={"base_url": public_base_url()})
    # The event is written for any email (one lookup and one row either way, so
    # the answer's time tells nothing); it names the account when there is one.
    user_id = db.session.execute(
        select(User.public_id).where(User.email_key == email_key(email))).scalar_one_or_none()
    audit.record("password_reset_requested", user_id=user_id)
    db.session.commit()
