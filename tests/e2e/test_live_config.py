"""Configuration reaches the running api and worker within seconds, without restarts.

The processes run with a tenant cache TTL of five minutes, so only the change channel can
explain what the tests see: after ``atende tenants apply -f``, ``pause``, ``resume`` and
``model``, the very next turns follow the new configuration, with the same PIDs.
"""

from __future__ import annotations

import asyncio

import pytest

from services.core.models import InboundMessage

from .conftest import CUSTOMER, TENANT, Stack, answer_for, baileys_text, tenant_yaml

OLD_PROMPT = "Você é a assistente virtual da ACME Telecom."
NEW_PROMPT = "Você é o Zeca, o novo atendente virtual da ACME Telecom."
OTHER = "5511988887777"
NOTICE = "Recebi! Já te respondo, só um instante."
WITHIN = 5.0  # "within a few seconds"


@pytest.fixture
def stack_env() -> dict[str, str]:
    return {"ATENDE_TENANT_CACHE_SECONDS": "300", "ATENDE_RATE_LIMIT_NOTICE_AFTER_SECONDS": "10"}


def _pids(stack: Stack) -> tuple[int, int]:
    assert stack.api is not None
    assert stack.worker is not None
    assert stack.api.returncode is None
    assert stack.worker.returncode is None
    return stack.api.pid, stack.worker.pid


async def _exchange(stack: Stack, msg_id: str, text: str) -> None:
    before = len(stack.sent_to(CUSTOMER))
    response = await stack.post(baileys_text(msg_id, text))
    assert response.json() == {"status": "accepted"}, response.text
    sent = await stack.wait_sent(before + 1, number=CUSTOMER, within=WITHIN)
    assert sent[-1]["text"] == answer_for(text)


async def test_apply_changes_the_prompt_and_the_limit_of_the_next_turns(stack: Stack) -> None:
    pids = _pids(stack)
    await _exchange(stack, "LIVE-1", "Primeira")
    await _exchange(stack, "LIVE-2", "Segunda")  # within the default limit (10 per minute)
    assert OLD_PROMPT in stack.gemini.last_request.system_instruction

    changed = (
        tenant_yaml(stack.whaticket.url).replace(OLD_PROMPT, NEW_PROMPT)
        + "  rateLimits: {perContactPerMinute: 1, perTenantPerMinute: 600}\n"
    ).replace("    fallbackMessage:", f'    waitMessage: "{NOTICE}"\n    fallbackMessage:')
    path = stack.tmp / "changed.yaml"
    path.write_text(changed)
    code, out, err = await stack.run_cli("tenants", "apply", "-f", str(path))
    assert code == 0, err
    assert f"bottenant/{TENANT} updated" in out

    # The next turn uses the new prompt (a new contact, so the old pace does not interfere).
    before = stack.gemini.request_count
    response = await stack.post(baileys_text("LIVE-3", "Terceira", phone=OTHER))
    assert response.json() == {"status": "accepted"}
    sent = await stack.wait_sent(1, number=OTHER, within=WITHIN)
    assert sent[0]["text"] == answer_for("Terceira")
    request = stack.gemini.last_request
    assert NEW_PROMPT in request.system_instruction
    assert OLD_PROMPT not in request.system_instruction

    # And the new limit: one turn a minute. The next message is stored, not answered yet, and
    # the contact is told once to wait rather than left in silence.
    for i, text in enumerate(["Quarta", "Quinta"]):
        response = await stack.post(baileys_text(f"LIVE-{4 + i}", text, phone=OTHER))
        assert response.json() == {"status": "accepted"}
    sent = await stack.wait_sent(2, number=OTHER, within=WITHIN)
    assert sent[-1]["text"] == NOTICE
    await asyncio.sleep(2.0)
    assert [s["text"] for s in stack.sent_to(OTHER)] == [answer_for("Terceira"), NOTICE]
    assert stack.gemini.request_count == before + 1
    assert len(await stack.rows(InboundMessage)) == 5
    assert stack.worker is not None
    limited = stack.worker.events("turn.rate_limited")
    assert limited
    assert limited[-1]["dimension"] == "contact"
    assert 50 < limited[-1]["retry_after"] <= 60
    metric = await stack.worker_metric(
        stack.worker, "atende_rate_limited_total", tenant=TENANT, dimension="contact"
    )
    assert metric >= 1
    assert _pids(stack) == pids


async def test_pause_resume_and_model_take_effect_in_seconds_and_are_audited(
    stack: Stack,
) -> None:
    pids = _pids(stack)
    await _exchange(stack, "SW-1", "Oi")

    code, out, err = await stack.run_cli("tenants", "pause", TENANT, "--reason", "revisão do bot")
    assert code == 0, err
    assert "paused (updated" in out
    for i, text in enumerate(["Tem alguém aí?", "Preciso de ajuda"]):
        response = await stack.post(baileys_text(f"SW-P{i}", text))
        assert response.json() == {"status": "accepted"}  # stored: the webhook still says 200
    await asyncio.sleep(2.0)
    assert len(stack.sent_to(CUSTOMER)) == 1  # the bot is silent
    assert stack.gemini.request_count == 1

    code, out, err = await stack.run_cli("tenants", "model", TENANT, "gemini-2.5-pro")
    assert code == 0, err
    code, out, err = await stack.run_cli("tenants", "resume", TENANT)
    assert code == 0, err
    assert "1 conversation(s) queued, 0 expired" in out
    sent = await stack.wait_sent(2, number=CUSTOMER, within=WITHIN)
    assert sent[-1]["text"] == answer_for("Tem alguém aí? | Preciso de ajuda")  # once, together
    assert stack.gemini.last_request.path.endswith("/models/gemini-2.5-pro:generateContent")
    await asyncio.sleep(1.5)
    assert len(stack.sent_to(CUSTOMER)) == 2

    code, out, err = await stack.run_cli("tenants", "model", TENANT, "--clear")
    assert code == 0, err
    await _exchange(stack, "SW-3", "Obrigado")
    assert stack.gemini.last_request.path.endswith("/models/gemini-2.5-flash:generateContent")

    code, out, err = await stack.run_cli("audit", "verify")
    assert (code, out) == (0, "audit log: hash chain intact · 4 events checked\n"), err
    # pause, model, resume, model --clear: the chain the CLI wrote, under the platform key
    assert _pids(stack) == pids


async def test_switch_on_an_unknown_tenant_fails_clearly(stack: Stack) -> None:
    code, _, err = await stack.run_cli("tenants", "pause", "nobody", "--reason", "x")
    assert code == 1
    [line] = err.splitlines()  # one line, no traceback
    assert line.startswith("error: ")
    assert "no tenant named 'nobody'" in line
    code, _, err = await stack.run_cli("tenants", "model", TENANT)
    assert code == 1
    [line] = err.splitlines()
    assert line.startswith("error: ")
    assert "MODEL or --clear" in line
