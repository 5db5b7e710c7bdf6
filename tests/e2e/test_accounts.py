"""Accounts against the real api process: a user disabled from the command line is refused on
the very next request, parallel password guesses get only the free attempts, every answer
carries the security headers, and forged tokens write few, small audit rows."""

from __future__ import annotations

import asyncio
import json

from services.api.security import AUDITED_REJECTIONS_PER_IP
from services.core.models import AuditEvent
from tests.e2e.conftest import Stack

EMAIL = "root@atende.test"
PASSWORD = "e2e-accounts-password-01"


async def _create(stack: Stack) -> None:
    code, out, err = await stack.run_cli(
        "users", "create", "--email", EMAIL, "--role", "platform_admin", "--password-stdin",
        stdin=f"{PASSWORD}\n",
    )  # fmt: skip
    assert code == 0, (out, err)


async def test_a_disabled_user_is_refused_on_the_next_request(stack: Stack) -> None:
    await _create(stack)
    signed = await stack.http.post(
        "/api/v1/auth/token", json={"email": EMAIL, "password": PASSWORD}
    )
    headers = {"Authorization": f"Bearer {signed.json()['access_token']}"}
    answer = await stack.http.get("/api/v1/tenants", headers=headers)
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-frame-options"] == "DENY"
    assert "'unsafe-inline'" not in answer.headers["content-security-policy"]
    code, out, err = await stack.run_cli("users", "disable", EMAIL)
    assert (code, out) == (0, f"user {EMAIL} disabled\n"), err
    assert (await stack.http.get("/api/v1/tenants", headers=headers)).status_code == 401


async def test_parallel_guesses_get_only_the_free_attempts(stack: Stack) -> None:
    await _create(stack)
    guess = {"email": EMAIL, "password": "not-the-password-0001"}
    answers = await asyncio.gather(
        *(stack.http.post("/api/v1/auth/token", json=guess) for _ in range(25))
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [401] * 5 + [429] * 20


async def test_forged_tokens_write_few_small_audit_rows(stack: Stack) -> None:
    """Each refused token wrote an audit row of up to 12 KB, as many as anyone sent."""
    for i in range(40):
        answer = await stack.http.get(
            "/api/v1/tenants?" + "q" * 3000 if i % 2 else "/api/v1/" + "p" * 1500,
            headers={"Authorization": "Bearer " + "x" * 4000},
        )
        assert answer.status_code in (401, 404)
    rows = await stack.rows(AuditEvent, AuditEvent.action == "auth.token_rejected")
    assert 1 <= len(rows) <= AUDITED_REJECTIONS_PER_IP
    assert max(len(json.dumps(row.details)) + len(row.actor) for row in rows) < 400
