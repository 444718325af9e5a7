"""``usergate-keeper``: the token keeper's command line.

Passwords come from ``USERGATE_KEEPER_PASSWORD`` or a prompt, never from the
command line (argv is visible to every local user in ``ps``).  Every error
is one line on stderr and a non-zero exit status; ``token`` prints the token
and nothing else on stdout.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import click

from .defaults import (
    DEFAULT_HTTP_TIMEOUT,
    DEFAULT_LEASE,
    DEFAULT_MARGIN,
    DEFAULT_STORE,
    check_timing,
)
from .errors import KeeperError
from .fastpath import stored_token
from .records import NAME_RE, check_token_url

if TYPE_CHECKING:
    from .core import Keeper
    from .store import TokenStore

# The refreshing machinery (core, store: SQLAlchemy; client: httpx) is
# imported inside the commands that use it, so that ``token`` answers a
# stored token that is still good without loading any of it (fastpath.py).

PASSWORD_ENV = "USERGATE_KEEPER_PASSWORD"
CLIENT_SECRET_ENV = "USERGATE_KEEPER_CLIENT_SECRET"


class _Group(click.Group):
    """Turns every KeeperError into a one-line message and exit status 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KeeperError as exc:
            raise click.ClickException(str(exc)) from None
        except ValueError as exc:  # bad option combinations (Keeper checks them)
            raise click.UsageError(str(exc)) from None


def _rfc3339(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_name(_ctx, _param, value: str) -> str:
    if not NAME_RE.fullmatch(value):
        raise click.BadParameter("1-100 characters of A-Z a-z 0-9 . _ -, not starting with . _ -")
    return value


def _keeper_options(func):
    func = click.option("--margin", type=click.FloatRange(min=0), default=DEFAULT_MARGIN,
                        envvar="USERGATE_KEEPER_MARGIN", show_default=True,
                        help="Refresh this many seconds before expiry; hand out only "
                             "tokens valid at least this long.")(func)
    func = click.option("--lease", type=click.FloatRange(min=1), default=DEFAULT_LEASE,
                        show_default=True,
                        help="How long a refresher holds the lease; a crashed one blocks "
                             "others at most this long.")(func)
    func = click.option("--http-timeout", type=click.FloatRange(min=0.1),
                        default=DEFAULT_HTTP_TIMEOUT, show_default=True,
                        help="Timeout of each request to the token endpoint.")(func)
    return func


class _Context:
    def __init__(self, location: str, verbose: int = 0):
        self.location = location
        self.verbose = verbose
        self._store: TokenStore | None = None

    @property
    def store(self) -> TokenStore:
        if self._store is None:
            from .store import TokenStore

            self._store = TokenStore(self.location)
        return self._store

    def keeper(self, *, margin=DEFAULT_MARGIN, lease=DEFAULT_LEASE,
               http_timeout=DEFAULT_HTTP_TIMEOUT, **kwargs) -> Keeper:
        from .core import Keeper

        return Keeper(self.store, margin=margin, lease_seconds=lease,
                      http_timeout=http_timeout, **kwargs)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--store", "location", envvar="USERGATE_KEEPER_STORE", default=DEFAULT_STORE,
              show_default=True, metavar="PATH|URL",
              help="A SQLite file, or a database URL (postgresql://...). "
                   "Env: USERGATE_KEEPER_STORE.")
@click.option("-v", "--verbose", count=True, help="More logging on stderr (-vv: debug).")
@click.pass_context
def main(ctx: click.Context, location: str, verbose: int) -> None:
    """Keep access tokens of an RFC 6749 token endpoint fresh for many consumers."""
    base = logging.INFO if ctx.invoked_subcommand == "run" else logging.WARNING
    logging.basicConfig(level=max(logging.DEBUG, base - 10 * verbose),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING if verbose < 2 else logging.DEBUG)
    ctx.obj = _Context(location, verbose)


@main.command()
@click.argument("name", callback=_check_name)
@click.option("--token-url", required=True, envvar="USERGATE_KEEPER_TOKEN_URL",
              help="The token endpoint, e.g. https://host/api/v1/auth/token.")
@click.option("--username", default=None, help="Who to sign in as (the email for usergate).")
@click.option("--client-id", default=None,
              help="Sign in as a service client (client_credentials) instead of a user; "
                   "its secret from $USERGATE_KEEPER_CLIENT_SECRET or a prompt. No user "
                   "password is stored then.")
@click.option("--store-password/--no-store-password", default=True, show_default=True,
              help="Keep the password (clear text) to sign in again when the refresh "
                   "token is refused or expires.")
@click.option("--replace", is_flag=True, help="Sign in again for a name already stored.")
@click.option("--http-timeout", type=click.FloatRange(min=0.1), default=DEFAULT_HTTP_TIMEOUT,
              show_default=True)
@click.pass_obj
def add(obj: _Context, name, token_url, username, client_id, store_password, replace,
        http_timeout):
    """Sign in (password grant, or client_credentials) and store the tokens under NAME.

    The password is read from $USERGATE_KEEPER_PASSWORD, else prompted for; a
    client's secret (--client-id) from $USERGATE_KEEPER_CLIENT_SECRET, else prompted for.
    """
    if (username is None) == (client_id is None):
        raise click.UsageError("give one of --username (a user) or --client-id (a client)")
    try:
        check_token_url(token_url)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--token-url") from None
    parts = urlsplit(token_url)
    if parts.scheme != "https" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
        click.echo(f"warning: {token_url} is not https: the password and tokens cross the "
                   "network in clear", err=True)
    if client_id is not None:
        password = _read_secret(CLIENT_SECRET_ENV, "Client secret")
    else:
        password = _read_password()
    keeper = obj.keeper(http_timeout=http_timeout, lease=max(DEFAULT_LEASE,
                                                             2 * http_timeout + 1))
    token = keeper.sign_in(name, token_url=token_url, username=username or client_id,
                           password=password, store_password=store_password, replace=replace,
                           client=client_id is not None)
    click.echo(f"stored {name!r} in {obj.store.display_url}; access token valid until "
               f"{_rfc3339(token.expires_at)}", err=True)


def _read_password() -> str:
    return _read_secret(PASSWORD_ENV, "Password")


def _read_secret(variable: str, label: str) -> str:
    value = os.environ.get(variable)
    if value:
        return value
    if not sys.stdin.isatty():
        raise click.ClickException(f"no {label.lower()}: set {variable} or run in a terminal "
                                   "to be prompted (it is never taken from the command line)")
    return click.prompt(label, hide_input=True, err=True)


@main.command()
@click.argument("name", callback=_check_name)
@click.option("--min-ttl", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Accept a token valid at least this long (default: the margin).")
@click.option("--timeout", type=click.FloatRange(min=0), default=None,
              help="Wait at most this long for another refresher (default: lease + 2 "
                   "HTTP timeouts + 5s).")
@click.option("--no-refresh", is_flag=True, help="Never refresh here; wait for a worker.")
@_keeper_options
@click.pass_obj
def token(obj: _Context, name, min_ttl, timeout, no_refresh, margin, lease, http_timeout):
    """Print a valid access token for NAME on stdout (and nothing else)."""
    check_timing(margin=margin, lease_seconds=lease, http_timeout=http_timeout)
    if not obj.verbose:  # -v: the full path, whose logging is what was asked for
        wanted = margin if min_ttl is None else max(margin, min_ttl)
        record = stored_token(obj.location, name, min_valid=wanted)
        if record is not None:
            click.echo(record.access_token)
            return
    keeper = obj.keeper(margin=margin, lease=lease, http_timeout=http_timeout,
                        refresh_on_demand=not no_refresh)
    click.echo(keeper.get(name, min_ttl=min_ttl, timeout=timeout))


@main.command()
@click.option("--poll", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="Look for new tokens at least this often (seconds).")
@click.option("--once", is_flag=True, help="One pass over the store, then exit.")
@_keeper_options
@click.pass_obj
def run(obj: _Context, poll, once, margin, lease, http_timeout):
    """Refresh every stored token MARGIN seconds before it expires, until SIGTERM/SIGINT."""
    from .worker import Worker

    worker = Worker(obj.keeper(margin=margin, lease=lease, http_timeout=http_timeout),
                    poll_interval=poll)
    if once:
        worker.run_once()
        return

    def _stop(signum, _frame):
        if worker.stop_event.is_set():  # a second signal: stop now
            raise SystemExit(128 + signum)
        logging.getLogger(__name__).info("%s: finishing up", signal.Signals(signum).name)
        worker.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    worker.run()


@main.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
@click.option("--timeout", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="How long a request may wait for a refresh in flight.")
@click.option("--max-concurrent", type=click.IntRange(1, 256), default=16, show_default=True)
@click.option("--no-refresh", is_flag=True, help="Never refresh here; wait for a worker.")
@_keeper_options
@click.pass_obj
def serve(obj: _Context, port, timeout, max_concurrent, no_refresh, margin, lease,
          http_timeout):
    """Serve GET /tokens/NAME on 127.0.0.1 (JSON {access_token, expires_in})."""
    from .server import make_server

    keeper = obj.keeper(margin=margin, lease=lease, http_timeout=http_timeout,
                        refresh_on_demand=not no_refresh)
    obj.store.entries()  # fail now, not on the first request, if the store is unusable
    try:
        server = make_server(keeper, port=port, max_concurrent=max_concurrent,
                             wait_timeout=timeout)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {exc}") from None

    def _stop(signum, _frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _stop)
    click.echo(f"serving http://127.0.0.1:{server.server_address[1]}/tokens/NAME", err=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()


@main.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per token.")
@click.pass_obj
def list_(obj: _Context, as_json):
    """List stored tokens: name, state, expiry, refreshes, last error."""
    now = time.time()
    rows = []
    for entry in obj.store.entries():
        rec = entry.record
        if rec is None:
            rows.append(dict(name=entry.name, state="corrupt", expires_at=None,
                             expires_in=None, refresh_count=None, username=None,
                             error=entry.error.problem))
            continue
        rows.append(dict(
            name=rec.name, state=rec.state, expires_at=_rfc3339(rec.access_expires_at),
            expires_in=(int(rec.ttl(now)) if rec.access_expires_at is not None else None),
            refresh_count=rec.refresh_count, username=rec.username, error=rec.error))
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    if not rows:
        click.echo(f"no tokens in {obj.store.display_url}", err=True)
        return
    table = [("NAME", "STATE", "EXPIRES", "IN", "REFRESHES", "ERROR")] + [
        (r["name"], r["state"], r["expires_at"] or "-",
         "-" if r["expires_in"] is None else (f"{r['expires_in']}s" if r["expires_in"] > 0
                                              else "expired"),
         "-" if r["refresh_count"] is None else str(r["refresh_count"]), r["error"] or "-")
        for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    for row in table:
        cells = [cell.ljust(w) for cell, w in zip(row[:5], widths, strict=True)]
        click.echo("  ".join(cells) + "  " + row[5])


@main.command()
@click.argument("name")
@click.pass_obj
def remove(obj: _Context, name):
    """Delete NAME from the store (the server's session stays until it expires)."""
    obj.store.remove(name)
    click.echo(f"removed {name!r}", err=True)
