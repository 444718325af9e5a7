"""Two-factor primitives: TOTP codes (pyotp, RFC 6238), the otpauth QR code (segno),
secrets sealed with Fernet, recovery codes and their keyed hashes. Pure: no Flask.

TOTP parameters are RFC 6238's defaults, which every authenticator app reads from
the otpauth URI or assumes: SHA-1, 6 digits, 30-second steps.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import re
import secrets
from dataclasses import dataclass, field

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

DIGITS = 6
INTERVAL = 30
WINDOW = 1  # steps accepted either side of now (RFC 6238 §5.2)
RECOVERY_CODES = 10
_RECOVERY_BYTES = 10  # 80 random bits per recovery code
_TOTP_CODE = re.compile(r"[0-9]{6}")


class MfaKeyError(ValueError):
    """MFA_ENCRYPTION_KEY cannot be used; the message says why (never the key)."""


class SecretUnreadable(Exception):
    """A stored secret does not decrypt with the configured keys."""


def _derive(material: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(material)


@dataclass(frozen=True)
class MfaKeys:
    """The Fernet keys that seal TOTP secrets, and the key of recovery-code hashes."""

    fernet: MultiFernet = field(repr=False)
    code_key: bytes = field(repr=False)
    derived: bool  # True when the keys come from SECRET_KEY (MFA_ENCRYPTION_KEY unset)

    @classmethod
    def from_settings(cls, encryption_key: str | None, secret_key: str) -> MfaKeys:
        """MFA_ENCRYPTION_KEY: Fernet keys, comma-separated (the first encrypts, every
        one decrypts: add a new key in front to rotate); unset: one derived from
        SECRET_KEY by HKDF-SHA256."""
        if encryption_key and encryption_key.strip():
            raw = [part.strip() for part in encryption_key.split(",") if part.strip()]
            try:
                keys = [Fernet(part) for part in raw]
            except (ValueError, TypeError):
                raise MfaKeyError(
                    "MFA_ENCRYPTION_KEY must be Fernet keys (32 url-safe base64-encoded bytes, "
                    'comma-separated): python -c "from cryptography.fernet import Fernet; '
                    'print(Fernet.generate_key().decode())"') from None
            material = base64.urlsafe_b64decode(raw[0])
            derived = False
        else:
            material = secret_key.encode()
            keys = [Fernet(base64.urlsafe_b64encode(
                _derive(material, b"usergate mfa totp secret encryption")))]
            derived = True
        return cls(MultiFernet(keys), _derive(material, b"usergate mfa recovery code hash"),
                   derived)

    def seal(self, secret: str) -> str:
        return self.fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self.fernet.decrypt(sealed.encode()).decode()
        except (InvalidToken, ValueError):
            raise SecretUnreadable("the stored secret does not decrypt with these keys") from None

    def code_hash(self, recovery_code: str) -> str:
        """HMAC-SHA256 of a normalised recovery code: 80 random bits need no slow hash."""
        return hmac.new(self.code_key, normalise_recovery_code(recovery_code).encode(),
                        hashlib.sha256).hexdigest()


def new_secret() -> str:
    return pyotp.random_base32(32)  # 160 bits, RFC 4226's recommended length


def otpauth_uri(secret: str, *, email: str, issuer: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL).provisioning_uri(
        name=email, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The otpauth URI as an SVG document, made in memory."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=4, xmldecl=False)
    return out.getvalue().decode()


def time_step(now: int) -> int:
    return now // INTERVAL


def looks_like_totp(code: str) -> bool:
    return bool(_TOTP_CODE.fullmatch(code.strip()))


def matching_step(secret: str, code: str, *, now: int, window: int = WINDOW) -> int | None:
    """The time step (now ±window) whose code this is, or None. Constant-time compares."""
    code = code.strip()
    if not looks_like_totp(code):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL)
    current = time_step(now)
    found = None
    for step in range(current - window, current + window + 1):
        # Every candidate is compared (no early exit), each in constant time.
        if hmac.compare_digest(totp.generate_otp(step), code) and found is None:
            found = step
    return found


def new_recovery_codes(count: int = RECOVERY_CODES) -> list[str]:
    """Codes like `k7qm-2x4d-ra9f-c3hw`: base32 in groups of four, 80 random bits."""
    codes = []
    for _ in range(count):
        raw = base64.b32encode(secrets.token_bytes(_RECOVERY_BYTES)).decode().lower()
        codes.append("-".join(raw[i:i + 4] for i in range(0, len(raw), 4)))
    return codes


def normalise_recovery_code(code: str) -> str:
    """What a person may type: any case, with or without the dashes and spaces."""
    return re.sub(r"[\s-]", "", code).lower()
