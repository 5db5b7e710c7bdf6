"""Operations behind the admin commands, each one transaction on its own engine."""

from __future__ import annotations

import getpass
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from services.core import events
from services.core.auth import sessions
from services.core.auth.roles import Role
from services.core.auth.users import user_exists, users_with_tenants
from services.core.channels.destinations import refuse_unreachable
from services.core.channels.egress_policy import EgressPolicy
from services.core.config import Settings
from services.core.db import SessionMaker, create_engine, create_sessionmaker, transaction
from services.core.dlq import audited
from services.core.dlq import service as dlq
from services.core.errors import AtendeError, InvalidInput
from services.core.handoff import service as handoffs
from services.core.llm.allowlist import refuse_unbilled
from services.core.models import DeadLetter, EventDelivery, Handoff, Tenant, User
from services.core.redis import create_redis
from services.core.tenants import switches
from services.core.tenants.credentials import CredentialCipher
from services.core.tenants.manifest import load_manifests
from services.core.tenants.notify import tenant_changed
from services.core.tenants.plan import Plan, plan_tenant
from services.core.tenants.queries import tenant_by_slug, tenant_id_of
from services.core.tenants.service import ApplyResult, apply_tenant, enqueue_embedding
from services.core.tenants.service import list_tenants as _list
from services.core.turns import switches as turn_switches
from services.core.turns.backlog import Backlog


@asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[SessionMaker]:
    engine = create_engine(settings.database_url, pool_size=2)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


def os_actor() -> str:
    """Who ran the command, for the audit log."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


async def _announce(settings: Settings, results: list[ApplyResult]) -> None:
    """After commit: tell running processes of the changed tenants (best effort; their cache TTL
    is the fallback), and have the worker embed what changed of every tenant's knowledge (the
    sweeper finds what a lost enqueue leaves)."""
    if not results:
        return
    redis = create_redis(settings.redis_url, fail_fast=True)
    try:
        for result in results:
            if result.outcome != "unchanged":
                await tenant_changed(redis, result.name)
            await enqueue_embedding(redis, result)
    finally:
        await redis.aclose()


async def apply_file(settings: Settings, text: str) -> list[ApplyResult]:
    manifests, secrets = load_manifests(text)
    refuse_unreachable(manifests, EgressPolicy.from_settings(settings))
    refuse_unbilled(manifests, settings.platform_models)
    cipher = CredentialCipher.from_settings(settings)
    async with _database(settings) as sessionmaker, transaction(sessionmaker) as session:
        results = [await apply_tenant(session, m, secrets, cipher) for m in manifests]
    await _announce(settings, results)
    return results


async def plan_file(settings: Settings, text: str) -> list[Plan]:
    """What :func:`apply_file` would do, read in a transaction that is rolled back."""
    manifests, secrets = load_manifests(text)
    refuse_unreachable(manifests, EgressPolicy.from_settings(settings))
    refuse_unbilled(manifests, settings.platform_models)
    cipher = CredentialCipher.from_settings(settings)
    async with _database(settings) as sessionmaker, sessionmaker() as session:
        return [await plan_tenant(session, m, secrets, cipher) for m in manifests]


async def _switched(settings: Settings, result: switches.SwitchResult) -> None:
    """After commit: announce it (best effort, like :func:`_announce`)."""
    if result.outcome != "updated":
        return
    redis = create_redis(settings.redis_url, fail_fast=True)
    try:
        await switches.announce(redis, result)
    finally:
        await redis.aclose()


async def pause_tenant(
    settings: Settings, name: str, reason: str, actor: str
) -> switches.SwitchResult:
    async with _database(settings) as sessionmaker, transaction(sessionmaker) as session:
        result = await switches.pause(session, name, reason=reason, actor=actor)
    await _switched(settings, result)
    return result


@dataclass(frozen=True, slots=True)
class ResumeResult:
    switch: switches.SwitchResult
    backlog: Backlog
    queued: int


async def resume_tenant(settings: Settings, name: str, actor: str) -> ResumeResult:
    """Resume, then queue what waited (one job per conversation, after the commit)."""
    async with _database(settings) as sessionmaker, transaction(sessionmaker) as session:
        resumed = await turn_switches.resume(session, name, actor=actor)
    await _switched(settings, resumed.switch)  # before the jobs: workers must see it resumed
    queued = 0
    if resumed.backlog.queue:
        redis = create_redis(settings.redis_url)
        try:
            queued = await turn_switches.queue_backlog(redis, resumed)
        finally:
            await redis.aclose()
    return ResumeResult(resumed.switch, resumed.backlog, queued)


async def force_model(
    settings: Settings, name: str, model: str | None, actor: str
) -> switches.SwitchResult:
    async with _database(settings) as sessionmaker, transaction(sessionmaker) as session:
        result = await switches.force_model(session, name, model, actor=actor)
    await _switched(settings, result)
    return result


async def list_tenants(settings: Settings) -> list[Tenant]:
    async with _database(settings) as sessionmaker, sessionmaker() as session:
        return await _list(session)


async def get_tenant(settings: Settings, name: str) -> Tenant:
    async with _database(settings) as sessionmaker, sessionmaker() as session:
        return await tenant_by_slug(session, name)


async def list_dead_letters(settings: Settings, *, show_all: bool) -> list[DeadLetter]:
    async with _database(settings) as sessionmaker, sessionmaker() as session:
        return await dlq.list_dead_letters(session, status=None if show_all else "open")


async def replay_dead_letters(settings: Settings, ids: list[int]) -> list[str]:
    """Each one its own transaction, audited as the operator who ran the command."""
    outcomes: list[str] = []
    redis = create_redis(settings.redis_url)
    try:
        async with _database(settings) as sessionmaker:
            for dead_letter_id in ids:
                try:
                    async with transaction(sessionmaker) as session:
                        replay = await audited.replay(session, dead_letter_id, actor=os_actor())
                except AtendeError as exc:
                    outcomes.append(f"dead letter {dead_letter_id}: {exc.message}")
                    continue
                queued = await audited.queue_replay(redis, replay)
                note = "stored; the sweeper will queue it" if queued == "failed" else "queued"
                outcomes.append(f"dead letter {dead_letter_id}: replayed ({note})")
    finally:
        await redis.aclose()
    return outcomes


async def list_handoffs(settings: Settings, *, show_all: bool) -> list[Handoff]:
    async with _database(settings) as sessionmaker, sessionmaker() as session:
        return await handoffs.list_handoffs(session, active_only=not show_all)


async def resume_contact(settings: Settings, name: str, phone: str) -> int:
    """Give a contact's conversations back to the bot (the explicit resume command)."""
    async with _database(settings) as sessionmaker, transaction(sessionmaker) as session:
        tenant = await tenant_by_slug(session, name)
        return await handoffs.resume_contact(session, tenant.id, tenant.slug, phone)


async def list_event_deliveries(settings: Settings, name: str) -> list[EventDelivery]:
    async with _database(settings) as sessionmaker, sessionmaker() as session:
        return await events.recent_deliveries(session, await tenant_id_of(session, name))


async def enable_event_subscription(settings: Settings, name: str, subscription: str) -> bool:
    async with _database(settings) as sessionmaker:
        async with sessionmaker() as session:
            tenant_id = await tenant_id_of(session, name)
        return await events.enable_subscription(sessionmaker, tenant_id, subscription)


async def ensure_dev_admin(settings: Settings, email: str) -> str | None:
    """A platform admin for ``atende dev``, once; its new random password (None when the user
    already existed)."""
    async with _database(settings) as sessionmaker, transaction(sessionmaker) as session:
        if await user_exists(session, email):
            return None
        password = secrets.token_urlsafe(18)
        await sessions.create_user(
            session,
            email=email,
            password=password,
            role=Role.PLATFORM_ADMIN,
            tenant_id=None,
            actor=os_actor(),
        )
    return password


async def create_user(
    settings: Settings, email: str, role: Role, tenant: str | None, password: str
) -> User:
    async with _database(settings) as sessionmaker, transaction(sessionmaker) as session:
        tenant_id = None if tenant is None else await tenant_id_of(session, tenant)
        try:
            return await sessions.create_user(
                session,
                email=email,
                password=password,
                role=role,
                tenant_id=tenant_id,
                actor=os_actor(),
            )
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None


async def list_users(settings: Settings) -> list[tuple[User, str | None]]:
    async with _database(settings) as sessionmaker, sessionmaker() as session:
        return await users_with_tenants(session)
