"""Who is asking: the access token (cookie for pages, bearer header for ``/api/v1``), the live
session behind it, and the CSRF token every state-changing form carries.

Access tokens are short-lived JWTs (:mod:`services.core.auth.tokens`); the session they name is
checked on every request, so signing out revokes them at once. The CSRF token is an HMAC of the
session id under a key derived from the platform secret: a form from another site cannot know
it, and it changes with every sign-in. Rejected tokens and forms are audited.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import Counter

from services.api.client_ip import client_ip
from services.api.deps import StateDep
from services.api.locale import apply_profile_locale
from services.api.state import AppState
from services.core.audit.service import record
from services.core.auth.roles import Action, Principal
from services.core.auth.sessions import session_still_valid
from services.core.auth.tokens import InvalidToken, TokenKeys, read_access_token
from services.core.db import transaction
from services.core.errors import AtendeError, Forbidden, Unauthorized
from services.core.logging import get_logger
from services.core.ratelimit.limiter import Limit, RateLimiter

log = get_logger(__name__)
AUDITED_REJECTIONS_PER_IP = 10  # a minute
AUDITED_REJECTIONS_IN_ALL = 120
UNAUDITED_REJECTIONS = Counter(
    "atende_auth_rejections_unaudited_total",
    "Refused tokens and forms not written to the audit log (over its rate limit).",
    ["action"],
)
ACCESS_COOKIE = "atende_access"
REFRESH_COOKIE = "atende_refresh"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


class NeedsSignIn(AtendeError):
    """A page asked without a usable session: the browser goes to the sign-in page."""

    status_code = 303
    code = "sign_in"

    def __init__(self, next_url: str, *, expired: bool = False) -> None:
        super().__init__("sign in to continue")
        self.next_url = next_url
        self.expired = expired


def _csrf(secret_key: str, session_id: str) -> str:
    key = hmac.new(secret_key.encode(), b"atende-panel-csrf", "sha256").digest()
    return hmac.new(key, session_id.encode(), hashlib.sha256).hexdigest()[:40]


def csrf_token(state: AppState, session_id: str) -> str:
    return _csrf(state.settings.secret_keys()[0], session_id)


def csrf_matches(state: AppState, session_id: str, presented: str) -> bool:
    """Under the current key or a previous one: a form rendered before a key rotation (or by a
    pod not yet rolled) still posts."""
    found = False
    for key in state.settings.secret_keys():
        found |= hmac.compare_digest(presented, _csrf(key, session_id))
    return found


def _rejection_limits(ip: str) -> tuple[Limit, Limit]:
    return (
        Limit(f"audit:rejected:ip:{ip}", AUDITED_REJECTIONS_PER_IP, 10, "ip"),
        Limit("audit:rejected:all", AUDITED_REJECTIONS_IN_ALL, 60, "all"),
    )


async def audit_rejection(state: AppState, request: Request, action: str, reason: str) -> None:
    """Record a refused attempt (bad token, bad CSRF); never fails the request.

    A row is small and bounded (a reason from a fixed list, the path cut at 200 characters) and
    rate-limited per source IP and in all: a flood of forged tokens is counted in
    ``atende_auth_rejections_unaudited_total``, never written row by row."""
    ip = client_ip(request, state.settings.trusted_proxy_hops) or "unknown"
    decision = await RateLimiter(state.cache).hit(*_rejection_limits(ip))
    if not decision.allowed:
        UNAUDITED_REJECTIONS.labels(action).inc()
        return
    try:
        async with transaction(state.sessionmaker) as session:
            await record(
                session,
                actor=f"ip:{ip}",
                action=action,
                tenant_id=None,
                details={
                    "reason": reason[:40],
                    "path": request.url.path[:200],
                    "method": request.method[:10],
                },
            )
    except Exception as exc:  # the refusal stands either way
        log.warning("panel.audit_failed", error=type(exc).__name__)


def _presented_token(request: Request) -> tuple[str | None, bool]:
    """(token, from_header): the bearer header wins over the cookie."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip(), True
    return request.cookies.get(ACCESS_COOKIE), False


async def authenticate(state: AppState, request: Request) -> Principal:
    """The principal, or :class:`Unauthorized` (with the reason audited when a token was bad)."""
    token, _ = _presented_token(request)
    if not token:
        raise Unauthorized("no credentials")
    try:
        principal = read_access_token(TokenKeys.from_settings(state.settings), token)
    except InvalidToken as exc:
        if exc.reason != "expired":
            await audit_rejection(state, request, "auth.token_rejected", exc.reason)
        raise Unauthorized(exc.reason) from None
    async with state.sessionmaker() as session:
        if not await session_still_valid(session, principal):
            raise Unauthorized("revoked")
    return principal


# Declared so that the OpenAPI schema documents how ``/api/v1`` authenticates.
bearer = HTTPBearer(auto_error=False, description="POST /api/v1/auth/token, then Bearer <token>")


async def api_principal(
    request: Request,
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)] = None,
) -> Principal:
    """``/api/v1``: 401 JSON without a valid token; a cookie needs the CSRF header to write."""
    principal = await authenticate(state, request)
    if request.method not in ("GET", "HEAD") and credentials is None:
        presented = request.headers.get(CSRF_HEADER, "")
        if not csrf_matches(state, principal.session_id, presented):
            await audit_rejection(state, request, "auth.csrf_rejected", "missing or wrong")
            raise Forbidden("missing or wrong CSRF token")
    return principal


async def page_principal(request: Request, state: StateDep) -> Principal:
    """Pages: without a session, a redirect to sign in (after a refresh when only expired)."""
    next_url = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    try:
        principal = await authenticate(state, request)
    except Unauthorized as exc:
        # The refresh cookie is only sent to /panel/refresh: that page decides (it sends the
        # browser to sign in when there is none).
        raise NeedsSignIn(next_url, expired=exc.message == "expired") from None
    await apply_profile_locale(state, principal)
    return principal


async def check_form_csrf(state: AppState, request: Request, principal: Principal) -> None:
    form = await request.form()
    presented = str(form.get(CSRF_FIELD) or "")
    if not csrf_matches(state, principal.session_id, presented):
        await audit_rejection(state, request, "auth.csrf_rejected", "missing or wrong")
        raise Forbidden("the form expired or did not come from this panel; reload and retry")


def ensure(principal: Principal, action: Action, tenant_id: int | None = None) -> None:
    if not principal.can(action, tenant_id):
        raise Forbidden("your role does not allow this")


ApiUser = Annotated[Principal, Depends(api_principal)]
PageUser = Annotated[Principal, Depends(page_principal)]
