"""A real SMTP server for the mail tests: aiosmtpd on a free loopback port.

`SmtpServer.mode` decides how it answers DATA: "accept" (250, the message is
kept), "451" (a temporary refusal), "550" (a permanent one). `stop()` closes the
port (the server is down); `start()` listens on the same port again.
"""

from __future__ import annotations

import asyncio
import email
import re
import threading
from email import policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from helpers.net import free_port

LINK = re.compile(r"https?://\S+?#token=([A-Za-z0-9_-]+)")


class _Handler:
    def __init__(self, server: SmtpServer):
        self.server = server

    async def handle_DATA(self, _smtp, _session, envelope):
        if self.server.delay:
            await asyncio.sleep(self.server.delay)
        mode = self.server.mode
        with self.server.lock:
            self.server.attempts += 1
        if mode == "451":
            return "451 4.3.0 Mailbox busy, try again later"
        if mode == "550":
            return "550 5.1.1 No such mailbox here"
        message = email.message_from_bytes(envelope.original_content or envelope.content,
                                           policy=policy.default)
        with self.server.lock:
            self.server.messages.append((list(envelope.rcpt_tos), message))
        return "250 2.0.0 Message accepted"


class SmtpServer:
    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.mode = "accept"
        self.delay = 0.0
        self.attempts = 0
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.lock = threading.Lock()
        self._controller: Controller | None = None

    def start(self) -> SmtpServer:
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port,
                                      ready_timeout=10)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def settings(self) -> dict:
        return {"MAIL_BACKEND": "smtp", "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": self.port,
                "MAIL_TIMEOUT": 5, "MAIL_DEFAULT_SENDER": "usergate <no-reply@example.com>"}

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for rcpt, m in self.messages if address in rcpt]

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()
            self.attempts = 0


def parts(message: EmailMessage) -> tuple[str, str]:
    """(plain text, HTML) of a multipart/alternative message."""
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None, message
    return text.get_content(), html.get_content()


def link_of(message: EmailMessage) -> tuple[str, str]:
    """(link, token) of the one link in a message; the same in both parts."""
    text, html = parts(message)
    found = LINK.search(text)
    assert found, text
    assert found.group(0) in html
    return found.group(0), found.group(1)


def deliver(app):
    from usergate.services import mail

    with app.app_context():
        return mail.deliver_due()


def reset_link(client, app, smtp, email: str) -> tuple[str, str]:
    """Ask for a password reset of `email` (202), deliver the outbox: the (link, token)
    of the newest reset mail `smtp` received for it."""
    assert client.post("/api/v1/auth/password-reset", json={"email": email}).status_code == 202
    deliver(app)
    (message,) = [m for m in smtp.to(email) if "Reset" in m["Subject"]][-1:]
    return link_of(message)
