"""An in-memory Kubernetes API (kmock) that Helm can run hooks against.

kmock serves objects, discovery and watches; a real API server also answers three things Helm's
Go client relies on, added here:

- ``/openapi/v3`` and one document per group/version, whose PATCH operations accept the
  ``fieldValidation`` query parameter: client-go then leaves validation to the server (as with
  any API server since 1.27, https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation)
  instead of downloading ``/openapi/v2`` (protobuf) to validate hooks itself. kmock does not
  validate fields, so nothing here checks them: schema checks are tests/chart/test_manifests.py's.
- lists carry ``kind: <Kind>List`` and ``apiVersion`` (client-go refuses a list without them);
- a watch with ``sendInitialEvents=true`` ends its initial events with the bookmark annotated
  ``k8s.io/initial-events-end`` (streaming lists,
  https://kubernetes.io/docs/reference/using-api/api-concepts/#streaming-lists), and watch
  streams are ``application/json``; without both, Helm's kstatus informers never sync and a
  hook never reads as finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp.web
import kmock
from kmock._internal.rendering import Response

VERBS = {"list", "watch", "get", "patch", "create", "delete", "update"}


def _prefix(resource: Any) -> str:
    return (
        f"apis/{resource.group}/{resource.version}" if resource.group else f"api/{resource.version}"
    )


def _api_version(resource: Any) -> str:
    return f"{resource.group}/{resource.version}" if resource.group else str(resource.version)


class ApiServer(kmock.KubernetesEmulator):
    """kmock with what Helm's hooks need from an API server (see the module docstring)."""

    namespaces: set[str] = {"default", "kube-system", "atende", "tenants"}

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self["get /openapi/v3"] << self._serve_openapi_index
        self["get", re.compile(r"/openapi/v3/.+")] << self._serve_openapi_document

    @classmethod
    def with_kinds(cls, kinds: Mapping[str, str]) -> ApiServer:
        """The built-in kinds plus ``kinds`` (``group/version/plural`` → Kind), namespaced."""
        server = cls()
        server.resources.load_bundled()
        for resource, kind in kinds.items():
            server.resources[resource] = kmock.ResourceInfo(
                kind=kind, singular=kind.lower(), namespaced=True, verbs=VERBS,
                subresources={"status"},
            )  # fmt: skip
        return server

    def kind_of(self, resource: Any) -> str:
        served: dict[Any, Any] = dict(self.resources.items())
        return str(served[resource].kind)

    async def _serve_version(self, request: Any) -> Any:
        """kmock answers ``/api/v1`` with ``groupVersion: "/v1"``; served as ``v1``."""
        payload = await super()._serve_version(request)
        if isinstance(payload, dict) and str(payload.get("groupVersion", "")).startswith("/"):
            payload["groupVersion"] = payload["groupVersion"][1:]
        return payload

    async def _serve_list(self, request: Any) -> Any:
        payload: Any = await super()._serve_list(request)
        payload["kind"] = self.kind_of(request.resource) + "List"
        payload["apiVersion"] = _api_version(request.resource)
        payload["metadata"]["resourceVersion"] = "1"
        return payload

    async def _serve_watch(self, request: Any) -> Any:  # type: ignore[override]
        return Response(
            payload=self._watch_events(request), headers={"Content-Type": "application/json"}
        )

    async def _watch_events(self, request: Any) -> AsyncIterator[Any]:
        yield b""  # the headers go out at once, as kmock's own watch does
        resource, namespace = request.resource, request.namespace
        async with self._lock:
            initial = [
                obj.raw
                for (res, ns, _), obj in self.objects.items()
                if res == resource and namespace in (None, ns) and not obj.deleted
            ]
        for raw in initial:
            yield {"type": "ADDED", "object": raw}
        if request.url.query.get("sendInitialEvents") == "true":
            yield {
                "type": "BOOKMARK",
                "object": {
                    "kind": self.kind_of(resource),
                    "apiVersion": _api_version(resource),
                    "metadata": {
                        "resourceVersion": "1",
                        "annotations": {"k8s.io/initial-events-end": "true"},
                    },
                },
            }
        async for event in self._buses[resource]:
            if namespace in (None, event.get("object", {}).get("metadata", {}).get("namespace")):
                yield event

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        """kmock cannot parse ``/api/v1/namespaces`` (it reads a namespace's name there);
        served here, from ``namespaces``, as list or watch."""
        if raw_request.path.rstrip("/") != "/api/v1/namespaces":
            return await super().__call__(raw_request)
        items = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
            for name in sorted(self.namespaces)
        ]
        if raw_request.query.get("watch") not in ("true", "1"):
            listed = {
                "apiVersion": "v1",
                "kind": "NamespaceList",
                "metadata": {"resourceVersion": "1"},
            }
            return aiohttp.web.json_response({**listed, "items": items})
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(raw_request)
        for item in items:
            await response.write(json.dumps({"type": "ADDED", "object": item}).encode() + b"\n")
        with contextlib.suppress(ConnectionError):
            await asyncio.sleep(float(raw_request.query.get("timeoutSeconds", 60)))
        return response

    async def write_status(
        self, resource: Any, namespace: str | None, name: str, status: Any
    ) -> None:
        """What a controller's status update does: the object changes and watchers hear it."""
        async with self._lock:
            obj = self.objects[resource, namespace, name]
            obj.patch({"status": status})
            raw = obj.raw
        await self._buses[resource].put({"type": "MODIFIED", "object": raw})

    async def _serve_openapi_index(self, request: Any) -> Any:
        prefixes = {_prefix(resource) for resource, _ in self.resources.items()}
        return {"paths": {p: {"serverRelativeURL": f"/openapi/v3/{p}?hash=0"} for p in prefixes}}

    async def _serve_openapi_document(self, request: Any) -> Any:
        wanted = str(request.url.path).removeprefix("/openapi/v3/")
        field_validation = {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}
        paths = {}
        served: list[tuple[Any, Any]] = list(self.resources.items())
        for resource, info in served:
            if _prefix(resource) != wanted:
                continue
            scope = "namespaces/{namespace}/" if info.namespaced else ""
            gvk = {"group": resource.group, "version": resource.version, "kind": info.kind}
            paths[f"/{wanted}/{scope}{resource.plural}/{{name}}"] = {
                "patch": {
                    "x-kubernetes-group-version-kind": gvk,
                    "parameters": [field_validation],
                    "responses": {},
                }
            }
        return {
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": "v1.32"},
            "paths": paths,
        }
