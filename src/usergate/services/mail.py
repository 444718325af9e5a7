"""Delivering the mail outbox (docs/api.md §6.1), outside every request.

- Requests stage messages with `services.outbox.enqueue()` in their own
  transaction: a message exists exactly when the change it reports does.
- A deliverer (`flask mail deliver`, or the thread `python3 run.py` starts)
  claims due messages with ONE conditional UPDATE (SQLite; its write lock
  serialises claims) or with `SELECT ... FOR UPDATE SKIP LOCKED` and an UPDATE of
  exactly those rows in one transaction (PostgreSQL), so two deliverers never hold
  one message. A claim is a lease (`MAIL_LEASE`): the claim of a deliverer that died
  expires and another takes the message over.
- A message is marked sent only after the backend accepted it (for SMTP: the
  server's 250 after DATA). A 4xx or a network error is retried with
  exponential backoff (`MAIL_RETRY_BASE` doubling up to `MAIL_RETRY_MAX`); a 5xx
  answer to the message (sender, recipient or data refused) is permanent: the
  message is kept as `failed` with the server's reply, as are messages that used
  up `MAIL_MAX_ATTEMPTS`.
- Composing and sending use Flask-Mailman (multipart text + HTML from Jinja
  templates under templates/mail/); nothing here builds MIME by hand.
- A message's `context` (which holds its link once composed) is sealed with a key
  derived from SECRET_KEY and erased once the message is sent. Nothing here logs
  a body, a link or an address.
"""

from __future__ import annotations

import logging
import os
import smtplib
import threading
import uuid
from dataclasses import dataclass
from datetime import timedelta

from cryptography.fernet import InvalidToken
from flask import Flask, current_app, render_template
from flask_mailman import EmailMultiAlternatives, Mail
from flask_mailman.backends.base import BaseEmailBackend
from sqlalchemy import and_, delete, or_, select, update

from ..clock import timestamp, utcnow
from ..extensions import db
from ..models import OutboxMessage
from ..models.outbox import FAILED, PENDING, SENDING, SENT
from . import recovery  # noqa: F401 - registers the kinds of account mail
from .outbox import KINDS, seal, unseal

log = logging.getLogger("usergate.mail")

mail = Mail()
BATCH_SIZE = 20


# --- backends ----------------------------------------------------------------------

class EmlFileBackend(BaseEmailBackend):
    """Development backend: each message as its own .eml file under MAIL_FILE_PATH."""

    def __init__(self, *args, file_path=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.file_path = os.path.abspath(file_path or current_app.config["MAIL_FILE_PATH"])

    def send_messages(self, email_messages):
        os.makedirs(self.file_path, mode=0o700, exist_ok=True)
        sent = 0
        for message in email_messages:
            name = f"{utcnow():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:12]}.eml"
            target = os.path.join(self.file_path, name)
            temporary = target + ".part"
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(message.message().as_bytes())
            os.replace(temporary, target)  # a reader never sees half a message
            sent += 1
        return sent


BACKENDS = {"smtp": "smtp", "console": "console", "file": EmlFileBackend}


def connection():
    return mail.get_connection(backend=BACKENDS[current_app.config["MAIL_BACKEND"]])


# --- claiming ----------------------------------------------------------------------

def _due(now):
    return or_(and_(OutboxMessage.status == PENDING, OutboxMessage.next_attempt_at <= now),
               and_(OutboxMessage.status == SENDING, OutboxMessage.claimed_until < now))


def claim(limit: int = BATCH_SIZE) -> tuple[str, list[OutboxMessage]]:
    """Take up to `limit` due messages for this deliverer; commit; return them."""
    now = utcnow()
    claim_id = str(uuid.uuid4())
    due = _due(now)
    candidates = (select(OutboxMessage.id).where(due)
                  .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit))
    if db.session.get_bind().dialect.name == "postgresql":
        # Lock the batch first, skipping rows another deliverer is claiming right now,
        # then take exactly those. (As a subquery of the UPDATE, PostgreSQL may run
        # the LIMITed SELECT more than once and claim far more than `limit` rows.)
        ids = list(db.session.execute(
            candidates.with_for_update(skip_locked=True)).scalars())
        if not ids:
            db.session.commit()
            return claim_id, []
        chosen = OutboxMessage.id.in_(ids)
    else:
        # One statement under SQLite's write lock: nobody can claim in between.
        chosen = OutboxMessage.id.in_(candidates.scalar_subquery())
    # The WHERE repeats `due`: a row claimed or settled meanwhile is never taken twice.
    db.session.execute(
        update(OutboxMessage)
        .where(chosen, due)
        .values(status=SENDING, claim_id=claim_id,
                claimed_until=now + timedelta(seconds=current_app.config["MAIL_LEASE"]),
                attempts=OutboxMessage.attempts + 1)
        .execution_options(synchronize_session=False))
    db.session.commit()
    claimed = list(db.session.execute(
        select(OutboxMessage).where(OutboxMessage.claim_id == claim_id)
        .order_by(OutboxMessage.id)).scalars())
    db.session.commit()
    return claim_id, claimed


def _settle(message: OutboxMessage, holder: str, /, **values) -> bool:
    """Write the outcome of one message, only while this deliverer still holds it."""
    result = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message.id, OutboxMessage.claim_id == holder,
               OutboxMessage.status == SENDING)
        .values(**values).execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount == 1


# --- delivering --------------------------------------------------------------------

@dataclass
class Report:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    dropped: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.retried + self.failed + self.dropped

    def add(self, other: Report) -> None:
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed
        self.dropped += other.dropped


class PermanentFailure(Exception):
    """The server refused this message for good (a 5xx reply)."""


def _classify(exc: Exception) -> tuple[bool, str]:
    """(permanent?, a short description) of a failed send; never the message itself."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = list(exc.recipients.values())
        permanent = bool(replies) and all(code >= 500 for code, _ in replies)
        code, text = replies[0] if replies else (0, b"")
        return permanent, f"recipient refused: {code} {_text(text)}"
    if isinstance(exc, smtplib.SMTPConnectError):
        return False, f"cannot connect: {exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return False, f"authentication failed: {exc.smtp_code}"
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500, f"{exc.smtp_code} {_text(exc.smtp_error)}"
    return False, f"{type(exc).__name__}: {exc}"[:500]


def _text(raw) -> str:
    return (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw))[:400]


def _backoff(attempts: int) -> int:
    config = current_app.config
    return min(config["MAIL_RETRY_MAX"], config["MAIL_RETRY_BASE"] * 2 ** max(0, attempts - 1))


def _message_id(message: OutboxMessage, sender: str) -> str:
    # The same Message-ID on every attempt: a receiver can tell a re-send from a new mail.
    domain = sender.rsplit("@", 1)[-1].strip(" >") or "localhost"
    return f"<usergate.{message.id}.{timestamp(message.created_at)}@{domain}>"


def _compose(message: OutboxMessage, context: dict, backend) -> EmailMultiAlternatives:
    kind = KINDS[message.kind]
    config = current_app.config
    values = {"product": config["MAIL_PRODUCT_NAME"], **context}
    sender = config["MAIL_DEFAULT_SENDER"]
    email = EmailMultiAlternatives(
        subject=kind.subject.format(product=values["product"]),
        body=render_template(f"mail/{kind.template}.txt", **values),
        from_email=sender, to=[message.to_address], connection=backend,
        headers={"Message-ID": _message_id(message, sender),
                 "Auto-Submitted": "auto-generated"})
    email.attach_alternative(render_template(f"mail/{kind.template}.html", **values),
                             "text/html")
    return email


def _prepare(message: OutboxMessage, claim_id: str) -> dict | None:
    """The template context, after the kind's own preparation (None: drop it)."""
    if message.kind not in KINDS:
        _settle(message, claim_id, status=FAILED, claim_id=None, claimed_until=None,
                last_error=f"unknown kind of message {message.kind!r}")
        return None
    try:
        context = unseal(message.context)
    except InvalidToken:
        _settle(message, claim_id, status=FAILED, claim_id=None, claimed_until=None,
                last_error="the context cannot be unsealed (SECRET_KEY changed?)")
        return None
    prepared = KINDS[message.kind].prepare(message, dict(context))
    if prepared is None:
        db.session.rollback()
        db.session.execute(delete(OutboxMessage).where(
            OutboxMessage.id == message.id, OutboxMessage.claim_id == claim_id)
            .execution_options(synchronize_session=False))
        db.session.commit()
        return None
    if prepared != context:
        # Made a link: keep it (sealed) with the claim, so a retry sends the same link.
        db.session.execute(update(OutboxMessage).where(
            OutboxMessage.id == message.id, OutboxMessage.claim_id == claim_id)
            .values(context=seal(prepared), user_id=message.user_id)
            .execution_options(synchronize_session=False))
    db.session.commit()
    return prepared


def _release(claim_id: str) -> None:
    """Give back what this claim still holds (due again at once)."""
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.claim_id == claim_id, OutboxMessage.status == SENDING)
        .values(status=PENDING, claim_id=None, claimed_until=None,
                attempts=OutboxMessage.attempts - 1)
        .execution_options(synchronize_session=False))
    db.session.commit()


def _fail(message: OutboxMessage, claim_id: str, error: str, *, permanent: bool,
          report: Report) -> None:
    if permanent or message.attempts >= current_app.config["MAIL_MAX_ATTEMPTS"]:
        if _settle(message, claim_id, status=FAILED, claim_id=None, claimed_until=None,
                   last_error=error):
            report.failed += 1
            log.warning("mail: message %s (%s) failed for good after %s attempt(s): %s",
                        message.id, message.kind, message.attempts, error)
        return
    delay = _backoff(message.attempts)
    if _settle(message, claim_id, status=PENDING, claim_id=None, claimed_until=None,
               last_error=error, next_attempt_at=utcnow() + timedelta(seconds=delay)):
        report.retried += 1
        log.info("mail: message %s (%s) not delivered (attempt %s), retry in %ss: %s",
                 message.id, message.kind, message.attempts, delay, error)


def deliver_batch(limit: int = BATCH_SIZE) -> Report:
    """Claim one batch and deliver it over one connection."""
    report = Report()
    claim_id, messages = claim(limit)
    if not messages:
        return report
    timeout = current_app.config["MAIL_TIMEOUT"]
    backend = connection()
    opened = False
    try:
        for index, message in enumerate(messages):
            # Never start a send that could outlive the lease: another deliverer
            # could then take the message over and send it too.
            if utcnow() + timedelta(seconds=timeout) >= message.claimed_until:
                _release(claim_id)
                break
            context = _prepare(message, claim_id)
            if context is None:
                report.dropped += 1
                continue
            try:
                email = _compose(message, context, backend)
                if not opened:
                    backend.open()
                    opened = True
                accepted = backend.send_messages([email])
                if not accepted:
                    raise smtplib.SMTPException("the backend accepted nothing")
            except (smtplib.SMTPException, OSError) as exc:
                permanent, error = _classify(exc)
                connection_lost = not isinstance(exc, smtplib.SMTPResponseException) or \
                    isinstance(exc, smtplib.SMTPConnectError)
                _fail(message, claim_id, error, permanent=permanent, report=report)
                if connection_lost:
                    # The server is gone: the rest of the batch fails alike.
                    for later in messages[index + 1:]:
                        _fail(later, claim_id, error, permanent=False, report=report)
                    break
                continue
            if _settle(message, claim_id, status=SENT, sent_at=utcnow(), claim_id=None,
                       claimed_until=None, context=None, last_error=None):
                report.sent += 1
                log.info("mail: delivered message %s (%s)", message.id, message.kind)
    finally:
        db.session.rollback()
        if opened:
            try:
                backend.close()
            except (smtplib.SMTPException, OSError):
                pass
    return report


def deliver_due(*, limit: int = BATCH_SIZE) -> Report:
    """Deliver batches until nothing is due (what `flask mail deliver --once` does)."""
    total = Report()
    while True:
        report = deliver_batch(limit)
        total.add(report)
        if not report.handled:
            prune()
            return total


def prune(limit: int = 500) -> int:
    """Delete a batch of sent messages older than MAIL_KEEP_SENT and of dead link tokens.

    Rides on the deliverer, so both tables stay bounded without a cron job.
    """
    from ..models import LinkToken

    now = utcnow()
    removed = 0
    for model, stale in (
            (OutboxMessage, and_(OutboxMessage.status == SENT, OutboxMessage.sent_at < now
                                 - timedelta(seconds=current_app.config["MAIL_KEEP_SENT"]))),
            (LinkToken, LinkToken.expires_at < now)):
        batch = select(model.id).where(stale).limit(limit).scalar_subquery()
        removed += db.session.execute(delete(model).where(model.id.in_(batch))
                                      .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return removed


def run_deliverer(stop: threading.Event, *, limit: int = BATCH_SIZE) -> None:
    """Deliver until `stop` is set, polling every MAIL_POLL_INTERVAL seconds."""
    interval = current_app.config["MAIL_POLL_INTERVAL"]
    while not stop.is_set():
        try:
            deliver_due(limit=limit)
        except Exception:  # the database away, a bug: log, wait, go on
            db.session.rollback()
            log.exception("mail: delivery round failed; retrying in %ss", interval)
        finally:
            db.session.remove()
        stop.wait(interval)


def start_background_deliverer(app: Flask) -> threading.Event | None:
    """The deliverer thread of `python3 run.py` (USERGATE_MAIL_DELIVERY=off: none)."""
    if os.environ.get("USERGATE_MAIL_DELIVERY", "on").strip().lower() in {"off", "0", "false"}:
        return None
    stop = threading.Event()

    def target():
        with app.app_context():
            run_deliverer(stop)

    threading.Thread(target=target, name="usergate-mail", daemon=True).start()
    return stop


def list_messages(*, failed: bool = False, limit: int = 100) -> list[OutboxMessage]:
    stmt = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if failed:
        stmt = stmt.where(OutboxMessage.status == FAILED)
    return list(db.session.execute(stmt).scalars())


def retry_failed(message_id: int | None = None) -> int:
    """Queue failed messages again (all, or one): a fixed configuration sends them."""
    stmt = update(OutboxMessage).where(OutboxMessage.status == FAILED)
    if message_id is not None:
        stmt = stmt.where(OutboxMessage.id == message_id)
    result = db.session.execute(
        stmt.values(status=PENDING, attempts=0, next_attempt_at=utcnow())
        .execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount


def init_app(app: Flask) -> None:
    mail.init_app(app)
    if app.config["USERGATE_CONFIG"] == "production" and not app.config.get("PUBLIC_BASE_URL"):
        log.warning("PUBLIC_BASE_URL is not set: mail links follow the Host of the request "
                    "that asked for them; set it to the service's public origin")
