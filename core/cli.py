"""The ``partsbin`` command line (Flask's click integration: commands run in an app context)."""

from __future__ import annotations

import json
import sys

import click
from flask import Flask
from flask.cli import FlaskGroup, ScriptInfo, with_appcontext

from core.app import create_app
from core.auth.bind import unsafe_bind_refusal
from core.config import ConfigError, load_settings
from core.migrate import apply_migrations, migrations_for
from core.migrations_runner import MigrationError
from core.plugins import PluginError, describe_plugins
from core.state import get_state


def _create_app() -> Flask:
    try:
        return create_app()
    except (ConfigError, PluginError) as exc:
        raise click.ClickException(str(exc)) from exc


class PartsbinGroup(FlaskGroup):
    """The command group. Every command beyond ``plugins``, ``migrate`` and ``serve`` (the core's
    ``check`` and ``gc`` too) arrives through the ``register_commands`` hook of the plugins of the
    one app the command runs in."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(create_app=_create_app, add_version_option=False, **kwargs)  # type: ignore[arg-type]
        self._partsbin_commands_loaded = False

    def _load_partsbin_commands(self, ctx: click.Context) -> None:
        if self._partsbin_commands_loaded:
            return
        self._partsbin_commands_loaded = True
        try:
            app = ctx.ensure_object(ScriptInfo).load_app()
        except click.ClickException as exc:
            click.echo(f"warning: plugin commands are not available: {exc.message}", err=True)
            return
        get_state(app).plugin_manager.hook.register_commands(cli=self)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_partsbin_commands(ctx)
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands:
            self._load_partsbin_commands(ctx)
        return super().get_command(ctx, name)


cli = PartsbinGroup(help="Partsbin: a self-hosted electronics parts inventory backend.")


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@with_appcontext
def plugins_command(as_json: bool) -> None:
    """List the loaded plugins and the hooks each implements."""
    rows = describe_plugins(get_state().plugin_manager)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        origin = f"  ({row['distribution']})" if row["distribution"] else ""
        click.echo(f"{row['name']}{origin}")
        for hook in row["hooks"]:
            click.echo(f"    {hook}")


@cli.command("migrate")
@click.option("--status", "show_status", is_flag=True, help="Show applied and pending migrations.")
@click.option(
    "--rollback",
    "rollback",
    type=int,
    default=None,
    is_flag=False,
    flag_value=1,
    help="Undo the last N applied migrations (default 1), newest first, across all sources.",
)
@click.option("--source", "source", default=None, help="Limit --rollback and --status to a source.")
@click.option("--dry-run", "dry_run", is_flag=True, help="With --rollback: list, change nothing.")
@with_appcontext
def migrate_command(
    show_status: bool, rollback: int | None, source: str | None, dry_run: bool
) -> None:
    """Apply pending migrations (core first, then plugins), then backfill attachment sets.

    ``--rollback N`` undoes the last N migrations in the order they were applied, refusing (and
    changing nothing) if that would undo a migration an applied dependent source relies on.
    """
    state = get_state()
    migrations = migrations_for(state)
    try:
        if show_status:
            for row in migrations.status(source):
                click.echo(f"{row['source']}:")
                for name in row["applied"]:
                    click.echo(f"  [x] {name}")
                for name in row["pending"]:
                    click.echo(f"  [ ] {name}")
            return
        if rollback is not None:
            if rollback < 1:
                raise click.BadParameter("must be at least 1", param_hint="--rollback")
            if dry_run:
                plan = migrations.plan_rollback(rollback, source)
                for migration in plan:
                    click.echo(f"would roll back {migration}")
                if not plan:
                    click.echo("nothing to roll back")
                return
            rolled = migrations.rollback(rollback, source)
            for name in rolled:
                click.echo(f"rolled back {name}")
            if not rolled:
                click.echo("nothing to roll back")
            return
    except MigrationError as exc:
        raise click.ClickException(str(exc)) from exc
    if source is not None or dry_run:
        raise click.UsageError("--source and --dry-run go with --rollback or --status")
    report = apply_migrations(state)
    for name in report.applied:
        click.echo(f"applied {name}")
    if not report.applied:
        click.echo("no pending migrations")
    for entity, count in report.backfilled.items():
        if count:
            click.echo(f"backfilled {count} attachment set(s) for {entity}")


@cli.command("serve")
@click.option("--host", default=None, help="Bind address (default: PARTSBIN_HOST).")
@click.option("--port", type=int, default=None, help="Port (default: PARTSBIN_PORT).")
@click.option("--workers", type=int, default=None, help="Worker processes (PARTSBIN_WORKERS).")
@click.option("--threads", type=int, default=None, help="Threads per worker (PARTSBIN_THREADS).")
@click.option("--migrate", "migrate_first", is_flag=True, help="Apply pending migrations first.")
def serve_command(
    host: str | None,
    port: int | None,
    workers: int | None,
    threads: int | None,
    migrate_first: bool,
) -> None:
    """Serve the API with gunicorn (a production WSGI server)."""
    from core.serve import serve

    try:
        settings = load_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    bind_host = host or settings.host
    refusal = unsafe_bind_refusal(settings, bind_host)
    if refusal:
        raise click.ClickException(refusal)
    if migrate_first:
        app = click.get_current_context().ensure_object(ScriptInfo).load_app()
        with app.app_context():
            report = apply_migrations(get_state(app))
        for name in report.applied:
            click.echo(f"applied {name}", err=True)
        get_state(app).database.close()
    serve(
        host=bind_host,
        port=port or settings.port,
        workers=workers or settings.workers,
        threads=threads or settings.threads,
        log_level=settings.log_level,
    )


def main() -> None:
    """Console-script entry point."""
    sys.exit(cli.main())

