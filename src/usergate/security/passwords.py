"""Password hashing with flask-bcrypt, every character significant.

bcrypt reads only the first 72 bytes of its input (bcrypt 5 raises past them),
so two long passwords sharing a 72-byte prefix would verify alike. We first
reduce the password to a fixed 44-byte HMAC-SHA256 digest (base64, so no NUL
byte can truncate it) and hash that with bcrypt.

A password is NFKC-normalised first (NIST SP 800-63B rev. 4 §3.1.1.2), so the
same password typed on another keyboard or input method (full-width letters, a
ligature, a composed or decomposed accent) verifies alike. Hashes stored before
normalisation hold the password as it was typed: when the normalised form does
not verify and differs from what was typed, the typed form is tried too. Only
a password that NFKC changes can cost a second bcrypt, and it costs the same
against the dummy hash of an unknown email, so timing still tells nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import unicodedata

from ..extensions import bcrypt

_PREHASH_KEY = b"usergate password prehash v1"


def normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def _prehash(password: str) -> bytes:
    digest = hmac.new(_PREHASH_KEY, password.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest)


def hash_password(password: str) -> str:
    return bcrypt.generate_password_hash(_prehash(normalise(password))).decode("ascii")


def check_password(password_hash: str, password: str) -> bool:
    # bcrypt's own comparison is constant-time.
    normal = normalise(password)
    if bcrypt.check_password_hash(password_hash, _prehash(normal)):
        return True
    # A hash from before NFKC normalisation: the password as it was typed.
    return normal != password and bcrypt.check_password_hash(password_hash, _prehash(password))
