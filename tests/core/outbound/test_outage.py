"""Who could answer a customer after a send was given up: nobody through a Whaticket connection
that is down, someone where a fallback channel still reaches the customer or Whaticket is up."""

from __future__ import annotations

from services.core.outbound.outage import person_can_answer
from services.core.tenants.directory import TenantConfig
from tests.fixtures.turns import PHONE, Harness
from tests.standins.sms import SmsStandIn
from tests.standins.smtp import SmtpStandIn

from .test_fallback_channels import sms, smtp, with_fallback

__all__ = ["sms", "smtp"]  # the fixtures


def _after_session_down(tenant: TenantConfig, phone: str | None) -> bool:
    return person_can_answer(
        tenant, channel="whaticket", error_class="whaticket_session_down", phone=phone, email=None
    )


async def test_a_session_down_leaves_only_the_fallback_channels(
    harness: Harness, sms: SmsStandIn, smtp: SmtpStandIn
) -> None:
    tenant = harness.tenant
    assert tenant is not None  # the default tenant: no fallback channels
    assert not _after_session_down(tenant, PHONE)
    assert person_can_answer(  # Whaticket is up, only our token was refused
        tenant, channel="whaticket", error_class="whaticket_auth", phone=PHONE, email=None
    )

    await with_fallback(harness, sms, smtp)
    tenant = harness.tenant
    assert tenant is not None
    assert _after_session_down(tenant, PHONE)  # an SMS reaches them
    assert not _after_session_down(tenant, None)  # nothing reaches a contact known by @lid only
    # The fallback channel failed too: nobody is left.
    assert not person_can_answer(
        tenant, channel="sms", error_class="sms_auth", phone=PHONE, email=None
    )
