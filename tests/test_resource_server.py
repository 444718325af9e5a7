"""examples/resource_server.py against a live usergate (ES256, real HTTP).

usergate runs in a thread on 127.0.0.1 and a free port (werkzeug's
make_server); the example service knows only its JWKS URL and fetches the keys
over HTTP with PyJWT's PyJWKClient.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from helpers.accounts import PASSWORD
from helpers.live import ThreadServer
from helpers.net import free_port, wait_for_health
from helpers.settings import clean_env
from helpers.tokens import b64, bearer, claims_of
from usergate import clock
from usergate.security.keys import generate_private_key_pem, load_key_file

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "resource_server.py"
REALM = 'Bearer realm="example-resource"'


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("resource_server_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class LiveUsergate(ThreadServer):
    """usergate serving in a thread; `app` can be swapped, like a redeploy at one URL."""

    def __init__(self, app, key_file: str):
        super().__init__(app)
        self.key_file = key_file

    @property
    def jwks_url(self) -> str:
        return f"{self.api}/auth/jwks.json"


def new_key_file(path: Path, algorithm: str = "ES256") -> Path:
    path.write_bytes(generate_private_key_pem(algorithm))
    return path


@pytest.fixture
def usergate(request, make_app, tmp_path):
    algorithm = getattr(request, "param", "ES256")
    key_file = new_key_file(tmp_path / "signing.pem", algorithm)
    app = make_app(JWT_ALGORITHM=algorithm, JWT_PRIVATE_KEY_FILE=str(key_file))
    live = LiveUsergate(app, str(key_file)).start()
    yield live
    live.stop()
    clock.reset()


def deployment(make_app, *, signs, verifies):
    """usergate as deployed with key file `signs` signing and `verifies` published too."""
    return make_app(JWT_ALGORITHM="ES256", JWT_PRIVATE_KEY_FILE=str(signs),
                    JWT_VERIFY_KEY_FILES=str(verifies))


def service_that_accepted_ada(example, usergate, *, cooldown_seconds: int):
    """Ada registers and the example service (with this cooldown) accepts her token."""
    tokens = usergate.register()
    service = example.create_app(usergate.jwks_url,
                                 cooldown_seconds=cooldown_seconds).test_client()
    assert service.get("/whoami", headers=bearer(tokens["access_token"])).status_code == 200
    return service, tokens


def redeploy_and_sign_in(usergate, app) -> httpx.Response:
    """usergate redeployed as `app` at the same URL, then Ada signs in there."""
    usergate.app = app
    with usergate.http() as http:
        return http.post("/auth/login", json={"email": "ada@example.com", "password": PASSWORD})


def sign(claims: dict, key, algorithm: str, header: dict) -> str:
    signing_input = (f"{b64(json.dumps({'alg': algorithm, **header}).encode())}."
                     f"{b64(json.dumps(claims).encode())}")
    signature = jwt.get_algorithm_by_name(algorithm).sign(signing_input.encode(), key)
    return f"{signing_input}.{b64(signature)}"


def assert_invalid_token(response, words: str) -> None:
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith(REALM + ', error="invalid_token", error_description="')
    assert words in response.get_json()["detail"]


# --- the example stands alone -----------------------------------------------------------


def test_the_example_imports_nothing_from_usergate():
    tree = ast.parse(EXAMPLE.read_text())
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            modules.add(node.module or "")
    assert not {m for m in modules if m.split(".")[0] == "usergate"}
    assert "jwt" in modules


def test_the_example_refuses_shared_secret_algorithms(example):
    with pytest.raises(ValueError, match="algorithms"):
        example.TokenVerifier("http://127.0.0.1:1/jwks.json", algorithms=("HS256",))
    with pytest.raises(ValueError, match="algorithms"):
        example.TokenVerifier("http://127.0.0.1:1/jwks.json", algorithms=("ES256", "none"))


# --- against a live usergate ------------------------------------------------------------


def test_accepts_a_valid_access_token(usergate, example):
    tokens = usergate.register()
    with usergate.http() as http:
        me = http.get("/auth/user", headers=bearer(tokens["access_token"])).json()
        jwks = http.get("/auth/jwks.json").json()
    assert [key["kid"] for key in jwks["keys"]] == [load_key_file(usergate.key_file).kid]

    service = example.create_app(usergate.jwks_url).test_client()
    response = service.get("/whoami", headers=bearer(tokens["access_token"]))
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["user_id"] == me["id"]
    assert body["session_id"] == me["session_id"]
    assert body["admin"] is False and body["fresh"] is True

    # A refreshed (not fresh) access token is an access token all the same.
    with usergate.http() as http:
        refreshed = http.post("/auth/refresh", headers=bearer(tokens["refresh_token"])).json()
    response = service.get("/whoami", headers=bearer(refreshed["access_token"]))
    assert response.status_code == 200
    assert response.get_json()["fresh"] is False


@pytest.mark.parametrize("usergate", ["RS256", "EdDSA"], indirect=True)
def test_accepts_tokens_of_the_other_algorithms_too(usergate, example):
    tokens = usergate.register()
    service = example.create_app(usergate.jwks_url).test_client()
    response = service.get("/whoami", headers=bearer(tokens["access_token"]))
    assert response.status_code == 200, response.get_data(as_text=True)
    # ...unless the resource server does not allow that algorithm.
    strict = example.create_app(usergate.jwks_url, algorithms=("ES256",)).test_client()
    assert_invalid_token(strict.get("/whoami", headers=bearer(tokens["access_token"])),
                         "algorithm")


def test_rejects_an_expired_token(usergate, example):
    # usergate's clock an hour back: it issues a genuine token that expired 45 min ago.
    clock.advance(-3600)
    tokens = usergate.register()
    clock.reset()
    assert claims_of(tokens["access_token"])["exp"] < time.time()

    service = example.create_app(usergate.jwks_url).test_client()
    assert_invalid_token(service.get("/whoami", headers=bearer(tokens["access_token"])),
                         "expired")
    # usergate agrees.
    with usergate.http() as http:
        assert http.get("/auth/user", headers=bearer(tokens["access_token"])).status_code == 401


def _foreign_tokens(usergate, tokens) -> dict[str, tuple[str, str]]:
    """name -> (token, words of the expected detail)."""
    ours = serialization.load_pem_private_key(Path(usergate.key_file).read_bytes(), None)
    kid = load_key_file(usergate.key_file).kid
    foreign = ec.generate_private_key(ec.SECP256R1())
    claims = claims_of(tokens["access_token"])
    secret = usergate.app.config["SECRET_KEY"].encode()
    return {
        "another key, usergate's kid": (
            sign(claims, foreign, "ES256", {"kid": kid, "typ": "at+jwt"}), "invalid"),
        "another key, its own kid": (
            sign(claims, foreign, "ES256", {"kid": "someone-elses-key", "typ": "at+jwt"}),
            "not signed by a known key"),
        "HS256 with usergate's secret": (
            sign(claims, secret, "HS256", {"kid": kid, "typ": "at+jwt"}), "algorithm"),
        "no kid": (sign(claims, ours, "ES256", {"typ": "at+jwt"}), "names no signing key"),
        "another issuer": (
            sign({**claims, "iss": "someone-else"}, ours, "ES256", {"kid": kid, "typ": "at+jwt"}),
            "issued by someone else"),
        "no typ": (sign(claims, ours, "ES256", {"kid": kid}), "not an access token"),
        "type refresh": (sign({**claims, "type": "refresh"}, ours, "ES256",
                              {"kid": kid, "typ": "at+jwt"}), "not an access token"),
        "usergate's refresh token": (tokens["refresh_token"], "not an access token"),
        "a claim missing": (sign({k: v for k, v in claims.items() if k != "sid"}, ours,
                                 "ES256", {"kid": kid, "typ": "at+jwt"}), "sid"),
        "garbage": ("not.a.token", "malformed"),
    }


FOREIGN = ["another key, usergate's kid", "another key, its own kid",
           "HS256 with usergate's secret", "no kid", "another issuer", "no typ",
           "type refresh", "usergate's refresh token", "a claim missing", "garbage"]


@pytest.mark.parametrize("name", FOREIGN)
def test_rejects_foreign_and_mistyped_tokens(usergate, example, name):
    tokens = usergate.register()
    service = example.create_app(usergate.jwks_url).test_client()
    token, words = _foreign_tokens(usergate, tokens)[name]
    assert_invalid_token(service.get("/whoami", headers=bearer(token)), words)
    # The genuine token keeps working, so each rejection is down to the forgery.
    assert service.get("/whoami", headers=bearer(tokens["access_token"])).status_code == 200


def test_a_hand_signed_token_with_usergates_key_is_accepted(usergate, example):
    """The control for the forgeries: the signing helper itself makes valid tokens."""
    tokens = usergate.register()
    ours = serialization.load_pem_private_key(Path(usergate.key_file).read_bytes(), None)
    token = sign(claims_of(tokens["access_token"]), ours, "ES256",
                 {"kid": load_key_file(usergate.key_file).kid, "typ": "at+jwt"})
    service = example.create_app(usergate.jwks_url).test_client()
    assert service.get("/whoami", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize(("authorization", "status", "error"), [
    (None, 401, None),
    ("Basic dXNlcjpwdw==", 401, None),
    ("Bearer", 400, "invalid_request"),
    ("Bearer two tokens", 400, "invalid_request"),
    ('Bearer "quoted"', 400, "invalid_request"),
])
def test_rfc6750_errors_for_missing_or_malformed_credentials(usergate, example,
                                                            authorization, status, error):
    service = example.create_app(usergate.jwks_url).test_client()
    headers = {"Authorization": authorization} if authorization else {}
    response = service.get("/whoami", headers=headers)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    challenge = response.headers["WWW-Authenticate"]
    if error is None:
        assert challenge == REALM  # RFC 6750 §3.1: no error code without credentials
    else:
        assert challenge.startswith(f'{REALM}, error="{error}"')


def test_keeps_verifying_from_its_cache_while_usergate_is_down(usergate, example):
    tokens = usergate.register()
    warm = example.create_app(usergate.jwks_url).test_client()
    assert warm.get("/whoami", headers=bearer(tokens["access_token"])).status_code == 200
    cold = example.create_app(usergate.jwks_url).test_client()

    usergate.stop()
    # The keys it fetched are cached: verification needs no round trip.
    assert warm.get("/whoami", headers=bearer(tokens["access_token"])).status_code == 200
    # One that never fetched the keys cannot verify: 503, not a 401 or a 500.
    response = cold.get("/whoami", headers=bearer(tokens["access_token"]))
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"]


def test_an_unknown_kid_refetches_at_most_once_per_cooldown(usergate, example, make_app,
                                                            tmp_path):
    key_b = new_key_file(tmp_path / "b.pem")
    rotated = deployment(make_app, signs=str(key_b), verifies=usergate.key_file)
    service, old = service_that_accepted_ada(example, usergate, cooldown_seconds=3600)
    new = redeploy_and_sign_in(usergate, rotated)
    # Within the cooldown the cached set is all it has: B is unknown for now. This is
    # why a new key is published (JWT_VERIFY_KEY_FILES) before it signs.
    assert_invalid_token(service.get("/whoami", headers=bearer(new.json()["access_token"])),
                         "not signed by a known key")


def test_a_pre_published_key_needs_no_refetch(usergate, example, make_app, tmp_path):
    """The rotation of docs/resource-server.md: publish B, wait a cache lifetime, sign with B."""
    key_b = new_key_file(tmp_path / "b.pem")
    published = deployment(make_app, signs=usergate.key_file, verifies=str(key_b))
    signing = deployment(make_app, signs=str(key_b), verifies=usergate.key_file)
    usergate.app = published
    service, old = service_that_accepted_ada(example, usergate, cooldown_seconds=3600)

    new = redeploy_and_sign_in(usergate, signing)
    assert jwt.get_unverified_header(new.json()["access_token"])["kid"] == \
        load_key_file(key_b).kid
    assert service.get("/whoami", headers=bearer(new.json()["access_token"])).status_code == 200
    assert service.get("/whoami", headers=bearer(old["access_token"])).status_code == 200


def test_picks_up_a_new_signing_key_after_a_rotation(usergate, example, make_app, tmp_path):
    key_b = new_key_file(tmp_path / "b.pem")
    # Built before the first request: on PostgreSQL building an app resets the tables.
    rotated = deployment(make_app, signs=str(key_b), verifies=usergate.key_file)
    # No cooldown, so the refetch on an unknown kid happens at once in this test.
    service, old = service_that_accepted_ada(example, usergate, cooldown_seconds=0)

    # usergate redeployed: B signs, A still verifies
    new = redeploy_and_sign_in(usergate, rotated)
    assert new.status_code == 200
    new_token = new.json()["access_token"]
    assert jwt.get_unverified_header(new_token)["kid"] == load_key_file(key_b).kid

    # B's kid is unknown to the cached set: the service fetches the JWKS again.
    assert service.get("/whoami", headers=bearer(new_token)).status_code == 200
    assert service.get("/whoami", headers=bearer(old["access_token"])).status_code == 200


def test_the_example_runs_as_its_own_process(usergate, tmp_path):
    tokens = usergate.register()
    port = free_port()
    env = clean_env(USERGATE_JWKS_URL=usergate.jwks_url, RESOURCE_PORT=port)
    log = open(tmp_path / "resource_server.log", "w+")
    process = subprocess.Popen([sys.executable, str(EXAMPLE)], env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        # Wait for it to listen (a readiness poll, not a timing assertion).
        wait_for_health(base, process, seconds=30, path="/health")
        with httpx.Client(base_url=base, trust_env=False, timeout=10) as http:
            ok = http.get("/whoami", headers=bearer(tokens["access_token"]))
            assert ok.status_code == 200, ok.text
            assert ok.json()["session_id"] == claims_of(tokens["access_token"])["sid"]
            refused = http.get("/whoami", headers=bearer(tokens["refresh_token"]))
            assert refused.status_code == 401
            assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
