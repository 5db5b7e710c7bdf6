"""The WhatsApp session of a Whaticket connection goes down, through the real api and worker:
the replies become dead letters with their class (CLI, panel, /api/v1), nobody is handed a
conversation no one could answer, and once the connection is back the waiting replies go out
in order at the tenant's pace, the stale ones kept as dead letters, even across a SIGKILL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update

from services.core.models import DeadLetter, Handoff, OutboundMessage, Turn
from services.core.outbound.outage import CONNECTION_DOWN
from services.core.turns.handoff_note import INSTRUCTION

from .conftest import Stack, answer_for, baileys_text, eventually, tenant_yaml

pytestmark = [pytest.mark.chaos, pytest.mark.usefixtures("invariants")]

PACE = 30  # spec.delivery.replayPerMinute: one every two seconds
EMAIL, PASSWORD = "ops@atende.test", "e2e-session-down-password"
PHONES = ["5511966660001", "5511966660002", "5511966660003"]
NEWCOMER = "5511966669999"


async def _apply(stack: Stack) -> None:
    """The tenant with an agent user (so a failure could hand over) and its delivery pace."""
    path = stack.tmp / "tenant.yaml"
    spec = tenant_yaml(stack.whaticket.url, handoff=True)
    path.write_text(spec + f"  delivery: {{replayPerMinute: {PACE}}}\n")
    code, out, err = await stack.run_cli("tenants", "apply", "-f", str(path))
    assert code == 0, (out, err)


async def _dead_letters(stack: Stack, count: int) -> list[DeadLetter]:
    async def given_up() -> list[DeadLetter] | None:
        rows = await stack.rows(DeadLetter)
        return rows if len(rows) >= count else None

    return await eventually(given_up, within=40, what=f"{count} dead letters")


async def _ask_while_down(stack: Stack, tag: str) -> list[DeadLetter]:
    await _apply(stack)
    stack.whaticket.set_mode(session_down=True)
    for i, phone in enumerate(PHONES):
        stack.whaticket.add_ticket(phone)  # as Whaticket opens one for a customer who writes
        payload = baileys_text(f"{tag}-{i}", f"pergunta {i}", phone=phone)
        assert (await stack.post(payload)).json()["status"] == "accepted"
    letters = await _dead_letters(stack, len(PHONES))
    assert {(d.stage, d.status) for d in letters} == {("send", "open")}
    assert {d.error_class for d in letters} <= CONNECTION_DOWN
    assert "whaticket_session_down" in {d.error_class for d in letters}
    return letters


async def _come_back(stack: Stack, tag: str) -> None:
    """The session is live again; a new customer's message comes through it (a webhook)."""
    stack.whaticket.set_mode(session_down=False)
    payload = baileys_text(f"{tag}-back", "alguém aí?", phone=NEWCOMER)
    assert (await stack.post(payload)).json()["status"] == "accepted"


async def _signed_in(stack: Stack) -> tuple[dict[str, str], dict[str, str]]:
    """An operator's /api/v1 bearer header and the panel's session cookie header."""
    code, out, err = await stack.run_cli(
        "users", "create", "--email", EMAIL, "--role", "platform_admin", "--password-stdin",
        stdin=f"{PASSWORD}\n",
    )  # fmt: skip
    assert code == 0, (out, err)
    token = await stack.http.post("/api/v1/auth/token", json={"email": EMAIL, "password": PASSWORD})
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
    login = await stack.http.post(
        "/panel/login", data={"email": EMAIL, "password": PASSWORD, "next": "/panel"}
    )
    assert login.status_code == 303, login.text
    cookies = "; ".join(f"{c.name}={c.value}" for c in login.cookies.jar)
    return bearer, {"Cookie": cookies}


async def test_session_down_dead_letters_no_handoff_then_paced_replay_and_stale(
    stack: Stack,
) -> None:
    letters = await _ask_while_down(stack, "DOWN")
    await asyncio.sleep(2.0)  # a redelivery period or more: nothing came through, nothing goes

    # Nobody was handed a conversation: an agent could not answer through a dead session.
    assert await stack.count(Handoff) == 0
    assert not [r for r in stack.whaticket.requests() if r["method"] == "PUT"]
    assert stack.whaticket.sent() == []

    # Every reply is a dead letter with its class, in the CLI, /api/v1 and the panel.
    code, listing, err = await stack.run_cli("dlq", "list")
    assert code == 0, err
    for letter in letters:
        row = next(line for line in listing.splitlines() if line.split()[0] == str(letter.id))
        assert letter.error_class in row, listing
    bearer, cookie = await _signed_in(stack)
    api = (await stack.http.get("/api/v1/dead-letters", headers=bearer)).json()
    assert {(d["id"], d["error_class"]) for d in api} == {(d.id, d.error_class) for d in letters}
    page = await stack.http.get("/panel/dead-letters", headers=cookie)
    assert page.status_code == 200
    for letter in letters:
        assert f'data-dead-letter="{letter.id}"' in page.text
        assert f"<strong>{letter.error_class}</strong>" in page.text

    # The third customer's reply was written two hours ago: out of context by now.
    old = letters[2]
    async with stack.sessionmaker() as session, session.begin():
        await session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.turn_id == old.turn_id)
            .values(created_at=OutboundMessage.created_at - timedelta(hours=2))
        )

    await _come_back(stack, "DOWN")

    async def replayed() -> list[DeadLetter] | None:
        rows = {d.id: d for d in await stack.rows(DeadLetter)}
        done = [rows[d.id] for d in letters[:2]]
        stale = rows[old.id].error_class == "stale"
        return done if stale and all(d.status == "replayed" for d in done) else None

    done = await eventually(replayed, within=40, what="the waiting replies to be replayed")
    answers = [str(d.context["reply"]) for d in letters]  # the replies, oldest letter first
    await stack.wait_sent(3, within=20)
    await asyncio.sleep(2.5)  # a pace period: nothing else may follow

    # In order, the stored replies (never generated again), the stale one never sent.
    sent = [s["text"] for s in stack.whaticket.sent()]
    assert [t for t in sent if t in answers] == answers[:2], sent
    assert answer_for("alguém aí?") in sent
    assert len(sent) == 3
    # The turns' model calls (the stale one's handoff also asks for the agent's note).
    note = INSTRUCTION.split("{")[0]
    turns_asked = [r for r in stack.gemini.requests if not r.system_instruction.startswith(note)]
    assert len(turns_asked) == 4
    # At most the tenant's pace: the replays were started at least 60/PACE seconds apart.
    first, second = (d.resolved_at for d in done)
    assert first is not None
    assert second is not None
    assert (second - first).total_seconds() >= 60 / PACE

    # The stale one stays a dead letter, and a person now follows that conversation up.
    code, listing, err = await stack.run_cli("dlq", "list")
    assert code == 0, err
    assert [line.split()[0] for line in listing.splitlines()[1:] if line.strip()] == [str(old.id)]
    assert "stale" in listing
    shown = (await stack.http.get("/panel/dead-letters?show=all", headers=cookie)).text
    assert shown.count("reenviada quando a conexão voltou") == 2  # pt-BR, the panel's default
    assert f"aguardou {old.error_class}" in shown
    handoffs = await stack.rows(Handoff)
    assert [(h.trigger, h.conversation_id) for h in handoffs] == [
        ("failure", old.context["conversation_id"])
    ]
    turns = {t.id: t.status for t in await stack.rows(Turn)}
    assert [turns[d.turn_id] for d in letters] == ["answered", "answered", "dead"]


async def test_worker_sigkilled_while_replaying_sends_each_reply_once(stack: Stack) -> None:
    letters = await _ask_while_down(stack, "KILL")
    await _come_back(stack, "KILL")
    assert stack.worker is not None
    worker = stack.worker

    async def replaying() -> bool:
        return bool(worker.events("redelivery.replay"))

    await eventually(replaying, within=30, what="the first replay")
    worker.kill()  # right after the first replay was decided (its job may or may not have run)

    stack.start_worker()
    await stack.wait_worker_ready()
    answers = {phone: answer_for(f"pergunta {i}") for i, phone in enumerate(PHONES)}
    await stack.wait_sent(len(PHONES) + 1, within=60)
    await asyncio.sleep(2.5)  # a pace period: nothing else may follow

    for phone, answer in answers.items():
        assert [s["text"] for s in stack.sent_to(phone)] == [answer], phone
    rows = {d.id: d.status for d in await stack.rows(DeadLetter)}
    assert [rows[d.id] for d in letters] == ["replayed"] * len(letters)
