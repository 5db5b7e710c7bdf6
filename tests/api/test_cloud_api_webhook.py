"""Meta's WhatsApp Cloud API webhook: the subscription check, the signature on the raw body,
batched entries with messages, interactive replies and statuses — stored once, however often
Meta redelivers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
import redis.asyncio as aioredis
from sqlalchemy import insert, select

from services.cli.admin import apply_file
from services.core.db import SessionMaker, transaction
from services.core.models import Conversation, InboundMessage, OutboundMessage, Tenant, Turn
from tests.api.webhook_app import TENANT, TENANT_YAML, RunningApp, make_settings, running_app
from tests.fixtures.tenant_files import extended
from tests.standins.meta_graph import notification, signed, status_update, text_message

PHONE_NUMBER_ID = "106540352242922"
APP_SECRET = "meta-app-secret-0123456789abcdef"
VERIFY_TOKEN = "meta-verify-token-0123"
PATH = f"/hooks/meta/{TENANT}"


def with_meta(yaml: str) -> str:
    secrets = {
        "meta-verify": VERIFY_TOKEN,
        "meta-app-secret": APP_SECRET,
        "meta-token": "EAAG-access-token",
    }
    return extended(
        yaml,
        secrets,
        f"""\
  meta:
    phoneNumberId: "{PHONE_NUMBER_ID}"
    verifyTokenSecretRef: {{name: {TENANT}, key: meta-verify}}
    appSecretSecretRef: {{name: {TENANT}, key: meta-app-secret}}
    accessTokenSecretRef: {{name: {TENANT}, key: meta-token}}
""",
    )


@pytest_asyncio.fixture(loop_scope="session")
async def api(
    clean_db: SessionMaker,
    redis_client: aioredis.Redis,
    database_url: str,
    redis_url: str,
    tmp_path: Path,
) -> AsyncIterator[RunningApp]:
    settings = make_settings(database_url, redis_url, tmp_path)
    await apply_file(settings, with_meta(TENANT_YAML))
    async with running_app(settings) as app:
        yield app


async def post(api: RunningApp, payload: dict[str, Any], secret: str = APP_SECRET) -> Any:
    body, headers = signed(secret, payload)
    return await api.client.post(PATH, content=body, headers=headers)


async def test_meta_verifies_the_subscription_with_the_tenant_s_token(api: RunningApp) -> None:
    query = {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": ""}
    ok = await api.client.get(PATH, params=query | {"hub.verify_token": VERIFY_TOKEN})
    assert (ok.status_code, ok.text) == (200, "1158201444")
    wrong = await api.client.get(PATH, params=query | {"hub.verify_token": "guess"})
    assert wrong.status_code == 403
    assert VERIFY_TOKEN not in wrong.text
    unknown = await api.client.get("/hooks/meta/nobody", params=query)
    assert unknown.status_code == 404


async def test_a_batch_is_stored_once_and_interactive_replies_are_read(
    api: RunningApp, clean_db: SessionMaker
) -> None:
    button = text_message("5511988887777", "")
    button["messages"][0] |= {
        "type": "interactive",
        "interactive": {
            "type": "button_reply",
            "button_reply": {"id": "2ndvia", "title": "2ª via"},
        },
    }
    listed = text_message("5511988887777", "")
    listed["messages"][0] |= {
        "type": "interactive",
        "interactive": {"type": "list_reply", "list_reply": {"id": "p1", "title": "Plano 500"}},
    }
    payload = notification(
        PHONE_NUMBER_ID, text_message("5511977776666", "Oi, tudo bem?", name="João"), button, listed
    )

    first = await post(api, payload)
    again = await post(api, payload)  # Meta redelivers what it thinks we missed

    assert first.json() == {
        "status": "ok",
        "accepted": 3,
        "duplicates": 0,
        "statuses": 0,
        "ignored": 0,
    }
    assert again.json()["duplicates"] == 3
    async with clean_db() as session:
        rows = (await session.execute(select(InboundMessage.kind, InboundMessage.text))).all()
        connections = set(await session.scalars(select(Conversation.connection)))
    assert sorted(rows) == [("button", "2ª via"), ("list", "Plano 500"), ("text", "Oi, tudo bem?")]
    assert connections == {"meta"}


async def test_the_signature_is_checked_on_the_raw_body(api: RunningApp) -> None:
    payload = notification(PHONE_NUMBER_ID, text_message("5511977776666", "oi"))
    assert (await post(api, payload, secret="not-the-app-secret")).status_code == 401
    body, headers = signed(APP_SECRET, payload)
    reformatted = json.dumps(json.loads(body), indent=2).encode()  # same JSON, other bytes
    refused = await api.client.post(PATH, content=reformatted, headers=headers)
    assert refused.status_code == 401
    unsigned = await api.client.post(
        PATH, content=body, headers={"content-type": "application/json"}
    )
    assert unsigned.status_code == 401
    not_meta = await post(api, {"object": "page", "entry": []})
    assert not_meta.status_code == 422


async def test_statuses_move_forward_and_other_numbers_are_ignored(
    api: RunningApp, clean_db: SessionMaker
) -> None:
    assert (
        await post(api, notification(PHONE_NUMBER_ID, text_message("5511977776666", "oi")))
    ).status_code == 200
    async with transaction(clean_db) as session:
        tenant_id = await session.scalar(select(Tenant.id).where(Tenant.slug == TENANT))
        conversation_id = await session.scalar(select(Conversation.id))
        turn_id = await session.scalar(
            insert(Turn)
            .values(
                tenant_id=tenant_id,
                conversation_id=conversation_id,
                status="answered",
                correlation_id="meta-status-test",
            )
            .returning(Turn.id)
        )
        await session.execute(
            insert(OutboundMessage).values(
                turn_id=turn_id, tenant_id=tenant_id, conversation_id=conversation_id,
                kind="reply", channel="meta", text="Olá!", status="sent", attempts=1,
                provider_message_id="wamid.SENT1",
            )
        )  # fmt: skip

    for status in ("delivered", "read", "sent"):  # a late "sent" must not undo "read"
        await post(
            api,
            notification(PHONE_NUMBER_ID, status_update("wamid.SENT1", status, "5511977776666")),
        )
    other = await post(api, notification("999999999999", text_message("5511955554444", "oi")))

    async with clean_db() as session:
        assert await session.scalar(select(OutboundMessage.delivery_status)) == "read"
        count = len(list(await session.scalars(select(InboundMessage.id))))
    assert other.json()["ignored"] == 1
    assert count == 1
