"""Password hashing with flask-bcrypt, every character significant.

bcrypt reads only the first 72 bytes of its input (bcrypt 5 raises past them),
so two long passwords sharing a 72-byte prefix would verify alike. We first
reduce the password to a fixed 44-byte HMAC-SHA256 digest (base64, so no NUL
byte can truncate it) and hash that with bcrypt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from ..extensions import bcrypt

_PREHASH_KEY = b"usergate password prehash v1"


def _prehash(password: str) -> bytes:
    digest = hmac.new(_PREHASH_KEY, password.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest)


def hash_password(password: str) -> str:
    return bcrypt.generate_password_hash(_prehash(password)).decode("ascii")


def check_password(password_hash: str, password: str) -> bool:
    # bcrypt's own comparison is constant-time.
    return bcrypt.check_password_hash(password_hash, _prehash(password))
