"""Fallback channels: when Whaticket surely cannot deliver a reply, the tenant's SMS gateway
or mail server does — the same stored reply, in the same conversation, never twice."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from services.core.conversations.contacts import set_email
from services.core.db import transaction
from services.core.models import Handoff
from tests.fixtures.turns import PHONE, Harness
from tests.standins.gemini import Reply
from tests.standins.sms import SmsStandIn
from tests.standins.smtp import SmtpStandIn

SID, SMS_TOKEN = "AC0123456789abcdef0123456789abcdef", "sms-auth-token-0123456789"
SMTP_USER, SMTP_PASSWORD = "bot@acme.com.br", "smtp-password-0123"
ANSWER = "Seu boleto vence dia 10."
CUSTOMER_EMAIL = "maria@example.com"


@pytest.fixture
def sms() -> Iterator[SmsStandIn]:
    with SmsStandIn(SID, SMS_TOKEN) as server:
        yield server


@pytest.fixture
def smtp() -> Iterator[SmtpStandIn]:
    with SmtpStandIn(SMTP_USER, SMTP_PASSWORD) as server:
        yield server


async def with_fallback(
    harness: Harness,
    sms: SmsStandIn,
    smtp: SmtpStandIn,
    agent_password: str | None = None,
    **fallback: Any,
) -> None:
    await harness.apply_tenant(
        agent_password=agent_password,
        features={"fallbackChannels": True},
        fallback={
            "sms": {
                "url": sms.url,
                "accountSid": SID,
                "authTokenSecretRef": {"name": "acme", "key": "sms-token"},
                "fromNumber": "+5511400000000",
            },
            "email": {
                "host": "127.0.0.1",
                "port": smtp.port,
                "security": "none",
                "username": SMTP_USER,
                "passwordSecretRef": {"name": "acme", "key": "smtp-password"},
                "fromAddress": "atendimento@acme.com.br",
            },
            **fallback,
        },
        extra_secrets={"sms-token": SMS_TOKEN, "smtp-password": SMTP_PASSWORD},
    )


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_reply_whaticket_cannot_deliver_goes_by_sms_once(
    harness: Harness, sms: SmsStandIn, smtp: SmtpStandIn
) -> None:
    await with_fallback(harness, sms, smtp)
    harness.whaticket.set_mode(session_down=True)
    harness.gemini.script(Reply.text(ANSWER))
    before = metric(
        "atende_fallbacks_total", tenant="acme", channel="sms", reason="whaticket_session_down"
    )
    inbound = await harness.ingest("quando vence meu boleto?")

    await harness.run(inbound)

    [text] = sms.sent
    assert (text.to, text.sender, text.body) == (f"+{PHONE}", "+5511400000000", ANSWER)
    assert harness.delivered() == []
    [outbound] = await harness.outbound()
    assert (outbound.channel, outbound.status) == ("sms", "sent")
    assert outbound.last_error == "whaticket_session_down"  # why it fell back
    [turn] = await harness.turns()
    assert turn.status == "answered"
    assert await harness.dead_letters() == []
    after = metric(
        "atende_fallbacks_total", tenant="acme", channel="sms", reason="whaticket_session_down"
    )
    assert after == before + 1

    harness.whaticket.set_mode(session_down=False)  # Whaticket is back; a stray job runs again
    assert await harness.attempt(inbound) is None
    assert harness.delivered() == []
    assert len(sms.sent) == 1
    harness.gemini.script(Reply.text("De nada!"))
    await harness.run(await harness.ingest("obrigada"))  # the same conversation goes on
    assert harness.delivered() == ["De nada!"]
    history = str(harness.gemini.requests[-1].body["contents"])
    assert ANSWER in history


async def test_a_contact_with_an_address_gets_the_reply_by_e_mail_in_one_thread(
    harness: Harness, sms: SmsStandIn, smtp: SmtpStandIn
) -> None:
    await with_fallback(harness, sms, smtp, channels=["email"])
    assert harness.tenant is not None
    async with transaction(harness.sessionmaker) as session:
        await set_email(session, harness.tenant.id, PHONE, CUSTOMER_EMAIL)
    harness.whaticket.set_mode(session_down=True)
    harness.gemini.script(Reply.text(ANSWER), Reply.text("Pode pagar por Pix."))

    await harness.run(await harness.ingest("quando vence meu boleto?"))
    await harness.run(await harness.ingest("e posso pagar por pix?"))

    first, second = smtp.messages
    assert first["Subject"] == "Resposta ao seu contato pelo WhatsApp"  # persona.language's
    assert first["To"] == CUSTOMER_EMAIL
    assert first["From"] == "ACME Telecom <atendimento@acme.com.br>"
    assert first.get_content().strip() == ANSWER
    assert second.get_content().strip() == "Pode pagar por Pix."
    assert first["References"] == second["References"]  # one conversation, one thread
    assert first["Message-ID"] != second["Message-ID"]
    assert sms.sent == []
    assert SMTP_PASSWORD not in str(first)


async def test_an_ambiguous_failure_does_not_fall_back(
    harness: Harness, sms: SmsStandIn, smtp: SmtpStandIn
) -> None:
    """A 500 may hide a delivered reply: an SMS on top could say it twice."""
    await with_fallback(harness, sms, smtp)
    harness.whaticket.set_mode(fail=500)
    harness.gemini.script(Reply.text(ANSWER))

    await harness.run(await harness.ingest("quando vence meu boleto?"))

    assert sms.sent == []
    [outbound] = await harness.outbound()
    assert outbound.channel == "whaticket"
    assert len(await harness.dead_letters()) == 1


async def test_an_open_breaker_past_the_wait_falls_back_without_trying_whaticket(
    harness: Harness, sms: SmsStandIn, smtp: SmtpStandIn
) -> None:
    await with_fallback(harness, sms, smtp, afterSeconds=0)
    breaker = harness.deps.breaker("whaticket:acme:main")
    for _ in range(3):
        await breaker.record_failure()
    harness.gemini.script(Reply.text(ANSWER))

    await harness.run(await harness.ingest("quando vence meu boleto?"))

    assert [s.body for s in sms.sent] == [ANSWER]
    assert harness.whaticket.requests() == []
    [outbound] = await harness.outbound()
    assert outbound.last_error == "whaticket_breaker_open"


async def test_when_the_fallback_fails_too_nobody_is_handed_what_they_cannot_answer(
    harness: Harness, sms: SmsStandIn, smtp: SmtpStandIn
) -> None:
    await with_fallback(harness, sms, smtp, agent_password="bot-password")
    sms.auth_token = "rotated-at-the-gateway"  # the tenant's token is refused now
    harness.whaticket.set_mode(session_down=True)
    harness.gemini.script(Reply.text(ANSWER))

    await harness.run(await harness.ingest("quando vence meu boleto?"))

    # The session is down and the SMS gateway refused us: an agent in the Whaticket ticket
    # could not reach the customer either, so the reply stays a dead letter for an operator.
    [dead] = await harness.dead_letters()
    assert dead.error_class == "sms_auth"
    async with harness.sessionmaker() as session:
        assert await session.scalar(select(Handoff.trigger)) is None
