"""Handlers called directly, on the real test Postgres, with Kubernetes reads served from memory."""

from __future__ import annotations

import copy
import logging
from typing import Any

import kopf
import pytest

from atende_operator.kube import Found
from atende_operator.reconcile import MEMO_KEY, OperatorContext
from atende_operator.resources import API_VERSION, KIND
from services.core.config import Settings
from services.core.db import SessionMaker
from services.core.tenants.credentials import CredentialCipher
from services.core.tenants.manifest import TENANT_LABEL

# What a deployment that leaves ATENDE_PLATFORM_MODELS alone pays for.
PLATFORM_MODELS = tuple(Settings.model_fields["platform_models"].default)

SECRET_KEY = "operator-test-platform-key-0123456789"
TOKEN = "wt-token-a1b2c3d4e5f6"
TOKEN_ROTATED = "wt-token-rotated-99887766"
AGENT_PASSWORD = "agent-pass-5c6d7e"
GEMINI_KEY = "AIzaSy-operator-test-key-0123456789"
HOOK_SECRET = "hook-secret-operator-0123456789abcdef"
SECRET_VALUES = (TOKEN, TOKEN_ROTATED, AGENT_PASSWORD, GEMINI_KEY, HOOK_SECRET)


def secret_data(token: str = TOKEN) -> dict[str, str]:
    return {
        "whaticket-token": token,
        "agent-password": AGENT_PASSWORD,
        "gemini-api-key": GEMINI_KEY,
        "webhook-secret": HOOK_SECRET,
    }


def tenant_spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "displayName": "ACME Telecom",
        "whaticket": {
            "url": "https://whaticket-api.acme.example",
            "variant": "saas",
            "connections": [
                {"name": "main", "apiTokenSecretRef": {"name": "acme", "key": "whaticket-token"}}
            ],
            "agent": {
                "email": "bot@acme.example",
                "passwordSecretRef": {"name": "acme", "key": "agent-password"},
            },
        },
        "webhook": {"secretRefs": [{"name": "acme", "key": "webhook-secret"}]},
        "llm": {"apiKeySecretRef": {"name": "acme", "key": "gemini-api-key"}},
        "persona": {"systemPrompt": "Você é a assistente virtual da ACME Telecom."},
    }
    spec.update(overrides)
    return spec


def bottenant(
    spec: dict[str, Any] | None = None,
    *,
    name: str = "acme",
    namespace: str = "tenants-a",
    generation: int = 1,
    uid: str | None = None,
) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid or f"uid-{namespace}-{name}",
            "generation": generation,
            # kopf patches some changes as JSON patches testing metadata.resourceVersion.
            "resourceVersion": "1",
        },
        "spec": spec if spec is not None else tenant_spec(),
    }


class FakeKube:
    """The :class:`~atende_operator.kube.KubeApi` calls, served from dicts.

    An object's labels are ``labels[(namespace, name)]``; one without an entry is labelled for
    ``acme``, the tenants these tests apply, as the examples label theirs.
    """

    def __init__(self) -> None:
        self.secrets: dict[tuple[str, str], dict[str, str]] = {}
        self.config_maps: dict[tuple[str, str], dict[str, str]] = {}
        self.labels: dict[tuple[str, str], dict[str, str]] = {}
        self.created: list[dict[str, Any]] = []
        self.reads: list[tuple[str, str]] = []
        self.status_patches: list[tuple[str, str, dict[str, Any]]] = []

    def _found(self, key: tuple[str, str], data: dict[str, str] | None) -> Found | None:
        labels = self.labels.get(key, {TENANT_LABEL: "acme"})
        return None if data is None else Found(dict(data), dict(labels))

    async def read_secret(self, namespace: str, name: str) -> Found | None:
        self.reads.append((namespace, name))
        return self._found((namespace, name), self.secrets.get((namespace, name)))

    async def read_config_map(self, namespace: str, name: str) -> Found | None:
        return self._found((namespace, name), self.config_maps.get((namespace, name)))

    async def create_secret(self, namespace: str, body: dict[str, Any]) -> bool:
        import base64

        key = (namespace, body["metadata"]["name"])
        if key in self.secrets:
            return False
        self.created.append(copy.deepcopy(body))
        self.secrets[key] = {k: base64.b64decode(v).decode() for k, v in body["data"].items()}
        self.labels[key] = dict(body["metadata"].get("labels") or {})
        return True

    async def patch_tenant_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.status_patches.append((namespace, name, copy.deepcopy(status)))


@pytest.fixture
def kube() -> FakeKube:
    fake = FakeKube()
    fake.secrets[("tenants-a", "acme")] = secret_data()
    return fake


@pytest.fixture
def cipher() -> CredentialCipher:
    return CredentialCipher(SECRET_KEY)


@pytest.fixture
def memo(clean_db: SessionMaker, kube: FakeKube, cipher: CredentialCipher) -> kopf.Memo:
    context = OperatorContext(
        sessionmaker=clean_db, cipher=cipher, kube=kube, platform_models=PLATFORM_MODELS
    )
    return kopf.Memo({MEMO_KEY: context})


@pytest.fixture
def logger() -> logging.Logger:
    return logging.getLogger("tests.operator")
