"""One contact per customer, whichever id WhatsApp uses for them (phone JID or ``@lid``)."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.models import Contact


async def _upsert(
    session: AsyncSession, tenant_id: int, column: str, value: str, name: str | None
) -> int:
    stmt = insert(Contact).values(tenant_id=tenant_id, name=name, **{column: value})
    upsert = stmt.on_conflict_do_update(
        index_elements=["tenant_id", column],
        set_={"name": func.coalesce(stmt.excluded.name, Contact.name), "updated_at": func.now()},
    ).returning(Contact.id)
    contact_id: int = (await session.execute(upsert)).scalar_one()
    return contact_id


async def _link(session: AsyncSession, contact_id: int, column: str, value: str) -> None:
    """Record the other id on the contact, unless another contact already holds it."""
    try:
        async with session.begin_nested():
            await session.execute(
                update(Contact)
                .where(Contact.id == contact_id, getattr(Contact, column).is_(None))
                .values(**{column: value})
            )
    except IntegrityError:
        pass


async def resolve_contact(
    session: AsyncSession, tenant_id: int, *, phone: str | None, lid: str | None, name: str | None
) -> int:
    if lid is not None:
        known = await session.scalar(
            select(Contact.id).where(Contact.tenant_id == tenant_id, Contact.lid == lid)
        )
        if known is not None:
            if phone is not None:
                await _link(session, known, "phone", phone)
            return known
    if phone is not None:
        contact_id = await _upsert(session, tenant_id, "phone", phone, name)
        if lid is not None:
            await _link(session, contact_id, "lid", lid)
        return contact_id
    assert lid is not None
    return await _upsert(session, tenant_id, "lid", lid, name)


async def set_email(session: AsyncSession, tenant_id: int, phone: str, email: str | None) -> None:
    """Record (or clear) a customer's e-mail address, creating the contact if needed."""
    stmt = insert(Contact).values(tenant_id=tenant_id, phone=phone, email=email)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["tenant_id", "phone"],
            set_={"email": stmt.excluded.email, "updated_at": func.now()},
        )
    )
