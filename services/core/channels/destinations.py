"""Tenant URLs as the product builds them, and the destinations that can never be reached.

A tenant gives a base URL; the product appends its own path. Joining by string let a ``#`` or
``?`` at the end of the base turn that path into a fragment or a query, so the tenant chose the
whole path on the host. :func:`join` keeps only scheme, host, port and the base's path, and
quotes each segment the product adds. :func:`unreachable_destinations` is what ``tenants
apply`` and the operator refuse before anything is stored: an IP literal that the egress policy
refuses whatever DNS says.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote

import httpx

from services.core.errors import ManifestError
from services.core.tenants.manifest import TenantManifest
from services.core.tenants.spec import BotTenantSpec

from .egress_policy import EgressPolicy


def join(base: object, *segments: str | int) -> httpx.URL:
    """``base`` (scheme, host, port, path) with ``segments`` appended, one path segment each:
    every segment is percent-encoded (``.`` and ``..`` too), so a value like an account id
    cannot add ``/``, ``?``, ``#`` or climb the path. The base's query and fragment are dropped
    (the spec refuses them; this is the second lock)."""
    url = httpx.URL(str(base))
    path = url.raw_path.split(b"?")[0].decode("ascii").rstrip("/")
    tail = "".join("/" + _segment(str(segment)) for segment in segments)
    return httpx.URL(
        scheme=url.scheme, host=url.host, port=url.port, raw_path=(path + tail).encode("ascii")
    )


def _segment(value: str) -> str:
    if value in (".", ".."):
        return value.replace(".", "%2E")
    return quote(value, safe="")


def unreachable_destinations(spec: BotTenantSpec, policy: EgressPolicy) -> list[str]:
    """Each destination field of ``spec`` whose host is an address ``policy`` always refuses,
    as ``field: why`` (names are judged when the worker connects)."""
    fields: list[tuple[str, str]] = []
    if spec.whaticket.url is not None:
        fields.append(("spec.whaticket.url", spec.whaticket.url.host or ""))
    for i, sub in enumerate(spec.events.subscriptions):
        fields.append((f"spec.events.subscriptions[{i}].url", sub.url.host or ""))
    if spec.fallback.sms is not None:
        fields.append(("spec.fallback.sms.url", spec.fallback.sms.url.host or ""))
    if spec.fallback.email is not None:
        fields.append(("spec.fallback.email.host", spec.fallback.email.host))
    if spec.meta is not None:
        fields.append(("spec.meta.graphUrl", spec.meta.graph_url.host or ""))
    problems = []
    for name, host in fields:
        reason = policy.literal_refusal(host)
        if reason is not None:
            problems.append(
                f"{name}: {host} is {reason}, which ATENDE_EGRESS_ALLOWED_NETWORKS does not allow"
            )
    return problems


def refuse_unreachable(manifests: Iterable[TenantManifest], policy: EgressPolicy) -> None:
    """:class:`ManifestError` naming every field of every tenant that points at an address the
    policy always refuses (``tenants apply`` calls it before anything is stored)."""
    problems = [
        f"BotTenant {manifest.name}: {problem}"
        for manifest in manifests
        for problem in unreachable_destinations(manifest.spec, policy)
    ]
    if problems:
        raise ManifestError(problems)
