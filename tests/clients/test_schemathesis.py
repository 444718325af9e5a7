"""schemathesis (4.x) against the served /api/v1/swagger.json of a live usergate.

``schemathesis run`` tests every operation of the spec (its examples, the coverage
phase's boundary and invalid values, random fuzzing, and stateful sequences that
feed one response's ids into the next request), once as a normal user and once as
an admin, and checks every response for

- ``not_a_server_error``: no 5xx;
- ``status_code_conformance``: only documented status codes;
- ``content_type_conformance`` (``..._or_bare_204``, see schemathesis_hooks.py);
- ``response_headers_conformance``: documented headers (Location, Link) as declared;
- ``response_schema_conformance``: the body matches the documented schema;
- ``negative_data_rejection``, ``missing_required_header``, ``ignored_auth``,
  ``use_after_free``, ``ensure_resource_availability``, ``unsupported_method``,
  ``allow_header_conformance``: invalid input is refused with a 4xx, a request without
  the token is a 401, a deleted resource stays gone, a created one can be read, an
  undocumented method is a 405 with ``Allow``.

(``positive_data_acceptance`` is left out: a well-formed but wrong ``current_password``
is a 400 naming that field by contract, which that check reads as a rejected valid request.)

Every request signs in afresh (schemathesis_hooks.FreshSignIn). Rate limits are off
on this server. Bounded: ``USERGATE_SCHEMATHESIS_EXAMPLES`` (default 10) examples per
operation and a fixed seed (``USERGATE_SCHEMATHESIS_SEED``), so CI is repeatable.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from clients_support import REPO, LiveServer

HERE = Path(__file__).resolve().parent
MAX_EXAMPLES = os.environ.get("USERGATE_SCHEMATHESIS_EXAMPLES", "10")
SEED = os.environ.get("USERGATE_SCHEMATHESIS_SEED", "20261124")
CHECKS = ",".join([
    "not_a_server_error", "status_code_conformance", "content_type_conformance_or_bare_204",
    "response_headers_conformance", "response_schema_conformance",
    # Invalid input is refused, a missing token is a 401, a deleted thing stays gone,
    # an undocumented method is a 405 with Allow.
    "negative_data_rejection", "missing_required_header", "ignored_auth", "use_after_free",
    "ensure_resource_availability", "unsupported_method", "allow_header_conformance",
])
# Passwords unlike any example in the spec, so no generated request can guess them.
ROLES = {
    "user": ("st.user@example.org", "schemathesis user pw 1"),
    "admin": ("st.admin@example.org", "schemathesis admin pw 1"),
}


def schemathesis_cli() -> list[str]:
    beside = Path(sys.executable).with_name("schemathesis")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("schemathesis")
    assert found, "schemathesis is in the test extra: pip install -e '.[test]'"
    return [found]


@pytest.fixture(scope="module")
def st_server(tmp_path_factory):
    server = LiveServer(tmp_path_factory.mktemp("usergate-schemathesis")).start()
    server.create_user(*ROLES["admin"], admin=True)
    yield server
    server.stop()


def summary(output: str) -> dict:
    selected = re.search(r"Selected:\s+(\d+)/(\d+)", output)
    tested = re.search(r"Tested:\s+(\d+)", output)
    cases = re.search(r"(\d+) generated, (\d+) passed", output)
    return {"selected": int(selected.group(1)), "total": int(selected.group(2)),
            "tested": int(tested.group(1)), "cases": int(cases.group(1)),
            "passed": int(cases.group(2))}


@pytest.mark.parametrize("role", ["user", "admin"])
def test_schemathesis_finds_no_failure(st_server, role, tmp_path, capsys):
    email, password = ROLES[role]
    env = {**st_server.env,
           "PYTHONPATH": os.pathsep.join([str(HERE), st_server.env.get("PYTHONPATH", "")]),
           "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
           "USERGATE_ST_API": st_server.api, "USERGATE_ST_ROLE": role,
           "USERGATE_ST_EMAIL": email, "USERGATE_ST_PASSWORD": password,
           "USERGATE_ST_RUN_PY": str(REPO / "run.py"),
           "NO_COLOR": "1", "COLUMNS": "100"}
    if role == "user":
        st_server.register(email, password)
    command = [*schemathesis_cli(), "run", f"{st_server.api}/swagger.json",
               "--checks", CHECKS, "--max-examples", MAX_EXAMPLES, "--seed", SEED,
               "--workers", "1", "--request-timeout", "30", "--no-color",
               "--phases", "examples,coverage,fuzzing,stateful",
               "--report", "junit", "--report-dir", str(tmp_path)]
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-20000:]
    numbers = summary(output)
    assert numbers["selected"] == numbers["total"] == numbers["tested"], output[-3000:]
    assert numbers["cases"] == numbers["passed"] > 0, output[-3000:]
    with capsys.disabled():
        print(f"\nschemathesis as {role}: {numbers['tested']}/{numbers['total']} operations "
              f"tested, {numbers['cases']} test cases, 0 failures "
              f"(checks {CHECKS}; max examples {MAX_EXAMPLES}, seed {SEED})")


def test_served_spec_is_valid_swagger_2(st_server):
    """The spec schemathesis reads, as served, validates against the Swagger 2.0 schema."""
    from flask_restx.schemas import validate

    spec = httpx.get(f"{st_server.api}/swagger.json", timeout=10).json()
    assert validate(spec)
    assert spec["produces"] == ["application/json", "application/problem+json"]
    assert spec["definitions"]["UserPublic"]["properties"]["name"]["x-nullable"] is True
