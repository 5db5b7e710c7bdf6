"""Prompt-injection defence (reliability.md §5): screen what customers send, delimit it, and
check every model reply before it is stored and sent.

* :mod:`.screen`  — input: NFKC, invisible characters removed, length capped; heuristic flags
  are only logged, never a gate.
* :mod:`.delimit` — customer text goes between ``<<cliente id=NONCE>>`` markers whose nonce is
  random per request; imitations of the markers are removed from the text.
* :mod:`.canary`  — a per-tenant secret word placed in the system prompt (never to be repeated).
* :mod:`.rules`   — the hardened house rules every system prompt ends with.
* :mod:`.output`  — the output guard: canary, system-prompt shingles, secrets, other tenants'
  data → the reply is replaced with a safe answer.
* :mod:`.foreign` — what other tenants own (names, prompts, knowledge), for the output guard.
* :mod:`.cache`   — each tenant's output guard, rebuilt only when what it is made of changes.
"""

from __future__ import annotations

from .cache import OutputGuards
from .canary import tenant_canary
from .delimit import Boundary, new_boundary, strip_markers, unwrap
from .foreign import ForeignData, ForeignIndex, ForeignLookup
from .output import OutputGuard, Verdict
from .rules import house_rules
from .screen import MAX_MESSAGE_CHARS, MAX_TURN_CHARS, Screened, normalize, screen

__all__ = [
    "MAX_MESSAGE_CHARS",
    "MAX_TURN_CHARS",
    "Boundary",
    "ForeignData",
    "ForeignIndex",
    "ForeignLookup",
    "OutputGuard",
    "OutputGuards",
    "Screened",
    "Verdict",
    "house_rules",
    "new_boundary",
    "normalize",
    "screen",
    "strip_markers",
    "tenant_canary",
    "unwrap",
]
