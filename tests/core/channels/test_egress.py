"""The one way out to tenant-chosen destinations: which addresses it refuses, that it checks the
address it connects to (a rebinding name gains nothing), never follows a redirect, and keeps the
product's path whatever the tenant's URL ends with."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from services.core.channels import egress as egress_module
from services.core.channels.destinations import join, unreachable_destinations
from services.core.channels.egress import EgressRefused
from services.core.channels.egress_policy import (
    EgressPolicy,
    IPAddress,
    PlatformEndpoint,
    range_refusal,
)
from services.core.config import Settings
from services.core.tenants.spec import BotTenantSpec
from tests.fixtures.egress import InternalService, loopback_egress, loopback_policy

REFUSED = [
    "127.0.0.2", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "224.0.0.1", "0.0.0.0", "255.255.255.255", "::1", "::", "fc00::1", "fd12::1", "fe80::1",
    "ff02::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "64:ff9b::a00:1", "2002:a00:1::",
]  # fmt: skip


@pytest.mark.parametrize("address", REFUSED)
def test_every_range_outside_the_internet_is_refused(address: str) -> None:
    assert range_refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::1111", "8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert range_refusal(ipaddress.ip_address(address)) is None


def test_the_allow_list_opens_exactly_its_networks_and_never_the_platform() -> None:
    policy = EgressPolicy(allowed=(ipaddress.ip_network("10.20.0.0/16"),))
    ip: IPAddress = ipaddress.ip_address("10.20.3.4")
    assert policy.refusal(ip, 443) is None
    assert policy.refusal(ipaddress.ip_address("10.21.0.1"), 443) is not None
    platform = [(ip, None)]  # the platform's Postgres on that address: every port
    assert policy.refusal(ip, 8080, platform) == "one of the platform's own services"


def test_the_platform_is_its_database_and_redis_hosts() -> None:
    settings = Settings(
        database_url="postgresql://atende@db.internal:6543/atende",
        redis_url="redis://queue.internal/0",
        cache_redis_url="rediss://cache.internal:7000/0",
        worker_metrics_port=9100,
    )
    endpoints = EgressPolicy.from_settings(settings).platform
    assert endpoints == (
        PlatformEndpoint("db.internal", 6543),
        PlatformEndpoint("queue.internal", 6379),
        PlatformEndpoint("cache.internal", 7000),
        PlatformEndpoint("localhost", 9100),
        PlatformEndpoint(socket.gethostname(), 9100),
    )


async def test_an_internal_service_gets_no_request_not_even_through_a_name() -> None:
    with InternalService() as internal:
        async with loopback_egress(2) as egress:
            with pytest.raises(EgressRefused) as caught:
                await egress.post(internal.url + "/api/messages/send", json={})
            # localhost is 127.0.0.1, allowed for the stand-ins; the internal one is not.
            with pytest.raises(EgressRefused):
                await egress.request("GET", f"http://[::ffff:127.0.0.2]:{internal.port}/")
    assert caught.value.error_class == "egress_refused"
    assert "127.0.0.2" not in caught.value.message
    assert internal.seen == []


async def test_the_address_checked_is_the_address_connected_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A rebinding name answers a public address to one lookup and the internal one to the
    next: the guard resolves once and connects to what it checked, never asking again."""
    with InternalService("127.0.0.1") as allowed, InternalService() as internal:
        answers = iter([["127.0.0.1"], ["127.0.0.2"]])
        real = egress_module._Resolver.addresses

        async def rebinding(self: egress_module._Resolver, host: str, port: int) -> list[IPAddress]:
            if host != "rebind.example":
                return await real(self, host, port)
            return [ipaddress.ip_address(a) for a in next(answers)]

        monkeypatch.setattr(egress_module._Resolver, "addresses", rebinding)
        async with loopback_egress(2) as egress:
            first = await egress.request("GET", f"http://rebind.example:{allowed.port}/a")
            await egress.aclose()
        async with loopback_egress(2) as egress:
            with pytest.raises(EgressRefused):
                await egress.request("GET", f"http://rebind.example:{internal.port}/b")
    assert first.status_code == 200
    [(_, path, headers, _)] = allowed.seen
    assert (path, headers["Host"]) == ("/a", f"rebind.example:{allowed.port}")
    assert internal.seen == []


async def test_redirects_are_never_followed() -> None:
    with InternalService() as internal:
        redirect = (307, {"Location": internal.url + "/admin"}, b"")
        with InternalService("127.0.0.1", reply=redirect) as tenant:
            async with loopback_egress(2) as egress:
                response = await egress.post(tenant.url + "/api/messages/send", json={})
    assert response.status_code == 307
    assert internal.seen == []


async def test_the_platforms_own_ports_are_refused_inside_an_allowed_network() -> None:
    with InternalService("127.0.0.1") as redis_like:
        policy = loopback_policy(PlatformEndpoint("127.0.0.1", redis_like.port))
        async with loopback_egress(2, policy=policy) as egress:
            with pytest.raises(EgressRefused):
                await egress.post(redis_like.url + "/", content=b"FLUSHALL\r\n")
    assert redis_like.seen == []


def _listener(host: str) -> socket.socket:
    listener = socket.socket()
    listener.bind((host, 0))
    listener.listen()
    listener.setblocking(False)
    return listener


async def test_smtp_to_an_internal_address_never_connects() -> None:
    internal, allowed = _listener("127.0.0.2"), _listener("127.0.0.1")
    try:
        async with loopback_egress(2) as egress:
            with pytest.raises(EgressRefused):
                await egress.smtp_socket("127.0.0.2", internal.getsockname()[1])
            sock = await egress.smtp_socket("localhost", allowed.getsockname()[1])
            sock.close()
        allowed.accept()[0].close()  # the allowed one was reached
        with pytest.raises(BlockingIOError):
            internal.accept()  # nobody connected
    finally:
        internal.close()
        allowed.close()


@pytest.mark.parametrize(
    "base",
    ["http://h.example/", "http://h.example/#", "http://h.example/x?", "http://h.example/x?a#b"],
)
def test_the_product_path_survives_whatever_the_base_ends_with(base: str) -> None:
    url = join(base, "api", "messages", "send")
    assert (url.query, url.fragment) == (b"", "")
    assert url.raw_path.endswith(b"/api/messages/send")


def test_values_in_a_path_are_one_segment_each() -> None:
    url = join("https://sms.example/gw", "Accounts", "../../admin?x=#", "..", "Messages.json")
    assert url.raw_path == b"/gw/Accounts/..%2F..%2Fadmin%3Fx%3D%23/%2E%2E/Messages.json"


SPEC = {
    "displayName": "ACME",
    "persona": {"systemPrompt": "x"},
    "whaticket": {
        "url": "https://whaticket.acme.example",
        "connections": [{"name": "main", "apiTokenSecretRef": {"name": "s", "key": "k"}}],
    },
}


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://w.example/#", "fragment"),
        ("https://w.example/api?x=1", "query"),
        ("https://bot:pw@w.example/", "user or password"),
    ],
)
def test_a_tenant_url_with_a_fragment_query_or_user_is_refused(url: str, why: str) -> None:
    raw = {**SPEC, "whaticket": {**SPEC["whaticket"], "url": url}}  # type: ignore[dict-item]
    with pytest.raises(ValueError, match=why):
        BotTenantSpec.model_validate(raw)


def test_ip_literals_that_can_never_be_reached_name_their_field() -> None:
    raw = {
        **SPEC,
        "whaticket": {**SPEC["whaticket"], "url": "http://169.254.169.254/"},  # type: ignore[dict-item]
        "events": {
            "subscriptions": [
                {
                    "name": "crm",
                    "url": "http://127.0.0.2:8080/hook",
                    "events": ["turn.answered"],
                    "secretRef": {"name": "s", "key": "e"},
                },
                {
                    "name": "ok",
                    "url": "http://127.0.0.1:8080/hook",
                    "events": ["turn.answered"],
                    "secretRef": {"name": "s", "key": "e"},
                },
            ]
        },
    }
    problems = unreachable_destinations(BotTenantSpec.model_validate(raw), loopback_policy())
    assert [p.split(":")[0] for p in problems] == [
        "spec.whaticket.url",
        "spec.events.subscriptions[0].url",
    ]
    assert unreachable_destinations(BotTenantSpec.model_validate(SPEC), EgressPolicy()) == []
