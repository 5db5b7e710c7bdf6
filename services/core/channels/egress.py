"""The one way out to a destination a tenant chose: resolve, check, connect to what was checked.

Every request to a tenant's URL (Whaticket, the ticket API, event subscribers, the SMS gateway,
the Graph API) and every SMTP session of the e-mail fallback goes through :class:`Egress`. The
host is resolved once and each address is judged by :class:`EgressPolicy` before the socket
opens to *that* address, so a name that answers a public address to a check and a private one to
the connect (DNS rebinding) gains nothing; the Host header and TLS SNI stay the URL's own name.
Redirects are never followed, proxies from the environment never used, and a refusal is one
fixed error class, ``egress_refused``, that says nothing of what lives at the address.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import ipaddress
import socket
import time
from collections import OrderedDict
from collections.abc import Iterable
from contextlib import suppress
from typing import Any

import httpcore
import httpx

from services.core.errors import PermanentError
from services.core.logging import get_logger

from .egress_policy import EgressPolicy, IPAddress, PlatformEndpoint, embedded_v4

log = get_logger(__name__)
_PLATFORM_TTL_SECONDS = 60.0


class EgressRefused(PermanentError):
    """The destination resolves only to addresses the platform does not call."""

    def __init__(self) -> None:
        super().__init__("egress_refused", "the destination is not an allowed address")


class _Refused(httpcore.ConnectError):
    """Raised inside the connection pool; httpx wraps it, :class:`Egress` unwraps it."""


class _Resolver:
    """Resolves names, and the platform's own hosts (cached: they rarely move)."""

    def __init__(self, platform: tuple[PlatformEndpoint, ...]) -> None:
        self._platform = platform
        self._cache: tuple[float, list[tuple[IPAddress, int | None]]] | None = None
        # Last good answer per host: a DNS blip must not open the platform for a minute.
        self._known: dict[PlatformEndpoint, list[IPAddress]] = {}

    async def addresses(self, host: str, port: int) -> list[IPAddress]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise httpcore.ConnectError("cannot resolve the destination") from None
        found: list[IPAddress] = []
        for _family, _type, _proto, _name, sockaddr in infos:
            ip = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
            if ip not in found:
                found.append(ip)
        return found

    async def platform(self) -> list[tuple[IPAddress, int | None]]:
        now = time.monotonic()
        if self._cache is not None and now - self._cache[0] < _PLATFORM_TTL_SECONDS:
            return self._cache[1]
        resolved: list[tuple[IPAddress, int | None]] = []
        for endpoint in self._platform:
            # Unresolvable now: keep what it resolved to before (none: we cannot reach it either).
            with suppress(httpcore.ConnectError):
                self._known[endpoint] = await self.addresses(endpoint.host, endpoint.port or 0)
            for ip in self._known.get(endpoint, []):
                # Loopback is shared with the stand-ins of `atende dev` and the tests: only
                # the service's port is the platform's there.
                whole_host = not embedded_v4(ip).is_loopback
                resolved.append((ip, None if whole_host else endpoint.port))
        self._cache = (now, resolved)
        return resolved


class Guard:
    """Resolve ``host`` and give the addresses the policy allows, in the resolver's order."""

    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy
        self._resolver = _Resolver(policy.platform)

    async def allowed(self, host: str, port: int) -> list[IPAddress]:
        addresses = await self._resolver.addresses(host, port)
        platform = await self._resolver.platform()
        allowed = []
        for ip in addresses:
            reason = self.policy.refusal(ip, port, platform)
            if reason is None:
                allowed.append(ip)
            else:
                log.warning("egress.refused", host=host, port=port, address=str(ip), why=reason)
        if not allowed:
            raise _Refused("the destination is not an allowed address")
        return allowed


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses the guard allowed."""

    def __init__(self, guard: Guard) -> None:
        self._guard = guard
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await self._guard.allowed(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout("resolving the destination timed out") from None
        failure: Exception | None = None
        for ip in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(ip), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise _Refused("unix sockets are not a destination")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _PinnedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, guard: Guard, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_PinnedBackend(guard),
        )


def refused(exc: BaseException) -> bool:
    """Whether an httpx error is the guard's refusal (httpx keeps it as the cause)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, _Refused):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """Refuses every cookie: a session cookie one tenant's server sets must never ride along
    to another tenant's (they may share a host), nor to the next request of the same one."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


class Egress:
    """The HTTP client and SMTP connector for tenant-chosen destinations, one per process.

    Each destination (scheme, host, port) gets its own connection pool, bounded by
    ``max_connections`` (per destination): a tenant whose server hangs fills its own pool,
    never the one every other tenant's requests wait in. No cookie is ever kept."""

    def __init__(
        self,
        policy: EgressPolicy,
        *,
        timeout_seconds: float,
        timeout: httpx.Timeout | None = None,
        max_connections: int = 20,
        max_destinations: int = 512,
    ) -> None:
        self.guard = Guard(policy)
        self._limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        self._timeout = timeout_seconds
        self._http_timeout = timeout or httpx.Timeout(timeout_seconds, connect=5.0)
        self._clients: OrderedDict[tuple[str, str, int | None], httpx.AsyncClient] = OrderedDict()
        self._max_destinations = max_destinations
        self._retiring: dict[asyncio.Task[None], httpx.AsyncClient] = {}

    def _client(self, url: httpx.URL) -> httpx.AsyncClient:
        """The destination's own client; the least recently used one retires past the bound
        (closed once its requests had time to finish)."""
        key = (url.scheme, url.host, url.port)
        client = self._clients.get(key)
        if client is not None:
            self._clients.move_to_end(key)
            return client
        if len(self._clients) >= self._max_destinations:
            _, oldest = self._clients.popitem(last=False)
            task = asyncio.create_task(self._retire(oldest))
            self._retiring[task] = oldest
            task.add_done_callback(lambda done: self._retiring.pop(done, None))
        client = self._clients[key] = httpx.AsyncClient(
            transport=_PinnedTransport(self.guard, self._limits),
            timeout=self._http_timeout,
            follow_redirects=False,
            trust_env=False,
            cookies=http.cookiejar.CookieJar(policy=_NoCookies()),
        )
        return client

    async def _retire(self, client: httpx.AsyncClient) -> None:
        await asyncio.sleep(self._timeout + 5.0)
        with suppress(RuntimeError):
            await client.aclose()

    async def request(self, method: str, url: httpx.URL | str, **kwargs: Any) -> httpx.Response:
        """One request, never redirected; :class:`EgressRefused` when the guard refused it,
        any other ``httpx.HTTPError`` for the caller to classify."""
        target = httpx.URL(url)
        try:
            return await self._client(target).request(
                method, target, follow_redirects=False, **kwargs
            )
        except httpx.ConnectError as exc:
            if refused(exc):
                raise EgressRefused() from None
            raise

    async def post(self, url: httpx.URL | str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", url, **kwargs)

    async def smtp_socket(self, host: str, port: int) -> socket.socket:
        """A socket connected to an allowed address of ``host`` (for aiosmtplib's ``sock=``,
        which keeps ``host`` for STARTTLS/TLS); :class:`EgressRefused` or ``OSError``."""
        try:
            addresses = await self.guard.allowed(host, port)
        except _Refused:
            raise EgressRefused() from None
        except httpcore.ConnectError as exc:
            raise OSError(str(exc)) from None
        failure: OSError = OSError("no address")
        loop = asyncio.get_running_loop()
        for ip in addresses:
            family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                async with asyncio.timeout(self._timeout):
                    await loop.sock_connect(sock, (str(ip), port))
            except (OSError, TimeoutError) as exc:
                sock.close()
                failure = exc if isinstance(exc, OSError) else OSError("connect timed out")
                continue
            return sock
        raise failure

    async def aclose(self) -> None:
        for task in self._retiring:
            task.cancel()
        clients = [*self._clients.values(), *self._retiring.values()]
        self._clients, self._retiring = OrderedDict(), {}
        for client in clients:
            with suppress(RuntimeError):
                await client.aclose()
