"""The password policy (docs/api.md §6.4, NIST SP 800-63B rev. 4 §3.1.1): one validator.

`check_password_policy(password, field=..., email=..., name=...)` is called
wherever a password is chosen (register, POST /users and `flask users create`
through `accounts.create_user`, PUT /auth/password, the password reset). It
raises ValidationError naming `field` and saying why; the message never holds
the password. No composition rules. In order:

1. at least PASSWORD_MIN_LENGTH characters (of the NFKC form that is hashed);
2. not a single repeated character;
3. not the email, its local part, the user's name or `usergate` (ignoring case
   and white space);
4. not on the offline list of common passwords (ignoring case): the 30 000
   passwords of zxcvbn's `passwords` frequency list (MIT licence,
   https://github.com/dwolfhub/zxcvbn-python), read once into a frozenset;
5. with PASSWORD_BREACH_CHECK=hibp, not in the Pwned Passwords range API
   (k-anonymity: only the first 5 hex characters of the SHA-1 leave, with
   `Add-Padding: true`); a timeout or an error lets the password through and
   logs a warning that holds neither the password nor its hash.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import logging
import re
from pathlib import Path

import httpx
from flask import current_app

from ..errors import ValidationError
from ..security.passwords import normalise

log = logging.getLogger("usergate")

SERVICE_NAME = "usergate"
HIBP_TIMEOUT = 2.0  # seconds; the check fails open, so a slow API never blocks a sign-up


@functools.cache
def common_passwords() -> frozenset[str]:
    """zxcvbn's list of the 30 000 most common passwords, lower-cased, loaded once.

    Read from the package's data file without importing zxcvbn: the import
    would also load its other lists (names, Wikipedia words), ~12 MB we never use.
    """
    # find_spec of the top-level package locates it without running its __init__
    # (which imports every list); importlib.resources.files would import it.
    spec = importlib.util.find_spec("zxcvbn")
    folder = Path(next(iter(spec.submodule_search_locations)))
    source = (folder / "frequency_lists.py").read_text("utf-8")
    match = re.search(r'"passwords":\s*("(?:[^"\\]|\\.)*")', source)
    if match:
        words = ast.literal_eval(match.group(1)).split(",")
    else:  # another layout of the file: import it after all
        from zxcvbn.frequency_lists import FREQUENCY_LISTS

        words = FREQUENCY_LISTS["passwords"]
        words = words.split(",") if isinstance(words, str) else list(words)
    return frozenset(word.casefold() for word in words if word)


def _squash(text: str) -> str:
    return "".join(normalise(text).casefold().split())


def _context_reasons(password: str, email: str | None, name: str | None) -> list[str]:
    squashed = _squash(password)
    if email:
        if squashed == _squash(email):
            return ["must not be your email address"]
        if squashed == _squash(email.rpartition("@")[0]):
            return ["must not be the part of your email address before the @"]
    if name and squashed == _squash(name):
        return ["must not be your name"]
    if squashed == SERVICE_NAME:
        return [f"must not be the name of this service ({SERVICE_NAME})"]
    return []


def offline_reasons(password: str, *, email: str | None = None,
                    name: str | None = None) -> list[str]:
    """Why the password is refused without asking anyone (empty: it is not)."""
    normal = normalise(password)
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    if len(normal) < minimum:
        return [f"must be at least {minimum} characters long"]
    if len(set(normal)) == 1:
        return ["must not be a single repeated character"]
    reasons = _context_reasons(normal, email, name)
    if reasons:
        return reasons
    if normal.casefold() in common_passwords():
        return ["is one of the most common passwords; choose one that is harder to guess"]
    return []


def breach_count(password: str) -> int | None:
    """How often Pwned Passwords has seen the password, or None when it could not say."""
    # SHA-1 because the range API is keyed by it; nothing is protected by this hash.
    digest = hashlib.sha1(normalise(password).encode("utf-8"),
                          usedforsecurity=False).hexdigest().upper()
    prefix, suffix = digest[:5], digest[5:]
    url = current_app.config["HIBP_API_URL"] + prefix
    try:
        response = httpx.get(url, headers={"Add-Padding": "true", "User-Agent": "usergate"},
                             timeout=HIBP_TIMEOUT)
        response.raise_for_status()
        for line in response.text.splitlines():
            candidate, _, count = line.strip().partition(":")
            if candidate.upper() == suffix:
                return int(count or 0)
        return 0
    except (httpx.HTTPError, ValueError) as exc:
        # Neither the password nor its hash (nor the prefix) goes to the log.
        log.warning("password breach check unavailable (%s); password accepted without it",
                    type(exc).__name__)
        return None


def check_password_policy(password: str, *, field: str, email: str | None = None,
                          name: str | None = None) -> None:
    """Raise ValidationError naming `field` if the policy refuses this password."""
    reasons = offline_reasons(password, email=email, name=name)
    if not reasons and (current_app.config.get("PASSWORD_BREACH_CHECK") or "").lower() == "hibp":
        if (breach_count(password) or 0) > 0:
            reasons = ["has appeared in a data breach (Pwned Passwords); choose another"]
    if reasons:
        raise ValidationError({field: reasons})
