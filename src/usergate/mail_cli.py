"""flask mail deliver / list / retry: the outbox from the command line (docs/mail.md)."""

from __future__ import annotations

import signal
import threading

import click
from flask.cli import AppGroup

from .clock import rfc3339

mail_cli = AppGroup("mail", help="Deliver and inspect the mail outbox.")


@mail_cli.command("deliver")
@click.option("--once", is_flag=True, help="deliver what is due now, then exit")
def deliver_command(once: bool) -> None:
    """Deliver queued mail until stopped (SIGTERM or Ctrl-C finish the current message)."""
    from .services import mail

    if once:
        report = mail.deliver_due()
        click.echo(f"sent {report.sent}, retrying {report.retried}, failed {report.failed}, "
                   f"dropped {report.dropped}")
        return
    stop = threading.Event()
    for name in ("SIGTERM", "SIGINT"):
        signal.signal(getattr(signal, name), lambda *_: stop.set())
    click.echo("mail: delivering until stopped", err=True)
    mail.run_deliverer(stop)


@mail_cli.command("list")
@click.option("--failed", is_flag=True, help="only messages that failed for good")
@click.option("--limit", default=100, show_default=True)
def list_command(failed: bool, limit: int) -> None:
    """The newest outbox messages: id, state, attempts, kind, recipient, error."""
    from .services import mail

    messages = mail.list_messages(failed=failed, limit=limit)
    if not messages:
        click.echo("no failed messages" if failed else "the outbox is empty")
        return
    for message in messages:
        line = (f"{message.id}\t{message.status}\t{message.attempts}\t{message.kind}\t"
                f"{message.to_address}\t{rfc3339(message.created_at)}")
        if message.last_error:
            line += f"\t{message.last_error}"
        click.echo(line)


@mail_cli.command("retry")
@click.argument("message_id", required=False, type=int)
def retry_command(message_id: int | None) -> None:
    """Queue failed messages again (one by id, or all)."""
    from .services import mail

    click.echo(f"queued {mail.retry_failed(message_id)} message(s) again")
