"""Whaticket's ticket API as the tenant's agent user: find a customer's ticket, move it, and
leave internal notes on it (the forks with ``/ticket-notes``).

Tickets are moved with a *user* JWT, not the API token (``whaticket.md`` §3): the client logs
in with the tenant's agent credentials, keeps the access token and the ``jrt`` refresh cookie
per tenant, and on 401/403 refreshes (then logs in again) once before giving up. Every failure
is a :class:`TransientError` or a :class:`PermanentError` with a secret-free ``error_class``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from services.core.channels.destinations import join
from services.core.channels.egress import Egress
from services.core.errors import PermanentError, TransientError
from services.core.tenants.spec import Variant

_AUTH_STATUSES = frozenset({401, 403})
_OPEN_STATUSES = ("open", "pending")
_MAX_PAGES = 5  # 40 tickets a page, newest first: the customer's ticket is near the top


@dataclass(frozen=True, slots=True)
class AgentLogin:
    """Who moves tickets for a tenant: ``key`` names the session cache entry."""

    key: str
    base_url: str
    email: str
    password: str


@dataclass(frozen=True, slots=True)
class Ticket:
    id: int
    status: str
    queue_id: int | None
    user_id: int | None
    contact_id: int | None = None


@dataclass(slots=True)
class _Session:
    token: str
    refresh_cookie: str | None
    user_id: int


def handoff_body(variant: Variant, queue_id: int | None, agent_user_id: int) -> dict[str, Any]:
    """The ``PUT /tickets/:id`` body that really stops the bot's forwarding in ``variant``.

    * saas-classic does not persist ``useIntegration``: only a ticket *assigned to a user*
      stops the integration, so it goes ``open`` to the agent user, in the handoff queue;
    * v6 persists ``useIntegration: false``: ``pending`` in the queue, for its agents to accept;
    * community and ticketz have no integration to stop: ``pending`` in the queue, unassigned,
      under "Aguardando" for the queue's agents (the UI's own transfer shape).
    """
    queue = {"queueId": queue_id} if queue_id is not None else {}
    if variant is Variant.SAAS:
        return {"status": "open", "userId": agent_user_id, **queue}
    if variant is Variant.V6:
        return {
            "status": "pending",
            "userId": None,
            "useIntegration": False,
            "integrationId": None,
            "isBot": False,
            **queue,
        }
    return {"status": "pending", "userId": None, **queue}


class TicketDesk:
    """One per process; sessions are cached per :attr:`AgentLogin.key`."""

    def __init__(self, http: Egress) -> None:
        self._http = http
        self._sessions: dict[str, _Session] = {}

    async def agent_user_id(self, login: AgentLogin) -> int:
        return (await self._session(login)).user_id

    async def find_ticket(self, login: AgentLogin, number: str) -> Ticket | None:
        """The contact's open or pending ticket, newest first, in any queue (``queueIds`` must
        list them all: without it Whaticket lists only tickets outside every queue)."""
        queues = await self._call(login, "GET", "queue")
        queue_ids = [q["id"] for q in queues if isinstance(q, dict) and "id" in q] or []
        for page in range(1, _MAX_PAGES + 1):
            params = {
                "searchParam": number,
                "showAll": "true",
                "queueIds": json.dumps(queue_ids),
                "pageNumber": str(page),
            }
            listing = await self._call(login, "GET", "tickets", params=params)
            tickets = listing.get("tickets", []) if isinstance(listing, dict) else []
            for raw in tickets:
                contact = raw.get("contact") or {}
                if contact.get("number") == number and raw.get("status") in _OPEN_STATUSES:
                    return _ticket(raw)
            if not (isinstance(listing, dict) and listing.get("hasMore")):
                return None
        return None

    async def show_ticket(self, login: AgentLogin, ticket_id: int) -> Ticket | None:
        """The ticket now, or None when Whaticket no longer has it."""
        try:
            return _ticket(await self._call(login, "GET", "tickets", ticket_id))
        except PermanentError as exc:
            if exc.error_class == "whaticket_ticket_not_found":
                return None
            raise

    async def move_ticket(self, login: AgentLogin, ticket_id: int, body: dict[str, Any]) -> Ticket:
        return _ticket(await self._call(login, "PUT", "tickets", ticket_id, json=body))

    async def notes(self, login: AgentLogin, ticket: Ticket) -> list[str]:
        """The texts of the ticket's internal notes (``GET /ticket-notes/list``, newest first)."""
        params = {"contactId": str(ticket.contact_id), "ticketId": str(ticket.id)}
        found = await self._call(login, "GET", ("ticket-notes", "list"), params=params)
        rows = found if isinstance(found, list) else []
        return [str(n.get("note")) for n in rows if isinstance(n, dict) and n.get("note")]

    async def add_note(self, login: AgentLogin, ticket: Ticket, note: str) -> None:
        """An internal note on the ticket, by the agent user: a row agents read in the ticket's
        notes, never a WhatsApp message (``POST /ticket-notes``)."""
        body = {"note": note, "contactId": ticket.contact_id, "ticketId": ticket.id}
        await self._call(login, "POST", ("ticket-notes",), json=body)

    async def _session(self, login: AgentLogin, *, renew: bool = False) -> _Session:
        session = self._sessions.get(login.key)
        if session is not None and not renew:
            return session
        if session is not None and session.refresh_cookie:
            refreshed = await self._auth(
                login,
                ("auth", "refresh_token"),
                headers={"Cookie": f"jrt={session.refresh_cookie}"},
            )
            if refreshed is not None:
                self._sessions[login.key] = refreshed
                return refreshed
        fresh = await self._auth(
            login, ("auth", "login"), json={"email": login.email, "password": login.password}
        )
        if fresh is None:
            raise PermanentError("whaticket_agent_login", "the agent user cannot log in")
        self._sessions[login.key] = fresh
        return fresh

    async def _auth(
        self, login: AgentLogin, path: tuple[str, str], **kwargs: Any
    ) -> _Session | None:
        response = await self._request(login, "POST", path, **kwargs)
        if response.status_code in (400, 401, 403, 404):
            return None
        body = _json(response)
        if response.status_code != 200 or not isinstance(body, dict) or "token" not in body:
            raise _status_error(response, "login")
        user = body.get("user") or {}
        return _Session(
            token=str(body["token"]),
            refresh_cookie=response.cookies.get("jrt"),
            user_id=int(user.get("id", 0)),
        )

    async def _call(
        self,
        login: AgentLogin,
        method: str,
        what: str | tuple[str, ...],
        ticket: int | None = None,
        **kwargs: Any,
    ) -> Any:
        path = (what,) if isinstance(what, str) else what
        path += () if ticket is None else (str(ticket),)
        session = await self._session(login)
        for renew in (False, True):
            if renew:
                session = await self._session(login, renew=True)
            headers = {"Authorization": f"Bearer {session.token}"}
            response = await self._request(login, method, path, headers=headers, **kwargs)
            if response.status_code not in _AUTH_STATUSES:
                break
        if 200 <= response.status_code < 300:
            return _json(response)
        if response.status_code == 404 and ticket is not None:
            raise PermanentError("whaticket_ticket_not_found", "the ticket no longer exists")
        raise _status_error(response, method.lower())

    async def _request(
        self, login: AgentLogin, method: str, path: tuple[str, ...], **kwargs: Any
    ) -> httpx.Response:
        try:
            return await self._http.request(method, join(login.base_url, *path), **kwargs)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise TransientError(
                "whaticket_connect", f"Whaticket ticket API unreachable ({type(exc).__name__})"
            ) from exc


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _ticket(raw: Any) -> Ticket:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), int):
        raise PermanentError("whaticket_unexpected_ticket", "the ticket answer has no id")
    return Ticket(
        id=raw["id"],
        status=str(raw.get("status")),
        queue_id=raw.get("queueId"),
        user_id=raw.get("userId"),
        contact_id=raw.get("contactId"),
    )


def _status_error(response: httpx.Response, action: str) -> PermanentError | TransientError:
    status = response.status_code
    message = f"Whaticket ticket API {action}: HTTP {status}"
    if status in _AUTH_STATUSES:
        return PermanentError("whaticket_agent_auth", message)
    if status == 429 or status >= 500:
        # saas-classic answers business errors (ERR_OTHER_OPEN_TICKET…) as 500 too; retrying a
        # few times is cheap, and the dead end is the SLA alert, not a lost conversation.
        return TransientError(f"whaticket_tickets_{status}", message)
    return PermanentError("whaticket_tickets_rejected", message)
