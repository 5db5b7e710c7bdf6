"""Per-tenant monthly LLM token budget: counted durably, warned at 80 %, enforced at 100 %."""

from .service import (
    WARNING_RATIO,
    BudgetState,
    current,
    knowledge_only_reply,
    month_start,
    record_usage,
)

__all__ = [
    "WARNING_RATIO",
    "BudgetState",
    "current",
    "knowledge_only_reply",
    "month_start",
    "record_usage",
]
