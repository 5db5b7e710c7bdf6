"""Business hours and holidays of a tenant: is a human there now, and when do they return.

Pure functions of the tenant's :class:`~services.core.tenants.spec.BusinessHoursSpec` and an
instant (``now`` is always a parameter: no clock is read here). See :mod:`.schedule`.
"""

from .schedule import (
    after_hours_note,
    is_open,
    next_opening,
    next_opening_phrase,
    opening_phrase,
    zone_of,
)

__all__ = [
    "after_hours_note",
    "is_open",
    "next_opening",
    "next_opening_phrase",
    "opening_phrase",
    "zone_of",
]
