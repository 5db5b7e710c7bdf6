"""A database error never prints a customer's phone, text or payload: through the real api and
worker, Postgres refuses rows with errors that quote them (a trigger's ``RAISE`` with the text in
its message and the phone or payload in its DETAIL), on the webhook's insert, the worker's reply
and the action API's message. Each failure is logged with its class and SQLSTATE, and none of
the values appears anywhere in either process's stderr or in an HTTP answer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from sqlalchemy import text

from tests.fixtures.tenant_files import extended

from .conftest import TENANT, Stack, baileys_text, eventually, tenant_yaml

ACTION_KEY = "n8n-e2e-mask-key-0123456789abcdef"
# Distinctive values, so any of them in a log line is a leak.
WEBHOOK_PHONE = "5511987650101"
WEBHOOK_TEXT = "inbound-private-words-7q3z"
PUSH_NAME = "Marcelina-Payload-9x2k"
REPLY_PHONE = "5511987650202"
REPLY_TEXT = "reply-private-words-4m8w"
ACTION_PHONE = "5511987650303"
ACTION_TEXT = "action-private-words-2h6j"
LEAKS = (
    WEBHOOK_PHONE,
    WEBHOOK_TEXT,
    PUSH_NAME,
    REPLY_PHONE,
    REPLY_TEXT,
    ACTION_PHONE,
    ACTION_TEXT,
)

# Refuses the rows holding our distinctive words with the customer's values in the error.
TRIGGERS = [
    """
    CREATE FUNCTION e2e_refuse_inbound() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.text LIKE 'inbound-private-words%' THEN
        RAISE EXCEPTION 'refused %', NEW.text USING DETAIL = NEW.payload::text, HINT = NEW.text;
      END IF;
      RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER e2e_refuse_inbound BEFORE INSERT ON inbound_messages
    FOR EACH ROW EXECUTE FUNCTION e2e_refuse_inbound()
    """,
    """
    CREATE FUNCTION e2e_refuse_outbound() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE phone text;
    BEGIN
      IF NEW.text LIKE '%private-words%' THEN
        SELECT c.phone INTO phone FROM conversations v JOIN contacts c ON c.id = v.contact_id
         WHERE v.id = NEW.conversation_id;
        RAISE EXCEPTION 'refused %', NEW.text
          USING ERRCODE = 'unique_violation', DETAIL = 'Key (phone)=(' || phone || ') exists.';
      END IF;
      RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER e2e_refuse_outbound BEFORE INSERT ON outbound_messages
    FOR EACH ROW EXECUTE FUNCTION e2e_refuse_outbound()
    """,
]
DROP = [
    "DROP TRIGGER IF EXISTS e2e_refuse_inbound ON inbound_messages",
    "DROP TRIGGER IF EXISTS e2e_refuse_outbound ON outbound_messages",
    "DROP FUNCTION IF EXISTS e2e_refuse_inbound()",
    "DROP FUNCTION IF EXISTS e2e_refuse_outbound()",
]


@pytest_asyncio.fixture(loop_scope="session")
async def refusing(stack: Stack) -> AsyncIterator[Stack]:
    """The stack, with the triggers installed (and dropped again: the database is shared)."""
    async with stack.sessionmaker() as session:
        for statement in DROP + TRIGGERS:
            await session.execute(text(statement))
        await session.commit()
    try:
        yield stack
    finally:
        async with stack.sessionmaker() as session:
            for statement in DROP:
                await session.execute(text(statement))
            await session.commit()


async def test_database_errors_are_logged_without_customers_values(refusing: Stack) -> None:
    stack = refusing
    path = stack.tmp / "tenant-actions.yaml"
    path.write_text(
        extended(
            tenant_yaml(stack.whaticket.url),
            {"action-key": ACTION_KEY},
            f"  actions: {{apiKeySecretRefs: [{{name: {TENANT}, key: action-key}}]}}\n",
        )
    )
    code, _, err = await stack.run_cli("tenants", "apply", "-f", str(path))
    assert code == 0, err

    # The api: the webhook's own insert is refused.
    inbound = baileys_text("MASK-E2E-1", WEBHOOK_TEXT, phone=WEBHOOK_PHONE)
    inbound["pushName"] = PUSH_NAME
    answers = [await stack.post(inbound)]
    # The action API's customer writes first (stored and answered).
    answers.append(await stack.post(baileys_text("MASK-E2E-0", "oi", phone=ACTION_PHONE)))
    await stack.wait_sent(1, number=ACTION_PHONE)
    # The worker: the customer's message is stored, the reply quoting it is refused.
    answers.append(await stack.post(baileys_text("MASK-E2E-2", REPLY_TEXT, phone=REPLY_PHONE)))
    assert answers[-1].status_code == 200, answers[-1].text
    # The api again: the action API's message to the customer is refused (a 500).
    auth = {"Authorization": f"Bearer {ACTION_KEY}"}

    async def refused() -> bool:  # the api follows tenant changes live
        response = await stack.http.post(
            f"/api/v1/actions/{TENANT}/messages",
            json={"phone": ACTION_PHONE, "text": ACTION_TEXT},
            headers=auth | {"Idempotency-Key": "mask-1"},
        )
        answers.append(response)
        return response.status_code >= 500

    await eventually(refused, within=10, what="the action API's insert to be refused")

    api, worker = stack.api, stack.worker
    assert api is not None
    assert worker is not None

    async def api_logged() -> bool:  # the webhook's failure, then the action's traceback
        spooled = [e for e in api.events("webhook.spooled") if e.get("error") == "DBAPIError"]
        return bool(spooled) and "Exception in ASGI application" in api.text()

    async def worker_logged() -> bool:
        return "process_inbound failed" in worker.text()

    await eventually(api_logged, within=20, what="the api to log both failures")
    await eventually(worker_logged, within=20, what="the worker to log the failed turn")

    for proc in (api, worker):
        stderr = proc.text()
        leaked = [value for value in LEAKS if value in stderr]
        assert not leaked, f"{proc.name} printed {leaked}:\n{proc.tail(200)}"
    for response in answers:
        leaked = [value for value in LEAKS if value in response.text]
        assert not leaked, f"HTTP {response.status_code} answered {leaked}: {response.text}"
    # Still logged with what tells an operator what failed: the classes and the SQLSTATE.
    assert {e.get("database_error") for e in api.events("webhook.spooled")} == {
        "DBAPIError(RaiseError) sqlstate=P0001"
    }
    shown = "IntegrityError: IntegrityError(UniqueViolationError) sqlstate=23505"
    assert f"sqlalchemy.exc.{shown}" in api.text(), api.tail(100)  # uvicorn's traceback
    assert f"process_inbound failed, {shown}" in worker.text(), worker.tail(100)  # arq's
