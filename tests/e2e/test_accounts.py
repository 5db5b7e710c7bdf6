"""Accounts against the real api process: a user disabled from the command line is refused on
the very next request, parallel password guesses get only the free attempts, and every answer
carries the security headers."""

from __future__ import annotations

import asyncio

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
