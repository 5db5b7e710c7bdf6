"""Business hours and the monthly token budget, as a customer and an operator notice them.

The clock is injected (``deps.clock``): no sleeping, no patched time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prometheus_client import REGISTRY
from sqlalchemy import select
from structlog.testing import capture_logs

from services.core.models import LlmUsage
from tests.fixtures.turns import PERSONA, Harness
from tests.standins.gemini import Reply

WORKWEEK = {
    "timezone": "America/Sao_Paulo",
    "weekly": {d: ["08:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
}
PAYMENT = "Aceitamos Pix, boleto e cartão de crédito."


def at(instant: str) -> Any:
    moment = datetime.fromisoformat(instant).replace(tzinfo=UTC)
    return lambda: moment


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def _usage(h: Harness) -> list[tuple[str, int, int, bool]]:
    async with h.sessionmaker() as session:
        rows = await session.scalars(select(LlmUsage).order_by(LlmUsage.month))
        return [
            (r.month.isoformat(), r.prompt_tokens, r.output_tokens, r.warned_at is not None)
            for r in rows
        ]


async def _turn(h: Harness, text: str, reply: Reply | None = None) -> None:
    if reply is not None:
        h.gemini.script(reply)
    await h.run(await h.ingest(text))


async def test_out_of_hours_note_reaches_gemini_only_out_of_hours(harness: Harness) -> None:
    await harness.apply_tenant(businessHours=WORKWEEK)
    harness.deps.clock = at("2026-11-24T13:00")  # Tuesday 10:00 in São Paulo
    await _turn(harness, "Oi, tudo bem?")
    in_hours = harness.gemini.last_request.system_instruction
    assert "fora do horário" not in in_hours
    assert "Os atendentes voltam" not in in_hours

    harness.deps.clock = at("2026-11-24T22:00")  # Tuesday 19:00
    await _turn(harness, "Quero falar com alguém")
    after_hours = harness.gemini.last_request.system_instruction
    assert "fora do horário de atendimento" in after_hours
    assert "Os atendentes voltam amanhã às 8h." in after_hours
    assert PERSONA in in_hours
    assert PERSONA in after_hours  # the persona is still there

    harness.deps.clock = at("2026-11-28T16:00")  # Saturday 13:00
    await _turn(harness, "Alô?")
    assert "voltam segunda-feira às 8h." in harness.gemini.last_request.system_instruction
    assert harness.gemini.request_count == 3
    assert len(harness.delivered()) == 3


async def test_usage_accumulates_from_usage_metadata_per_month(harness: Harness) -> None:
    await harness.apply_tenant(llm={"monthlyTokenBudget": 1000})
    harness.deps.clock = at("2026-11-24T13:00")
    await _turn(harness, "Oi", Reply.text("Olá!", prompt_tokens=100, output_tokens=50))
    await _turn(harness, "Tudo bem?", Reply.text("Tudo!", prompt_tokens=120, output_tokens=30))
    assert await _usage(harness) == [("2026-11-01", 220, 80, False)]
    assert _metric("atende_llm_budget_used_ratio", tenant="acme") == 0.3


async def test_unlimited_tenants_are_counted_and_never_degraded(harness: Harness) -> None:
    harness.deps.clock = at("2026-11-24T13:00")
    for n in range(3):
        await _turn(harness, f"Pergunta {n}", Reply.text("Ok", prompt_tokens=10**6))
    assert harness.gemini.request_count == 3
    assert await _usage(harness) == [("2026-11-01", 3 * 10**6, 3, False)]


async def test_thinking_tokens_count_as_output(harness: Harness) -> None:
    await harness.apply_tenant(llm={"monthlyTokenBudget": 10_000})
    harness.deps.clock = at("2026-11-24T13:00")
    await _turn(
        harness, "Oi", Reply.text("Olá!", prompt_tokens=100, output_tokens=20, thoughts_tokens=300)
    )
    assert await _usage(harness) == [("2026-11-01", 100, 320, False)]


async def test_the_80_percent_warning_fires_once_a_month(harness: Harness) -> None:
    await harness.apply_tenant(llm={"monthlyTokenBudget": 1000})
    harness.deps.clock = at("2026-11-24T13:00")
    before = _metric("atende_llm_budget_warnings_total", tenant="acme")
    with capture_logs() as logs:
        await _turn(harness, "Um", Reply.text("a", prompt_tokens=450, output_tokens=50))  # 50 %
        assert [e for e in logs if e["event"] == "budget.warning"] == []
        await _turn(harness, "Dois", Reply.text("b", prompt_tokens=300, output_tokens=50))  # 85 %
        await _turn(harness, "Três", Reply.text("c", prompt_tokens=50, output_tokens=50))  # 95 %
    warnings = [e for e in logs if e["event"] == "budget.warning"]
    assert len(warnings) == 1
    assert (warnings[0]["used"], warnings[0]["budget"]) == (850, 1000)
    assert _metric("atende_llm_budget_warnings_total", tenant="acme") == before + 1
    assert await _usage(harness) == [("2026-11-01", 800, 150, True)]
    assert _metric("atende_llm_budget_used_ratio", tenant="acme") == 0.95
    assert harness.gemini.request_count == 3  # a warning only: every turn still asked Gemini


SPENT = "Por enquanto não consigo responder mais nada por aqui. Pode tentar de novo daqui a pouco?"


async def test_over_budget_answers_from_knowledge_without_gemini(harness: Harness) -> None:
    await harness.apply_tenant(llm={"monthlyTokenBudget": 100}, businessHours=WORKWEEK)
    harness.deps.clock = at("2026-11-24T13:00")  # Tuesday 10:00: humans at work
    await _turn(harness, "Oi", Reply.text("Olá!", prompt_tokens=90, output_tokens=10))  # 100 %
    assert harness.gemini.request_count == 1
    exhausted = _metric("atende_llm_budget_exhausted_turns_total", tenant="acme")

    with capture_logs() as logs:
        await _turn(harness, "Quais as formas de pagamento?")
    assert harness.gemini.request_count == 1  # no request reached Gemini
    # No agent user to move tickets: the bot keeps answering from knowledge, and promises no
    # person (spec.messages.budgetSpent's default).
    assert harness.delivered()[-1] == f"{PAYMENT}\n\n{SPENT}"
    assert not any(e["event"] == "handoff.requested" for e in logs)
    assert _metric("atende_llm_budget_exhausted_turns_total", tenant="acme") == exhausted + 1

    # With no knowledge match, only the notice.
    harness.deps.clock = at("2026-11-24T22:00")  # Tuesday 19:00
    await _turn(harness, "Meu roteador pegou fogo")
    assert harness.delivered()[-1] == SPENT
    assert harness.gemini.request_count == 1
    turns = await harness.turns()
    assert [t.status for t in turns] == ["answered"] * 3
    assert [t.model for t in turns] == ["gemini-2.5-flash", "offline", "offline"]
    assert await _usage(harness) == [("2026-11-01", 90, 10, True)]  # nothing more counted


async def test_a_new_month_in_the_tenant_timezone_starts_fresh(harness: Harness) -> None:
    await harness.apply_tenant(llm={"monthlyTokenBudget": 100})
    harness.deps.clock = at("2026-11-30T12:00")
    await _turn(harness, "Oi", Reply.text("Olá!", prompt_tokens=100, output_tokens=5))
    # 23:00 on 30 November in São Paulo, already December in UTC: still November's budget.
    harness.deps.clock = at("2026-12-01T02:00")
    await _turn(harness, "Quais as formas de pagamento?")
    assert harness.gemini.request_count == 1
    assert harness.delivered()[-1].startswith(PAYMENT)

    harness.deps.clock = at("2026-12-01T03:00")  # midnight in São Paulo: December
    await _turn(harness, "E agora?", Reply.text("Agora sim!", prompt_tokens=20, output_tokens=5))
    assert harness.gemini.request_count == 2
    assert harness.delivered()[-1] == "Agora sim!"
    assert await _usage(harness) == [
        ("2026-11-01", 100, 5, True),
        ("2026-12-01", 20, 5, False),
    ]
    assert _metric("atende_llm_budget_used_ratio", tenant="acme") == 0.25
