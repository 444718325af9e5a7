"""Signing and verification keys, selected by `kid`; the JWKS document.

No Flask imports: create_app() builds a KeySet from the configuration.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

ASYMMETRIC = ("RS256", "ES256", "EdDSA")


class KeyFileError(Exception):
    """A key file is missing, unreadable or of the wrong kind."""


@dataclass(frozen=True)
class Key:
    kid: str
    algorithm: str
    signing_key: object = field(repr=False)  # secret bytes or private key; None if verify-only
    verify_key: object = field(repr=False)  # secret bytes or public key


def _thumbprint(jwk: dict) -> str:
    """RFC 7638 JWK thumbprint (base64url SHA-256 of the required members)."""
    import base64

    required = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"),
                "OKP": ("crv", "kty", "x")}
    members = {name: jwk[name] for name in required[jwk["kty"]]}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode())
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


def _algorithm_of(public_key) -> str:
    if isinstance(public_key, rsa.RSAPublicKey):
        return "RS256"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if public_key.curve.name != "secp256r1":
            raise KeyFileError("ES256 needs a P-256 key")
        return "ES256"
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "EdDSA"
    raise KeyFileError(f"unsupported key type {type(public_key).__name__}")


def public_jwk(public_key) -> dict:
    algorithm = _algorithm_of(public_key)
    impl = {"RS256": RSAAlgorithm, "ES256": ECAlgorithm, "EdDSA": OKPAlgorithm}[algorithm]
    jwk = impl.to_jwk(public_key, as_dict=True)
    return {k: v for k, v in jwk.items() if k in {"kty", "crv", "n", "e", "x", "y"}}


def load_key_file(path: str | Path) -> Key:
    """A PEM private key (signs and verifies) or public key (verifies only)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from None
    private = None
    try:
        if b"PRIVATE KEY" in data:
            private = serialization.load_pem_private_key(data, password=None)
            public = private.public_key()
        else:
            public = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path} is not a PEM key usable for signing: {exc}") from None
    algorithm = _algorithm_of(public)
    return Key(kid=_thumbprint(public_jwk(public)), algorithm=algorithm,
               signing_key=private, verify_key=public)


def hmac_key(secret: str) -> Key:
    raw = secret.encode()
    # The kid names the secret without revealing it (a truncated hash of it).
    kid = "hs-" + hashlib.sha256(b"usergate kid\x00" + raw).hexdigest()[:16]
    return Key(kid=kid, algorithm="HS256", signing_key=raw, verify_key=raw)


class KeySet:
    """The key that signs new tokens plus every key that still verifies."""

    def __init__(self, signing: Key, verifying: list[Key] | None = None):
        self.signing = signing
        self._by_kid = {signing.kid: signing}
        for key in verifying or []:
            self._by_kid.setdefault(key.kid, key)

    def get(self, kid: str | None) -> Key | None:
        return self._by_kid.get(kid) if kid else None

    @property
    def kids(self) -> list[str]:
        return list(self._by_kid)

    def jwks(self) -> dict:
        keys = []
        for key in self._by_kid.values():
            if key.algorithm not in ASYMMETRIC:
                continue  # a shared secret is never published
            jwk = public_jwk(key.verify_key)
            jwk.update({"kid": key.kid, "alg": key.algorithm, "use": "sig"})
            keys.append(jwk)
        return {"keys": keys}

    @classmethod
    def from_config(cls, config: dict) -> KeySet:
        algorithm = config["JWT_ALGORITHM"]
        if algorithm == "HS256":
            signing = hmac_key(config["SECRET_KEY"])
        else:
            signing = load_key_file(config["JWT_PRIVATE_KEY_FILE"])
            if signing.signing_key is None:
                raise KeyFileError(
                    "JWT_PRIVATE_KEY_FILE holds a public key; it needs the private key")
            if signing.algorithm != algorithm:
                raise KeyFileError(
                    f"JWT_ALGORITHM is {algorithm} but JWT_PRIVATE_KEY_FILE is a "
                    f"{signing.algorithm} key")
        names = [p.strip() for p in (config.get("JWT_VERIFY_KEY_FILES") or "").split(",")]
        verifying = [load_key_file(name) for name in names if name]
        return cls(signing, verifying)


def generate_private_key_pem(algorithm: str) -> bytes:
    if algorithm == "RS256":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif algorithm == "ES256":
        key = ec.generate_private_key(ec.SECP256R1())
    elif algorithm == "EdDSA":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        raise KeyFileError(f"cannot generate a key for {algorithm}; choose RS256, ES256 or EdDSA")
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
