"""The Whaticket webhook served below FastAPI's router (services/api/webhook_route.py): it takes
exactly the requests the FastAPI route's path matches, and answers each of them as that route
does — status, body and headers — for every outcome and refusal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from services.api.main import create_app
from services.api.webhook_route import WhaticketWebhook, hook_parts
from services.cli.admin import apply_file
from services.core.db import SessionMaker
from tests.api.webhook_app import (
    MAX_BODY_BYTES,
    SECRET,
    TENANT,
    TENANT_YAML,
    baileys,
    hook_path,
    make_settings,
)

ROOT = "/base"  # an app mounted under a root path is routed by FastAPI, the reference here


def _scope(path: str, method: str = "POST", root_path: str = "") -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": root_path}


@pytest.mark.parametrize(
    ("scope", "parts"),
    [
        (_scope("/hooks/whaticket/shop/main/s3cret"), ("shop", "main", "s3cret")),
        (_scope("/hooks/whaticket/shop/main/a%2Fb"), ("shop", "main", "a%2Fb")),
        (_scope("/hooks/whaticket/shop/main/s3cret", "GET"), None),
        (_scope("/hooks/whaticket/shop/main/s3cret/"), None),
        (_scope("/hooks/whaticket/shop/main"), None),
        (_scope("/hooks/whaticket/shop//s3cret"), None),
        (_scope("/hooks/whaticket/shop/main/s3cret/extra"), None),
        (_scope("/hooks/meta/shop"), None),
        (_scope("/base/hooks/whaticket/shop/main/s3cret", root_path="/base"), None),
        ({"type": "websocket", "path": "/hooks/whaticket/shop/main/s3cret"}, None),
    ],
)
def test_it_takes_what_the_route_matches(scope: dict[str, Any], parts: object) -> None:
    assert hook_parts(scope) == parts


@pytest_asyncio.fixture(loop_scope="session")
async def clients(
    clean_db: SessionMaker, database_url: str, redis_url: str, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """(served by the ASGI route, served by FastAPI's route) on one running app."""
    settings = make_settings(database_url, redis_url, tmp_path)
    await apply_file(settings, TENANT_YAML)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        fast = httpx.ASGITransport(app=app)
        routed = httpx.ASGITransport(app=app, root_path=ROOT)
        async with (
            httpx.AsyncClient(transport=fast, base_url="http://atende.test") as one,
            httpx.AsyncClient(transport=routed, base_url=f"http://atende.test{ROOT}") as other,
        ):
            yield one, other


def _comparable(response: httpx.Response) -> tuple[int, bytes, dict[str, str]]:
    headers = {k: v for k, v in response.headers.items() if k != "x-request-id"}
    return response.status_code, response.content, headers


CASES: list[tuple[str, int, dict[str, Any]]] = [
    ("accepted", 200, {"json": baileys("{id}")}),
    ("ignored", 200, {"json": baileys("{id}", from_me=True)}),
    ("not json", 400, {"content": b"{not json"}),
    ("not an object", 400, {"content": b"[1, 2]"}),
    ("NaN", 400, {"content": b'{"key": NaN}'}),
    ("not baileys", 422, {"json": {"hello": "world"}}),
    ("too long", 422, {"json": baileys("{id}", remote="5" * 80 + "@lid")}),
    ("too large", 413, {"content": b"{" + b" " * (MAX_BODY_BYTES + 10) + b"}"}),
    ("wrong secret", 401, {"json": baileys("{id}"), "path": hook_path(secret="x" + SECRET)}),
    ("unknown tenant", 404, {"json": baileys("{id}"), "path": hook_path(tenant="nobody")}),
    ("unknown connection", 404, {"json": baileys("{id}"), "path": hook_path(connection="x")}),
    ("bad tenant name", 404, {"json": baileys("{id}"), "path": hook_path(tenant="A" * 300)}),
]


@pytest.mark.parametrize(("case", "status", "request_"), CASES, ids=[c for c, _, _ in CASES])
async def test_it_answers_as_the_route_does(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
    case: str,
    status: int,
    request_: dict[str, Any],
) -> None:
    answers = []
    for n, client in enumerate(clients):
        kwargs = dict(request_)
        path = kwargs.pop("path", hook_path())
        body = kwargs.get("json")
        if body is not None and "key" in body:  # a message id of its own per client
            kwargs["json"] = {**body, "key": {**body["key"], "id": body["key"]["id"] + str(n)}}
        answers.append(_comparable(await client.post(path, **kwargs)))
    assert answers[0][0] == status
    assert answers[0] == answers[1]


async def test_a_duplicate_is_answered_as_the_route_does(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[dict[str, Any]] = []
    original = WhaticketWebhook._send_json

    async def counted(self: WhaticketWebhook, send: Any, answer: dict[str, Any]) -> None:
        served.append(answer)
        await original(self, send, answer)

    monkeypatch.setattr(WhaticketWebhook, "_send_json", counted)
    fast, _ = clients
    first = await fast.post(hook_path(), json=baileys("DUP-1"))
    assert first.json() == {"status": "accepted"}
    again = [_comparable(await c.post(hook_path(), json=baileys("DUP-1"))) for c in clients]
    assert again[0] == again[1]
    assert again[0][1] == b'{"status":"duplicate"}'
    assert served == [{"status": "accepted"}, {"status": "duplicate"}]  # not the routed one


async def test_other_methods_reach_the_route(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    fast, _ = clients
    response = await fast.get(hook_path(TENANT))
    assert response.status_code == 405
