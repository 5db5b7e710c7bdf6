"""Which addresses a tenant-chosen destination may reach: the rule, with no I/O.

A tenant names URLs (its Whaticket, event subscribers, an SMS gateway, a Graph URL, an SMTP
host); the worker calls them. Without a rule a tenant could make the worker call loopback, the
cluster's Postgres and Redis, or the cloud's metadata service. The rule is checked on the address
actually connected to (:mod:`.egress`), and on IP literals when a tenant is applied
(:mod:`.destinations`), so a destination that can never work is refused up front.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from services.core.config import Settings

type IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
type IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Addresses that embed an IPv4 address a relay would reach: judged by the embedded one.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_6TO4 = ipaddress.IPv6Network("2002::/16")
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_DEFAULT_PORTS = {"postgresql": 5432, "postgres": 5432, "redis": 6379, "rediss": 6379}


def embedded_v4(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if ip.sixtofour is not None:
            return ip.sixtofour
    return ip


def range_refusal(ip: IPAddress) -> str | None:
    """Why ``ip`` is outside the public internet (loopback, private, link-local and the cloud
    metadata service, CGNAT, multicast, unspecified, reserved), or None."""
    ip = embedded_v4(ip)
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "a carrier-grade NAT address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global or ip.is_reserved:
        return "a reserved address"
    return None


@dataclass(frozen=True, slots=True)
class PlatformEndpoint:
    """One of the platform's own services, as its settings name it (host not yet resolved)."""

    host: str
    port: int | None  # None: every port of the host


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """``allowed``: networks opened for tenants' own installs (ATENDE_EGRESS_ALLOWED_NETWORKS).
    ``platform``: the platform's own services, refused even inside an allowed network."""

    allowed: tuple[IPNetwork, ...] = ()
    platform: tuple[PlatformEndpoint, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> EgressPolicy:
        return cls(tuple(settings.egress_allowed_networks), platform_endpoints(settings))

    def is_allowed_network(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self.allowed)

    def refusal(
        self, ip: IPAddress, port: int, platform: Iterable[tuple[IPAddress, int | None]] = ()
    ) -> str | None:
        """Why connecting to ``ip``:``port`` is refused, or None. ``platform`` holds the
        resolved addresses of :attr:`platform`."""
        for address, platform_port in platform:
            if _same(address, ip) and platform_port in (None, port):
                return "one of the platform's own services"
        if self.is_allowed_network(ip):
            return None
        return range_refusal(ip)

    def literal_refusal(self, host: str) -> str | None:
        """For an IP literal (or ``localhost``) that no resolution can change: why it can
        never be reached under this policy, or None (a name is judged when connecting)."""
        if host.rstrip(".").lower() == "localhost" or host.lower().endswith(".localhost"):
            host = "127.0.0.1"
        try:
            ip = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return None
        return None if self.is_allowed_network(ip) else range_refusal(ip)


def _same(a: IPAddress, b: IPAddress) -> bool:
    return embedded_v4(a) == embedded_v4(b)


def platform_endpoints(settings: Settings) -> tuple[PlatformEndpoint, ...]:
    """The platform's own services: the Postgres and Redis hosts of its settings (every port
    of a non-loopback host, only the service's port on loopback, where the stand-ins of
    ``atende dev`` and the tests live too) and the worker's own metrics port (every port of
    its pod's address)."""
    endpoints: list[PlatformEndpoint] = []
    for url in (settings.database_url, settings.redis_url, settings.cache_redis_url):
        if not url:
            continue
        parts = urlsplit(url)
        scheme = parts.scheme.split("+")[0]
        try:
            port = parts.port or _DEFAULT_PORTS.get(scheme)
        except ValueError:
            port = _DEFAULT_PORTS.get(scheme)
        if parts.hostname:
            endpoints.append(PlatformEndpoint(parts.hostname, port))
    if settings.worker_metrics_port:  # this process, by loopback and by its pod's name
        for own in ("localhost", socket.gethostname()):
            endpoints.append(PlatformEndpoint(own, settings.worker_metrics_port))
    return tuple(endpoints)


def is_loopback_literal(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host.rstrip(".").lower() == "localhost"
