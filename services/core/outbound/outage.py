"""When a Whaticket connection cannot carry a message at all: its WhatsApp session is down, or
Whaticket itself cannot be reached.

A reply given up for one of these reasons surely did not go out, and nothing else would get
through that connection either: not an agent answering in the Whaticket ticket, not another
reply. So the conversation is handed to a person only where someone could still reach the
customer (a fallback channel of the tenant's), and the reply waits as a dead letter until the
connection shows it is back (:mod:`services.core.dlq.redelivery`).
"""

from __future__ import annotations

from services.core.tenants.directory import TenantConfig

from . import fallback

# Error classes of a Whaticket send that mean "the connection is down, nothing was sent":
# the session is not live (ERR_WAPP_NOT_INITIALIZED and each variant's other words for it), the
# connection's breaker stayed open until the reply was given up, or Whaticket did not answer
# before the request was read (refused, not written, a gateway's 502/503). A timeout or a 500 is
# not here: the reply may have gone out, and replaying it could send it twice.
CONNECTION_DOWN: frozenset[str] = frozenset(
    {
        "whaticket_session_down",
        "whaticket_breaker_open",
        "whaticket_connect",
        "whaticket_write",
        "whaticket_pool_timeout",
        "whaticket_502",
        "whaticket_503",
    }
)


def connection_down(channel: str, error_class: str) -> bool:
    """The send failed because its Whaticket connection cannot carry anything right now."""
    return channel == "whaticket" and error_class in CONNECTION_DOWN


def person_can_answer(
    tenant: TenantConfig, *, channel: str, error_class: str, phone: str | None, email: str | None
) -> bool:
    """Whether a person given the conversation could reach the customer after this send failed.

    * The reply failed on a fallback channel (SMS, e-mail): Whaticket had already failed it,
      and now the way round failed too: nobody can answer.
    * Its Whaticket connection is down: an agent in the ticket cannot answer either, unless a
      fallback channel of the tenant's reaches this contact.
    * Any other failure (a number Whaticket refused, a missing token, an ambiguous timeout):
      Whaticket is up, and an agent can answer in the ticket.
    """
    if channel in ("sms", "email"):
        return False
    if connection_down(channel, error_class):
        return fallback.choose(tenant, phone, email) is not None
    return True
