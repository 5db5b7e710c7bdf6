"""One ``GeminiClient`` per (api key, base URL), so each bring-your-own key reuses its session."""

from __future__ import annotations

import hashlib

from services.core.config import Settings
from services.core.llm.gemini import DEFAULT_API_VERSION, GeminiClient


class GeminiClientFactory:
    """A process-wide cache; the cache key hashes the API key so no plain key sits in it."""

    def __init__(
        self, *, api_version: str = DEFAULT_API_VERSION, timeout_seconds: float = 30.0
    ) -> None:
        self._api_version = api_version
        self._timeout_seconds = timeout_seconds
        self._clients: dict[tuple[str, str | None], GeminiClient] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> GeminiClientFactory:
        return cls(
            api_version=settings.gemini_api_version,
            timeout_seconds=settings.gemini_timeout_seconds,
        )

    def get(self, api_key: str, base_url: str | None = None) -> GeminiClient:
        key = (hashlib.sha256(api_key.encode()).hexdigest(), base_url)
        client = self._clients.get(key)
        if client is None:
            client = GeminiClient(
                api_key,
                base_url=base_url,
                api_version=self._api_version,
                timeout_seconds=self._timeout_seconds,
            )
            self._clients[key] = client
        return client

    def __len__(self) -> int:
        return len(self._clients)

    async def aclose_all(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
