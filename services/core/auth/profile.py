"""What a panel user sets for themselves: today, the panel's language."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit.service import record
from services.core.errors import InvalidInput, NotFound
from services.core.models import User

# The panel's languages, the first the default; English is the source language of its strings.
PANEL_LOCALES = ("pt_BR", "en")


async def locale_of(session: AsyncSession, user_id: int) -> str | None:
    """The language the user chose, or None (not chosen: the browser's)."""
    chosen = await session.scalar(select(User.locale).where(User.id == user_id))
    return chosen if chosen in PANEL_LOCALES else None


async def choose_locale(
    session: AsyncSession, *, user_id: int, locale: str | None, actor: str
) -> None:
    """Set (or, with None, forget) the user's language, recorded as ``user.locale_changed``."""
    if locale is not None and locale not in PANEL_LOCALES:
        raise InvalidInput(f"unknown language {locale[:16]!r}")
    row = (
        await session.execute(
            update(User)
            .where(User.id == user_id)
            .values(locale=locale)
            .returning(User.email, User.tenant_id)
        )
    ).first()
    if row is None:
        raise NotFound("no such user")
    email, tenant_id = row
    await record(
        session,
        actor=actor,
        action="user.locale_changed",
        tenant_id=tenant_id,
        details={"email": email, "locale": locale or "browser"},
    )
