"""Tenants share the egress client, not its state: a cookie one tenant's server sets never
rides along to another's (nor to its own next request), and a destination that hangs fills
only its own connection pool, so requests to every other destination go on."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from services.core.channels.egress import Egress
from tests.fixtures.egress import InternalService, loopback_policy

SET_COOKIE = (200, {"Set-Cookie": "session=tenant-a-secret; Path=/"}, b"{}")


async def test_a_cookie_set_by_one_tenants_server_is_never_sent_again() -> None:
    with InternalService("127.0.0.1", reply=SET_COOKIE) as shared_host:
        egress = Egress(loopback_policy(), timeout_seconds=5)
        try:
            await egress.post(shared_host.url + "/tenant-a/api/messages/send", json={})
            await egress.post(shared_host.url + "/tenant-b/api/messages/send", json={})
            await egress.post(shared_host.url + "/tenant-a/api/messages/send", json={})
        finally:
            await egress.aclose()
    assert [headers.get("Cookie") for _, _, headers, _ in shared_host.seen] == [None] * 3


@contextlib.asynccontextmanager
async def hanging_server() -> AsyncIterator[tuple[str, asyncio.Event]]:
    """An HTTP server on 127.0.0.1 that accepts and never answers until released."""
    release = asyncio.Event()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", release
    finally:
        release.set()
        server.close()
        await server.wait_closed()


async def test_a_hanging_destination_fills_only_its_own_pool() -> None:
    egress = Egress(loopback_policy(), timeout_seconds=30, max_connections=2)
    with InternalService("127.0.0.1", reply=(200, {}, b"{}")) as healthy:
        async with hanging_server() as (slow_url, release):
            stuck = [
                asyncio.create_task(egress.post(f"{slow_url}/api/messages/send", json={}))
                for _ in range(6)  # three times the pool of the slow destination
            ]
            await asyncio.sleep(0.2)  # they hold every connection the slow destination may have
            try:
                # The other destination's request does not queue behind them. The bound only
                # keeps a regression from hanging the suite: the request takes milliseconds.
                response = await asyncio.wait_for(egress.post(healthy.url + "/send"), 10)
                assert response.status_code == 200
                assert not any(task.done() for task in stuck)  # still held up, on their own
            finally:
                release.set()
                for task in stuck:
                    task.cancel()
                await asyncio.gather(*stuck, return_exceptions=True)
                await egress.aclose()
    assert [path for _, path, _, _ in healthy.seen] == ["/send"]


async def test_the_client_per_destination_is_bounded() -> None:
    with InternalService("127.0.0.1") as first, InternalService("127.0.0.1") as second:
        egress = Egress(loopback_policy(), timeout_seconds=1, max_destinations=1)
        try:
            assert (await egress.post(first.url + "/a")).status_code == 200
            assert (await egress.post(second.url + "/b")).status_code == 200  # first retires
            assert (await egress.post(first.url + "/c")).status_code == 200  # a fresh client
        finally:
            await egress.aclose()
    assert [p for _, p, _, _ in first.seen] == ["/a", "/c"]
    assert [p for _, p, _, _ in second.seen] == ["/b"]
