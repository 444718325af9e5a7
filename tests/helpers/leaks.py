"""No secret of the whole test run in any log line or stored audit event (docs/audit.md).

The run is watched as a whole, not one test's flow:

- every Flask test client of an app built by the fixtures is a `WatchingClient`,
  which remembers the secrets that went through it: the passwords and second-factor
  codes of requests the service accepted, every token, mfa token, TOTP secret,
  recovery code and client secret it answered, the refresh cookie it set, and the
  Basic and Bearer credentials it was sent;
- `LINES` keeps every log line of the run (a handler on the root logger, with the
  `usergate` loggers at DEBUG so that nothing they could say is left unsaid);
- `EVENTS` keeps every stored audit event, read from each app's database when the
  fixture that built it ends (conftest.py).

`leaks()` searches all of them for all of those secrets at the end of the session
(conftest.py's `pytest_sessionfinish` fails the run on a hit). Refused values are
not secrets (a fuzzed "password" of `ada@example.com` is an email in a log line,
and rightly so), so only what the service accepted or issued is looked for.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from urllib.parse import parse_qsl

from flask.testing import FlaskClient
from sqlalchemy import inspect, text

SECRETS: set[str] = set()
LINES: list[str] = []
EVENTS: list[str] = []

# Request fields whose value is a secret when the service accepted the request.
_SENT = ("password", "new_password", "current_password", "code", "recovery_code", "token",
         "refresh_token", "client_secret")
# Response fields that are secrets whenever they are answered.
_ANSWERED = ("access_token", "refresh_token", "mfa_token", "secret", "recovery_codes",
             "client_secret")
_REFRESH_COOKIE = re.compile(r"usergate_refresh=([^;]+)")
_WORD = re.compile(r"[A-Za-z0-9._-]+")
# The test's own SMTP server prints what it receives (links and all) by design, and the
# werkzeug dev server of the in-thread live servers logs the test harness's requests.
_NOT_OURS = ("mail.log", "werkzeug")


def remember(value) -> None:
    if isinstance(value, str) and len(value) >= 6:
        SECRETS.add(value)
    elif isinstance(value, list | tuple):
        for item in value:
            remember(item)


def _fields(body, names) -> list:
    return [body[name] for name in names if isinstance(body, dict) and name in body]


def _credentials(headers) -> None:
    items = headers.items() if hasattr(headers, "items") else (headers or [])
    for name, value in items:
        if name.lower() != "authorization" or not isinstance(value, str):
            continue
        scheme, _, credentials = value.partition(" ")
        if scheme.lower() == "bearer":
            remember(credentials.strip())
        elif scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                continue
            remember(decoded.partition(":")[2])


class WatchingClient(FlaskClient):
    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        if response.status_code < 400:
            for sent in (kwargs.get("json"), kwargs.get("data")):
                if isinstance(sent, str | bytes):  # a form body encoded by the test
                    sent = dict(parse_qsl(sent.decode() if isinstance(sent, bytes) else sent))
                if isinstance(sent, dict):
                    remember(_fields(sent, _SENT))
            _credentials(kwargs.get("headers"))
        if response.is_json:
            remember(_fields(response.get_json(silent=True), _ANSWERED))
        for cookie in response.headers.getlist("Set-Cookie"):
            match = _REFRESH_COOKIE.search(cookie)
            if match:
                remember(match.group(1))
        return response


class _Lines(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(_NOT_OURS):
            return
        try:
            line = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is not this check's business
            line = str(record.msg)
        if record.exc_info:
            line += "\n" + logging.Formatter().formatException(record.exc_info)
        LINES.append(line)


def watch_logs() -> None:
    logging.getLogger().addHandler(_Lines(level=logging.DEBUG))
    logging.getLogger("usergate").setLevel(logging.DEBUG)


def keep_events(app, db) -> None:
    """Every audit event of this app's database, as stored (called before it is reset)."""
    with app.app_context():
        try:
            if "audit_events" not in inspect(db.engine).get_table_names():
                return
            rows = db.session.execute(text("SELECT * FROM audit_events")).mappings().all()
        finally:
            db.session.remove()
    EVENTS.extend(json.dumps(dict(row), default=str, ensure_ascii=False) for row in rows)


def leaks(secrets=None, lines=None, events=None) -> list[str]:
    """Where a remembered secret stands in a log line or a stored event (masked)."""
    secrets = SECRETS if secrets is None else secrets
    found = []
    for kind, texts in (("log line", LINES if lines is None else lines),
                        ("audit event", EVENTS if events is None else events)):
        # Token-like secrets (JWTs, link and client secrets, TOTP secrets, recovery
        # codes, six-digit codes) are looked up as whole words: one pass over the
        # texts instead of one per secret, and six digits inside a hex request id
        # are not a code.
        words: dict[str, str] = {}
        for text_ in texts:
            for run in _WORD.findall(text_):
                words.setdefault(run, text_)
                words.setdefault(run.strip("."), text_)
        for secret in sorted(secrets):
            if _WORD.fullmatch(secret):
                where = words.get(secret)
            else:  # a password with spaces or other characters: searched as it is
                where = next((t for t in texts if secret in t), None)
            if where is not None:
                found.append(f"a secret ({len(secret)} characters) in a {kind}: "
                             f"{where.replace(secret, '<the secret>')[:300]!r}")
    return found
