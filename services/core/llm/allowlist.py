"""The models the platform key pays for (``ATENDE_PLATFORM_MODELS``).

A tenant with its own Gemini key (``spec.llm.apiKeySecretRef``) may name any model: Google bills
the tenant. A tenant on the platform key may only use the models the platform chose to pay for,
whether the model comes from its spec or from an operator's override: ``tenants apply`` refuses
another, naming the field, and a turn never calls one (the guard at the call, for an override or
a list that shrank after the apply).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from services.core.errors import ManifestError, PermanentError
from services.core.tenants.manifest import TenantManifest
from services.core.tenants.spec import BotTenantSpec

from .types import LlmReply, LlmRequest, MediaRequest


def unbilled_model(spec: BotTenantSpec, allowed: Sequence[str]) -> str | None:
    """Why the spec's model cannot run on the platform key, or None."""
    if spec.llm.api_key_secret_ref is not None or spec.llm.model in allowed:
        return None
    return (
        f"spec.llm.model: {spec.llm.model!r} is not one of the models the platform key pays for "
        f"({', '.join(allowed) or 'none'}); name one of them, or give the tenant its own key "
        "(spec.llm.apiKeySecretRef)"
    )


def refuse_unbilled(manifests: Iterable[TenantManifest], allowed: Sequence[str]) -> None:
    """:class:`ManifestError` naming every tenant whose model the platform key does not pay."""
    problems = [
        f"BotTenant {manifest.name}: {problem}"
        for manifest in manifests
        if (problem := unbilled_model(manifest.spec, allowed))
    ]
    if problems:
        raise ManifestError(problems)


class UnbilledModel:
    """Stands in for the client when the model is not one the platform key pays for: every
    call fails for good (the turn dead-letters with the tenant's fallback, visibly)."""

    def __init__(self, model: str) -> None:
        self.model = model

    def _refuse(self) -> PermanentError:
        return PermanentError("model_not_allowed", f"{self.model} is not billed to the platform")

    async def generate(self, request: LlmRequest) -> LlmReply:
        raise self._refuse()

    async def describe(self, request: MediaRequest) -> LlmReply:
        raise self._refuse()

    async def aclose(self) -> None:
        return None
