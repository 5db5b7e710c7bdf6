"""The action API for workflows: with the tenant's key an automation hands a conversation to a
person and gives it back; without it, or with another tenant's, nothing happens and nothing
tells whether the tenant exists."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
import redis.asyncio as aioredis
from sqlalchemy import select

from services.cli.admin import apply_file
from services.core.db import SessionMaker
from services.core.models import Contact, Conversation, Handoff
from tests.api.webhook_app import (
    TENANT,
    TENANT_YAML,
    RunningApp,
    baileys,
    make_settings,
    running_app,
)
from tests.fixtures.tenant_files import extended, renamed

KEY = "n8n-action-key-0123456789abcdef0123"
OTHER_KEY = "crm-action-key-fedcba9876543210fedc"
PHONE = "5511988887777"


def with_action_key(yaml: str, tenant: str, key: str) -> str:
    actions = f"  actions: {{apiKeySecretRefs: [{{name: {tenant}, key: action-key}}]}}\n"
    return extended(yaml, {"action-key": key}, actions)


@pytest_asyncio.fixture(loop_scope="session")
async def api(
    clean_db: SessionMaker,
    redis_client: aioredis.Redis,
    database_url: str,
    redis_url: str,
    tmp_path: Path,
) -> AsyncIterator[RunningApp]:
    settings = make_settings(database_url, redis_url, tmp_path)
    await apply_file(settings, with_action_key(TENANT_YAML, TENANT, KEY))
    other = renamed(TENANT_YAML, TENANT, "other")
    await apply_file(settings, with_action_key(other, "other", OTHER_KEY))
    async with running_app(settings) as app:
        yield app


async def test_a_workflow_hands_a_conversation_over_and_back(
    api: RunningApp, clean_db: SessionMaker, redis_client: aioredis.Redis
) -> None:
    message = baileys("ACT-1", "quero cancelar", remote=f"{PHONE}@s.whatsapp.net")
    assert (await api.post(message)).status_code == 200
    auth = {"Authorization": f"Bearer {KEY}"}
    path = f"/api/v1/actions/{TENANT}"

    handed = await api.client.post(
        f"{path}/handoff",
        json={"phone": PHONE, "reason": "cancellation flow", "summary": "Cliente quer cancelar"},
        headers=auth,
    )
    assert handed.status_code == 200, handed.text
    assert handed.json()["status"] == "requested"
    async with clean_db() as session:
        [handoff] = list(await session.scalars(select(Handoff)))
        state = await session.scalar(select(Conversation.state))
    assert (handoff.trigger, handoff.reason) == ("workflow", "cancellation flow")
    assert handoff.summary["intent"] == "Cliente quer cancelar"
    assert state == "human"
    assert await redis_client.exists(f"arq:job:handoff:{handoff.id}")  # the transfer is queued

    again = await api.client.post(
        f"{path}/handoff", json={"phone": PHONE, "reason": "again"}, headers=auth
    )
    assert again.json() == {"handoff_id": None, "status": "already_with_a_person"}

    back = await api.client.post(f"{path}/resume", json={"phone": PHONE}, headers=auth)
    assert back.json() == {"resumed": 1}
    async with clean_db() as session:
        assert await session.scalar(select(Conversation.state)) == "bot"


async def test_keys_belong_to_their_tenant(api: RunningApp) -> None:
    body = {"phone": PHONE, "reason": "x"}
    for headers, tenant in (
        ({}, TENANT),
        ({"Authorization": "Bearer wrong-key-0123456789abcdef0123"}, TENANT),
        ({"Authorization": f"Bearer {OTHER_KEY}"}, TENANT),  # another tenant's key
        ({"Authorization": f"Bearer {KEY}"}, "nobody"),  # an unknown tenant looks the same
    ):
        response = await api.client.post(
            f"/api/v1/actions/{tenant}/handoff", json=body, headers=headers
        )
        assert response.status_code == 401, (headers, tenant)
        assert KEY not in response.text
    unknown_phone = await api.client.post(
        f"/api/v1/actions/{TENANT}/handoff",
        json={"phone": "5511900000000", "reason": "x"},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert unknown_phone.status_code == 404
    bad_phone = await api.client.post(
        f"/api/v1/actions/{TENANT}/resume",
        json={"phone": "+55 11 9"},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert bad_phone.status_code == 422


async def test_a_workflow_message_is_stored_once_per_key_and_queued(
    api: RunningApp, redis_client: aioredis.Redis
) -> None:
    assert (await api.post(baileys("ACT-2", "oi", remote=f"{PHONE}@s.whatsapp.net"))).status_code
    auth = {"Authorization": f"Bearer {KEY}"}
    path = f"/api/v1/actions/{TENANT}/messages"
    body = {"phone": PHONE, "text": "Seu pedido saiu para entrega."}

    first = await api.client.post(path, json=body, headers=auth | {"Idempotency-Key": "ord-1"})
    assert first.status_code == 202, first.text
    message = first.json()
    assert (message["status"], message["attempts"], message["sent_at"]) == ("pending", 0, None)
    assert await redis_client.exists(f"arq:job:wmsg:{message['id']}")  # queued after the commit

    again = await api.client.post(path, json=body, headers=auth | {"Idempotency-Key": "ord-1"})
    assert (again.status_code, again.json()["id"]) == (200, message["id"])
    other_text = {**body, "text": "Outro texto"}
    reused = await api.client.post(
        path, json=other_text, headers=auth | {"Idempotency-Key": "ord-1"}
    )
    assert reused.status_code == 409
    no_key = await api.client.post(path, json=body, headers=auth)
    assert no_key.status_code == 422
    stranger = await api.client.post(
        path, json={**body, "phone": "5511900000000"}, headers=auth | {"Idempotency-Key": "x"}
    )
    assert stranger.status_code == 404

    status = await api.client.get(f"{path}/{message['id']}", headers=auth)
    assert status.json() == message
    # another tenant's key cannot read it, not even through its own path
    other = {"Authorization": f"Bearer {OTHER_KEY}"}
    assert (await api.client.get(f"{path}/{message['id']}", headers=other)).status_code == 401
    elsewhere = f"/api/v1/actions/other/messages/{message['id']}"
    assert (await api.client.get(elsewhere, headers=other)).status_code == 404


async def test_a_close_gives_the_conversation_back_and_says_what_happens_to_the_ticket(
    api: RunningApp, clean_db: SessionMaker
) -> None:
    assert (await api.post(baileys("ACT-3", "oi", remote=f"{PHONE}@s.whatsapp.net"))).status_code
    auth = {"Authorization": f"Bearer {KEY}"}
    path = f"/api/v1/actions/{TENANT}"
    await api.client.post(f"{path}/handoff", json={"phone": PHONE, "reason": "r"}, headers=auth)

    closed = await api.client.post(f"{path}/close", json={"phone": PHONE}, headers=auth)

    # this tenant has no Whaticket URL: its replies go to the sandbox, there is no ticket
    assert closed.json() == {"was_with_a_person": True, "ticket": "no_ticket"}
    async with clean_db() as session:
        assert await session.scalar(select(Conversation.state)) == "bot"
        [handoff] = list(await session.scalars(select(Handoff)))
    assert (handoff.status, handoff.resolution) == ("resolved", "workflow")
    repeated = await api.client.post(f"{path}/close", json={"phone": PHONE}, headers=auth)
    assert repeated.json() == {"was_with_a_person": False, "ticket": "no_ticket"}


async def test_a_crm_records_a_customer_s_e_mail_for_the_fallback(
    api: RunningApp, clean_db: SessionMaker
) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    path = f"/api/v1/actions/{TENANT}/contacts"
    body = {"phone": PHONE, "email": "maria@example.com"}

    saved = await api.client.put(path, json=body, headers=auth)  # before the first message

    assert saved.json() == body
    assert (await api.post(baileys("ACT-4", "oi", remote=f"{PHONE}@s.whatsapp.net"))).status_code
    async with clean_db() as session:
        assert await session.scalar(select(Contact.email).where(Contact.phone == PHONE)) == (
            "maria@example.com"
        )  # the customer's message found the same contact
    bad = await api.client.put(path, json={"phone": PHONE, "email": "not an address"}, headers=auth)
    assert bad.status_code == 422
    cleared = await api.client.put(path, json={"phone": PHONE, "email": None}, headers=auth)
    assert cleared.json()["email"] is None
    async with clean_db() as session:
        assert await session.scalar(select(Contact.email)) is None
