"""``atende users``: who signs in to the panel and the admin API, and taking access away.

Every change but ``create`` ends all of the user's sessions at once (their next request is
refused) and is audited with the OS user who ran the command. The CLI acts as a platform
admin: it reaches every tenant's users.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import click
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.auth import accounts, invitations
from services.core.auth.roles import Role
from services.core.config import Settings, get_settings
from services.core.db import create_engine, create_sessionmaker, transaction
from services.core.models import User
from services.core.tenants.queries import tenant_id_of

from . import admin
from .output import Column, emit, output_option

ROLES = click.Choice([r.value for r in Role])
type Change[T] = Callable[[AsyncSession, accounts.Manager, User], Awaitable[T]]


def _read_password(from_stdin: bool) -> str:
    """Asked for, or one line of stdin; never an argument (it would stay in shell history)."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


async def _change[T](
    settings: Settings,
    email: str,
    work: Change[T],
) -> T:
    """One transaction: the user (NotFound if none), then the change, as a platform admin."""
    manager = accounts.Manager.platform(admin.os_actor())
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            user = await accounts.managed_user(session, manager, email=email)
            return await work(session, manager, user)
    finally:
        await engine.dispose()


def _apply[T](email: str, work: Change[T]) -> T:
    return asyncio.run(_change(get_settings(), email, work))


@click.group("users")
def group() -> None:
    """People who sign in to the panel and the admin API."""


@group.command("create")
@click.option("--email", required=True)
@click.option("--role", required=True, type=ROLES)
@click.option("--tenant", help="the tenant's name (every role but platform_admin)")
@click.option("--password-stdin", is_flag=True, help="read the password from stdin")
def create(email: str, role: str, tenant: str | None, password_stdin: bool) -> None:
    """Create a user; the password is asked for."""
    password = _read_password(password_stdin)
    user = asyncio.run(admin.create_user(get_settings(), email, Role(role), tenant, password))
    click.echo(f"user {user.email} created ({user.role}{f', tenant {tenant}' if tenant else ''})")


@group.command("list")
@output_option
def list_users(output: str) -> None:
    rows = asyncio.run(admin.list_users(get_settings()))
    columns = [
        Column("id", "ID", 5, value=lambda r: r[0].id),
        Column("email", "E-MAIL", 36, value=lambda r: r[0].email),
        Column("role", "ROLE", 15, value=lambda r: r[0].role),
        Column("tenant", "TENANT", 16, value=lambda r: r[1]),
        Column("active", "ACTIVE", value=lambda r: r[0].active),
    ]
    emit(rows, columns, output)


@group.command("disable")
@click.argument("email")
def disable(email: str) -> None:
    """Stop a user signing in; their sessions end at once."""
    changed = _apply(email, lambda s, m, u: accounts.set_active(s, m, u, False))
    click.echo(f"user {email} disabled" if changed else f"user {email} was already disabled")


@group.command("enable")
@click.argument("email")
def enable(email: str) -> None:
    """Let a disabled user sign in again."""
    changed = _apply(email, lambda s, m, u: accounts.set_active(s, m, u, True))
    click.echo(f"user {email} enabled" if changed else f"user {email} was already enabled")


@group.command("set-role")
@click.argument("email")
@click.argument("role", type=ROLES)
@click.option("--tenant", help="move the user to this tenant (every role but platform_admin)")
def set_role(email: str, role: str, tenant: str | None) -> None:
    """Give a user another role; their sessions end at once."""

    async def work(session: AsyncSession, manager: accounts.Manager, user: User) -> bool:
        tenant_id = None if tenant is None else await tenant_id_of(session, tenant)
        return await accounts.set_role(session, manager, user, Role(role), tenant_id)

    changed = _apply(email, work)
    click.echo(f"user {email} is now {role}" if changed else f"user {email} already is {role}")


@group.command("revoke-sessions")
@click.argument("email")
def revoke_sessions(email: str) -> None:
    """End every session of a user (signed out everywhere; the account stays)."""
    ended = _apply(email, lambda s, m, u: accounts.revoke_sessions(s, m, u))
    click.echo(f"user {email}: {ended} session(s) ended")


@group.command("reset-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="read the new password from stdin")
def reset_password(email: str, password_stdin: bool) -> None:
    """Set a new password; the user's sessions end at once."""
    password = _read_password(password_stdin)
    _apply(email, lambda s, m, u: accounts.reset_password(s, m, u, password))
    click.echo(f"user {email}: password reset, sessions ended")


async def _invite(
    settings: Settings, email: str, role: Role, tenant: str | None
) -> invitations.Issued:
    manager = accounts.Manager.platform(admin.os_actor())
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            tenant_id = None if tenant is None else await tenant_id_of(session, tenant)
            return await invitations.invite(
                session, manager, email=email, role=role, tenant_id=tenant_id,
                now=datetime.now(UTC),
            )  # fmt: skip
    finally:
        await engine.dispose()


@group.command("invite")
@click.argument("email")
@click.option("--role", required=True, type=ROLES)
@click.option("--tenant", help="the tenant's name (every role but platform_admin)")
@click.option(
    "--panel-url",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="where people reach the panel: the link starts with it",
)
def invite(email: str, role: str, tenant: str | None, panel_url: str) -> None:
    """Invite someone: prints a one-time link (valid 72 h) to pass on; opening it, they choose
    a password and are signed in. Inviting the e-mail again replaces the earlier link."""
    issued = asyncio.run(_invite(get_settings(), email, Role(role), tenant))
    where = f", tenant {issued.tenant}" if issued.tenant else ""
    click.echo(
        f"invitation for {issued.email} ({issued.role}{where}), "
        f"valid until {issued.expires_at:%Y-%m-%d %H:%M} UTC:"
    )
    click.echo(invitations.link(panel_url, issued.token))
