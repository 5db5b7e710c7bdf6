"""The one send state machine: a stored message, a turn's reply or a workflow's message, from
``pending`` to ``sent`` or given up.

* Nothing is tried while the channel's breaker is open; past ``fallback.afterSeconds`` the
  message moves to the tenant's fallback channel (when its sender allows one), and past
  ``turnGiveUpAfterSeconds`` it is given up.
* The attempt is recorded before the request leaves, so an attempt that may have reached the
  customer before a crash is found and counted as an ambiguous send.
* A failure retries while it is transient and attempts are left; when retries are spent on a
  failure that says "not sent", the fallback channel gets the same stored message.

The caller records what an unsent message means for it (a turn's dead letter, a workflow's
status the caller reads back) in its own transaction, through :mod:`.records`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from services.core.breaker import CircuitBreaker
from services.core.db import autocommit, transaction
from services.core.errors import DependencyError, PermanentError, TransientError
from services.core.logging import get_logger
from services.core.metrics import AMBIGUOUS_SENDS, SEND_ERRORS, SENDS
from services.core.retry import RetryLater, backoff
from services.core.runtime import Runtime
from services.core.tenants.directory import TenantConfig

from . import delivery, fallback, records

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Stored:
    """A stored message as it is about to be sent, with everything its channel needs."""

    outbound_id: int
    conversation_id: int
    status: str
    channel: str  # whaticket | meta | sandbox | sms | email
    connection: str
    phone: str | None
    email: str | None
    text: str
    waited_seconds: float  # since the message was stored

    def outgoing(self) -> delivery.Outgoing:
        return delivery.Outgoing(
            outbound_id=self.outbound_id,
            conversation_id=self.conversation_id,
            channel=self.channel,
            connection=self.connection,
            phone=self.phone,
            email=self.email,
            text=self.text,
        )


@dataclass(frozen=True, slots=True)
class Sent:
    channel: str
    attempts: int


@dataclass(frozen=True, slots=True)
class Unsent:
    """Not delivered: to be tried again later (``retry``), or given up."""

    error: DependencyError
    attempts: int
    retry: bool

    @property
    def status(self) -> str:
        return records.status_after_failure(retry=self.retry, ambiguous=self.error.ambiguous)

    def retry_later(self) -> RetryLater:
        wait = max(backoff(self.attempts, base=2.0), self.error.retry_after or 0)
        return RetryLater(wait, self.error.error_class)


async def send_stored(
    deps: Runtime, tenant: TenantConfig, message: Stored, *, holds_lease: bool, falls_back: bool
) -> Sent | Unsent | None:
    """Send the message once; None when another job holds it.

    ``holds_lease``: the caller holds the conversation's lease, so no other job sends it;
    otherwise a claim younger than ``stuck_after_seconds`` belongs to a job still at work.
    ``falls_back``: a Whaticket message may move to the tenant's fallback channel.
    Raises :class:`RetryLater` while the channel's breaker is open.
    """
    while True:
        breaker = deps.breaker(delivery.breaker_name(tenant, message.outgoing()))
        wait = await delivery.breaker_wait(breaker, message.channel)
        if wait is None:
            step = await _attempt(deps, tenant, breaker, message, holds_lease, falls_back)
        else:
            step = await _while_shut(deps, tenant, message, wait, falls_back)
        if not isinstance(step, Stored):
            return step
        message = step  # moved to a fallback channel: try it there


async def _while_shut(
    deps: Runtime, tenant: TenantConfig, message: Stored, wait: float, falls_back: bool
) -> Stored | Unsent:
    """The channel's breaker is open (not an attempt: nothing was tried): move the message
    to a fallback channel once it waited ``fallback.afterSeconds``, give it up after
    ``turnGiveUpAfterSeconds``, else come back when the breaker may let it through."""
    reason = f"{message.channel}_breaker_open"
    late = message.waited_seconds > tenant.spec.fallback.after_seconds
    if falls_back and late and (moved := await _fall_back(deps, tenant, message, reason)):
        return moved
    if message.waited_seconds > deps.settings.turn_give_up_after_seconds:
        SEND_ERRORS.labels(tenant.slug, reason).inc()
        error = PermanentError(reason, f"{message.channel} unavailable too long")
        return Unsent(error, attempts=0, retry=False)
    raise RetryLater(wait + random.uniform(0, 1), f"{message.channel} breaker open")


async def _attempt(
    deps: Runtime,
    tenant: TenantConfig,
    breaker: CircuitBreaker,
    message: Stored,
    holds_lease: bool,
    falls_back: bool,
) -> Stored | Sent | Unsent | None:
    """One attempt, marked before the request leaves; a failure that surely did not deliver,
    with retries spent, moves the message to a fallback channel (the Stored returned)."""
    settings = deps.settings
    stale_after = None if holds_lease else settings.stuck_after_seconds
    async with autocommit(deps.sessionmaker) as session:  # one statement, each of these
        attempts = await records.claim(session, message.outbound_id, stale_after=stale_after)
    if attempts is None:
        return None
    if message.status in ("sending", "unknown"):
        # A job died mid-send: it may have gone out already; re-sending is the lesser evil.
        AMBIGUOUS_SENDS.labels(tenant.slug).inc()
        log.warning("send.ambiguous_retry", outbound_id=message.outbound_id)
    try:
        response = await delivery.attempt(deps, tenant, breaker, message.outgoing())
    except DependencyError as exc:
        retry = isinstance(exc, TransientError) and attempts < settings.send_max_attempts
        surely_unsent = not retry and not exc.ambiguous
        if falls_back and surely_unsent:
            moved = await _fall_back(deps, tenant, message, exc.error_class)
            if moved is not None:
                return moved
        if retry and exc.ambiguous:  # the retry may deliver it a second time
            AMBIGUOUS_SENDS.labels(tenant.slug).inc()
        log.warning(
            "send.failed",
            outbound_id=message.outbound_id,
            error_class=exc.error_class,
            attempt=attempts,
            retry=retry,
        )
        return Unsent(exc, attempts, retry)
    async with autocommit(deps.sessionmaker) as session:
        await records.mark_sent(session, message.outbound_id, response)
    SENDS.labels(tenant.slug, message.channel).inc()
    log.info("send.sent", outbound_id=message.outbound_id, channel=message.channel)
    return Sent(message.channel, attempts)


async def _fall_back(
    deps: Runtime, tenant: TenantConfig, message: Stored, reason: str
) -> Stored | None:
    """The message moved to the tenant's fallback channel, or None when there is none for this
    contact (or another job already moved it)."""
    if message.channel != "whaticket":
        return None
    channel = fallback.choose(tenant, message.phone, message.email)
    if channel is None:
        return None
    async with transaction(deps.sessionmaker) as session:
        moved = await fallback.switch(session, tenant, message.outbound_id, channel, reason)
    return replace(message, channel=channel, status="pending") if moved else None


async def send_unstored(
    deps: Runtime, tenant: TenantConfig, connection: str, phone: str | None, text: str
) -> None:
    """A courtesy message that is not kept (the wait notice under rate limits): one attempt on
    the conversation's channel, behind its breaker; a failure is raised as it came."""
    message = delivery.Outgoing(
        outbound_id=None,
        conversation_id=None,
        channel=delivery.channel_of(tenant, connection),
        connection=connection,
        phone=phone,
        email=None,
        text=text,
    )
    breaker = deps.breaker(delivery.breaker_name(tenant, message))
    if await delivery.breaker_wait(breaker, message.channel) is not None:
        raise TransientError(f"{message.channel}_breaker_open", f"{message.channel} breaker open")
    await delivery.attempt(deps, tenant, breaker, message)
