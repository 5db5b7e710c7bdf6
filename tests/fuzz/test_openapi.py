"""The HTTP API fuzzed from its own OpenAPI schema (schemathesis) against a real api process
on loopback: whatever comes in, no 5xx, and every documented response matches its schema."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
import schemathesis
from hypothesis import given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from services.api.main import create_app
from services.cli.admin import apply_file
from services.core.auth.roles import Role
from services.core.auth.sessions import create_user
from services.core.db import SessionMaker, transaction
from tests.api.webhook_app import TENANT_YAML, make_settings
from tests.fixtures.live_api import serving

PASSWORD = "fuzzing-admin-password-1"


@pytest_asyncio.fixture(loop_scope="session")
async def api_url(
    clean_db: SessionMaker, database_url: str, redis_url: str, tmp_path: Path
) -> AsyncIterator[str]:
    """A real api (uvicorn, lifespan and all) in a thread, with one tenant and one admin."""
    settings_ = make_settings(database_url, redis_url, tmp_path)
    await apply_file(settings_, TENANT_YAML)
    async with transaction(clean_db) as session:
        await create_user(
            session,
            email="fuzz@atende.test",
            password=PASSWORD,
            role=Role.PLATFORM_ADMIN,
            tenant_id=None,
            actor="fuzz",
        )
    async with serving(create_app(settings_)) as url:
        yield url


@pytest_asyncio.fixture(loop_scope="session")
async def bearer(api_url: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=api_url) as client:
        response = await client.post(
            "/api/v1/auth/token", json={"email": "fuzz@atende.test", "password": PASSWORD}
        )
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _fuzz(api_url: str, bearer: dict[str, str]) -> list[str]:
    """Every operation of the schema, generated cases sent anonymous and signed in."""
    schema = schemathesis.openapi.from_url(f"{api_url}/openapi.json")
    checks = [not_a_server_error, response_schema_conformance]
    fuzzed = []
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]

        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, derandomize=True)
        def run(case: Any) -> None:
            case.call_and_validate(checks=checks)
            case.call_and_validate(headers=bearer, checks=checks)

        run()
        fuzzed.append(f"{operation.method.upper()} {operation.path}")
    return fuzzed


async def test_no_input_makes_the_api_fail(api_url: str, bearer: dict[str, str]) -> None:
    """Anonymous and signed in: 4xx for what is wrong, never a 5xx, documented shapes."""
    fuzzed = await asyncio.to_thread(_fuzz, api_url, bearer)
    assert "POST /hooks/whaticket/{tenant}/{connection}/{secret}" in fuzzed
    assert "POST /api/v1/dead-letters/replay" in fuzzed
    assert len(fuzzed) >= 15
