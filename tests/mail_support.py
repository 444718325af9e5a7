"""The names tests import as `from mail_support import ...`; see helpers.smtp."""

from helpers.net import free_port
from helpers.smtp import LINK, SmtpServer, deliver, link_of, parts

__all__ = ["LINK", "SmtpServer", "deliver", "free_port", "link_of", "parts"]
