"""flask users / tokens / keys commands."""

from __future__ import annotations

import os
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from .api.auth.schemas import UserCreate
from .errors import ApiError, ValidationError
from .extensions import db

users_cli = AppGroup("users", help="Manage users.")
tokens_cli = AppGroup("tokens", help="Maintain the token blacklist and sessions.")
keys_cli = AppGroup("keys", help="Signing keys.")
clients_cli = AppGroup("clients", help="Service clients (client_credentials, introspection).")
audit_cli = AppGroup("audit", help="The audit log of security events.")


@users_cli.command("create")
@click.argument("email")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="the password (prompted for when left out)")
@click.option("--name", default=None)
@click.option("--admin", is_flag=True, help="make the user an administrator")
def create_user_command(email: str, password: str, name: str | None, admin: bool) -> None:
    """Add a user."""
    from .api.validation import validate
    from .services.users import add_user

    try:
        data = validate(UserCreate, {"email": email, "password": password,
                                     **({"name": name} if name else {})})
        user = add_user(email=data["email"], password=data["password"],
                        name=data.get("name"), admin=admin, method="cli")
    except ValidationError as exc:
        problems = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.errors.items())
        raise click.ClickException(problems) from None
    except ApiError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo(f"created {'admin' if admin else 'user'} {user.email} ({user.public_id})")


@tokens_cli.command("purge")
def purge_command() -> None:
    """Delete blacklist rows and sessions whose tokens are expired anyway."""
    from .services.maintenance import purge_expired

    removed = purge_expired()
    click.echo(f"removed {removed['blacklist']} blacklist rows and "
               f"{removed['sessions']} sessions")


@keys_cli.command("generate")
@click.option("--algorithm", type=click.Choice(["RS256", "ES256", "EdDSA"]), default="ES256",
              show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="where to write the PEM (default: instance/keys/<kid>.pem)")
def generate_key_command(algorithm: str, out: str | None) -> None:
    """Write a new private signing key (PEM, mode 0600) and print its kid."""
    from flask import current_app

    from .security.keys import generate_private_key_pem, load_key_file

    pem = generate_private_key_pem(algorithm)
    target = Path(out) if out else None
    if target is None:
        folder = Path(current_app.instance_path) / "keys"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{algorithm.lower()}-{os.urandom(4).hex()}.pem"
    if target.exists():
        raise click.ClickException(f"{target} exists; not overwriting a key")
    # A folder made here for keys is private to the owner.
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    key = load_key_file(target)
    click.echo(f"wrote {target}")
    click.echo(f"kid {key.kid}")
    click.echo(f"use: JWT_ALGORITHM={algorithm} JWT_PRIVATE_KEY_FILE={target}")


@clients_cli.command("create")
@click.argument("name")
def create_client_command(name: str) -> None:
    """Register a client; its secret is printed once and stored only as a digest."""
    from .services.clients import create_client

    try:
        new = create_client(name)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"client_id: {new.client.client_id}")
    click.echo(f"client_secret: {new.secret}")
    click.echo("Store the secret now: it cannot be shown again.", err=True)


@clients_cli.command("list")
def list_clients_command() -> None:
    """Every client: id, creation time, name (never a secret)."""
    from .clock import rfc3339
    from .services.clients import list_clients

    for client in list_clients():
        click.echo(f"{client.client_id}  {rfc3339(client.created_at)}  {client.name}")


@clients_cli.command("delete")
@click.argument("client_id")
def delete_client_command(client_id: str) -> None:
    """Delete a client: every token it holds stops working at once."""
    from .services.clients import delete_client

    try:
        delete_client(client_id)
    except ApiError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo(f"deleted client {client_id}")
@audit_cli.command("purge")
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1, 100_000),
              help="events deleted per transaction")
def audit_purge_command(batch_size: int) -> None:
    """Delete audit events older than AUDIT_RETENTION, in batches (safe while serving)."""
    from .services.audit import purge

    removed = purge(batch_size=batch_size)
    click.echo(f"removed {removed} audit events")


def register_cli(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(tokens_cli)
    app.cli.add_command(keys_cli)
    app.cli.add_command(clients_cli)
    app.cli.add_command(audit_cli)

    from .mail_cli import mail_cli

    app.cli.add_command(mail_cli)
