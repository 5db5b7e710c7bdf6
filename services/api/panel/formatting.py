"""Dates, numbers and money as the reader expects them, in the request's language.

Times are shown in the tenant's timezone (``spec.businessHours.timezone``), as
``04/12/2026 14:05`` in pt-BR, and always say which zone: each ``<time>`` carries the ISO
instant (``datetime``) and the zone's name (``title``); a page names its zone once with
``zone_note``. Pages learn their tenants' zones from :func:`zone_book` (every tenant the
principal sees, one query) or :func:`tenant_zone` (one tenant's row, config or spec)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date, format_time, get_timezone_name
from babel.numbers import format_currency, format_decimal, format_percent
from markupsafe import Markup

from services.api.operations import visible_tenants
from services.api.state import AppState
from services.core.auth.roles import Principal
from services.core.tenants.spec import BotTenantSpec

from .i18n import babel_locale, current_locale, gettext

DEFAULT_ZONE = "America/Sao_Paulo"  # the zone of a tenant that names none, and of the platform
NOTHING = "—"
Number = int | float | Decimal


@cache
def zone(name: str | None) -> ZoneInfo:
    """The IANA zone ``name``; an unknown or empty one means :data:`DEFAULT_ZONE`."""
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


def tenant_zone(tenant: Any) -> str:
    """The timezone of a tenant row (``models.Tenant``), a ``TenantConfig``, a spec (model or
    dict) or None (the default)."""
    spec = getattr(tenant, "spec", tenant)
    if isinstance(spec, BotTenantSpec):
        return spec.business_hours.timezone
    if isinstance(spec, Mapping):
        hours = spec.get("businessHours") or spec.get("business_hours") or {}
        name = hours.get("timezone") if isinstance(hours, Mapping) else None
        return str(name) if name else DEFAULT_ZONE
    return DEFAULT_ZONE


@dataclass(frozen=True, slots=True)
class ZoneBook:
    """Each visible tenant's zone, by id and by slug."""

    by_id: dict[int, str] = field(default_factory=dict)
    by_slug: dict[str, str] = field(default_factory=dict)

    @property
    def page_zone(self) -> str | None:
        """The one zone of every tenant here (the default when there are none), or None when
        they differ (each time then says its own)."""
        zones = set(self.by_id.values())
        return zones.pop() if len(zones) == 1 else None if zones else DEFAULT_ZONE

    def of(self, tenant: int | str | None) -> str:
        """A tenant's zone (by id or slug); a row of no tenant takes the page's."""
        found = self.by_id.get(tenant) if isinstance(tenant, int) else None
        if found is None and isinstance(tenant, str):
            found = self.by_slug.get(tenant)
        return found or self.page_zone or DEFAULT_ZONE


async def zone_book(state: AppState, principal: Principal) -> ZoneBook:
    tenants = await visible_tenants(state, principal)
    return ZoneBook(
        by_id={t.id: tenant_zone(t) for t in tenants},
        by_slug={t.slug: tenant_zone(t) for t in tenants},
    )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def zone_name(tz: str | None = None) -> str:
    """The zone as its reader says it: "Horário de Brasília", "Brasilia Time", "UTC"."""
    where = zone(tz)
    if where.key in ("UTC", "Etc/UTC", "Etc/GMT"):
        return "UTC"
    return str(get_timezone_name(where, "long", locale=babel_locale(), zone_variant="generic"))


def zone_note(tz: str | None = None) -> str:
    """The sentence a page shows once: which zone its times are in (None: each row's own)."""
    if tz is None:
        return gettext("Times in each tenant's time zone (point at one to see which).")
    return gettext("Time zone: %(zone)s") % {"zone": zone_name(tz)}


def when_text(value: datetime | None, tz: str | None = None) -> str:
    """``04/12/2026 14:05`` (pt-BR) or ``Dec 4, 2026, 2:05 PM`` (English) in zone ``tz``."""
    if value is None:
        return NOTHING
    moment = _aware(value).astimezone(zone(tz))
    if current_locale() == "pt_BR":
        return moment.strftime("%d/%m/%Y %H:%M")
    place = babel_locale()
    shown = format_date(moment, "medium", locale=place)
    return f"{shown}, {format_time(moment, 'short', locale=place)}"


def when(value: datetime | None, tz: str | None = None) -> Markup:
    """A ``<time>`` with the instant for machines and the zone's name on hover."""
    if value is None:
        return Markup(NOTHING)  # noqa: S704 (a constant)
    instant = _aware(value).astimezone(UTC).isoformat(timespec="seconds")
    label = f"{zone_name(tz)} ({zone(tz).key})"
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        instant, label, when_text(value, tz)
    )


def day(value: date | datetime | None, tz: str | None = None) -> str:
    """A date alone: ``04/12/2026`` (pt-BR), ``Dec 4, 2026`` (English)."""
    if value is None:
        return NOTHING
    if isinstance(value, datetime):
        value = _aware(value).astimezone(zone(tz)).date()
    if current_locale() == "pt_BR":
        return value.strftime("%d/%m/%Y")
    return str(format_date(value, "medium", locale=babel_locale()))


def number(value: Number | None, digits: int | None = None) -> str:
    """``1.234.567`` / ``1.234,5`` in pt-BR; ``digits`` fixes the decimals shown."""
    if value is None:
        return NOTHING
    pattern = None if digits is None else "#,##0" + ("." + "0" * digits if digits else "")
    return str(format_decimal(value, format=pattern, locale=babel_locale()))


def percent(value: Number | None, digits: int = 0) -> str:
    """A fraction as a percentage: 0.256 → ``26%`` (``25,6%`` with one digit)."""
    if value is None:
        return NOTHING
    pattern = "#,##0" + ("." + "0" * digits if digits else "") + "%"
    return str(format_percent(value, format=pattern, locale=babel_locale()))


def currency(value: Number | None, code: str = "BRL") -> str:
    """``R$ 1.234,56`` in pt-BR, ``R$1,234.56`` in English."""
    if value is None:
        return NOTHING
    return str(format_currency(value, code, locale=babel_locale()))


def iso(value: datetime | None) -> str:
    return _aware(value).astimezone(UTC).isoformat(timespec="seconds") if value else ""


FILTERS = {
    "when": when,
    "when_text": when_text,
    "day": day,
    "number": number,
    "percent": percent,
    "currency": currency,
    "iso": iso,
}
GLOBALS = {"zone_name": zone_name, "zone_note": zone_note}
