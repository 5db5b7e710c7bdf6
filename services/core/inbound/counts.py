"""``atende_webhooks_total`` by tenant and outcome, each label child looked up once: the
counter's ``labels()`` takes a lock and builds a key on every call, and every webhook counts."""

from __future__ import annotations

from prometheus_client import Counter

from services.core.metrics import WEBHOOKS

_CHILDREN: dict[tuple[str, str], Counter] = {}  # as many as the counter has label sets


def counted(tenant: str, outcome: str) -> None:
    if (child := _CHILDREN.get((tenant, outcome))) is None:
        child = _CHILDREN[(tenant, outcome)] = WEBHOOKS.labels(tenant, outcome)
    child.inc()
