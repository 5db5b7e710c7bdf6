"""Does a normalized message fit the columns it is stored in? Checked before it joins a batch,
so a value Postgres would refuse fails only its own request, with the field named."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import InstrumentedAttribute

from services.core.channels.baileys import Ignored, NormalizedMessage, normalize
from services.core.errors import InvalidInput
from services.core.logging import get_logger
from services.core.models import Contact, InboundMessage, Tenant
from services.core.tenants.spec import NAME_PATTERN, BotTenantSpec

from .refusals import RefusedMessage, tagged
from .spool import describe

log = get_logger(__name__)


def _length(column: InstrumentedAttribute[str] | InstrumentedAttribute[str | None]) -> int:
    kind = column.property.columns[0].type
    assert isinstance(kind, String)
    assert kind.length is not None
    return kind.length


_LIMITS = {
    "id": _length(InboundMessage.provider_msg_id),
    "kind": _length(InboundMessage.kind),
    "phone": _length(Contact.phone),
    "lid": _length(Contact.lid),
    "name": _length(Contact.name),
}


def is_tenant_name(slug: str) -> bool:
    """Could a tenant have this name? A path that no tenant can match (a NUL, a surrogate, 300
    characters) is an unknown tenant without asking Postgres, which would refuse the query."""
    return len(slug) <= _length(Tenant.slug) and re.fullmatch(NAME_PATTERN, slug) is not None


def has_connection(spec: BotTenantSpec, name: str) -> bool:
    """``spec.connection(name) is not None``, as a loop: a generator that stops early costs
    more than the rest of the check, and every webhook asks."""
    for connection in spec.whaticket.connections:  # noqa: SIM110 (see above)
        if connection.name == name:
            return True
    return False


def check_fits(message: NormalizedMessage) -> None:
    """Raise :class:`RefusedMessage` (422, ``too_long``) naming the first field that does not
    fit its column."""
    values = {
        "id": message.provider_msg_id,
        "kind": message.kind,
        "phone": message.phone,
        "lid": message.lid,
        "name": message.push_name,
    }
    for field, value in values.items():
        if value is not None and len(value) > _LIMITS[field]:
            raise RefusedMessage(
                "too_long", f"the sender's {field} has more than {_LIMITS[field]} characters"
            )


def normalize_checked(payload: dict[str, Any]) -> NormalizedMessage | Ignored:
    """The message, checked to fit its columns; a normalizer bug refuses this message (422)
    rather than failing the request, since storing what we cannot read helps nobody."""
    try:
        normalized = normalize(payload)
    except InvalidInput as exc:
        raise tagged(exc) from None
    except Exception as exc:
        log.error("webhook.unreadable", unexpected=True, **describe(exc))
        raise RefusedMessage("schema", "not a message this version can read") from None
    if isinstance(normalized, NormalizedMessage):
        check_fits(normalized)
    return normalized
