"""``partsbin tokens create|list|revoke``: API tokens for scripts and CI."""

from __future__ import annotations

import datetime as dt

import click
from flask.cli import with_appcontext

from core.auth import ROLES
from core.auth.tokens import TokenError, create_token, list_tokens, parse_duration, revoke_token


@click.group("tokens")
def tokens_command() -> None:
    """Create, list and revoke API tokens (``Authorization: Bearer <token>``)."""


@tokens_command.command("create")
@click.option("--name", required=True, help="A unique name, e.g. ci-backup.")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the token may do.")
@click.option("--expires", default=None, help="Lifetime such as 90d, 12h or 2w (default: never).")
@with_appcontext
def create_command(name: str, role: str, expires: str | None) -> None:
    """Create a token and print it once (only its hash is stored)."""
    try:
        lifetime = parse_duration(expires) if expires else None
        created = create_token(name, role, lifetime)
    except TokenError as exc:
        raise click.ClickException(str(exc)) from exc
    expiry = _when(created.row.expires_at) if created.row.expires_at else "never"
    click.echo(f"token {name!r} ({role}, expires {expiry}); it is shown only once:", err=True)
    click.echo(created.secret)


@tokens_command.command("list")
@with_appcontext
def list_command() -> None:
    """List tokens: name, role, created, last used, expiry."""
    rows = list_tokens()
    if not rows:
        click.echo("no tokens")
        return
    header = ("NAME", "ROLE", "CREATED", "LAST USED", "EXPIRES")
    table = [header] + [
        (
            row.name,
            row.role,
            _when(row.created_at),
            _when(row.last_used_at) if row.last_used_at else "never",
            _when(row.expires_at) if row.expires_at else "never",
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for line in table:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))


@tokens_command.command("revoke")
@click.argument("name")
@with_appcontext
def revoke_command(name: str) -> None:
    """Revoke (delete) token NAME; requests with it are refused from then on."""
    if not revoke_token(name):
        raise click.ClickException(f"no token named {name!r}")
    click.echo(f"revoked {name!r}")


def _when(value: dt.datetime) -> str:
    return value.replace(microsecond=0).isoformat(sep=" ") + " UTC"
