"""The fallback channels' clients against servers speaking the real protocols: Twilio's REST
shapes and errors, and SMTP with AUTH and a refused mailbox."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from services.core.channels.email import EmailClient, compose
from services.core.channels.sms import MAX_SMS_CHARS, SmsClient
from services.core.errors import PermanentError, TransientError
from services.core.tenants.spec import EmailFallback, SmsFallback
from services.core.tenants.spec_model import SecretRef
from tests.fixtures.egress import loopback_egress
from tests.standins.sms import SmsStandIn
from tests.standins.smtp import SmtpStandIn

SID, TOKEN = "AC00000000000000000000000000000001", "sms-token-0123456789"


@pytest.fixture
def gateway() -> Iterator[SmsStandIn]:
    with SmsStandIn(SID, TOKEN) as server:
        yield server


@pytest_asyncio.fixture
async def client() -> AsyncIterator[SmsClient]:
    async with loopback_egress(2) as http:
        yield SmsClient(http)


def config(url: str) -> SmsFallback:
    return SmsFallback(
        url=url,
        account_sid=SID,
        auth_token_secret_ref=SecretRef(name="acme", key="sms"),
        from_number="+5511400000000",
    )


async def test_a_text_is_sent_and_clipped_to_what_the_gateway_takes(
    gateway: SmsStandIn, client: SmsClient
) -> None:
    sent = await client.send(config(gateway.url), TOKEN, to="5511999998888", body="x" * 2000)
    [sms] = gateway.sent
    assert sent == {"sid": sms.sid, "status": "queued"}
    assert sms.to == "+5511999998888"
    assert len(sms.body) == MAX_SMS_CHARS


async def test_gateway_errors_are_classified(gateway: SmsStandIn, client: SmsClient) -> None:
    with pytest.raises(PermanentError) as refused:
        await client.send(config(gateway.url), TOKEN, to="12", body="oi")
    assert refused.value.error_class == "sms_rejected"
    assert "21211" in refused.value.message
    with pytest.raises(PermanentError) as auth:
        await client.send(config(gateway.url), "wrong-token", to="5511999998888", body="oi")
    assert auth.value.error_class == "sms_auth"
    assert "wrong-token" not in auth.value.message
    gateway.down = True
    with pytest.raises(TransientError) as down:
        await client.send(config(gateway.url), TOKEN, to="5511999998888", body="oi")
    assert (down.value.error_class, down.value.ambiguous) == ("sms_5xx", True)
    with pytest.raises(TransientError) as unreachable:
        await client.send(config("http://127.0.0.1:9"), TOKEN, to="5511999998888", body="oi")
    assert (unreachable.value.error_class, unreachable.value.ambiguous) == ("sms_connect", False)


async def test_smtp_auth_and_refused_mailboxes_are_classified() -> None:
    async with loopback_egress(2) as egress:
        await _smtp_cases(EmailClient(egress, timeout_seconds=2))


async def _smtp_cases(client: EmailClient) -> None:
    with SmtpStandIn("bot", "right-password") as server:
        mail = EmailFallback(
            host="127.0.0.1",
            port=server.port,
            security="none",
            username="bot",
            from_address="atendimento@acme.com.br",
        )
        message = compose(
            mail, to="maria@example.com", subject="Oi", text="oi", display_name="ACME",
            outbound_id=7, conversation_id=3,
        )  # fmt: skip
        with pytest.raises(PermanentError) as auth:
            await client.send(mail, "wrong-password", message)
        assert auth.value.error_class == "smtp_auth"
        server.refuse("maria@example.com")
        with pytest.raises(PermanentError) as refused:
            await client.send(mail, "right-password", message)
        assert refused.value.error_class == "smtp_recipient_refused"
        assert server.messages == []
    with pytest.raises(TransientError) as unreachable:
        await client.send(mail, "right-password", message)
    assert unreachable.value.error_class == "smtp_connect"
