"""The ``atende`` command: every process and every operation without a cluster."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click

from services.core.auth.roles import Role
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
        # The source IP is ours to derive (ATENDE_TRUSTED_PROXY_HOPS), never X-Forwarded-For
        # trusted by default.
        proxy_headers=False,
        log_level="warning",
        timeout_graceful_shutdown=20,
    )


@cli.command()
def worker() -> None:
    """Run turns, sends and the sweeper (arq)."""
    from services.worker.main import run

    run()


@cli.command()
@click.option(
    "-n", "--namespace", "namespaces", multiple=True,
    help="watch this namespace (repeatable; globs allowed); default: all namespaces",
)  # fmt: skip
@click.option("--liveness-port", default=8080, show_default=True, type=int)
def operator(namespaces: tuple[str, ...], liveness_port: int) -> None:
    """Reconcile BotTenant resources into tenants (kopf, standalone)."""
    from atende_operator.main import run

    run(get_settings(), namespaces=namespaces, liveness_port=liveness_port)


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


@tenants.command("pause")
@click.argument("name")
@click.option("--reason", required=True, help="why (kept on the tenant and in the audit log)")
def tenants_pause(name: str, reason: str) -> None:
    """Stop the bot answering NAME's customers; their messages are still stored."""
    result = _run(lambda: admin.pause_tenant(get_settings(), name, reason, admin.os_actor()))
    click.echo(f"bottenant/{name} paused ({result.outcome}, version {result.version})")


@tenants.command("resume")
@click.argument("name")
def tenants_resume(name: str) -> None:
    """Answer again; what waited is answered once per conversation (see turns/backlog.py)."""
    done = _run(lambda: admin.resume_tenant(get_settings(), name, admin.os_actor()))
    click.echo(
        f"bottenant/{name} resumed ({done.switch.outcome}, version {done.switch.version}): "
        f"{done.queued} conversation(s) queued, {done.backlog.expired_conversations} expired "
        f"({done.backlog.expired_messages} message(s) older than contextTtlMinutes, unanswered)"
    )


@tenants.command("model")
@click.argument("name")
@click.argument("model", required=False)
@click.option("--clear", is_flag=True, help="use spec.llm.model again")
def tenants_model(name: str, model: str | None, clear: bool) -> None:
    """Force MODEL for NAME's turns instead of spec.llm.model (or --clear the override)."""
    if clear == (model is not None):
        raise click.UsageError("give either MODEL or --clear")
    result = _run(lambda: admin.force_model(get_settings(), name, model, admin.os_actor()))
    shown = model or "spec.llm.model"
    click.echo(f"bottenant/{name} model {shown} ({result.outcome}, version {result.version})")


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


@cli.group()
def users() -> None:
    """People who sign in to the panel and the admin API."""


@users.command("create")
@click.option("--email", required=True)
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--tenant", help="the tenant's name (every role but platform_admin)")
@click.option("--password-stdin", is_flag=True, help="read the password from stdin")
def users_create(email: str, role: str, tenant: str | None, password_stdin: bool) -> None:
    """Create a user; the password is asked for (never an argument: it would stay in history)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    user = _run(lambda: admin.create_user(get_settings(), email, Role(role), tenant, password))
    click.echo(f"user {user.email} created ({user.role}{f', tenant {tenant}' if tenant else ''})")


@users.command("list")
def users_list() -> None:
    click.echo(f"{'ID':<5} {'E-MAIL':<36} {'ROLE':<15} {'TENANT':<16} ACTIVE")
    for user, tenant in _run(lambda: admin.list_users(get_settings())):
        click.echo(
            f"{user.id:<5} {user.email:<36} {user.role:<15} {tenant or '-':<16} {user.active}"
        )


@cli.group()
def handoffs() -> None:
    """Conversations handed to a person, and giving them back to the bot."""


@handoffs.command("list")
@click.option("--all", "show_all", is_flag=True, help="include resolved handoffs")
def handoffs_list(show_all: bool) -> None:
    rows = _run(lambda: admin.list_handoffs(get_settings(), show_all=show_all))
    click.echo(f"{'ID':<6} {'CONV':<7} {'TRIGGER':<9} {'STATUS':<12} {'TICKET':<7} {'SLA':<4} AT")
    for row in rows:
        breached = "late" if row.sla_breached_at else "ok"
        click.echo(
            f"{row.id:<6} {row.conversation_id:<7} {row.trigger:<9} {row.status:<12} "
            f"{row.ticket_id or '-'!s:<7} {breached:<4} {row.created_at:%Y-%m-%d %H:%M:%S}"
        )
        if row.summary.get("intent"):
            click.echo(f"       {row.summary['intent']}")


@handoffs.command("resume")
@click.argument("tenant")
@click.argument("phone")
def handoffs_resume(tenant: str, phone: str) -> None:
    """Give a contact's conversation back to the bot now (the agent can also send #bot)."""
    resumed = _run(lambda: admin.resume_contact(get_settings(), tenant, phone))
    click.echo(f"{resumed} conversation(s) back with the bot")


@cli.group("events")
def events_group() -> None:
    """Workflow events sent to a tenant's automations (Standard Webhooks)."""


@events_group.command("list")
@click.argument("tenant")
def events_list(tenant: str) -> None:
    """The tenant's latest deliveries, newest first."""
    rows = _run(lambda: admin.list_event_deliveries(get_settings(), tenant))
    click.echo(f"{'ID':<8} {'EVENT':<22} {'SUBSCRIPTION':<16} {'STATUS':<10} {'TRIES':<6} "
               "HTTP  AT")  # fmt: skip
    for row in rows:
        click.echo(
            f"{row.id:<8} {row.event_type:<22} {row.subscription:<16} {row.status:<10} "
            f"{row.attempts:<6} {row.last_status or '-':<5} {row.created_at:%Y-%m-%d %H:%M:%S}"
        )


@events_group.command("enable")
@click.argument("tenant")
@click.argument("subscription")
def events_enable(tenant: str, subscription: str) -> None:
    """Switch a subscription back on after it was switched off for failing."""
    if _run(lambda: admin.enable_event_subscription(get_settings(), tenant, subscription)):
        click.echo(f"{tenant}/{subscription} enabled; its waiting deliveries go out now")
    else:
        click.echo(f"{tenant}/{subscription} was not switched off")


@cli.command()
@click.option("--port", default=8000, show_default=True, type=int)
def dev(port: int) -> None:
    """Everything on this machine: embedded Postgres and Redis, demo tenant, api and worker."""
    from .dev import run_dev

    run_dev(port)


def main(argv: list[str] | None = None) -> Any:
    return cli.main(args=argv)
