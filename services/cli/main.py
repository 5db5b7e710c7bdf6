"""The ``atende`` command: every process and every operation without a cluster."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click

from services.core.config import get_settings
from services.core.errors import AtendeError
from services.core.logging import configure_logging

from . import admin


def _run[T](work: Callable[[], Awaitable[T]]) -> T:
    try:
        return asyncio.run(_await(work))
    except AtendeError as exc:
        for line in getattr(exc, "problems", None) or [exc.message]:
            click.echo(f"error: {line}", err=True)
        sys.exit(2)


async def _await[T](work: Callable[[], Awaitable[T]]) -> T:
    return await work()


@click.group()
def cli() -> None:
    """Atende: an AI attendant for WhatsApp helpdesks that run Whaticket."""


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="uvicorn processes")
def api(host: str, port: int, workers: int) -> None:
    """Serve webhooks, health and metrics."""
    import uvicorn

    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    uvicorn.run(
        "services.api.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,  # it would print webhook secrets; our own request log masks them
        log_level="warning",
        timeout_graceful_shutdown=20,
    )


@cli.command()
def worker() -> None:
    """Run turns, sends and the sweeper (arq)."""
    from services.worker.main import run

    run()


@cli.group()
def migrate() -> None:
    """Database schema migrations (Alembic)."""


@migrate.command("upgrade")
@click.argument("revision", default="head")
def migrate_upgrade(revision: str) -> None:
    from services.core import schema

    schema.upgrade(get_settings().database_url, revision)
    click.echo(f"database at {schema.current(get_settings().database_url) or 'base'}")


@migrate.command("downgrade")
@click.argument("revision")
def migrate_downgrade(revision: str) -> None:
    from services.core import schema

    schema.downgrade(get_settings().database_url, revision)
    click.echo(f"database at {schema.current(get_settings().database_url) or 'base'}")


@migrate.command("current")
def migrate_current() -> None:
    from services.core import schema

    click.echo(schema.current(get_settings().database_url) or "base (empty database)")


@cli.group()
def tenants() -> None:
    """Client companies (BotTenant)."""


@tenants.command("apply")
@click.option("-f", "--filename", "path", required=True, type=click.Path(path_type=Path))
def tenants_apply(path: Path) -> None:
    """Create or update tenants from a YAML file of BotTenants and Secrets."""
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text()
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from None
    for result in _run(lambda: admin.apply_file(get_settings(), text)):
        click.echo(f"bottenant/{result.name} {result.outcome} (version {result.version})")


@tenants.command("list")
def tenants_list() -> None:
    rows = _run(lambda: admin.list_tenants(get_settings()))
    click.echo(f"{'NAME':<24} {'ENABLED':<8} {'VERSION':<8} DISPLAY NAME")
    for row in rows:
        click.echo(f"{row.slug:<24} {row.enabled!s:<8} {row.version:<8} {row.display_name}")


@cli.group()
def dlq() -> None:
    """Dead letters: turns that could not complete."""


@dlq.command("list")
@click.option("--all", "show_all", is_flag=True, help="include replayed and discarded")
def dlq_list(show_all: bool) -> None:
    rows = _run(lambda: admin.list_dead_letters(get_settings(), show_all=show_all))
    click.echo(f"{'ID':<6} {'TENANT':<16} {'STAGE':<6} {'ERROR':<28} {'TRIES':<6} {'STATUS':<9} AT")
    for row in rows:
        click.echo(
            f"{row.id:<6} {row.context.get('tenant', '?'):<16} {row.stage:<6} "
            f"{row.error_class:<28} {row.attempts:<6} {row.status:<9} "
            f"{row.created_at:%Y-%m-%d %H:%M:%S}"
        )


@dlq.command("replay")
@click.argument("ids", nargs=-1, type=int, required=True)
def dlq_replay(ids: tuple[int, ...]) -> None:
    """Put dead letters back in the pipeline; a letter already replayed is left alone."""
    for outcome in _run(lambda: admin.replay_dead_letters(get_settings(), list(ids))):
        click.echo(outcome)


@cli.command()
@click.option("--port", default=8000, show_default=True, type=int)
def dev(port: int) -> None:
    """Everything on this machine: embedded Postgres and Redis, demo tenant, api and worker."""
    from .dev import run_dev

    run_dev(port)


def main(argv: list[str] | None = None) -> Any:
    return cli.main(args=argv)
