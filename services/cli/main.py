"""The ``atende`` command: every process and every operation without a cluster."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click
from click.exceptions import NoArgsIsHelpError

from services.core.config import get_settings, serving_settings
from services.core.logging import configure_logging, server_logging_config
from services.core.tenants.manifest import load_manifests
from services.core.tenants.messages import deprecations

from . import admin, audit, contacts, secrets, users
from .failures import CommandFailed, explain, usage_line
from .output import Column, emit, emit_one, output_option


def _run[T](work: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(_await(work))


async def _await[T](work: Callable[[], Awaitable[T]]) -> T:
    return await work()


_SERVERS = {"api", "worker", "operator", "dev"}  # they configure their own logs


class _Atende(click.Group):
    """Failures a user can fix print as one ``error:`` line each, exit code 1 (failures.py);
    a wrong option or argument too, naming the help to read. Subcommands' failures all pass
    through this group's invoke."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:  # fmt: skip
        try:
            return super().make_context(info_name, args, parent, **extra)
        except NoArgsIsHelpError:
            raise  # a bare group prints its help, as before
        except click.UsageError as exc:
            raise CommandFailed([usage_line(exc)]) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NoArgsIsHelpError:
            raise
        except click.UsageError as exc:
            raise CommandFailed([usage_line(exc)]) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            lines = explain(exc)
            if lines is None:
                raise
            raise CommandFailed(lines) from None


@click.group(cls=_Atende)
@click.version_option(package_name="atende", message="atende %(version)s")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Atende: an AI attendant for WhatsApp helpdesks that run Whaticket."""
    if ctx.invoked_subcommand not in _SERVERS:
        # Warnings of a one-off command go to stderr, so stdout stays what the command prints.
        configure_logging("console", "WARNING")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="uvicorn processes")
def api(host: str, port: int, workers: int) -> None:
    """Serve webhooks, health and metrics."""
    import uvicorn

    settings = serving_settings()
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
        # Its "Exception in ASGI application" tracebacks are masked as every other log line.
        log_config=server_logging_config(settings.log_format, settings.log_level),
        timeout_graceful_shutdown=20,
    )


@cli.command()
def worker() -> None:
    """Run turns, sends and the sweeper (arq)."""
    from services.worker.main import run

    run(serving_settings())


@cli.command()
@click.option(
    "-n", "--namespace", "namespaces", multiple=True,
    help="watch this namespace (repeatable; globs allowed); default: all namespaces",
)  # fmt: skip
@click.option("--liveness-port", default=8080, show_default=True, type=int)
def operator(namespaces: tuple[str, ...], liveness_port: int) -> None:
    """Reconcile BotTenant resources into tenants (kopf, standalone)."""
    from atende_operator.main import run

    run(serving_settings(), namespaces=namespaces, liveness_port=liveness_port)


@cli.group()
def migrate() -> None:
    """Database schema migrations (Alembic)."""


@migrate.command("upgrade")
@click.argument("revision", default="head")
def migrate_upgrade(revision: str) -> None:
    """Take the schema up to REVISION (as ATENDE_MIGRATION_DATABASE_URL's role, when set) and
    grant ATENDE_DATABASE_URL's role what the runtime needs."""
    from services.core import db_roles, schema

    url, role = db_roles.migration_target(get_settings())
    schema.upgrade(url, revision, runtime_role=role)
    click.echo(f"database at {schema.current(url) or 'base'}")


@migrate.command("downgrade")
@click.argument("revision")
def migrate_downgrade(revision: str) -> None:
    """Take the schema down to REVISION; `head` is this image's own head (helm rollback's
    hook). Revisions this image does not ship run from the scripts the database recorded."""
    from services.core import db_roles, schema

    url, role = db_roles.migration_target(get_settings())
    schema.downgrade(url, revision, runtime_role=role)
    click.echo(f"database at {schema.current(url) or 'base'}")


@migrate.command("current")
def migrate_current() -> None:
    from services.core import schema

    click.echo(schema.current(get_settings().migration_url) or "base (empty database)")


@cli.group()
def tenants() -> None:
    """Client companies (BotTenant)."""


@tenants.command("apply")
@click.option("-f", "--filename", "path", required=True, type=click.Path(path_type=Path))
@click.option(
    "--dry-run", is_flag=True, help="validate and show the spec diff against what is stored; "
    "write nothing",
)  # fmt: skip
def tenants_apply(path: Path, dry_run: bool) -> None:
    """Create or update tenants from a YAML file of BotTenants and Secrets."""
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text()
    except OSError as exc:
        raise CommandFailed([f"cannot read {path}: {exc.strerror}"]) from None
    except UnicodeDecodeError:
        raise CommandFailed([f"cannot read {path}: not UTF-8 text"]) from None
    if dry_run:
        for plan in _run(lambda: admin.plan_file(get_settings(), text)):
            note = f": {plan.note}" if plan.note else ""
            click.echo(f"bottenant/{plan.name} {plan.outcome} (dry run){note}")
            click.echo("".join(plan.diff), nl=False)
    else:
        for result in _run(lambda: admin.apply_file(get_settings(), text)):
            click.echo(f"bottenant/{result.name} {result.outcome} (version {result.version})")
            for owned in result.panel_owned:  # spec.delegation: the file's value is not used
                click.echo(
                    f"  spec.{owned.field.value}: edited in the panel (last by "
                    f"{owned.updated_by}, {owned.status()['updatedAt']}); left as it is"
                )
    for manifest in load_manifests(text)[0]:  # it loaded above; what it says the old way
        for note in deprecations(manifest.spec.persona, manifest.spec.messages):
            click.echo(f"warning: bottenant/{manifest.name}: {note}", err=True)


@tenants.command("list")
@output_option
def tenants_list(output: str) -> None:
    rows = _run(lambda: admin.list_tenants(get_settings()))
    columns = [
        Column("name", "NAME", 24, value=lambda t: t.slug),
        Column("enabled", "ENABLED", 8),
        Column("paused", "PAUSED", 7),
        Column("version", "VERSION", 8),
        Column("display_name", "DISPLAY NAME"),
        Column("source"),
        Column("model_override"),
    ]
    emit(rows, columns, output)


@tenants.command("show")
@click.argument("name")
@output_option
def tenants_show(name: str, output: str) -> None:
    """NAME as stored: its switches and the spec in force (the applied one, with the fields
    its admins edited in the panel under spec.delegation; secrets only by name)."""
    tenant = _run(lambda: admin.get_tenant(get_settings(), name))
    record = {
        "name": tenant.slug,
        "display_name": tenant.display_name,
        "enabled": tenant.enabled,
        "paused": tenant.paused,
        "pause_reason": tenant.pause_reason,
        "model_override": tenant.model_override,
        "version": tenant.version,
        "source": tenant.source,
        "spec": tenant.spec,
    }
    emit_one(record, output)


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
@output_option
def dlq_list(show_all: bool, output: str) -> None:
    rows = _run(lambda: admin.list_dead_letters(get_settings(), show_all=show_all))
    columns = [
        Column("id", "ID", 6),
        Column("tenant", "TENANT", 16, value=lambda d: d.context.get("tenant", "?")),
        Column("stage", "STAGE", 6),
        Column("error_class", "ERROR", 28),
        Column("attempts", "TRIES", 6),
        Column("status", "STATUS", 9),
        Column("created_at", "AT"),
        Column("resolved_at"),
    ]
    emit(rows, columns, output)


@dlq.command("replay")
@click.argument("ids", nargs=-1, type=int, required=True)
def dlq_replay(ids: tuple[int, ...]) -> None:
    """Put dead letters back in the pipeline; a letter already replayed is left alone."""
    for outcome in _run(lambda: admin.replay_dead_letters(get_settings(), list(ids))):
        click.echo(outcome)


@cli.group()
def handoffs() -> None:
    """Conversations handed to a person, and giving them back to the bot."""


@handoffs.command("list")
@click.option("--all", "show_all", is_flag=True, help="include resolved handoffs")
@output_option
def handoffs_list(show_all: bool, output: str) -> None:
    rows = _run(lambda: admin.list_handoffs(get_settings(), show_all=show_all))
    columns = [
        Column("id", "ID", 6),
        Column("conversation_id", "CONV", 7),
        Column("trigger", "TRIGGER", 9),
        Column("status", "STATUS", 12),
        Column("ticket_id", "TICKET", 7),
        Column("note_status", "NOTE", 11),  # posted into the ticket, panel_only, failed
        Column("sla", "SLA", 4, value=lambda h: "late" if h.sla_breached_at else "ok"),
        Column("created_at", "AT"),
        Column("resolved_at"),
        Column("summary"),
    ]
    emit(rows, columns, output, note=lambda record: record["summary"].get("intent"))


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
@output_option
def events_list(tenant: str, output: str) -> None:
    """The tenant's latest deliveries, newest first."""
    rows = _run(lambda: admin.list_event_deliveries(get_settings(), tenant))
    columns = [
        Column("id", "ID", 8),
        Column("event", "EVENT", 22, value=lambda e: e.event_type),
        Column("subscription", "SUBSCRIPTION", 16),
        Column("status", "STATUS", 10),
        Column("attempts", "TRIES", 6),
        Column("http_status", "HTTP", 5, value=lambda e: e.last_status),
        Column("created_at", "AT"),
        Column("last_error"),
        Column("delivered_at"),
    ]
    emit(rows, columns, output)


@events_group.command("enable")
@click.argument("tenant")
@click.argument("subscription")
def events_enable(tenant: str, subscription: str) -> None:
    """Switch a subscription back on after it was switched off for failing."""
    if _run(lambda: admin.enable_event_subscription(get_settings(), tenant, subscription)):
        click.echo(f"{tenant}/{subscription} enabled; its waiting deliveries go out now")
    else:
        click.echo(f"{tenant}/{subscription} was not switched off")


cli.add_command(audit.group)
cli.add_command(contacts.group)
cli.add_command(secrets.group)
cli.add_command(users.group)


@cli.command()
@click.option("--port", default=8000, show_default=True, type=int)
def dev(port: int) -> None:
    """Everything on this machine: embedded Postgres and Redis, demo tenant, api and worker."""
    from .dev import run_dev

    run_dev(port)


def main(argv: list[str] | None = None) -> Any:
    return cli.main(args=argv)
