"""Holding a tenant whose Secrets or ConfigMaps stopped being its own.

Refusing an unlabelled Secret stops new values from being read, but what an earlier apply stored
(before the label was required, or before someone removed it) would go on being used: the
Whaticket token sent as a Bearer to the tenant's URL, another company's FAQ in its answers. So
the refusal also pauses the bot (messages are still stored, nothing is answered or sent), and
the first apply that reads only opted-in objects again resumes it and queues what waited. Only a
pause this module made is lifted: one an operator made for another reason stays.
"""

from __future__ import annotations

from arq.connections import ArqRedis

from services.core.db import SessionMaker, transaction
from services.core.logging import get_logger
from services.core.tenants import switches
from services.core.turns import switches as turn_switches

log = get_logger(__name__)
ACTOR = "operator"
REASON = (
    "held by the operator: the BotTenant references a Secret or ConfigMap not labelled "
    "atende.dev/tenant with its name (see its Ready condition)"
)


async def hold(sessionmaker: SessionMaker, redis: ArqRedis | None, name: str, source: str) -> bool:
    """Pause the tenant ``source`` owns, if it runs; True when this paused it now."""
    async with transaction(sessionmaker) as session:
        result = await switches.hold(session, name, source=source, reason=REASON, actor=ACTOR)
    if result is None:
        return False
    if redis is not None:
        await switches.announce(redis, result)
    log.warning("tenant.held", tenant=name)
    return True


async def release(sessionmaker: SessionMaker, redis: ArqRedis | None, name: str) -> bool:
    """Resume the tenant if the pause is this module's, queueing what waited; True if so."""
    async with transaction(sessionmaker) as session:
        if await switches.paused_for(session, name) != REASON:
            return False
        resumed = await turn_switches.resume(session, name, actor=ACTOR)
    if redis is not None:
        await switches.announce(redis, resumed.switch)  # before the jobs: workers see it
        await turn_switches.queue_backlog(redis, resumed)
    log.info("tenant.released", tenant=name, queued=len(resumed.backlog.queue))
    return True
