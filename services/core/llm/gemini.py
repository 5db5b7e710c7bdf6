"""Gemini behind the provider-neutral ``LlmClient`` protocol, on google-genai's async API.

The SDK never retries here (``attempts=1``): the job layer owns retries and the shared breaker,
and retrying at two layers multiplies load during an outage. Every failure leaves this module as
a ``TransientError`` or ``PermanentError`` whose text is only ``Gemini <code> <STATUS>``: error
texts are stored and shown to operators, so they never carry the key, the prompt or the
provider's own message.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
import httpx
import httpx2
from google import genai
from google.genai import errors, types
from google.genai.models import AsyncModels

from services.core.errors import DependencyError, PermanentError, TransientError
from services.core.llm.types import (
    ChatMessage,
    HandoffRequest,
    LlmReply,
    LlmRequest,
    MediaRequest,
)
from services.core.logging import get_logger

log = get_logger(__name__)

HANDOFF_FUNCTION = "transfer_to_human"
DEFAULT_API_VERSION = "v1beta"

BLOCK_FINISH_REASONS = frozenset({"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII"})
# Statuses worth trying again later (gemini.md §7.1, reliability.md §4.5).
_TRANSIENT_CODES = frozenset({408, 429, 499, 500, 502, 503, 504})
_SAFE_STATUS = re.compile(r"[^A-Za-z0-9_ ]")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def _optional_exceptions(module: str, *names: str) -> tuple[type[BaseException], ...]:
    """Exception types of an optional transport (aiohttp), if it is installed."""
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return ()
    found = (getattr(mod, name, None) for name in names)
    return tuple(t for t in found if isinstance(t, type) and issubclass(t, BaseException))


# Timeouts surface as transport exceptions, never as APIError (gemini.md §7.3).
_TIMEOUTS: tuple[type[BaseException], ...] = (
    httpx2.TimeoutException,
    httpx.TimeoutException,
    TimeoutError,
)
_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    httpx2.TransportError,
    httpx.TransportError,
    ConnectionError,
    OSError,
    *_optional_exceptions("aiohttp", "ClientError"),
)


def _handoff_tool() -> types.Tool:
    string = types.Schema(type=types.Type.STRING)
    return types.Tool(
        function_declarations=[
            types.FunctionDeclaration(
                name=HANDOFF_FUNCTION,
                description=(
                    "Transfer the conversation to a human attendant when the customer asks "
                    "for one or when you cannot help."
                ),
                parameters=types.Schema(
                    type=types.Type.OBJECT,
                    properties={"reason": string, "summary": string},
                    required=["reason", "summary"],
                ),
            )
        ]
    )


# Built once: the SDK's models cost microseconds each to validate, on every turn otherwise.
_HANDOFF_TOOLS = [_handoff_tool()]
_HANDOFF_TOOL_CONFIG = types.ToolConfig(
    function_calling_config=types.FunctionCallingConfig(mode=types.FunctionCallingConfigMode.AUTO)
)


def _contents(history: list[ChatMessage]) -> list[types.Content]:
    return [types.Content(role=m.role, parts=[types.Part(text=m.text)]) for m in history]


def _name(value: object) -> str:
    """The wire string of an SDK enum (or of an unknown value the SDK kept as a string)."""
    raw = getattr(value, "value", value)
    return str(raw) if raw is not None else ""


class GeminiClient:
    """One tenant's (or the platform's) Gemini access; keep it for the process's lifetime."""

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        api_version: str = DEFAULT_API_VERSION,
        timeout_seconds: float = 30.0,
        max_connections: int = 512,
    ) -> None:
        self._timeout_seconds = timeout_seconds
        self._api_key, self._max_connections = api_key, max_connections
        self._options = {
            "base_url": base_url,
            "api_version": api_version,
            "timeout": max(1, round(timeout_seconds * 1000)),
            # Explicit attempts=1 also disables aiohttp's hidden connect retry (§2.3).
            "retry_options": types.HttpRetryOptions(attempts=1),
        }
        # A reference must be kept: a collected Client closes its HTTP session (gemini.md §2.3).
        self._sdk: genai.Client | None = None
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    @property
    def _models(self) -> AsyncModels:
        """The SDK's calls, on an HTTP session of our own, made in the running loop on first
        use: the SDK's own trusts the environment, which costs two thread hops a request (the
        netrc file and proxy variables are looked up each time), and has no connection limit."""
        if self._sdk is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections),
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
            )
            self._sdk = genai.Client(
                api_key=self._api_key,
                http_options=types.HttpOptions(**self._options, aiohttp_client=self._session),
            )
        return self._sdk.aio.models

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._sdk is not None:
            await self._sdk.aio.aclose()
            self._sdk.close()
        if self._session is not None:
            await self._session.close()

    async def generate(self, request: LlmRequest) -> LlmReply:
        config = types.GenerateContentConfig(system_instruction=request.system_prompt)
        if request.allow_handoff:
            config.tools = list(_HANDOFF_TOOLS)
            config.tool_config = _HANDOFF_TOOL_CONFIG
        return parse_response(
            await self._call(request.model, _contents(request.history), config), request
        )

    async def describe(self, request: MediaRequest) -> LlmReply:
        contents = [
            types.Content(
                role="user",
                parts=[
                    types.Part.from_bytes(data=request.data, mime_type=request.mime_type),
                    types.Part(text=request.instruction),
                ],
            )
        ]
        config = types.GenerateContentConfig(temperature=0)
        return parse_response(await self._call(request.model, contents, config), request)

    async def _call(
        self, model: str, contents: list[types.Content], config: types.GenerateContentConfig
    ) -> types.GenerateContentResponse:
        async with self._errors_mapped():
            return await self._models.generate_content(
                model=model, contents=contents, config=config
            )

    async def embed(
        self, model: str, texts: Sequence[str], *, task_type: str, dimensions: int
    ) -> list[list[float]]:
        """One vector per text, in order, through ``batchEmbedContents`` (the SDK's only embed
        call on the Developer API, gemini.md §3, §8); at most 100 texts per call (the API's
        batch limit). Errors as for ``generate``."""
        config = types.EmbedContentConfig(task_type=task_type, output_dimensionality=dimensions)
        async with self._errors_mapped():
            response = await self._models.embed_content(
                model=model, contents=list(texts), config=config
            )
        vectors = [list(e.values or []) for e in response.embeddings or []]
        if len(vectors) != len(texts) or any(len(v) != dimensions for v in vectors):
            raise TransientError("gemini_bad_response", "Gemini bad response")
        return vectors

    @contextlib.asynccontextmanager
    async def _errors_mapped(self) -> AsyncIterator[None]:
        """Every failure of a call as a ``TransientError`` or ``PermanentError`` (the module)."""
        try:
            # A backstop over the per-read HTTP timeout, for a server that trickles bytes.
            async with asyncio.timeout(self._timeout_seconds * 2 + 1):
                yield
        except errors.APIError as exc:
            raise _api_error(exc) from None
        except _TIMEOUTS:
            raise TransientError("gemini_timeout", "Gemini timeout") from None
        except _CONNECTION_ERRORS as exc:
            raise TransientError(
                "gemini_connect", f"Gemini connection failed: {type(exc).__name__}"
            ) from None
        except (json.JSONDecodeError, errors.UnknownApiResponseError):
            raise TransientError("gemini_bad_response", "Gemini bad response") from None


def parse_response(
    response: types.GenerateContentResponse, request: LlmRequest | MediaRequest
) -> LlmReply:
    """Turn a 200 answer into text, a handoff or a block; an empty answer is transient."""
    usage = response.usage_metadata
    prompt_tokens = usage.prompt_token_count if usage else None
    # Thinking is billed as output: a budget that ignored it would run over unnoticed.
    output_tokens = (
        (usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)
        if usage and (usage.candidates_token_count or usage.thoughts_token_count)
        else None
    )
    extra: dict[str, str] = {}
    if response.model_version:
        extra["model_version"] = response.model_version
    if response.response_id:
        extra["response_id"] = response.response_id

    feedback = response.prompt_feedback
    block_reason = _name(feedback.block_reason) if feedback else ""
    candidate = response.candidates[0] if response.candidates else None
    finish = _name(candidate.finish_reason) if candidate else ""
    if finish:
        extra["finish_reason"] = finish
    if (block_reason and block_reason != "BLOCKED_REASON_UNSPECIFIED") or (
        finish in BLOCK_FINISH_REASONS
    ):
        extra["block_reason"] = block_reason or finish
        return LlmReply(
            text="",
            model=request.model,
            prompt_tokens=prompt_tokens,
            output_tokens=output_tokens,
            blocked=True,
            extra=extra,
        )

    texts: list[str] = []
    handoff: HandoffRequest | None = None
    parts = candidate.content.parts if candidate and candidate.content else None
    for part in parts or []:
        if part.function_call and part.function_call.name == HANDOFF_FUNCTION:
            args = part.function_call.args or {}
            handoff = HandoffRequest(
                reason=str(args.get("reason") or ""), summary=str(args.get("summary") or "")
            )
        elif part.text and not part.thought:
            texts.append(part.text)
    text = "".join(texts).strip()
    if not text and handoff is None:
        raise TransientError("gemini_empty", "Gemini empty reply")
    return LlmReply(
        text=text,
        model=request.model,
        prompt_tokens=prompt_tokens,
        output_tokens=output_tokens,
        handoff=handoff,
        extra=extra,
    )


def _api_error(exc: errors.APIError) -> DependencyError:
    """Classify by HTTP code (reliability.md §4.5); only code and status reach the text."""
    code = int(exc.code or 0)
    status = _SAFE_STATUS.sub("", str(exc.status or ""))[:40].strip()
    details = _error_details(exc)
    reasons = {str(d.get("reason")) for d in details if d.get("reason")}
    message = f"Gemini {code} {status}".strip()
    log.warning("gemini_error", code=code, status=status, reasons=sorted(reasons))
    if code == 429:
        return TransientError("gemini_429", message, retry_after=_retry_after(exc, details))
    if code in _TRANSIENT_CODES or code >= 500:
        return TransientError(f"gemini_{code}", message)
    if code in (401, 403) or "API_KEY_INVALID" in reasons:
        return PermanentError("gemini_auth", message)
    if 400 <= code < 500:
        return PermanentError(f"gemini_{code}", message)
    return TransientError(f"gemini_{code}", message)


def _error_details(exc: errors.APIError) -> list[dict[str, Any]]:
    body = exc.details
    error = body.get("error") if isinstance(body, dict) else None
    items = error.get("details") if isinstance(error, dict) else None
    return [d for d in items if isinstance(d, dict)] if isinstance(items, list) else []


def _retry_after(exc: errors.APIError, details: list[dict[str, Any]]) -> float | None:
    """``RetryInfo.retryDelay`` ("58s"), else a ``Retry-After`` header in seconds."""
    for detail in details:
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _DURATION.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    headers = getattr(exc.response, "headers", None)
    header = headers.get("retry-after") if headers is not None else None
    try:
        return float(header) if header is not None else None
    except (TypeError, ValueError):
        return None
