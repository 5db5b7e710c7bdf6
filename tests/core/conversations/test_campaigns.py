"""Metrics by campaign: a conversation that came from a click-to-WhatsApp ad or a wa.me link's
prefilled text is attributed to the tenant's campaign, its turns are counted under it, and the
labels stay bounded by the spec whatever customers send."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY
from sqlalchemy import select

from services.core.channels.baileys import referral_of
from services.core.models import Conversation
from services.core.stats.service import campaign_breakdown
from tests.fixtures.turns import Harness
from tests.standins.gemini import Reply

CAMPAIGNS = [
    {"name": "black-friday", "adIds": ["120210000000001"], "keywords": ["BF2026"]},
    {"name": "fibra-500", "urlContains": ["utm_campaign=fibra500"]},
]


def ad_click(text: str, ad_id: str, url: str = "https://fb.me/abc") -> dict[str, Any]:
    """The first message after a click-to-WhatsApp ad, as Baileys serializes it."""
    return {
        "ephemeralMessage": {
            "message": {
                "extendedTextMessage": {
                    "text": text,
                    "contextInfo": {
                        "externalAdReply": {
                            "title": "Fibra 500 mega",
                            "sourceType": "ad",
                            "sourceId": ad_id,
                            "sourceUrl": url,
                            "ctwaClid": "Afd3kLmN0pQ",
                        },
                        "conversionSource": "FB_Ads",
                    },
                }
            }
        }
    }


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def turns(campaign: str, outcome: str = "answered") -> float:
    return metric(
        "atende_campaign_turns_total",
        tenant="acme",
        connection="main",
        campaign=campaign,
        outcome=outcome,
    )


def arrivals(campaign: str) -> float:
    return metric(
        "atende_campaign_arrivals_total", tenant="acme", connection="main", campaign=campaign
    )


def test_the_ad_is_read_from_the_message_whatever_wraps_it() -> None:
    payload = {"key": {"id": "X"}, "message": ad_click("oi", "120210000000001")}
    referral = referral_of(payload)
    assert referral is not None
    assert (referral.ad_id, referral.title) == ("120210000000001", "Fibra 500 mega")
    assert referral_of({"message": payload}) == referral  # the {"message": …} envelope
    assert referral_of({"key": {}, "message": {"conversation": "oi"}}) is None
    assert referral_of("not a message") is None


async def test_an_ad_click_attributes_the_conversation_and_counts_its_turns(
    harness: Harness,
) -> None:
    await harness.apply_tenant(campaigns=CAMPAIGNS)
    harness.gemini.script(Reply.text("Olá! Temos sim."), Reply.text("Custa R$ 99."))
    before_turns, before_arrivals = turns("black-friday"), arrivals("black-friday")

    await harness.run(
        await harness.ingest(
            "Quero a oferta", message_body=ad_click("Quero a oferta", "120210000000001")
        )
    )
    await harness.run(await harness.ingest("quanto custa?"))  # no ad now: still the campaign

    async with harness.sessionmaker() as session:
        assert await session.scalar(select(Conversation.campaign)) == "black-friday"
    assert turns("black-friday") == before_turns + 2
    assert arrivals("black-friday") == before_arrivals + 1  # one arrival, two turns


async def test_a_link_s_prefilled_text_or_a_new_ad_re_attributes(harness: Harness) -> None:
    await harness.apply_tenant(campaigns=CAMPAIGNS)
    before = arrivals("ad"), arrivals("black-friday"), arrivals("fibra-500")

    await harness.run(await harness.ingest("Oi, vi o cupom bf2026!"))  # wa.me prefilled text
    async with harness.sessionmaker() as session:
        assert await session.scalar(select(Conversation.campaign)) == "black-friday"
    ad = ad_click("oi", "999", url="https://acme.com/?utm_campaign=fibra500")
    await harness.run(await harness.ingest("oi", message_body=ad))
    async with harness.sessionmaker() as session:
        assert await session.scalar(select(Conversation.campaign)) == "fibra-500"
    await harness.run(await harness.ingest("oi", message_body=ad_click("oi", "777")))
    async with harness.sessionmaker() as session:
        assert await session.scalar(select(Conversation.campaign)) == "ad"  # nobody claims it

    assert (arrivals("ad"), arrivals("black-friday"), arrivals("fibra-500")) == (
        before[0] + 1,
        before[1] + 1,
        before[2] + 1,
    )
    assert turns("ad") >= 1


async def test_labels_stay_bounded_by_the_spec(harness: Harness) -> None:
    await harness.apply_tenant(campaigns=CAMPAIGNS)
    await harness.run(await harness.ingest("cupom BF2026"))
    await harness.apply_tenant(campaigns=CAMPAIGNS[1:])  # black-friday is over and removed
    before_other, before_none = turns("other"), turns("none")

    await harness.run(await harness.ingest("ainda vale?"))

    assert turns("other") == before_other + 1  # the stored name is not a label any more
    assert harness.tenant is not None
    async with harness.sessionmaker() as session:
        [row] = await campaign_breakdown(session, scope=[harness.tenant.id])
        assert await campaign_breakdown(session, scope=[harness.tenant.id + 1]) == []
    assert (row.tenant, row.connection, row.campaign) == ("acme", "main", "black-friday")
    assert (row.conversations, row.turns) == (1, 2)
    assert turns("none") == before_none
