"""Customers' personal data never reaches the logs in clear; our own ids stay readable."""

from __future__ import annotations

import io
import json
import sys

import pytest
import structlog

from services.core.logging import configure_logging, get_logger, mask_pii


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("5511999998888", "***88"),
        ("ligue +55 (11) 99999-8888 agora", "ligue ***88 agora"),
        ("meu email é maria.silva@example.com.br", "meu email é ***@***"),
        ("pedido 778899", "pedido 778899"),  # short numbers are not personal
        ("asyncpg.py:855, line 1234567", "asyncpg.py:855, line 1234567"),
        ("ligue 9999-8888", "ligue ***88"),  # eight digits are
        ("2026-11-24 19:32:50", "2026-11-24 19:32:50"),
    ],
)
def test_mask_pii(text: str, masked: str) -> None:
    assert mask_pii(text) == masked


def test_log_lines_mask_phones_and_emails_but_not_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    configure_logging("json")
    try:
        get_logger("t").info(
            "sandbox.reply",
            to="5511999998888",
            text="Oi maria@example.com, seu CPF 12345678909 foi recebido",
            correlation_id="12345678901234567890",
        )
    finally:
        structlog.reset_defaults()
    line = json.loads(out.getvalue().strip().splitlines()[-1])
    assert line["to"] == "***88"
    assert line["text"] == "Oi ***@***, seu CPF ***09 foi recebido"
    assert line["correlation_id"] == "12345678901234567890"
