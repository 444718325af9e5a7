"""Property-based: adversarial text in every string field, absurd values in every number.

The cases come from the app itself: the served Swagger document lists every
operation, and for each one its body model's string, number, integer and boolean
fields (`$ref` resolved into `definitions`), its query, form and path parameters.
Hypothesis picks an (operation, field) pair and sends into that one field text a
careless or hostile client might: NUL, lone surrogates, other control characters,
right-to-left marks, emoji, 10 000-character strings; or absurd numbers where the
API reads one; every other field holds a valid value (the operation's baseline).
The answer is never a 5xx; a 400 names the field; and any 4xx leaves every stored
row a refused request must not touch as it was.

A new endpoint is fuzzed without editing this file. Two guards keep that honest:
every operation of the document is fuzzed or excluded here with a reason, and the
baseline of every fuzzed operation succeeds (so the fuzz is not refused for a
missing token or field before it reaches the field it aims at).

Fixed seed (derandomize) and a bounded number of examples, so CI runs the same
cases every time; on SQLite and, with TEST_DATABASE_URL, on PostgreSQL.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.orm import close_all_sessions

from mfa_support import code_at
from support import PASSWORD, AuthActions

API = "/api/v1"
ADDRESS = {"label": "Home", "line1": "12 Analytical Row", "line2": "Flat 3", "city": "London",
           "region": "Greater London", "postal_code": "W1 2AB", "country": "GB"}
# The rows a refused request must leave as they were. Not compared: login_failures,
# and the login_failed / account_locked audit events (see REFUSAL_EVENTS): a refused
# password or two-factor code is itself recorded, by design (docs/api.md §6.3), so a
# 401 of /auth/login or a wrong code at /auth/mfa/* legitimately adds a failure count
# row and those events. Any other audit event a 4xx stores is a defect.
TABLES = ("users", "sessions", "addresses", "token_blacklist", "mfa_totp",
          "mfa_recovery_codes", "link_tokens", "mail_outbox", "clients")
REFUSAL_EVENTS = ("login_failed", "account_locked")
_CATEGORIES = ("Cc", "Cs", "Cf", "Co", "Mn", "Zs", "Zl", "So", "Lu", "Ll", "Lo", "Nd")


def bounded(examples: int):
    """Fixed seed, no example database, a bounded number of examples."""
    return settings(derandomize=True, database=None, deadline=None, max_examples=examples,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


adversarial_text = st.one_of(
    st.sampled_from([
        "\x00", "a\x00b", "\ud800", "x\udfffy", "\udbff\udc00", "\x07\x1b[31m", "\r\n", "\t",
        "\u202eevil\u202c", "\u200f\u05e9\u05dc\u05d5\u05dd", "\ufeff", "😀" * 50, "👩‍👩‍👧‍👦",
        "", " ", "x" * 10_000, "😀" * 10_000, "\x00" * 10_000, "K", "STRASSE", "ß",
        "ada@example.com", "a" * 64 + "@example.com", "' OR 1=1 --", "%00", "\\u0000",
        "Ω" * 257, "é" * 8, "123456", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z",
        "2026-02-30T00:00:00Z", "2026-01-01T00:00:00+99:00",
        "00000000-0000-0000-0000-000000000000",
    ]),
    st.text(st.characters(categories=_CATEGORIES), max_size=40),
    st.builds(lambda ch, n: ch * n, st.characters(categories=_CATEGORIES),
              st.integers(1_000, 10_000)),
)
absurd_numbers = st.one_of(
    st.sampled_from([0, -1, 2**31, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**25, 10**300,
                     1e308, -1e308, 0.5, float("inf"), float("-inf"), float("nan")]),
    st.integers(), st.floats(allow_nan=True, allow_infinity=True),
)
absurd_number_strings = st.one_of(
    absurd_numbers.map(str),
    st.sampled_from(["", " ", "1e308", "NaN", "-0", "+1", "0x10", "1_000", "１", "٣", "½",
                     "9" * 4000, "9" * 4001, "0" * 5000 + "1", " 1 ", "1.0"]),
    adversarial_text,
)
FUZZABLE = ("string", "number", "integer", "boolean")


# --- the operations, from the served document ----------------------------------------

@dataclass(frozen=True)
class Field:
    location: str  # body, query, formData or path
    name: str
    type: str


@dataclass(frozen=True)
class Operation:
    key: str  # "METHOD /path" as the document spells it
    method: str
    path: str
    fields: tuple[Field, ...]
    secured: bool


def swagger(client) -> dict:
    response = client.get(f"{API}/swagger.json")
    assert response.status_code == 200
    return response.get_json()


def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["definitions"][schema["$ref"].rpartition("/")[2]]
    return schema


def _fields(spec: dict, parameters: list[dict]) -> tuple[Field, ...]:
    found = []
    for parameter in parameters:
        if parameter["in"] == "body":
            model = _resolve(spec, parameter["schema"])
            for name, prop in model.get("properties", {}).items():
                kind = _resolve(spec, prop).get("type")
                if kind in FUZZABLE:
                    found.append(Field("body", name, kind))
        elif parameter.get("type") in FUZZABLE:
            found.append(Field(parameter["in"], parameter["name"], parameter["type"]))
    return tuple(found)


def operations(spec: dict) -> dict[str, Operation]:
    found = {}
    for path, item in spec["paths"].items():
        shared = item.get("parameters", [])
        for method, op in item.items():
            if method == "parameters":
                continue
            key = f"{method.upper()} {path}"
            found[key] = Operation(key, method.upper(), path,
                                   _fields(spec, shared + op.get("parameters", [])),
                                   bool(op.get("security", spec.get("security"))))
    return found


# Operations with no field to fuzz, each with why. An entry here whose operation
# has gained a field fails test_every_operation_is_fuzzed_or_excluded.
EXCLUDED = {
    "GET /health": "takes no input",
    "GET /auth/jwks.json": "takes no input",
    "GET /auth/user": "takes no input (the token is covered by tests/test_bearer.py)",
    "POST /auth/logout": "takes no input",
    "POST /auth/logout-all": "takes no input",
    "POST /auth/email-verification": "takes no input",
    "POST /auth/mfa/totp": "takes no input",
}
# Who calls an operation of the document that is secured; "user" when not listed.
# user: a fresh user's access token (fresh: straight from registering); admin: an
# administrator's; mfa: the mfa token of the 401 mfa_required of a login of a user
# with two-factor on; refresh: the user's refresh token.
AUTH = {
    "GET /users": "admin", "POST /users": "admin", "GET /addresses": "admin",
    "GET /audit-events": "admin", "DELETE /users/{user_id}/mfa": "admin",
    "POST /auth/mfa/verify": "mfa", "POST /auth/refresh": "refresh",
}
# What the user of an operation needs before the request: an unconfirmed
# authenticator (enrolled) or two-factor on (mfa).
STATE = {
    "POST /auth/mfa/totp/confirm": "enrolled", "DELETE /auth/mfa/totp": "mfa",
    "POST /auth/mfa/recovery-codes": "mfa", "POST /auth/mfa/verify": "mfa",
    "DELETE /users/{user_id}/mfa": "mfa",
}


def _new_email(ctx) -> str:
    return f"new{ctx['n']}@example.com"


# The valid values the document cannot give (an email that is free, the user's
# password, a token of a mail link, a current code...), by operation: a dict of
# location -> {name: value}, or of such dicts by variant (the same operation
# called another way: the form body of /auth/login, another OAuth grant).
BASELINES = {
    "POST /auth/register": lambda ctx: {"body": {"email": _new_email(ctx)}},
    "POST /users": lambda ctx: {"body": {"email": _new_email(ctx)}},
    "POST /auth/login": lambda ctx: {
        "json": {"body": {"email": ctx["email"], "password": PASSWORD}},
        "form": {"formData": {"email": ctx["email"], "password": PASSWORD}}},
    "POST /auth/fresh-login": lambda ctx: {"body": {"password": PASSWORD}},
    "PUT /auth/password": lambda ctx: {"body": {"current_password": PASSWORD}},
    "PATCH /users/{user_id}": lambda ctx: {"body": {"name": "Ada King"}},
    "PATCH /addresses/{address_id}": lambda ctx: {"body": {"city": "Paris"}},
    "POST /auth/password-reset": lambda ctx: {"body": {"email": ctx["email"]}},
    "POST /auth/password-reset/confirm": lambda ctx: {
        "body": {"token": ctx["links"]["reset"]}},
    "POST /auth/email-verification/confirm": lambda ctx: {
        "body": {"token": ctx["links"]["verify"]}},
    "POST /auth/mfa/totp/confirm": lambda ctx: {"body": {"code": code_at(ctx["secret"])}},
    # A recovery code (accepted as `code`): a TOTP code's step may be spent already.
    "DELETE /auth/mfa/totp": lambda ctx: {"body": {"code": ctx["recovery"]}},
    "POST /auth/mfa/recovery-codes": lambda ctx: {"body": {"code": ctx["recovery"]}},
    "POST /auth/mfa/verify": lambda ctx: {"body": {"code": ctx["recovery"]}},
    "POST /auth/token": lambda ctx: {
        "password": {"formData": {"grant_type": "password", "username": ctx["email"],
                                  "password": PASSWORD}},
        "refresh_token": {"formData": {"grant_type": "refresh_token",
                                       "refresh_token": ctx["tokens"].refresh}}},
    "POST /auth/revoke": lambda ctx: {"formData": {
        "token": ctx["tokens"].access, "client_id": ctx["client"][0],
        "client_secret": ctx["client"][1]}},
    "POST /auth/introspect": lambda ctx: {"formData": {
        "token": ctx["tokens"].access, "client_id": ctx["client"][0],
        "client_secret": ctx["client"][1]}},
}
VARIANTS = {"POST /auth/login": ("form", "json"),
            "POST /auth/token": ("password", "refresh_token")}
# Variants whose fields are a form body although the document lists a JSON model.
AS_FORM = {("POST /auth/login", "form")}
# Errors of these follow RFC 6749 §5.2, not problem JSON.
OAUTH = ("/auth/token", "/auth/revoke", "/auth/introspect")


@dataclass(frozen=True)
class Case:
    operation: Operation
    variant: str | None
    fields: tuple[Field, ...]

    @property
    def label(self) -> str:
        return self.operation.key + (f" [{self.variant}]" if self.variant else "")


def cases(spec: dict) -> list[Case]:
    found = []
    for operation in operations(spec).values():
        if operation.key in EXCLUDED:
            continue
        for variant in VARIANTS.get(operation.key, (None,)):
            fields = operation.fields
            if (operation.key, variant) in AS_FORM:
                fields = tuple(Field("formData", f.name, f.type) if f.location == "body"
                               else f for f in fields)
            found.append(Case(operation, variant, fields))
    return found


# --- the world every example runs in ----------------------------------------------------

def snapshot(app) -> dict:
    from usergate.extensions import db

    marks = ", ".join(f"'{event}'" for event in REFUSAL_EVENTS)
    with app.app_context():
        rows = {table: db.session.execute(text(f"SELECT * FROM {table} ORDER BY 1")).all()
                for table in TABLES}
        rows["audit_events"] = db.session.execute(text(
            f"SELECT * FROM audit_events WHERE type NOT IN ({marks}) ORDER BY id")).all()
        db.session.remove()
    return rows


class World:
    """One app for the whole test; every example starts from empty tables (so the
    snapshots stay small) with an administrator and a user of its own."""

    def __init__(self, app):
        self.app = app
        self.client = app.test_client()
        self.auth = AuthActions(app, self.client)
        self.spec = swagger(self.client)
        self.cases = {case.label: case for case in cases(self.spec)}
        self.pairs = sorted((label, index) for label, case in self.cases.items()
                            for index in range(len(case.fields)))
        self._n = itertools.count()
        self._admin = self._client_credentials = None

    def empty(self) -> None:
        from usergate.extensions import db

        with self.app.app_context():
            for table in reversed(db.metadata.sorted_tables):
                db.session.execute(table.delete())
            db.session.commit()
            db.session.remove()
        # The test's pushed app context keeps one session across requests: it must not
        # keep an object of a deleted row (SQLite hands the id out again).
        close_all_sessions()
        self._admin = self._client_credentials = None

    @property
    def admin(self):
        if self._admin is None:
            self._admin = self.auth.admin(f"root{next(self._n)}@example.com")
        return self._admin

    def fresh_user(self, case: Case) -> dict:
        """A user of the example's own, with what the case's path names: an address, a
        session id."""
        n = next(self._n)
        email = f"p{n}@example.com"
        tokens = self.auth.register(email, name="Ada")
        ctx = {"email": email, "tokens": tokens, "id": self.auth.me(tokens)["id"], "n": n}
        if "{address_id}" in case.operation.path:
            address = self.client.post(f"{API}/addresses", json=ADDRESS,
                                       headers=tokens.headers)
            assert address.status_code == 201
            ctx["address"] = address.get_json()["id"]
        if "{session_id}" in case.operation.path:
            sessions = self.client.get(f"{API}/auth/sessions", headers=tokens.headers)
            ctx["session"] = sessions.get_json()["items"][0]["id"]
        return ctx

    def client_credentials(self) -> tuple[str, str]:
        if self._client_credentials is None:
            from usergate.extensions import db
            from usergate.services.clients import create_client

            with self.app.app_context():
                created = create_client("fuzz")
                db.session.commit()
                self._client_credentials = (created.client.client_id, created.secret)
        return self._client_credentials

    def link_tokens(self, user_id: str) -> dict:
        """A live password-reset and email-verification token of the user, as mailed."""
        from usergate.extensions import db
        from usergate.models import User
        from usergate.services import recovery
        from usergate.services.account_mail import RESET, VERIFY

        with self.app.app_context():
            user = db.session.query(User).filter_by(public_id=user_id).one()
            links = {}
            for name, purpose, bound in (("reset", RESET, user.password_hash),
                                         ("verify", VERIFY, user.email)):
                links[name], _ = recovery._make_token(user, purpose, recovery.digest(bound),
                                                      3600)
            db.session.commit()
            db.session.remove()
        return links

    def context(self, case: Case) -> dict:
        """A fresh user in the state the case needs, and what its baseline reads."""
        self.empty()
        ctx = self.fresh_user(case)
        key = case.operation.key
        state = STATE.get(key)
        if state:
            headers = ctx["tokens"].headers
            enrolled = self.client.post(f"{API}/auth/mfa/totp", headers=headers)
            assert enrolled.status_code == 201, enrolled.get_json()
            ctx["secret"] = enrolled.get_json()["secret"]
            if state == "mfa":
                confirmed = self.client.post(f"{API}/auth/mfa/totp/confirm", headers=headers,
                                             json={"code": code_at(ctx["secret"])})
                assert confirmed.status_code == 200, confirmed.get_json()
                ctx["recovery"] = confirmed.get_json()["recovery_codes"][0]
        if key.endswith("/confirm") and "/mfa/" not in key:
            ctx["links"] = self.link_tokens(ctx["id"])
        if key in ("POST /auth/introspect", "POST /auth/revoke"):
            ctx["client"] = self.client_credentials()
        return ctx

    def token(self, case: Case, ctx: dict) -> str | None:
        if not case.operation.secured:
            return None
        kind = AUTH.get(case.operation.key, "user")
        if kind == "admin":
            return self.admin.access
        if kind == "refresh":
            return ctx["tokens"].refresh
        if kind == "mfa":
            response = self.client.post(f"{API}/auth/login",
                                        json={"email": ctx["email"], "password": PASSWORD})
            assert response.get_json().get("code") == "mfa_required", response.get_json()
            return response.get_json()["mfa_token"]
        return ctx["tokens"].access

    def baseline(self, case: Case, ctx: dict) -> dict[str, dict]:
        """Location -> {name: value}: the required fields of the document (their
        examples), the path ids of the context, then the BASELINES overrides."""
        op = self.spec["paths"][case.operation.path][case.operation.method.lower()]
        values = {"body": {}, "query": {}, "formData": {}, "path": {}}
        for parameter in op.get("parameters", []):
            if parameter["in"] == "body":
                model = _resolve(self.spec, parameter["schema"])
                for name in model.get("required", []):
                    prop = model["properties"][name]
                    values["body"][name] = prop.get("example", prop.get("default", "x"))
        path_ids = {"user_id": "id", "address_id": "address", "session_id": "session"}
        for field in case.operation.fields:
            if field.location == "path":
                values["path"][field.name] = ctx[path_ids[field.name]]
        overrides = BASELINES.get(case.operation.key, lambda _: {})(ctx)
        if case.variant is not None:
            overrides = overrides[case.variant]
        for location, given_values in overrides.items():
            values[location].update(given_values)
        if (case.operation.key, case.variant) in AS_FORM:
            values["body"] = {}
        return values

    def send(self, case: Case, values: dict[str, dict], token: str | None):
        path = case.operation.path
        for name, value in values["path"].items():
            path = path.replace("{" + name + "}", _quoted(value, safe=""))
        url = API + path
        if values["query"]:
            url += "?" + "&".join(f"{quote(k)}={_quoted(v)}" for k, v in values["query"].items())
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if values["formData"]:
            form = "&".join(f"{quote(k)}={_quoted(v)}" for k, v in values["formData"].items())
            return self.client.open(url, method=case.operation.method, data=form,
                                    content_type="application/x-www-form-urlencoded",
                                    headers=headers)
        if any(f.location == "body" for f in case.fields) or values["body"]:
            # NaN / Infinity: Python's JSON extensions, sent as a careless client would.
            return self.client.open(url, method=case.operation.method,
                                    data=json.dumps(values["body"]),
                                    content_type="application/json", headers=headers)
        return self.client.open(url, method=case.operation.method, headers=headers)


def _quoted(value, safe: str = "/") -> str:
    if isinstance(value, bool):
        value = "true" if value else "false"
    return quote(str(value).encode("utf-8", "surrogatepass"), safe=safe)


@pytest.fixture
def world(app):
    return World(app)


def _check(world, response, field: str, before: dict, *, oauth: bool = False):
    status = response.status_code
    assert status < 500, (field, response.get_data(as_text=True)[:500])
    if status < 400:
        return
    body = response.get_json()
    if status == 413:  # too large as a whole: problem JSON, no field to name
        assert response.mimetype == "application/problem+json"
    elif oauth:
        assert body["error"] in ("invalid_request", "invalid_grant", "invalid_client",
                                 "invalid_target", "unsupported_grant_type"), body
        if body["error"] == "invalid_request":
            assert field in body["error_description"], body
    else:
        assert response.mimetype == "application/problem+json", response.data[:300]
        if status == 400:
            assert field in body.get("errors", {}), (field, body)
    assert snapshot(world.app) == before, f"a {status} changed stored data ({field})"


def _value_strategy(field: Field):
    if field.type == "boolean" and field.location == "body":
        return absurd_numbers
    if field.location == "path":
        return adversarial_text.filter(lambda v: v.strip("/"))
    if field.type in ("integer", "number", "boolean"):
        return absurd_numbers if field.location == "body" else absurd_number_strings
    return adversarial_text


# --- the guards ----------------------------------------------------------------------

def test_every_operation_is_fuzzed_or_excluded(world):
    found = operations(world.spec)
    fuzzed = {case.operation.key for case in world.cases.values() if case.fields}
    missing = sorted(set(found) - fuzzed - set(EXCLUDED))
    assert not missing, f"neither fuzzed nor excluded with a reason: {missing}"
    stale = sorted(key for key in EXCLUDED if key not in found or found[key].fields)
    assert not stale, f"excluded but gone, or with fields to fuzz now: {stale}"
    for table in (AUTH, STATE, BASELINES, VARIANTS):
        assert set(table) <= set(found), set(table) - set(found)


def test_the_baseline_of_every_fuzzed_operation_succeeds(world):
    """Each field is fuzzed with the others valid: so the unfuzzed request must pass."""
    failures = {}
    for label, case in world.cases.items():
        ctx = world.context(case)
        response = world.send(case, world.baseline(case, ctx), world.token(case, ctx))
        if not 200 <= response.status_code < 300:
            failures[label] = (response.status_code, response.get_data(as_text=True)[:300])
    assert not failures, failures


# --- the fuzz --------------------------------------------------------------------------

@bounded(800)
@given(data=st.data())
def test_every_field_of_every_operation_takes_adversarial_values(world, data):
    label, index = data.draw(st.sampled_from(world.pairs), label="operation, field")
    case = world.cases[label]
    field = case.fields[index]
    value = data.draw(_value_strategy(field), label=field.name)
    ctx = world.context(case)
    values = world.baseline(case, ctx)
    values[field.location][field.name] = value
    token = world.token(case, ctx)
    before = snapshot(world.app)
    response = world.send(case, values, token)
    if field.location == "path":  # every {id} is a UUID: anything else is no route
        assert response.status_code == 404, response.get_data(as_text=True)[:300]
    if field.type == "boolean" and field.location == "body":
        assert response.status_code == 400, response.get_data(as_text=True)[:300]
    _check(world, response, "id" if field.location == "path" else field.name, before,
           oauth=case.operation.path in OAUTH)
    if field.name == "page" and field.location == "query":
        _check_page(response, value)


def _check_page(response, value: str):
    digits = value.strip()
    if digits.isascii() and digits.isdigit() and 1 <= len(digits.lstrip("0")) <= 4000:
        assert response.status_code == 200, response.get_json()  # docs/api.md §1: past the last
    if response.status_code == 200:
        body = response.get_json()
        assert body["page"] >= 1 and body["total"] >= 0
        assert body["pages"] == -(-body["total"] // body["per_page"])
        if body["page"] > body["pages"]:
            assert body["items"] == []
