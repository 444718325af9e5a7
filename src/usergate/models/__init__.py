"""Plain models: columns and relationships, no business rules."""

from .address import Address
from .audit import AuditEvent
from .blacklist import BlacklistedToken
from .client import ServiceClient
from .login_failure import LoginFailure
from .mfa import RecoveryCode, TotpAuthenticator
from .outbox import LinkToken, OutboxMessage
from .session import Session
from .user import User

__all__ = ["Address", "BlacklistedToken", "Session", "User", "LinkToken", "OutboxMessage",
           "ServiceClient", "RecoveryCode", "TotpAuthenticator", "AuditEvent", "LoginFailure"]
