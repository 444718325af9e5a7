"""Plain models: columns and relationships, no business rules."""

from .blacklist import BlacklistedToken
from .session import Session
from .user import User

__all__ = ["BlacklistedToken", "Session", "User"]
