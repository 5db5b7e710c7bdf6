"""The few Kubernetes calls the handlers make, behind a small interface tests substitute.

kopf itself watches and patches the BotTenants; the handlers only read the Secrets a BotTenant
references, create the generated webhook Secret, and (on a Secret change, outside a BotTenant
event) patch a BotTenant's status. Reads return the object's labels with its data, so the
reconcile can refuse what is not labelled for the tenant; nothing here writes to a Secret that
exists (the operator has no patch on Secrets).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from .resources import GROUP, PLURAL, VERSION


@dataclass(frozen=True, slots=True)
class Found:
    """A Secret's decoded values or a ConfigMap's ``data``, with the object's labels."""

    data: dict[str, str]
    labels: dict[str, str] = field(default_factory=dict)


class KubeApi(Protocol):
    async def read_secret(self, namespace: str, name: str) -> Found | None:
        """The Secret (values decoded), or ``None`` when it does not exist."""

    async def read_config_map(self, namespace: str, name: str) -> Found | None:
        """The ConfigMap, or ``None`` when it does not exist."""

    async def create_secret(self, namespace: str, body: dict[str, Any]) -> bool:
        """Create a Secret; ``False`` when one of that name already exists."""

    async def patch_tenant_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        """Merge-patch a BotTenant's ``status`` subresource."""


def decode_secret_data(
    data: Mapping[str, bytes | str] | None, string_data: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Values of a Secret as text; keys whose value is not UTF-8 base64 are left out."""
    values: dict[str, str] = {}
    for key, raw in (data or {}).items():
        try:
            values[key] = base64.b64decode(raw, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
    values.update(string_data or {})
    return values


def _labels(metadata: Any) -> dict[str, str]:
    labels = getattr(metadata, "labels", None) or {}
    return {str(k): str(v) for k, v in labels.items() if v is not None}


def _configuration() -> client.Configuration:
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except ConfigException:
        config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    return configuration


class KubernetesApi:
    """:class:`KubeApi` on the official client (in-cluster service account, else kubeconfig).

    The client is synchronous; every call runs in a worker thread so the event loop that kopf
    shares between all handlers never blocks on the network.
    """

    def __init__(self, api_client: client.ApiClient | None = None) -> None:
        self._api_client = api_client or client.ApiClient(_configuration())
        self._core = client.CoreV1Api(self._api_client)
        self._custom = client.CustomObjectsApi(self._api_client)

    def close(self) -> None:
        self._api_client.close()  # type: ignore[no-untyped-call]

    async def read_secret(self, namespace: str, name: str) -> Found | None:
        try:
            secret = await asyncio.to_thread(self._core.read_namespaced_secret, name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        data = decode_secret_data(secret.data, secret.string_data)
        return Found(data, _labels(secret.metadata))

    async def read_config_map(self, namespace: str, name: str) -> Found | None:
        try:
            found = await asyncio.to_thread(self._core.read_namespaced_config_map, name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return Found(
            {str(k): str(v) for k, v in (found.data or {}).items()}, _labels(found.metadata)
        )

    async def create_secret(self, namespace: str, body: dict[str, Any]) -> bool:
        secret = client.V1Secret.from_dict(body)
        if secret is None:
            raise ValueError("not a Secret")
        try:
            await asyncio.to_thread(self._core.create_namespaced_secret, namespace, secret)
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise
        return True

    async def patch_tenant_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        await asyncio.to_thread(
            self._custom.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            {"status": status},
            _content_type="application/merge-patch+json",
        )
