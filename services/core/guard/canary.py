"""A per-tenant canary (reliability.md §5.2 #5): a word only the system prompt contains.

It is derived, not stored: HMAC-SHA256 of the tenant id under ATENDE_SECRET_KEY, so every worker
computes the same value, it changes with the key, and no tenant can guess another's. If a reply
contains it, the model is repeating its instructions: the output guard blocks the reply.
"""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "ATD"


def tenant_canary(secret_key: str, tenant_id: int) -> str:
    digest = hmac.new(
        secret_key.encode(), f"atende-canary:{tenant_id}".encode(), hashlib.sha256
    ).hexdigest()
    return f"{PREFIX}-{digest[:6]}-{digest[6:12]}".upper()
