"""Which campaign a conversation came through, for metrics by campaign.

The customer's first message after a click-to-WhatsApp ad carries the ad (its id and link);
a wa.me link carries the text the campaign prefilled. The tenant names its campaigns in
``spec.campaigns``; a turn whose messages match one attributes the conversation to it (the last
touch wins), an ad no campaign claims is ``ad``. Metric labels take only the declared names,
``ad``, ``other`` (a campaign since removed) and ``none``: bounded by the spec, whatever
customers send.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.channels.baileys import Referral, referral_of
from services.core.logging import get_logger
from services.core.metrics import CAMPAIGN_ARRIVALS
from services.core.models import Conversation
from services.core.tenants.spec import BotTenantSpec

log = get_logger(__name__)
UNDECLARED_AD = "ad"


def match(spec: BotTenantSpec, referral: Referral | None, texts: Sequence[str]) -> str | None:
    """The first declared campaign the ad or the words belong to; ``ad`` for an ad none
    claims; None when nothing here says where the customer came from."""
    words = [text.casefold() for text in texts]
    for campaign in spec.campaigns:
        if referral is not None and (
            referral.ad_id in campaign.ad_ids
            or any(part and part in referral.url for part in campaign.url_contains)
        ):
            return campaign.name
        if any(k.casefold() in text for k in campaign.keywords if k for text in words):
            return campaign.name
    return UNDECLARED_AD if referral is not None else None


def label(spec: BotTenantSpec, campaign: str | None) -> str:
    """A metric label value: bounded by the spec, never by what is stored."""
    if campaign is None:
        return "none"
    if campaign == UNDECLARED_AD or any(c.name == campaign for c in spec.campaigns):
        return campaign
    return "other"


async def attribute(
    session: AsyncSession,
    spec: BotTenantSpec,
    tenant_slug: str,
    conversation_id: int,
    payloads: Sequence[dict[str, Any] | None],
    texts: Sequence[str | None],
) -> None:
    """Attribute the conversation to the campaign a new turn's messages (their raw payloads
    and texts) came through, if any; an arrival is counted when the campaign changes."""
    referral = next((r for r in (referral_of(p) for p in payloads) if r), None)
    campaign = match(spec, referral, [t or "" for t in texts])
    if campaign is None:
        return
    changed = await session.scalar(
        update(Conversation)
        .where(
            Conversation.id == conversation_id,
            Conversation.campaign.is_distinct_from(campaign),
        )
        .values(campaign=campaign, campaign_at=func.now())
        .returning(Conversation.connection)
    )
    if changed is not None:
        CAMPAIGN_ARRIVALS.labels(tenant_slug, changed, label(spec, campaign)).inc()
        log.info("conversation.campaign", conversation_id=conversation_id, campaign=campaign)
