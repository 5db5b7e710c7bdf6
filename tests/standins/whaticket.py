"""A stand-in Whaticket backend speaking each variant's real wire protocol (``whaticket.md``).

A real HTTP server on 127.0.0.1 in a background thread. ``POST /api/messages/send`` follows the
variant's auth, number checks, Mustache rendering, success and error bodies; failure modes are
switchable at runtime; every accepted send is recorded as "delivered" with the text the customer
would see. ``/auth/login``, ``/auth/refresh_token``, ``GET /tickets``, ``PUT /tickets/:id`` and
``GET /queue`` are small but real-shaped (§3, §8), and so are the internal notes of the forks
that have them (saas, ticketz, v6: ``POST /ticket-notes``, ``GET /ticket-notes/list``; community
has none and answers Express's 404). The wire strings are written out here on
purpose, not imported from the client's variant table, so the two can disagree.

In-process: ``with WhaticketStandIn("saas", ["tok"]) as wt: wt.url, wt.sent(), wt.set_mode(...)``.
Other process: ``python -m tests.standins.whaticket --port 0 --variant saas --token T`` prints one
JSON line ``{"url": ...}`` and serves until SIGTERM; drive it over ``/_control/...``:
``POST mode`` {"session_down": true} | {"delay": 3} | {"fail": 500} | {"unregistered": [..]},
``POST script`` [{"status", "body", "delay", "deliver"}...], ``GET sent|dropped|requests|tickets``,
``POST tickets`` {"number", "name", "status", "queueId", "userId"}, ``GET notes``, ``POST reset``;
``POST mode`` {"notes_fail": 500 | 502} fails the note routes too.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import re
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

VARIANTS = ("community", "saas", "ticketz", "v6")
INVALID_TOKEN = "Invalid token. We'll try to assign a new one on next request"
SAAS_GENERIC = "Não foi possível enviar a mensagem, tente novamente em alguns instantes"
_HIDDEN_HEADERS = {"authorization", "cookie"}
_PAGE = 40

Json = Any
Reply = tuple[int, Json, dict[str, str]]


class _Server(ThreadingHTTPServer):
    """A listen backlog for hundreds of concurrent clients (the stdlib default is 5)."""

    request_queue_size = 1024
    daemon_threads = True


class _Aborted(Exception):
    """A sleeping request was cut short by reset/stop: drop the connection, deliver nothing."""


class MustacheError(Exception):
    pass


# --- mustache.js subset: variables, {{{x}}}/{{&x}}, comments, sections, set delimiters ----------

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "/": "&#x2F;"}
_ESCAPES |= {"`": "&#x60;", "=": "&#x3D;"}


def render_mustache(template: str, view: Mapping[str, str]) -> str:
    """Render like mustache.js for flat string views (no standalone-line trimming)."""
    otag, ctag = "{{", "}}"
    out: list[str] = []
    stack: list[tuple[str, bool]] = []
    visible, pos = True, 0
    while True:
        start = template.find(otag, pos)
        if start < 0:
            out.append(template[pos:] if visible else "")
            break
        out.append(template[pos:start] if visible else "")
        k = start + len(otag)
        kind = template[k] if k < len(template) and template[k] in "#^/>{&=!" else ""
        k += len(kind)
        close = {"{": "}" + ctag, "=": "=" + ctag}.get(kind, ctag)
        end = template.find(close, k)
        if end < 0:
            raise MustacheError(f"Unclosed tag at {start}")
        name, pos = template[k:end].strip(), end + len(close)
        if kind == "=":
            tags = name.split()
            if len(tags) != 2:
                raise MustacheError(f"Invalid tags: {name}")
            otag, ctag = tags
        elif kind in ("#", "^"):
            shown = bool(view.get(name)) == (kind == "#")
            stack.append((name, visible))
            visible = visible and shown
        elif kind == "/":
            if not stack or stack[-1][0] != name:
                raise MustacheError(f'Unopened section "{name}" at {start}')
            visible = stack.pop()[1]
        elif kind not in ("!", ">") and visible:
            value = str(view.get(name, ""))
            out.append(value if kind in ("{", "&") else "".join(_ESCAPES.get(c, c) for c in value))
    if stack:
        raise MustacheError(f'Unclosed section "{stack[-1][0]}"')
    return "".join(out)


# --- state ----------------------------------------------------------------------------------------


@dataclass
class Mode:
    session_down: bool = False
    # Error text while down (saas: "ERR_WAPP_NOT_INITIALIZED", "Connection Closed" or SAAS_GENERIC).
    session_down_error: str | None = None
    delay: float = 0.0  # seconds before handling a send (then it is handled: a slow success)
    fail: int | None = None  # answer every send with this status (500 -> Internal server error)
    unregistered: list[str] = field(default_factory=list)  # numbers "not on WhatsApp"
    notes_fail: int | None = None  # answer every /ticket-notes request with this status
    notes_delay: float = 0.0  # seconds before handling a /ticket-notes request


@dataclass
class Scripted:
    status: int
    body: Json = None
    delay: float = 0.0
    deliver: bool = False  # record the message as delivered even though the answer is an error
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class User:
    id: int
    name: str
    email: str
    password: str
    profile: str = "admin"


class WhaticketStandIn:
    """One backend of one variant; ``tokens`` are the valid API tokens, one per connection."""

    def __init__(
        self,
        variant: str,
        tokens: Iterable[str],
        *,
        port: int = 0,
        users: Iterable[User] = (User(1, "Bot", "bot@example.com", "bot-password"),),
        queues: Iterable[Mapping[str, Any]] = ({"id": 1, "name": "Vendas", "color": "#0b0"},),
        access_ttl: float | None = None,
    ) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}")
        self.variant = variant
        self.tokens = list(tokens)
        self.users = {u.id: u for u in users}
        self.queues = [dict(q) for q in queues]
        # community, saas-classic and ticketz issue 15-minute JWTs; launcherbr v6 3650 days.
        self.access_ttl = access_ttl or (3650 * 86400 if variant == "v6" else 15 * 60)
        self._secret = hashlib.sha256(f"{variant}{time.time_ns()}".encode()).digest()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.daemon_threads = True
        self._server.standin = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None
        self._clear()

    def _clear(self) -> None:
        self.mode = Mode()
        self._script: deque[Scripted] = deque()
        self._sent: list[dict[str, Any]] = []
        self._dropped: list[dict[str, Any]] = []
        self._requests: list[dict[str, Any]] = []
        self._tickets: dict[int, dict[str, Any]] = {}
        self._notes: list[dict[str, Any]] = []

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WhaticketStandIn:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._wake.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> WhaticketStandIn:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # control
    def set_mode(self, **changes: Any) -> None:
        with self._lock:
            self.mode = Mode(**{**asdict(self.mode), **changes})

    def script(self, *responses: Scripted | Mapping[str, Any]) -> None:
        with self._lock:
            self._script.extend(r if isinstance(r, Scripted) else Scripted(**r) for r in responses)

    def reset(self) -> None:
        """Forget everything and cut short any request still sleeping (it delivers nothing)."""
        with self._lock:
            self._wake.set()
            self._wake = threading.Event()
            self._clear()

    def sent(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._sent)

    def dropped(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._dropped)

    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._requests)

    def tickets(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._ticket_json(t) for t in self._tickets.values()]

    def notes(self) -> list[dict[str, Any]]:
        """Every TicketNote row, oldest first (what agents read beside the ticket)."""
        with self._lock:
            return [dict(n) for n in self._notes]

    def add_ticket(
        self,
        number: str,
        *,
        name: str | None = None,
        status: str = "pending",
        queue_id: int | None = None,
        user_id: int | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            ticket = self._new_ticket(number, name, status, queue_id, user_id)
            return self._ticket_json(ticket)

    # --- send -------------------------------------------------------------------------------------

    def handle_send(self, req: _Request) -> Reply:
        with self._lock:
            scripted = self._script.popleft() if self._script else None
            mode, wake = Mode(**asdict(self.mode)), self._wake
        if scripted is not None:
            self._sleep(scripted.delay, wake)
            if scripted.deliver and isinstance(req.json, dict):
                number, body = str(req.json.get("number")), str(req.json.get("body"))
                self._deliver(req, number, body, body, wake)
            return scripted.status, scripted.body, dict(scripted.headers)
        self._sleep(mode.delay, wake)
        if mode.fail is not None:
            return _failure(mode.fail)
        connection = self._authenticate(req)
        if isinstance(connection, tuple):
            return connection
        if req.json is _INVALID_JSON or not isinstance(req.json, dict):
            return 500, {"error": "Internal server error"}, {}  # body-parser error, not an AppError
        handler = {
            "community": self._send_community,
            "saas": self._send_saas,
            "ticketz": self._send_ticketz,
            "v6": self._send_v6,
        }[self.variant]
        return handler(req, req.json, mode, connection, wake)

    def _authenticate(self, req: _Request) -> int | Reply:
        header = req.headers.get("Authorization")
        if self.variant in ("community", "v6"):  # isAuthApi / tokenAuth: split(" ")[1]
            if not header:
                return 401, {"error": "ERR_SESSION_EXPIRED"}, {}
            parts = header.split(" ")
            token = parts[1] if len(parts) > 1 else None
            if token not in self.tokens:
                return 403, {"error": INVALID_TOKEN}, {}
        else:  # tokenAuth: authorization.replace("Bearer ", "") -> Whatsapp.findOne({token})
            token = header.replace("Bearer ", "", 1) if header is not None else None
            if token not in self.tokens:
                return 401, {"error": "Acesso não permitido"}, {}
        return self.tokens.index(token)

    def _send_community(
        self, req: _Request, data: dict[str, Any], mode: Mode, conn: int, wake: threading.Event
    ) -> Reply:
        number = data.get("number")
        if not isinstance(number, str):
            return 500, {"error": "Internal server error"}, {}  # TypeError on .replace
        number = number.replace("-", "", 1).replace(" ", "", 1)
        if not re.fullmatch(r"\d+", number, re.ASCII):
            return 400, {"error": "Invalid number format. Only numbers is allowed."}, {}
        if mode.session_down:
            return 400, {"error": mode.session_down_error or "ERR_WAPP_NOT_INITIALIZED"}, {}
        if number in mode.unregistered:
            return 400, {"error": "ERR_WAPP_INVALID_CONTACT"}, {}
        try:  # formatBody runs inside SendWhatsAppMessage's try
            text = render_mustache(str(data.get("body")), {"name": self._contact_name(number)})
        except MustacheError:
            return 400, {"error": "ERR_SENDING_WAPP_MSG"}, {}
        self._deliver(req, number, data.get("body"), text, wake, conn)
        return 200, None, {}

    def _send_saas(
        self, req: _Request, data: dict[str, Any], mode: Mode, conn: int, wake: threading.Event
    ) -> Reply:
        number, body = data.get("number"), data.get("body")
        if number is None:  # plain Error("O número é obrigatório") -> generic message
            return 400, {"error": SAAS_GENERIC}, {}
        if mode.session_down:  # AppError/Boom keep their message
            return 400, {"error": mode.session_down_error or "ERR_WAPP_NOT_INITIALIZED"}, {}
        digits = re.sub(r"\D", "", str(number))
        if not digits or digits in mode.unregistered:  # plain Error("ERR_CHECK_NUMBER")
            return 400, {"error": SAAS_GENERIC}, {}
        if not isinstance(body, str):  # Mustache.render throws a plain TypeError
            return 400, {"error": SAAS_GENERIC}, {}
        view = _saas_view(self._contact_name(digits))
        try:  # MessageController.send renders, then SendWhatsAppMessage renders again
            text = render_mustache(render_mustache(body, view), view)
        except MustacheError:
            return 400, {"error": SAAS_GENERIC}, {}
        self._deliver(req, digits, body, text, wake, conn)
        return 200, {"mensagem": "Mensagem enviada"}, {}

    def _send_ticketz(
        self, req: _Request, data: dict[str, Any], mode: Mode, conn: int, wake: threading.Event
    ) -> Reply:
        number = data.get("number")
        if number is None:
            return 400, {"error": "ERR_SYNTAX"}, {}
        unsent: Reply = 500, {"error": "ERR_INTERNAL_ERROR"}, {}
        if not isinstance(number, str):
            return unsent
        if "@" not in number:  # getWbot + onWhatsApp inside the try -> 500 when down/unknown
            number = re.sub(r"\D", "", number)
            if mode.session_down or not number or number in mode.unregistered:
                return unsent
        body = data.get("body")
        text = "undefined" if body is None else str(body)  # `${messageData.body}`
        # Enqueued; the Bull job sends ``text: body`` later (no Mustache). A session that is
        # down by then fails silently: only a raw JID gets past the number check here.
        if mode.session_down:
            with self._lock:
                if wake is self._wake:
                    self._dropped.append(self._record(req, number, body, text, conn))
        else:
            self._deliver(req, number, body, text, wake, conn)
        return 200, {"mensagem": "Message added to queue"}, {}

    def _send_v6(
        self, req: _Request, data: dict[str, Any], mode: Mode, conn: int, wake: threading.Event
    ) -> Reply:
        number, body = data.get("number"), data.get("body")
        if not isinstance(number, str):
            return 500, {"error": "Internal server error"}, {}
        number = number.replace(" ", "", 1)
        if not re.fullmatch(r"\d+", number, re.ASCII):
            return 400, {"error": "Invalid number format. Only numbers is allowed."}, {}
        if mode.session_down:  # getWbot before anything else
            return 400, {"error": mode.session_down_error or "ERR_WAPP_NOT_INITIALIZED"}, {}
        if not isinstance(body, str):
            return 500, {"error": "Internal server error"}, {}  # body.trim() on undefined
        if len(number) > 17:  # a group id: groupMetadata of an unknown group fails
            return 400, {"error": "item-not-found"}, {}
        if number in mode.unregistered:
            return 400, {"error": "Este número não está cadastrado no whatsapp"}, {}
        self._deliver(req, number, body, "\u200e " + body.strip(), wake, conn)
        return 200, {"status": "SUCCESS"}, {}

    def _sleep(self, seconds: float, wake: threading.Event) -> None:
        if seconds > 0 and wake.wait(seconds):
            raise _Aborted

    def _contact_name(self, number: str) -> str:
        with self._lock:
            for ticket in self._tickets.values():
                if ticket["contact"]["number"] == number:
                    return str(ticket["contact"]["name"])
        return number  # contacts created by the API are named after their number

    def _record(
        self, req: _Request, number: str, body: Json, text: str, conn: int | None
    ) -> dict[str, Any]:
        return {
            "number": number,
            "body": body,
            "text": text,
            "connection": conn,
            "headers": req.visible_headers(),
            "at": time.time(),
        }

    def _deliver(
        self,
        req: _Request,
        number: str,
        body: Json,
        text: str,
        wake: threading.Event,
        conn: int | None = None,
    ) -> None:
        with self._lock:
            if wake is not self._wake:  # reset while this request slept
                raise _Aborted
            self._sent.append(self._record(req, number, body, text, conn))
            if self.variant != "ticketz":  # ticketz only touches tickets with saveOnTicket
                ticket = next(
                    (
                        t
                        for t in self._tickets.values()
                        if t["contact"]["number"] == number and t["status"] in ("open", "pending")
                    ),
                    None,
                ) or self._new_ticket(number, None, "pending", None, None)
                ticket["lastMessage"], ticket["updatedAt"] = text, _now()

    # --- tickets and auth -------------------------------------------------------------------------

    def _new_ticket(
        self, number: str, name: str | None, status: str, queue_id: int | None, user_id: int | None
    ) -> dict[str, Any]:
        tid = max(self._tickets, default=0) + 1
        ticket = {
            "id": tid,
            "status": status,
            "unreadMessages": 0,
            "lastMessage": "",
            "isGroup": False,
            "userId": user_id,
            "contactId": tid,
            "whatsappId": 1,
            "queueId": queue_id,
            "createdAt": _now(),
            "updatedAt": _now(),
            "contact": {"id": tid, "name": name or number, "number": number, "profilePicUrl": ""},
        }
        self._tickets[tid] = ticket
        return ticket

    def _ticket_json(self, ticket: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(ticket["userId"]) if ticket["userId"] is not None else None
        queue = next((q for q in self.queues if q["id"] == ticket["queueId"]), None)
        return {
            **ticket,
            "contact": dict(ticket["contact"]),
            "user": {"id": user.id, "name": user.name} if user else None,
            "queue": queue,
            "whatsapp": {"name": "WhatsApp"},
        }

    def _user_json(self, user: User) -> dict[str, Any]:
        data = {"id": user.id, "name": user.name, "email": user.email, "profile": user.profile}
        data["queues"] = self.queues
        if self.variant != "community":
            data["companyId"] = 1
        return data

    def _jwt(self, claims: dict[str, Any], ttl: float) -> str:
        now = int(time.time())
        parts = [{"alg": "HS256", "typ": "JWT"}, {**claims, "iat": now, "exp": now + int(ttl)}]
        signing = ".".join(_b64(json.dumps(p, separators=(",", ":")).encode()) for p in parts)
        signature = hmac.new(self._secret, signing.encode(), hashlib.sha256).digest()
        return f"{signing}.{_b64(signature)}"

    def _verify(self, token: str) -> dict[str, Any] | None:
        try:
            signing, signature = token.rsplit(".", 1)
            expected = hmac.new(self._secret, signing.encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(_b64(expected), signature):
                return None
            claims = json.loads(base64.urlsafe_b64decode(signing.split(".")[1] + "=="))
        except (ValueError, IndexError):
            return None
        if not isinstance(claims, dict) or claims.get("exp", 0) <= time.time():
            return None
        return claims

    def _session(self, user: User) -> Reply:
        token = self._jwt(
            {"usarname": user.name, "profile": user.profile, "id": user.id}, self.access_ttl
        )
        refresh = self._jwt({"id": user.id, "tokenVersion": 0}, 7 * 86400)
        cookie = f"jrt={refresh}; Path=/; HttpOnly"
        return 200, {"token": token, "user": self._user_json(user)}, {"Set-Cookie": cookie}

    def handle_login(self, req: _Request) -> Reply:
        data = req.json if isinstance(req.json, dict) else {}
        if not data.get("email") or not data.get("password"):
            return 500, {"error": "Internal server error"}, {}
        user = next((u for u in self.users.values() if u.email == data["email"]), None)
        if user is None or not hmac.compare_digest(user.password, str(data["password"])):
            return 401, {"error": "ERR_INVALID_CREDENTIALS"}, {}
        return self._session(user)

    def handle_refresh(self, req: _Request) -> Reply:
        cookie = SimpleCookie(req.headers.get("Cookie", ""))
        claims = self._verify(cookie["jrt"].value) if "jrt" in cookie else None
        user = self.users.get(claims["id"]) if claims else None
        if user is None:
            return 401, {"error": "ERR_SESSION_EXPIRED"}, {}
        return self._session(user)

    def authorize(self, req: _Request) -> User | Reply:
        header = req.headers.get("Authorization")
        if not header:
            return 401, {"error": "ERR_SESSION_EXPIRED"}, {}
        parts = header.split(" ")
        claims = self._verify(parts[1]) if len(parts) == 2 and parts[0] == "Bearer" else None
        user = self.users.get(claims.get("id", -1)) if claims else None
        return user if user is not None else (403, {"error": INVALID_TOKEN}, {})

    def handle_list_tickets(self, req: _Request, user: User) -> Reply:
        q = {k: v[0] for k, v in parse_qs(req.query).items()}
        try:
            queue_ids = json.loads(q.get("queueIds", "[]"))
            page = int(q.get("pageNumber", "1"))
        except ValueError:
            return 500, {"error": "Internal server error"}, {}
        if not isinstance(queue_ids, list):
            return 500, {"error": "Internal server error"}, {}
        search = q.get("searchParam", "").casefold()
        with self._lock:
            rows = [
                t
                for t in self._tickets.values()
                # the filter trap (§8): without queueIds only queueId NULL tickets are listed
                if (t["queueId"] is None or t["queueId"] in queue_ids)
                and (
                    q.get("showAll") == "true" or t["status"] == "pending" or t["userId"] == user.id
                )
                and ("status" not in q or t["status"] == q["status"])
                and (
                    not search
                    or search in t["contact"]["name"].casefold()
                    or search in t["contact"]["number"]
                    or search in t["lastMessage"].casefold()
                )
            ]
            rows.sort(key=lambda t: (t["updatedAt"], t["id"]), reverse=True)
            chunk = [self._ticket_json(t) for t in rows[(page - 1) * _PAGE : page * _PAGE]]
        return 200, {"tickets": chunk, "count": len(rows), "hasMore": len(rows) > page * _PAGE}, {}

    def handle_show_ticket(self, ticket_id: int) -> Reply:
        with self._lock:
            ticket = self._tickets.get(ticket_id)
            if ticket is None:
                return 404, {"error": "ERR_NO_TICKET_FOUND"}, {}
            return 200, self._ticket_json(ticket), {}

    def set_ticket(self, ticket_id: int, **changes: Any) -> None:
        """What an agent does in Whaticket's screen: accept (status open + userId), close."""
        with self._lock:
            self._tickets[ticket_id].update(changes, updatedAt=_now())

    def handle_update_ticket(self, req: _Request, ticket_id: int) -> Reply:
        data = req.json if isinstance(req.json, dict) else {}
        with self._lock:
            ticket = self._tickets.get(ticket_id)
            if ticket is None:
                return 404, {"error": "ERR_NO_TICKET_FOUND"}, {}
            user_id, queue_id = data.get("userId"), data.get("queueId")
            if (user_id is not None and user_id not in self.users) or (
                queue_id is not None and all(q["id"] != queue_id for q in self.queues)
            ):
                return 500, {"error": "Internal server error"}, {}  # foreign key violation
            # saas-classic reads but never persists useIntegration/integrationId (§3)
            keys = ["status", "userId", "queueId", "whatsappId"]
            keys += [] if self.variant == "saas" else ["useIntegration", "integrationId"]
            ticket.update({k: data[k] for k in keys if k in data}, updatedAt=_now())
            return 200, self._ticket_json(ticket), {}

    # --- internal notes (saas-classic, ticketz, v6) ---------------------------------------------
    # routes/ticketNoteRoutes.ts, controllers/TicketNoteController.ts and
    # services/TicketNoteService/*.ts are the same in pgup-sistemas/Whaticket-Saas,
    # ticketz-oss/ticketz and launcherbr/whaticket-flow; canove/whaticket-community has none.

    def handle_add_note(self, req: _Request, user: User) -> Reply:
        """``store``: Yup ``note`` required, then CreateTicketNoteService (``min(3)``), then
        ``TicketNote.create`` — a Sequelize STRING column (varchar 255, migration
        20210109192523-create-ticket-notes) and foreign keys to Tickets and Contacts, whose
        violations are no AppError: 500. Nothing is sent to WhatsApp."""
        with self._lock:
            mode, wake = Mode(**asdict(self.mode)), self._wake
        self._sleep(mode.notes_delay, wake)
        if mode.notes_fail is not None:
            return _failure(mode.notes_fail)
        data = req.json if isinstance(req.json, dict) else {}
        note = data.get("note")
        if not isinstance(note, str) or not note:
            return 400, {"error": "note is a required field"}, {}
        if len(note) < 3:
            return 400, {"error": "ERR_TICKETNOTE_INVALID_NAME"}, {}
        with self._lock:
            ticket = self._tickets.get(data.get("ticketId"))  # type: ignore[arg-type]
            contact_ids = {t["contactId"] for t in self._tickets.values()}
            if len(note) > 255 or ticket is None or data.get("contactId") not in contact_ids:
                return 500, {"error": "Internal server error"}, {}
            row = {
                "id": len(self._notes) + 1,
                "note": note,
                "userId": user.id,
                "contactId": data["contactId"],
                "ticketId": ticket["id"],
                "createdAt": _now(),
                "updatedAt": _now(),
            }
            self._notes.append(row)
            return 200, dict(row), {}

    def handle_list_notes(self, req: _Request) -> Reply:
        """``findFilteredList``: ``where {contactId, ticketId}`` from the query strings, newest
        first, with user, contact and ticket; a missing one makes Sequelize throw, which the
        controller answers itself as ``500 {"message": e}``."""
        with self._lock:
            mode, wake = Mode(**asdict(self.mode)), self._wake
        self._sleep(mode.notes_delay, wake)
        if mode.notes_fail is not None:
            return _failure(mode.notes_fail)
        q = {k: v[0] for k, v in parse_qs(req.query).items()}
        if "contactId" not in q or "ticketId" not in q:
            return 500, {"message": {}}, {}
        with self._lock:
            rows = [
                n
                for n in self._notes
                if str(n["contactId"]) == q["contactId"] and str(n["ticketId"]) == q["ticketId"]
            ]
            listed = [
                {
                    **n,
                    "user": {"id": u.id, "name": u.name, "email": u.email}
                    if (u := self.users.get(n["userId"]))
                    else None,
                    "contact": {"id": n["contactId"], "name": ""},
                    "ticket": {
                        "id": n["ticketId"],
                        "status": self._tickets[n["ticketId"]]["status"],
                    },
                }
                for n in reversed(rows)
            ]
        return 200, listed, {}


# --- HTTP plumbing --------------------------------------------------------------------------------

_INVALID_JSON = object()


@dataclass
class _Request:
    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    raw: bytes
    json: Json

    def visible_headers(self) -> dict[str, str]:
        return {k: v for k, v in self.headers.items() if k.lower() not in _HIDDEN_HEADERS}


def _failure(status: int) -> Reply:
    if status == 500:
        return 500, {"error": "Internal server error"}, {}
    if status in (502, 503, 504):  # what nginx in front of a dead/slow backend answers
        return status, f"<html><body><h1>{status}</h1>nginx</body></html>", {}
    return status, {"error": f"HTTP {status}"}, {}


def _saas_view(name: str) -> dict[str, str]:
    now = time.localtime()
    greeting = ("Boa madrugada", "Bom dia", "Boa tarde", "Boa noite")[now.tm_hour // 6]
    return {
        "firstName": name.split(" ")[0],
        "name": name,
        "gretting": greeting,
        "ms": greeting,
        "protocol": time.strftime("%Y%m%d%H%M%S", now),
        "hora": time.strftime("%H:%M:%S", now),
    }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{time.time_ns() % 10**9:09d}Z"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Express"
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms stalls

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def standin(self) -> WhaticketStandIn:
        return self.server.standin  # type: ignore[attr-defined, no-any-return]

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            parsed: Json = json.loads(raw) if raw.strip() else None
        except ValueError:
            parsed = _INVALID_JSON
        req = _Request(
            self.command, parts.path, parts.query, dict(self.headers.items()), raw, parsed
        )
        try:
            status, body, headers = self._route(req)
        except _Aborted:
            self.close_connection = True
            return
        if not req.path.startswith("/_control/"):
            self._log(req, status)
        self._reply(status, body, headers)

    def _route(self, req: _Request) -> Reply:
        wt, key = self.standin, (req.method, req.path.rstrip("/") or "/")
        if req.path.startswith("/_control/"):
            return self._control(req)
        if key == ("POST", "/api/messages/send"):
            return wt.handle_send(req)
        if key == ("POST", "/auth/login"):
            return wt.handle_login(req)
        if key == ("POST", "/auth/refresh_token"):
            return wt.handle_refresh(req)
        if key in (("POST", "/ticket-notes"), ("GET", "/ticket-notes/list")):
            if wt.variant == "community":  # no such routes: Express's own 404
                return 404, f"Cannot {req.method} {req.path}", {"Content-Type": "text/html"}
            user = wt.authorize(req)
            if not isinstance(user, User):
                return user
            if req.method == "POST":
                return wt.handle_add_note(req, user)
            return wt.handle_list_notes(req)
        ticket = re.fullmatch(r"/tickets/(\d+)", key[1])
        if key in (("GET", "/tickets"), ("GET", "/queue")) or (
            req.method in ("GET", "PUT") and ticket
        ):
            user = wt.authorize(req)
            if not isinstance(user, User):
                return user
            if key == ("GET", "/queue"):
                return 200, wt.queues, {}
            if ticket and req.method == "GET":
                return wt.handle_show_ticket(int(ticket.group(1)))
            if ticket:
                return wt.handle_update_ticket(req, int(ticket.group(1)))
            return wt.handle_list_tickets(req, user)
        return 404, f"Cannot {req.method} {req.path}", {"Content-Type": "text/html; charset=utf-8"}

    def _control(self, req: _Request) -> Reply:
        wt, data, what = self.standin, req.json, req.path.removeprefix("/_control/").rstrip("/")
        if req.method == "GET" and what in ("sent", "dropped", "requests", "tickets", "notes"):
            return 200, getattr(wt, what)(), {}
        if req.method != "POST":
            return 404, {"error": "unknown control"}, {}
        try:
            if what == "mode":
                wt.set_mode(**data)
            elif what == "script":
                wt.script(*(data if isinstance(data, list) else data["responses"]))
            elif what == "reset":
                wt.reset()
            elif what == "tickets":
                names = {"queueId": "queue_id", "userId": "user_id"}
                return 200, wt.add_ticket(**{names.get(k, k): v for k, v in data.items()}), {}
            else:
                return 404, {"error": "unknown control"}, {}
        except (TypeError, KeyError, AttributeError) as exc:
            return 400, {"error": f"bad control request: {exc}"}, {}
        return 200, {"ok": True}, {}

    def _log(self, req: _Request, status: int) -> None:
        body: Json = (
            req.json if req.json is not _INVALID_JSON else req.raw.decode("utf-8", "replace")
        )
        entry = {
            "method": req.method,
            "path": req.path,
            "query": req.query,
            "headers": req.visible_headers(),
            # Whether a Cookie header came at all (its value is hidden like Authorization's).
            "sent_cookie": any(k.lower() == "cookie" for k in req.headers),
            "body": body,
            "status": status,
            "at": time.time(),
        }
        with self.standin._lock:
            self.standin._requests.append(entry)

    def _reply(self, status: int, body: Json, headers: Mapping[str, str]) -> None:
        if body is None:
            payload, ctype = b"", None
        elif isinstance(body, str):
            payload, ctype = body.encode(), "text/html; charset=utf-8"
        else:
            payload, ctype = json.dumps(body).encode(), "application/json; charset=utf-8"
        try:
            self.send_response(status)
            if ctype and "Content-Type" not in headers:
                self.send_header("Content-Type", ctype)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            self.close_connection = True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--variant", choices=VARIANTS, required=True)
    parser.add_argument("--token", action="append", required=True, help="valid API token")
    args = parser.parse_args(argv)
    standin = WhaticketStandIn(args.variant, args.token, port=args.port).start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    sys.stdout.write(json.dumps({"url": standin.url, "port": standin.port}) + "\n")
    sys.stdout.flush()
    while not done.wait(0.5):
        pass
    standin.stop()


if __name__ == "__main__":
    main()
