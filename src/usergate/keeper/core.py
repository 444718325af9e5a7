"""``Keeper``: hands out access tokens and refreshes them, one refresh per expiry.

The store's lease decides who refreshes; everyone else waits (bounded) for
the holder to store the new token.  A holder that dies loses its lease when
it runs out, and the next caller takes over.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .defaults import DEFAULT_HTTP_TIMEOUT, DEFAULT_LEASE, DEFAULT_MARGIN, check_timing
from .errors import (
    CorruptRowError,
    EndpointUnreachableError,
    InvalidGrantError,
    KeeperError,
    KeeperTimeoutError,
    LeaseLostError,
    StoreError,
    TokenEndpointError,
    TokenExistsError,
    TokenFailedError,
    TokenNotFoundError,
)
from .records import CLIENT_GRANT, TokenRecord, check_token_url

if TYPE_CHECKING:  # httpx and SQLAlchemy load only when a refresh or a store needs them
    from .client import TokenClient, TokenResponse
    from .store import TokenStore

__all__ = ["Keeper", "AccessToken", "DEFAULT_MARGIN", "DEFAULT_LEASE"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AccessToken:
    """An access token and when the keeper considers it expired (epoch seconds)."""

    name: str
    access_token: str
    expires_at: float

    def __repr__(self) -> str:
        return f"AccessToken(name={self.name!r}, expires_at={self.expires_at!r})"

    def expires_in(self, now: float | None = None) -> float:
        return self.expires_at - (time.time() if now is None else now)


def _transient(exc: BaseException) -> bool:
    return bool(getattr(exc, "transient", False))


def _refused(record: TokenRecord, what: str, exc: InvalidGrantError,
             remedy: str) -> TokenFailedError:
    """The token endpoint refused `what` (a grant of `record`'s); `remedy` says what helps."""
    detail = f": {exc.description}" if exc.description else ""
    return TokenFailedError(record.name,
                            f"the token endpoint refused {what} ({exc.error}{detail}); {remedy}")


class Keeper:
    """Access tokens from a TokenStore, refreshed at most once per expiry.

    ``margin``: a token is handed out only while it stays valid at least this
    long, and is refreshed once it does not.  ``lease_seconds`` bounds how long
    a crashed refresher blocks the others; it must exceed two HTTP timeouts
    (a refresh may need a second request to sign in again).
    ``refresh_on_demand=False`` makes ``get`` wait for a worker instead of
    refreshing itself.
    """

    def __init__(self, store: TokenStore, *, margin: float = DEFAULT_MARGIN,
                 lease_seconds: float = DEFAULT_LEASE,
                 http_timeout: float = DEFAULT_HTTP_TIMEOUT,
                 wait_timeout: float | None = None, refresh_on_demand: bool = True,
                 poll_interval: float = 0.05,
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep,
                 client_factory: Callable[..., TokenClient] | None = None,
                 hooks: dict[str, Callable] | None = None):
        check_timing(margin=margin, lease_seconds=lease_seconds, http_timeout=http_timeout)
        self.store = store
        self.margin = float(margin)
        self.lease_seconds = float(lease_seconds)
        self.http_timeout = float(http_timeout)
        # Long enough to outlast a crashed holder's lease and its successor's refresh.
        self.wait_timeout = (float(wait_timeout) if wait_timeout is not None
                             else self.lease_seconds + 2 * self.http_timeout + 5)
        self.refresh_on_demand = refresh_on_demand
        self.poll_interval = poll_interval
        self.clock = clock
        self.sleep = sleep
        self._client_factory = client_factory or self._default_client
        # Test seams: "before_request" (lease held, nothing sent yet) and
        # "after_response" (the server has rotated, nothing stored yet).
        self._hooks = hooks or {}
        self._owner_prefix = f"{socket.gethostname()[:80]}:{os.getpid()}"

    def _default_client(self, url: str) -> TokenClient:
        from .client import TokenClient  # httpx: only once there is a request to send

        return TokenClient(url, timeout=self.http_timeout, clock=self.clock)

    def _new_owner(self) -> str:
        return f"{self._owner_prefix}:{threading.get_ident()}:{uuid.uuid4().hex[:12]}"

    # -- consumers ---------------------------------------------------------------

    def get(self, name: str, *, min_ttl: float | None = None,
            timeout: float | None = None) -> str:
        """An access token for ``name`` valid for at least ``min_ttl`` (default: margin)."""
        return self.get_access(name, min_ttl=min_ttl, timeout=timeout).access_token

    def get_access(self, name: str, *, min_ttl: float | None = None,
                   timeout: float | None = None) -> AccessToken:
        """Like get(), with the expiry.  Never returns an expired token.

        Raises TokenNotFoundError, CorruptRowError, TokenFailedError (a person
        must sign in again), EndpointUnreachableError / TokenEndpointError
        (this caller's own refresh failed and the stored token is too old), or
        KeeperTimeoutError (another holder did not store a new token in time).
        """
        min_ttl = self.margin if min_ttl is None else float(min_ttl)
        if min_ttl <= 0:
            raise ValueError("min_ttl must be positive: an expired token is never handed out")
        wanted = max(self.margin, min_ttl)
        timeout = self.wait_timeout if timeout is None else float(timeout)
        deadline = self.clock() + timeout
        while True:
            record = self.store.get(name)
            if record.state == "failed":
                raise TokenFailedError(name, record.error)
            now = self.clock()
            ttl = record.ttl(now)
            if ttl >= wanted:
                return AccessToken(name, record.access_token, record.access_expires_at)
            if self.refresh_on_demand:
                try:
                    fresh = self._refresh_if_due(name, due_before=now + wanted, seen=record)
                except (EndpointUnreachableError, TokenEndpointError) as exc:
                    if _transient(exc) and ttl >= min_ttl:
                        log.warning("%s; handing out the stored token (%.0fs left)", exc, ttl)
                        return AccessToken(name, record.access_token, record.access_expires_at)
                    raise
                if fresh is not None:
                    if fresh.ttl(self.clock()) >= min_ttl:
                        return AccessToken(name, fresh.access_token, fresh.access_expires_at)
                    raise KeeperError(
                        f"token {name!r} was refreshed but the new access token lives only "
                        f"{fresh.ttl(self.clock()):.0f}s, less than the {min_ttl:.0f}s asked "
                        f"for; lower the margin")
            if ttl >= min_ttl:
                return AccessToken(name, record.access_token, record.access_expires_at)
            now = self.clock()
            if now >= deadline:
                raise KeeperTimeoutError(self._timeout_message(name, record, now, timeout,
                                                               min_ttl))
            # Someone else holds the lease: poll until they store the result.
            pause = self.poll_interval * (0.5 + random.random())  # noqa: S311 - jitter
            self.sleep(max(0.0, min(pause, deadline - now)))

    def _timeout_message(self, name: str, record: TokenRecord, now: float, timeout: float,
                         min_ttl: float) -> str:
        parts = [f"no access token for {name!r} valid for {min_ttl:g}s within {timeout:g}s"]
        if record.lease_live(now):
            parts.append(f"a refresh by {record.lease_owner} is in flight "
                         f"(lease ends in {record.lease_expires_at - now:.1f}s)")
        elif not self.refresh_on_demand:
            parts.append("no worker refreshed it (is 'usergate-keeper run' running?)")
        if record.error:
            parts.append(f"last error: {record.error}")
        return "; ".join(parts)

    # -- refreshing ---------------------------------------------------------------

    def refresh(self, name: str, *, seen: TokenRecord | None = None) -> bool:
        """Refresh ``name`` if it is due within the margin and nobody else is.

        True if this call refreshed it.  Used by the worker.  ``seen``: the row
        as the caller last read it, to name a dead holder this call takes over from.
        """
        return self._refresh_if_due(name, due_before=self.clock() + self.margin,
                                    seen=seen) is not None

    def _refresh_if_due(self, name: str, *, due_before: float,
                        seen: TokenRecord | None = None) -> TokenRecord | None:
        owner = self._new_owner()
        asked_at = self.clock()
        if not self.store.acquire_lease(name, owner, lease_seconds=self.lease_seconds,
                                        due_before=due_before):
            return None
        if (seen is not None and seen.lease_owner is not None
                and seen.lease_expires_at is not None and seen.lease_expires_at < asked_at):
            # Its holder died (or stalled) mid-refresh.  If the server had
            # already rotated, the stored refresh token is spent: within the
            # server's REFRESH_REUSE_GRACE it answers the session's current
            # one, past it the server revokes the session (invalid_grant).
            log.warning("%s: taking over a refresh left in flight by %s (its lease ran out "
                        "%.1fs ago); presenting the stored refresh token again", name,
                        seen.lease_owner, asked_at - seen.lease_expires_at)
        # Re-read under the lease: this is the row no one else can change now.
        try:
            record = self.store.get(name)
        except BaseException:
            self.store.release(name, owner, error=None)
            raise
        return self._refresh_held(record, owner)

    def _refresh_held(self, record: TokenRecord, owner: str) -> TokenRecord:
        name = record.name
        client = None
        try:
            client = self._client_factory(record.token_url)
            hook = self._hooks.get("before_request")
            if hook:
                hook(record)
            response, refreshed = self._exchange(client, record, owner)
            hook = self._hooks.get("after_response")
            if hook:
                hook(record, response)
        except TokenFailedError as exc:
            self.store.release(name, owner, error=exc.error, failed=True)
            raise
        except (EndpointUnreachableError, TokenEndpointError) as exc:
            if _transient(exc):
                self.store.release(name, owner, error=str(exc))
                raise
            # A refusal we cannot get past by trying again: the row fails
            # and every consumer sees why.
            self.store.release(name, owner, error=str(exc), failed=True)
            raise TokenFailedError(name, str(exc)) from exc
        except LeaseLostError:
            raise
        except BaseException as exc:
            self.store.release(name, owner, error=f"refresh interrupted: {exc!r}")
            raise
        finally:
            if client is not None:
                client.close()
        self._store_result(record, owner, response, refreshed)
        return self.store.get(name)

    def _exchange(self, client: TokenClient, record: TokenRecord,
                  owner: str) -> tuple[TokenResponse, bool]:
        if record.is_client:
            # No refresh token: each new token comes from the client's own credentials.
            try:
                return client.client_credentials(record.username, record.password), True
            except InvalidGrantError as exc:
                raise _refused(record, f"client {record.username!r}", exc, "add it again with "
                               f"'usergate-keeper add --replace {record.name} --client-id ...'"
                               ) from exc
        now = self.clock()
        usable = record.refresh_token is not None and (
            record.refresh_expires_at is None or record.refresh_expires_at > now + 1)
        if usable:
            try:
                return client.refresh(record.refresh_token), True
            except InvalidGrantError as exc:
                # Spent (a holder died after the server rotated it, and the
                # server's REFRESH_REUSE_GRACE is off or over, so the session
                # is now revoked), revoked or expired: only a new sign-in helps.
                if record.password is None:
                    raise TokenFailedError(record.name, (
                        f"the refresh token was refused ({exc.error}"
                        f"{': ' + exc.description if exc.description else ''}) and no "
                        f"password is stored; sign in again with 'usergate-keeper add "
                        f"--replace {record.name} --token-url {record.token_url} "
                        f"--username {record.username}'")) from exc
                log.warning("%s: refresh token refused (%s); signing in again with the "
                            "stored password", record.name, exc.error)
            # The first request used part of the lease.
            self.store.renew_lease(record.name, owner, lease_seconds=self.lease_seconds)
        elif record.password is None:
            raise TokenFailedError(record.name, (
                "no usable refresh token (none was issued, or it has expired) and no password "
                f"is stored; sign in again with 'usergate-keeper add --replace {record.name} "
                "...'"))
        try:
            return client.password(record.username, record.password), False
        except InvalidGrantError as exc:
            raise _refused(record, f"the stored password of {record.username!r}", exc,
                           f"sign in again with 'usergate-keeper add --replace {record.name} ...'"
                           ) from exc

    def _store_result(self, record: TokenRecord, owner: str, response: TokenResponse,
                      refreshed: bool, settings: dict | None = None) -> None:
        refresh_token = response.refresh_token
        refresh_expires_at = response.refresh_expires_at
        if refresh_token is None and refreshed:
            # No rotation (RFC 6749 section 6 allows it): keep the old one.
            refresh_token, refresh_expires_at = record.refresh_token, record.refresh_expires_at
        attempts = 3
        try:
            for attempt in range(1, attempts + 1):
                # The server has already spent the old refresh token: try hard
                # (within the lease) to store the new one.
                try:
                    self.store.complete(
                        record.name, owner, access_token=response.access_token,
                        access_expires_at=response.access_expires_at,
                        refresh_token=refresh_token, refresh_expires_at=refresh_expires_at,
                        refreshed=refreshed, settings=settings)
                    return
                except LeaseLostError:
                    raise
                except StoreError as exc:
                    if attempt == attempts:
                        raise
                    log.warning("%s: storing the new tokens failed (%s); retrying",
                                record.name, exc)
                    self.sleep(0.5 * attempt)
        except LeaseLostError:
            log.error("%s: lease lost before the new tokens were stored; the refresh "
                      "token rotated by this refresh is lost", record.name)
            raise
        except KeeperError:
            # Nothing stored: the rotated refresh token is lost and the next
            # holder will get invalid_grant (and sign in again if it can).
            log.error("%s: the new tokens could not be stored", record.name)
            try:
                self.store.release(record.name, owner,
                                   error="the new tokens could not be stored")
            except KeeperError:
                pass
            raise

    # -- signing in -----------------------------------------------------------------

    def sign_in(self, name: str, *, token_url: str, username: str, password: str,
                store_password: bool = True, replace: bool = False,
                client: bool = False) -> AccessToken:
        """Sign in with the password grant and store the tokens under ``name``.

        A new name is inserted after the sign-in succeeds; an existing one
        (``replace=True``) is only changed once the new tokens are in hand,
        under the lease, so a failed sign-in leaves it exactly as it was.
        """
        check_token_url(token_url)
        # Before any request, so no session is opened in vain.
        if self.store.exists(name) != replace:
            raise TokenExistsError(name) if not replace else TokenNotFoundError(name)
        corrupt = False
        if replace:
            try:
                self.store.get(name)
            except CorruptRowError:
                corrupt = True
        # Sign in first: a refused or failed sign-in leaves the store untouched.
        # client=True: `username` is a client id and `password` its secret; the secret
        # is always kept (it is the only way to the next token) and no user password is.
        with self._client_factory(token_url) as endpoint:
            response = (endpoint.client_credentials(username, password) if client
                        else endpoint.password(username, password))
        stored_password = password if store_password or client else None
        grant_type = CLIENT_GRANT if client else None
        if not replace:
            self.store.add(name, token_url=token_url, username=username,
                           password=stored_password, access_token=response.access_token,
                           access_expires_at=response.access_expires_at,
                           refresh_token=response.refresh_token,
                           refresh_expires_at=response.refresh_expires_at,
                           grant_type=grant_type)
            return AccessToken(name, response.access_token, response.access_expires_at)
        # Replace under the lease, so no refresh of the old tokens is in flight.
        owner = self._new_owner()
        deadline = self.clock() + self.wait_timeout
        while not self.store.acquire_lease(name, owner, lease_seconds=self.lease_seconds,
                                           due_before=None, ignore_lease=corrupt):
            if not self.store.exists(name):
                raise TokenNotFoundError(name)
            if self.clock() >= deadline:
                raise KeeperTimeoutError(f"token {name!r} is being refreshed; try again")
            self.sleep(self.poll_interval)
        # A new session: its refreshes are counted from zero.
        settings = dict(token_url=token_url, username=username, password=stored_password,
                        refresh_count=0, grant_type=grant_type)
        if corrupt:
            # Rewrite the bookkeeping columns too: they may be what was corrupt.
            settings.update(created_at=self.clock(), version=1)
        placeholder = TokenRecord(
            name=name, token_url=token_url, username=username, password=None,
            access_token=None, access_expires_at=None, refresh_token=None,
            refresh_expires_at=None, state="ok", error=None, lease_owner=owner,
            lease_expires_at=None, version=0, created_at=0.0, updated_at=0.0, refresh_count=0)
        self._store_result(placeholder, owner, response, False, settings)
        return AccessToken(name, response.access_token, response.access_expires_at)
