"""``atende users invite``: the installed command against real Postgres prints a one-time link
on the panel's address; opening it (accepting) creates the user with the role, once."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from services.core.auth import invitations
from services.core.db import SessionMaker, transaction
from services.core.models import AuditEvent, User, UserInvitation
from tests.cli.conftest import Cli

LINE = re.compile(
    r"invitation for ana@acme\.example \(tenant_admin, tenant acme\), "
    r"valid until (\d{4}-\d\d-\d\d \d\d:\d\d) UTC:\n"
    r"(https://panel\.acme\.example/panel/invite/([A-Za-z0-9_-]{40,}))\n"
)


async def test_inviting_from_the_command_line(
    atende: Cli, clean_db: SessionMaker, applied: Path
) -> None:
    before = datetime.now(UTC)
    ran = atende(
        "users", "invite", "Ana@Acme.Example", "--role", "tenant_admin", "--tenant", "acme",
        "--panel-url", "https://panel.acme.example/",
    )  # fmt: skip
    assert ran.code == 0, ran
    match = LINE.fullmatch(ran.out)
    assert match, ran.out
    until = datetime.strptime(match[1], "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    expected = before + timedelta(hours=invitations.VALID_HOURS)
    assert abs(until - expected) < timedelta(minutes=2)
    token = match[3]

    missing = atende("users", "invite", "bob@acme.example", "--role", "agent")
    assert (missing.code, missing.err) == (1, "error: a agent belongs to a tenant (--tenant)\n")
    unknown = atende("users", "invite", "bob@x.example", "--role", "agent", "--tenant", "nope")
    assert unknown.code == 1
    assert unknown.err == "error: no tenant 'nope'\n"

    async with transaction(clean_db) as session:
        user = await invitations.accept(session, token, "uma-senha-bem-longa-1", now=before)
    assert (user.email, user.role) == ("ana@acme.example", "tenant_admin")
    with pytest.raises(invitations.InvitationUnusable):
        async with transaction(clean_db) as session:
            await invitations.accept(session, token, "uma-senha-bem-longa-1", now=before)
    taken = atende("users", "invite", "ana@acme.example", "--role", "agent", "--tenant", "acme")
    assert (taken.code, taken.err) == (1, "error: a user with this e-mail exists\n")
    async with clean_db() as session:
        [row] = list(await session.scalars(select(UserInvitation)))
        events = list(await session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
        assert await session.scalar(select(User.tenant_id).where(User.id == user.id)) is not None
    assert row.token_hash == invitations.digest(token)
    invited = [e for e in events if e.action == "user.invited"]
    assert [(e.actor.startswith("cli:"), e.details["email"]) for e in invited] == [
        (True, "ana@acme.example")
    ]
    assert token not in ran.err
