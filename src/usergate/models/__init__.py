"""Plain models: columns and relationships, no business rules."""

from .address import Address
from .blacklist import BlacklistedToken
from .session import Session
from .user import User

__all__ = ["Address", "BlacklistedToken", "Session", "User"]
