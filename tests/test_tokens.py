"""security/tokens.py: issuing and verifying, algorithm pinning, explicit typing."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from usergate.security import tokens
from usergate.security.keys import KeySet, generate_private_key_pem, hmac_key, load_key_file

NOW = 1_800_000_000
SECRET = "a-test-secret-of-at-least-32-bytes-long!"


@pytest.fixture
def keys():
    return KeySet(hmac_key(SECRET))


def issue(keys, kind=tokens.ACCESS, **overrides):
    args = dict(keys=keys, issuer="usergate", subject="user-1", session_id="sid-1",
                lifetime=900, now=NOW, fresh=True, admin=False)
    args.update(overrides)
    return tokens.issue_token(kind, **args)


def decode(token, keys, kind=tokens.ACCESS, now=NOW, leeway=0, issuer="usergate"):
    return tokens.decode_token(token, kind, keys=keys, issuer=issuer, leeway=leeway, now=now)


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_round_trip(keys):
    issued = issue(keys)
    assert decode(issued.token, keys) == issued.claims


def test_times_with_leeway(keys):
    token = issue(keys).token
    with pytest.raises(tokens.TokenExpiredError):
        decode(token, keys, now=NOW + 900)
    assert decode(token, keys, now=NOW + 900, leeway=5)["sub"] == "user-1"
    with pytest.raises(tokens.TokenError, match="not valid yet"):
        decode(token, keys, now=NOW - 10)
    assert decode(token, keys, now=NOW - 3, leeway=5)


def test_alg_none_is_rejected(keys):
    issued = issue(keys)
    header = {"alg": "none", "typ": "at+jwt", "kid": keys.signing.kid}
    forged = f"{b64(header)}.{b64(issued.claims)}."
    with pytest.raises(tokens.TokenError):
        decode(forged, keys)


def test_algorithm_is_pinned_to_the_key_not_the_token(keys, tmp_path):
    # An HS256 token signed with the *public key* of an RS256 key set (the classic
    # confusion attack) must not verify against that key set.
    pem = tmp_path / "rsa.pem"
    pem.write_bytes(generate_private_key_pem("RS256"))
    rsa_keys = KeySet(load_key_file(pem))
    claims = issue(rsa_keys).claims
    public_pem = rsa_keys.signing.verify_key.public_bytes(
        encoding=__import__("cryptography.hazmat.primitives.serialization",
                            fromlist=["Encoding"]).Encoding.PEM,
        format=__import__("cryptography.hazmat.primitives.serialization",
                          fromlist=["PublicFormat"]).PublicFormat.SubjectPublicKeyInfo)
    header = {"alg": "HS256", "typ": "at+jwt", "kid": rsa_keys.signing.kid}
    signing_input = f"{b64(header)}.{b64(claims)}".encode()
    import hashlib
    import hmac as _hmac

    signature = base64.urlsafe_b64encode(
        _hmac.new(public_pem, signing_input, hashlib.sha256).digest()).rstrip(b"=").decode()
    with pytest.raises(tokens.TokenError):
        decode(f"{signing_input.decode()}.{signature}", rsa_keys)


@pytest.mark.parametrize("header", [
    {"alg": "HS256"},  # no typ, no kid
    {"alg": "HS256", "typ": "JWT"},
    {"alg": "HS256", "typ": "rt+jwt"},
])
def test_missing_or_wrong_typ_is_never_an_access_token(keys, header):
    claims = issue(keys).claims
    token = jwt.encode(claims, SECRET.encode(), algorithm="HS256",
                       headers={"kid": keys.signing.kid, **header})
    with pytest.raises(tokens.TokenError):
        decode(token, keys)


def test_type_claim_must_match(keys):
    claims = {**issue(keys).claims, "type": "refresh"}
    token = jwt.encode(claims, SECRET.encode(), algorithm="HS256",
                       headers={"kid": keys.signing.kid, "typ": "at+jwt"})
    with pytest.raises(tokens.TokenError, match="not an access token"):
        decode(token, keys)


def test_unknown_or_missing_kid(keys):
    claims = issue(keys).claims
    for headers in ({"typ": "at+jwt", "kid": "other"}, {"typ": "at+jwt"}):
        token = jwt.encode(claims, SECRET.encode(), algorithm="HS256", headers=headers)
        with pytest.raises(tokens.TokenError, match="known key"):
            decode(token, keys)
    # A kid that is not even a string (PyJWT refuses to write one, so forge it).
    header = b64({"alg": "HS256", "typ": "at+jwt", "kid": 5})
    with pytest.raises(tokens.TokenError):
        decode(f"{header}.{b64(claims)}.c2ln", keys)


def test_other_secret_same_kid_fails_signature(keys):
    claims = issue(keys).claims
    token = jwt.encode(claims, b"another secret entirely, 32 bytes+", algorithm="HS256",
                       headers={"kid": keys.signing.kid, "typ": "at+jwt"})
    with pytest.raises(tokens.TokenError, match="signature"):
        decode(token, keys)


@pytest.mark.parametrize("claim", ["iss", "sub", "iat", "nbf", "exp", "jti", "type", "sid",
                                   "fresh", "admin"])
def test_every_claim_is_required(keys, claim):
    claims = dict(issue(keys).claims)
    del claims[claim]
    token = jwt.encode(claims, SECRET.encode(), algorithm="HS256",
                       headers={"kid": keys.signing.kid, "typ": "at+jwt"})
    with pytest.raises(tokens.TokenError):
        decode(token, keys)


def test_wrong_issuer(keys):
    with pytest.raises(tokens.TokenError, match="someone else"):
        decode(issue(keys, issuer="evil").token, keys)


def test_garbage_is_a_token_error(keys):
    for garbage in ("", "abc", "a.b.c", "eyJ.eyJ.sig"):
        with pytest.raises(tokens.TokenError):
            decode(garbage, keys)


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA"])
def test_asymmetric_round_trip_and_jwks(tmp_path, algorithm):
    pem = tmp_path / "key.pem"
    pem.write_bytes(generate_private_key_pem(algorithm))
    keys = KeySet(load_key_file(pem))
    issued = issue(keys)
    assert jwt.get_unverified_header(issued.token)["alg"] == algorithm
    assert decode(issued.token, keys)["sub"] == "user-1"
    (jwk,) = keys.jwks()["keys"]
    assert jwk["kid"] == keys.signing.kid and jwk["alg"] == algorithm and jwk["use"] == "sig"
    assert "d" not in jwk  # never the private part
    public = jwt.PyJWK(jwk)
    assert jwt.decode(issued.token, public.key, algorithms=[algorithm],
                      issuer="usergate", options={"verify_exp": False, "verify_iat": False,
                                               "verify_nbf": False})["sid"] == "sid-1"


def test_hs256_publishes_no_keys(keys):
    assert keys.jwks() == {"keys": []}


# The verified-token cache (tokens._VERIFIED): a repeated token skips parsing and the
# signature, never the clock, and never crosses key sets, issuers or token kinds.


def test_a_remembered_token_still_expires(keys):
    token = issue(keys).token
    assert decode(token, keys)["sub"] == "user-1"
    with pytest.raises(tokens.TokenExpiredError):
        decode(token, keys, now=NOW + 900)
    with pytest.raises(tokens.TokenError, match="not valid yet"):
        decode(token, keys, now=NOW - 10)


def test_a_remembered_token_is_checked_again_for_another_key_set_issuer_or_kind(keys):
    token = issue(keys).token
    assert decode(token, keys)["sub"] == "user-1"
    with pytest.raises(tokens.TokenError, match="known key"):
        decode(token, KeySet(hmac_key("another-secret-of-at-least-32-bytes!!")))
    with pytest.raises(tokens.TokenError, match="someone else"):
        decode(token, keys, issuer="not-usergate")
    with pytest.raises(tokens.TokenError, match="not an refresh token"):
        decode(token, keys, kind=tokens.REFRESH)
    # The same secret in a new key set (a restarted app) verifies on its own.
    assert decode(token, KeySet(hmac_key(SECRET)))["sub"] == "user-1"


def test_remembered_claims_cannot_be_changed_by_a_caller(keys):
    token = issue(keys).token
    decode(token, keys)["sub"] = "someone-else"
    assert decode(token, keys)["sub"] == "user-1"


def test_failures_are_not_remembered_and_the_cache_is_bounded(keys, monkeypatch):
    monkeypatch.setattr(tokens, "VERIFIED_CACHE_SIZE", 8)
    forged = issue(keys).token[:-4] + "AAAA"
    for _ in range(2):
        with pytest.raises(tokens.TokenError, match="signature"):
            decode(forged, keys)
    for n in range(20):
        decode(issue(keys, subject=f"user-{n}").token, keys)
    assert len(tokens._VERIFIED) <= 8
    assert not any(key[0] == __import__("hashlib").sha256(forged.encode()).digest()
                   for key in tokens._VERIFIED)
