"""A stored token: the row's columns, the record they make, and what makes a row valid.

Pure Python with no heavy imports: both the SQLAlchemy store (``store``) and
the command line's read-only fast path (``fastpath``) build records here, so
the two can never disagree on what a usable row is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import CorruptRowError

__all__ = ["TokenRecord", "StoredEntry", "STATES", "COLUMNS", "NAME_RE", "check_token_url"]

STATES = ("ok", "refreshing", "failed")

# The columns of ``keeper_tokens``, in table order (store.py defines their types).
COLUMNS = (
    "name", "token_url", "username", "password", "access_token", "access_expires_at",
    "refresh_token", "refresh_expires_at", "state", "error", "lease_owner",
    "lease_expires_at", "version", "created_at", "updated_at", "refresh_count", "grant_type",
)

# How a row signs in again: the password grant (`username` is the user, `password`
# theirs, optional), or client_credentials (`username` is the client id, `password`
# the client's secret). NULL in rows written before the column existed: password.
PASSWORD_GRANT = "password"
CLIENT_GRANT = "client_credentials"
GRANTS = (PASSWORD_GRANT, CLIENT_GRANT)

# What a token's name may be (the command line and ``serve``'s /tokens/NAME).
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def check_token_url(url: str) -> str:
    """Return ``url`` if it is an absolute http(s) URL, else raise ValueError."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"token URL must be an absolute http(s) URL, not {url!r}")
    return url


def _num(row, key: str, problems: list[str], *, required: bool = False) -> float | None:
    value = row[key]
    if value is None:
        if required:
            problems.append(f"{key} is empty")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        problems.append(f"{key} is {_show(value)}, not a number")
        return None
    return float(value)


def _str(row, key: str, problems: list[str], *, required: bool = False) -> str | None:
    value = row[key]
    if value is None or value == "":
        if required:
            problems.append(f"{key} is empty")
        return None
    if not isinstance(value, str):
        problems.append(f"{key} is {_show(value)}, not text")
        return None
    return value


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class TokenRecord:
    """One stored token, validated.  ``repr`` never shows a secret."""

    name: str
    token_url: str
    username: str
    password: str | None
    access_token: str | None
    access_expires_at: float | None
    refresh_token: str | None
    refresh_expires_at: float | None
    state: str
    error: str | None
    lease_owner: str | None
    lease_expires_at: float | None
    version: int
    created_at: float
    updated_at: float
    refresh_count: int
    grant_type: str = PASSWORD_GRANT

    @property
    def is_client(self) -> bool:
        return self.grant_type == CLIENT_GRANT

    def __repr__(self) -> str:
        return (f"TokenRecord(name={self.name!r}, state={self.state!r}, "
                f"access_expires_at={self.access_expires_at!r}, version={self.version})")

    def ttl(self, now: float) -> float:
        """Seconds the access token stays valid (negative: expired; -inf: none)."""
        if not self.access_token or self.access_expires_at is None:
            return float("-inf")
        return self.access_expires_at - now

    def lease_live(self, now: float) -> bool:
        return (self.lease_owner is not None and self.lease_expires_at is not None
                and self.lease_expires_at >= now)

    @classmethod
    def from_row(cls, row: Mapping) -> TokenRecord:
        """Validate a raw row; raise CorruptRowError naming every bad column."""
        name = row["name"]
        problems: list[str] = []
        values = dict(
            token_url=_str(row, "token_url", problems, required=True),
            username=_str(row, "username", problems, required=True),
            password=_str(row, "password", problems),
            access_token=_str(row, "access_token", problems),
            access_expires_at=_num(row, "access_expires_at", problems),
            refresh_token=_str(row, "refresh_token", problems),
            refresh_expires_at=_num(row, "refresh_expires_at", problems),
            error=_str(row, "error", problems),
            lease_owner=_str(row, "lease_owner", problems),
            lease_expires_at=_num(row, "lease_expires_at", problems),
            created_at=_num(row, "created_at", problems, required=True),
            updated_at=_num(row, "updated_at", problems, required=True),
        )
        if values["token_url"] is not None:
            try:
                check_token_url(values["token_url"])
            except ValueError:
                problems.append(f"token_url is {_show(values['token_url'])}, not an http(s) URL")
        grant_type = (row["grant_type"] if "grant_type" in row.keys() else None) or PASSWORD_GRANT
        if grant_type not in GRANTS:
            problems.append(f"grant_type is {_show(grant_type)}, not one of {', '.join(GRANTS)}")
        if grant_type == CLIENT_GRANT and values["password"] is None:
            problems.append("a client_credentials row has no client secret")
        state = row["state"]
        if state not in STATES:
            problems.append(f"state is {_show(state)}, not one of {', '.join(STATES)}")
        for key in ("version", "refresh_count"):
            value = row[key]
            if isinstance(value, bool) or not isinstance(value, int):
                problems.append(f"{key} is {_show(value)}, not an integer")
        if values["access_token"] and values["access_expires_at"] is None and not problems:
            problems.append("access_token has no access_expires_at")
        if problems:
            raise CorruptRowError(str(name), "; ".join(problems))
        return cls(name=name, state=state, version=row["version"],
                   refresh_count=row["refresh_count"], grant_type=grant_type, **values)


@dataclass(frozen=True)
class StoredEntry:
    """What ``TokenStore.entries`` yields: a record, or why the row is unusable."""

    name: str
    record: TokenRecord | None
    error: CorruptRowError | None
