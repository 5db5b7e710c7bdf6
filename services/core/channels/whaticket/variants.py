"""What differs between the Whaticket forks we talk to, kept as data.

Whaticket is a family of diverging forks (research: ``whaticket.md`` §0-§1, §4). Every install is
configured with one :class:`~services.core.tenants.spec.Variant`; the client reads everything
variant-specific from :data:`SPECS` so a new fork is one more table row, not new branches in the
client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from services.core.tenants.spec import Variant

INVALID_TOKEN = "Invalid token. We'll try to assign a new one on next request"  # noqa: S105 (a message)
SAAS_GENERIC_ERROR = "Não foi possível enviar a mensagem, tente novamente em alguns instantes"

# 400 error strings meaning "the WhatsApp session is not usable right now": retry later.
# ERR_WAPP_CHECK_CONTACT is community's catch-all around the registration check (any wbot error).
_COMMON_SESSION_DOWN = (
    "ERR_WAPP_NOT_INITIALIZED",
    "ERR_SENDING_WAPP_MSG",
    "ERR_WAPP_CHECK_CONTACT",
)
# 400 error strings meaning "this number cannot receive": retrying will not help.
INVALID_CONTACT_MARKERS = (
    "ERR_WAPP_INVALID_CONTACT",
    "Invalid number format",
    "ERR_CHECK_NUMBER",
    "não está cadastrado",
    "Not exists on Whatsapp",
)


@dataclass(frozen=True, slots=True)
class VariantSpec:
    """The send API of one variant (``POST /api/messages/send``), as the server really behaves."""

    # Keys/values a success body contains; None means the success body is empty.
    success_body: Mapping[str, str] | None
    # True when a 200 only means "enqueued": delivery failures never reach the caller.
    queued: bool
    # (status, error) for a missing Authorization header and for an unknown token.
    missing_token: tuple[int, str]
    bad_token: tuple[int, str]
    # Characters the server strips once (JS ``String.replace`` with a string) before its
    # ``/^\d+$/`` check; None when the number is not regex-checked at all.
    number_strip_once: tuple[str, ...] | None
    # Substrings (case-insensitive) of a 400 ``error`` that mean the session is down.
    session_down_markers: tuple[str, ...]
    # Substrings of a 500 ``error`` this variant only emits when nothing was sent or enqueued.
    unsent_500_markers: tuple[str, ...]
    # How many times the server runs ``body`` through Mustache.render on this route.
    mustache_passes: int
    # Prefix the server adds to the delivered text (v6 sends "\u200e " + body.trim()).
    delivered_prefix: str = ""
    # The ticket API has internal notes an agent reads and the customer never receives
    # (``POST /ticket-notes``, TicketNoteController.store): where the handoff's summary goes.
    # Without them the only way into a ticket is ``POST /messages/:ticketId``, which sends to
    # the customer's WhatsApp, so the summary stays in Atende's panel.
    ticket_notes: bool = False

    @property
    def auth_failure_statuses(self) -> frozenset[int]:
        return frozenset({self.missing_token[0], self.bad_token[0]})


SPECS: Mapping[Variant, VariantSpec] = MappingProxyType(
    {
        # ApiController.index -> SendWhatsAppMessage(formatBody once); res.send() -> empty 200.
        Variant.COMMUNITY: VariantSpec(
            success_body=None,
            queued=False,
            missing_token=(401, "ERR_SESSION_EXPIRED"),
            bad_token=(403, INVALID_TOKEN),
            number_strip_once=("-", " "),
            session_down_markers=_COMMON_SESSION_DOWN,
            unsent_500_markers=(),
            mustache_passes=1,
        ),
        # MessageController.send calls formatBody, then SendWhatsAppMessage calls it again:
        # the body is rendered twice. Everything caught becomes 400; Baileys' Boom keeps its
        # "Connection Closed" message, plain Errors become the generic Portuguese text.
        Variant.SAAS: VariantSpec(
            success_body=MappingProxyType({"mensagem": "Mensagem enviada"}),
            queued=False,
            missing_token=(401, "Acesso não permitido"),
            bad_token=(401, "Acesso não permitido"),
            number_strip_once=None,
            session_down_markers=(*_COMMON_SESSION_DOWN, "Connection Closed", "tente novamente"),
            unsent_500_markers=(),
            mustache_passes=2,
            ticket_notes=True,
        ),
        # MessageController.send checks the number (getWbot/onWhatsApp) inside a try whose catch
        # answers 500 ERR_INTERNAL_ERROR; the Bull add after it is not awaited. So that 500 means
        # "session down or number not on WhatsApp, nothing enqueued". SendMessage sends
        # ``text: body`` with no Mustache.
        Variant.TICKETZ: VariantSpec(
            success_body=MappingProxyType({"mensagem": "Message added to queue"}),
            queued=True,
            missing_token=(401, "Acesso não permitido"),
            bad_token=(401, "Acesso não permitido"),
            number_strip_once=None,
            session_down_markers=(*_COMMON_SESSION_DOWN, "Connection Closed"),
            unsent_500_markers=("ERR_INTERNAL_ERROR",),
            mustache_passes=0,
            ticket_notes=True,
        ),
        # ApiController.index: the number check strips only the first space; a number longer
        # than 17 characters is a group. SendWhatsAppMessageAPI imports formatBody but never
        # calls it, and sends "\u200e " + body.trim().
        Variant.V6: VariantSpec(
            success_body=MappingProxyType({"status": "SUCCESS"}),
            queued=False,
            missing_token=(401, "ERR_SESSION_EXPIRED"),
            bad_token=(403, INVALID_TOKEN),
            number_strip_once=(" ",),
            session_down_markers=(*_COMMON_SESSION_DOWN, "Connection Closed"),
            unsent_500_markers=(),
            mustache_passes=0,
            delivered_prefix="\u200e ",
            ticket_notes=True,
        ),
    }
)

# Forks copy code across lineages, so any variant may answer with another's string. A false
# "session down" costs one bounded retry; a false "permanent" loses the reply, so classify on the
# union of all variants' markers.
ALL_SESSION_DOWN_MARKERS: tuple[str, ...] = tuple(
    dict.fromkeys(m for spec in SPECS.values() for m in spec.session_down_markers)
)
