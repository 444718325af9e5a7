"""Signing keys: rotation by kid, the JWKS document, unknown or missing kids, keys generate.

Every app built here shares one database (make_app's tmp_path), like several
deployments of one service during a key rotation. All apps are built before
the first request, because on PostgreSQL building an app resets the tables.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import RSAAlgorithm

from helpers.accounts import AuthActions
from helpers.problems import assert_invalid_token
from helpers.tokens import b64, bearer, claims_of, header_of
from usergate.security.keys import KeyFileError, generate_private_key_pem, load_key_file

API = "/api/v1/auth"
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k"}
MEMBERS = {"RS256": {"kty", "n", "e"}, "ES256": {"kty", "crv", "x", "y"},
           "EdDSA": {"kty", "crv", "x"}}
KTY = {"RS256": "RSA", "ES256": "EC", "EdDSA": "OKP"}


def write_key(tmp_path, name: str, algorithm: str) -> str:
    path = tmp_path / f"{name}.pem"
    path.write_bytes(generate_private_key_pem(algorithm))
    return str(path)


def write_public(tmp_path, private_file: str) -> str:
    """The public half only: all a retired key needs to keep verifying."""
    private = serialization.load_pem_private_key(open(private_file, "rb").read(), None)
    path = tmp_path / (os.path.basename(private_file) + ".pub")
    path.write_bytes(private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return str(path)


def jwks_of(client) -> dict:
    response = client.get(f"{API}/jwks.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def kids_of(client) -> set[str]:
    return {key["kid"] for key in jwks_of(client)["keys"]}


# --- rotation -------------------------------------------------------------------------


@pytest.mark.parametrize(("old_alg", "new_alg"), [
    ("ES256", "ES256"),
    ("RS256", "RS256"),
    ("EdDSA", "EdDSA"),
    ("RS256", "ES256"),  # a rotation may change the algorithm too
])
def test_rotation_keeps_old_tokens_until_the_old_key_is_removed(make_app, tmp_path,
                                                                old_alg, new_alg):
    key_a = write_key(tmp_path, "a", old_alg)
    key_b = write_key(tmp_path, "b", new_alg)
    kid_a, kid_b = load_key_file(key_a).kid, load_key_file(key_b).kid
    # Step 1: A signs. Step 2: B signs, A only verifies. Step 3: A is gone.
    app_a = make_app(JWT_ALGORITHM=old_alg, JWT_PRIVATE_KEY_FILE=key_a)
    app_ab = make_app(JWT_ALGORITHM=new_alg, JWT_PRIVATE_KEY_FILE=key_b,
                      JWT_VERIFY_KEY_FILES=write_public(tmp_path, key_a))
    app_b = make_app(JWT_ALGORITHM=new_alg, JWT_PRIVATE_KEY_FILE=key_b)
    client_a, client_ab, client_b = (a.test_client() for a in (app_a, app_ab, app_b))

    old = AuthActions(app_a, client_a).register("ada@example.com")
    assert header_of(old.access) == {"alg": old_alg, "typ": "at+jwt", "kid": kid_a}
    assert header_of(old.refresh)["kid"] == kid_a
    assert kids_of(client_a) == {kid_a}

    # B signs now; A's tokens still verify, for access and refresh alike.
    assert client_ab.get(f"{API}/user", headers=bearer(old.access)).status_code == 200
    refreshed = client_ab.post(f"{API}/refresh", headers=bearer(old.refresh))
    assert refreshed.status_code == 200
    new_access = refreshed.get_json()["access_token"]
    assert header_of(new_access) == {"alg": new_alg, "typ": "at+jwt", "kid": kid_b}
    login = AuthActions(app_ab, client_ab).login("ada@example.com")
    assert header_of(login.access)["kid"] == kid_b
    assert kids_of(client_ab) == {kid_a, kid_b}

    # A removed: its tokens stop verifying (401 invalid_token, not a 500); B's work.
    assert_invalid_token(client_b.get(f"{API}/user", headers=bearer(old.access)))
    assert client_b.get(f"{API}/user", headers=bearer(new_access)).status_code == 200
    assert client_b.post(f"{API}/refresh", headers=login.refresh_headers).status_code == 200
    assert kids_of(client_b) == {kid_b}

    # And a deployment still on A alone does not know B.
    assert_invalid_token(client_a.get(f"{API}/user", headers=bearer(new_access)))


def test_a_new_key_can_be_published_before_it_signs(make_app, tmp_path):
    """Pre-publishing: B in JWT_VERIFY_KEY_FILES while A still signs, so every
    resource server has B cached before the first token signed by B exists."""
    key_a, key_b = write_key(tmp_path, "a", "ES256"), write_key(tmp_path, "b", "ES256")
    app = make_app(JWT_ALGORITHM="ES256", JWT_PRIVATE_KEY_FILE=key_a,
                   JWT_VERIFY_KEY_FILES=f" {key_b} , ")
    client = app.test_client()
    assert kids_of(client) == {load_key_file(key_a).kid, load_key_file(key_b).kid}
    tokens = AuthActions(app, client).register()
    assert header_of(tokens.access)["kid"] == load_key_file(key_a).kid


# --- the JWKS document ----------------------------------------------------------------


def test_jwks_is_empty_under_hs256(client, auth):
    tokens = auth.register()
    assert header_of(tokens.access)["alg"] == "HS256"
    response = client.get(f"{API}/jwks.json")
    assert response.status_code == 200
    assert response.get_json() == {"keys": []}
    assert "no-store" not in response.headers.get("Cache-Control", "")


@pytest.mark.parametrize("algorithm", ["ES256", "RS256", "EdDSA"])
def test_jwks_members_and_verifying_with_them(make_app, tmp_path, algorithm):
    key_file = write_key(tmp_path, "signer", algorithm)
    app = make_app(JWT_ALGORITHM=algorithm, JWT_PRIVATE_KEY_FILE=key_file)
    client = app.test_client()
    tokens = AuthActions(app, client).register()

    # No token needed: the keys are public.
    (jwk,) = jwks_of(client)["keys"]
    assert set(jwk) == MEMBERS[algorithm] | {"kid", "alg", "use"}
    assert not PRIVATE_MEMBERS & set(jwk)
    assert jwk["kty"] == KTY[algorithm]
    assert jwk["alg"] == algorithm and jwk["use"] == "sig"
    assert jwk.get("crv") == {"ES256": "P-256", "EdDSA": "Ed25519"}.get(algorithm)
    assert jwk["kid"] == header_of(tokens.access)["kid"]
    # The kid is the RFC 7638 thumbprint of the published members.
    required = {k: jwk[k] for k in sorted(MEMBERS[algorithm] | ({"crv"} & set(jwk)))}
    digest = hashlib.sha256(json.dumps(required, separators=(",", ":"),
                                       sort_keys=True).encode()).digest()
    assert jwk["kid"] == b64(digest)

    # Anyone holding the JWKS alone can verify the token.
    key = jwt.PyJWK(jwk)
    claims = jwt.decode(tokens.access, key, algorithms=[algorithm], issuer="usergate")
    assert claims["type"] == "access"


def test_kid_is_the_rfc7638_thumbprint(tmp_path):
    # The example key and thumbprint of RFC 7638 §3.1.
    jwk = {"kty": "RSA", "e": "AQAB", "n": (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSo"
        "c_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YG"
        "jQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrd"
        "kt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzK"
        "nqDKgw")}
    public = RSAAlgorithm.from_jwk(jwk)
    path = tmp_path / "rfc7638.pub"
    path.write_bytes(public.public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo))
    assert load_key_file(path).kid == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


# --- unknown, missing and odd kids: 401 invalid_token, never a 500 -----------------------


@pytest.fixture
def es256(make_app, tmp_path):
    key_file = write_key(tmp_path, "signer", "ES256")
    app = make_app(JWT_ALGORITHM="ES256", JWT_PRIVATE_KEY_FILE=key_file)
    client = app.test_client()
    tokens = AuthActions(app, client).register()
    private = serialization.load_pem_private_key(open(key_file, "rb").read(), None)
    return app, client, tokens, private, load_key_file(key_file).kid


def _sign(claims: dict, key, algorithm: str, header: dict) -> str:
    """Sign by hand: PyJWT itself refuses to write some of these headers."""
    signing_input = (f"{b64(json.dumps({'alg': algorithm, **header}).encode())}."
                     f"{b64(json.dumps(claims).encode())}")
    signature = jwt.get_algorithm_by_name(algorithm).sign(signing_input.encode(), key)
    return f"{signing_input}.{b64(signature)}"


def _forgeries(tokens, private, kid, app) -> dict[str, tuple[str, str]]:
    """name -> (access-like token, refresh-like token), each signed correctly but odd."""
    from cryptography.hazmat.primitives.asymmetric import ec

    foreign = ec.generate_private_key(ec.SECP256R1())
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    secret = app.config["SECRET_KEY"].encode()
    out = {}
    for kind, token, typ in (("access", tokens.access, "at+jwt"),
                             ("refresh", tokens.refresh, "rt+jwt")):
        claims = claims_of(token)
        made = {
            "unknown kid": _sign(claims, private, "ES256", {"kid": "no-such-key", "typ": typ}),
            "no kid": _sign(claims, private, "ES256", {"typ": typ}),
            "numeric kid": _sign(claims, private, "ES256", {"kid": 7, "typ": typ}),
            "null kid": _sign(claims, private, "ES256", {"kid": None, "typ": typ}),
            "list kid": _sign(claims, private, "ES256", {"kid": [kid], "typ": typ}),
            "empty kid": _sign(claims, private, "ES256", {"kid": "", "typ": typ}),
            "foreign key, our kid": _sign(claims, foreign, "ES256", {"kid": kid, "typ": typ}),
            "HS256 with the secret key": _sign(claims, secret, "HS256", {"typ": typ}),
            "alg none, our kid": _unsigned(claims, {"alg": "none", "kid": kid, "typ": typ}),
            "HS256 keyed with our public key": _hs256_with(public_pem, claims,
                                                           {"kid": kid, "typ": typ}),
            "our key, header typ missing": _sign(claims, private, "ES256", {"kid": kid}),
        }
        for name, forged in made.items():
            out.setdefault(name, {})[kind] = forged
    return {name: (pair["access"], pair["refresh"]) for name, pair in out.items()}


def _unsigned(claims: dict, header: dict) -> str:
    return (f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}.")


def _hs256_with(key: bytes, claims: dict, header: dict) -> str:
    """The classic algorithm confusion: HMAC keyed with the public key's PEM."""
    signing_input = (f"{b64(json.dumps({'alg': 'HS256', **header}).encode())}."
                     f"{b64(json.dumps(claims).encode())}")
    mac = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


FORGERY_NAMES = ["unknown kid", "no kid", "numeric kid", "null kid", "list kid", "empty kid",
                 "foreign key, our kid", "HS256 with the secret key", "alg none, our kid",
                 "HS256 keyed with our public key", "our key, header typ missing"]


@pytest.mark.parametrize("name", FORGERY_NAMES)
def test_odd_kids_and_foreign_signatures_are_401_invalid_token(es256, name):
    app, client, tokens, private, kid = es256
    access, refresh = _forgeries(tokens, private, kid, app)[name]
    assert_invalid_token(client.get(f"{API}/user", headers=bearer(access)))
    assert_invalid_token(client.post(f"{API}/refresh", headers=bearer(refresh)))
    grant = client.post(f"{API}/token", data={"grant_type": "refresh_token",
                                              "refresh_token": refresh})
    assert grant.status_code == 400
    assert grant.get_json()["error"] == "invalid_grant"
    # The genuine tokens of the same session are untouched by the attempt.
    assert client.get(f"{API}/user", headers=tokens.headers).status_code == 200


def test_the_hand_signing_helper_makes_tokens_that_verify(es256):
    """The control for the test above: with our key, kid and typ a hand-signed token works,
    so each rejection there is down to the one thing that was changed."""
    app, client, tokens, private, kid = es256
    access = _sign(claims_of(tokens.access), private, "ES256", {"kid": kid, "typ": "at+jwt"})
    assert client.get(f"{API}/user", headers=bearer(access)).status_code == 200


@pytest.mark.parametrize("header", [{"kid": "hs-0000000000000000"}, {}])
def test_hs256_rejects_a_kid_that_is_not_the_configured_one(client, auth, app, header):
    tokens = auth.register()
    claims = claims_of(tokens.access)
    forged = jwt.encode(claims, app.config["SECRET_KEY"].encode(), algorithm="HS256",
                        headers={"typ": "at+jwt", **header})
    assert_invalid_token(client.get(f"{API}/user", headers=bearer(forged)))


# --- configuration and the keys generate command --------------------------------------


def test_key_configuration_errors_stop_the_app_at_start(make_app, tmp_path):
    es = write_key(tmp_path, "es", "ES256")
    with pytest.raises(KeyFileError, match="cannot read"):
        make_app(JWT_ALGORITHM="ES256", JWT_PRIVATE_KEY_FILE=es,
                 JWT_VERIFY_KEY_FILES=str(tmp_path / "missing.pem"))
    with pytest.raises(KeyFileError, match="RS256 but"):
        make_app(JWT_ALGORITHM="RS256", JWT_PRIVATE_KEY_FILE=es)
    with pytest.raises(KeyFileError, match="private key"):
        make_app(JWT_ALGORITHM="ES256", JWT_PRIVATE_KEY_FILE=write_public(tmp_path, es))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    with pytest.raises(KeyFileError):
        make_app(JWT_ALGORITHM="ES256", JWT_PRIVATE_KEY_FILE=str(garbage))


@pytest.mark.parametrize("algorithm", ["ES256", "EdDSA", "RS256"])
def test_keys_generate_writes_a_private_key_that_signs(app, make_app, tmp_path, algorithm):
    target = tmp_path / "keys" / "generated.pem"  # the folder is made as needed
    result = app.test_cli_runner().invoke(
        args=["keys", "generate", "--algorithm", algorithm, "--out", str(target)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(target.parent).st_mode) == 0o700
    kid = load_key_file(target).kid
    assert f"kid {kid}" in result.output

    again = app.test_cli_runner().invoke(
        args=["keys", "generate", "--algorithm", algorithm, "--out", str(target)])
    assert again.exit_code != 0 and "not overwriting" in again.output

    signer = make_app(JWT_ALGORITHM=algorithm, JWT_PRIVATE_KEY_FILE=str(target))
    tokens = AuthActions(signer, signer.test_client()).register()
    assert header_of(tokens.access) == {"alg": algorithm, "typ": "at+jwt", "kid": kid}
