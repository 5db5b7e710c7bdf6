"""Running the operator: ``atende operator`` (blocking) or :func:`operate` (embedded, tests)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import kopf

from services.core.config import Settings
from services.core.logging import configure_logging

from .handlers import SETTINGS_KEY, build_registry


def liveness_endpoint(host: str, port: int | None) -> str | None:
    return None if port is None else f"http://{host}:{port}/healthz"


def _options(
    settings: Settings, namespaces: Sequence[str], liveness: str | None, memo: kopf.Memo | None
) -> dict[str, Any]:
    memo = memo if memo is not None else kopf.Memo()
    memo[SETTINGS_KEY] = settings
    return {
        "registry": build_registry(),
        # One replica with `strategy: Recreate`; no peering objects or RBAC for them.
        "standalone": True,
        "clusterwide": not namespaces,
        "namespaces": list(namespaces),
        "liveness_endpoint": liveness,
        "memo": memo,
    }


def run(
    settings: Settings,
    *,
    namespaces: Sequence[str] = (),
    liveness_host: str = "0.0.0.0",  # noqa: S104 - the kubelet probes the pod's address
    liveness_port: int | None = 8080,
) -> None:
    """Watch BotTenants in ``namespaces`` (every namespace when empty) until signalled."""
    json_logs = settings.log_format == "json"
    kopf.configure(log_format=kopf.LogFormat.JSON if json_logs else kopf.LogFormat.FULL)
    configure_logging(settings.log_format, settings.log_level)  # structlog, for services.core
    kopf.run(
        **_options(settings, namespaces, liveness_endpoint(liveness_host, liveness_port), None)
    )


async def operate(
    settings: Settings,
    *,
    namespaces: Sequence[str] = (),
    liveness: str | None = None,
    memo: kopf.Memo | None = None,
    stop_flag: Any = None,
    ready_flag: Any = None,
) -> None:
    """The same operator in the running event loop, stopped by ``stop_flag`` (any flag kopf
    accepts: an asyncio or threading Event, a Future)."""
    await kopf.operator(
        **_options(settings, namespaces, liveness, memo),
        stop_flag=stop_flag,
        ready_flag=ready_flag,
    )
