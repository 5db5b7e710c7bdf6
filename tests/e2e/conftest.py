"""End-to-end harness: the real ``atende`` processes against the test Postgres and Redis.

Each test gets a tenant applied with ``atende tenants apply -f`` (a subprocess), an ``atende api``
and an ``atende worker`` started as subprocesses whose stderr (JSON logs) is kept in a file per
process, and in-thread stand-ins for Gemini and Whaticket that the subprocesses reach over
loopback. Every process started here is stopped at teardown by its PID: SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from services.core import guard
from services.core.db import SessionMaker
from services.core.models import Base
from tests.fixtures.servers import free_port
from tests.standins.gemini import GeminiStandin, RecordedRequest
from tests.standins.whaticket import WhaticketStandIn

TENANT = "acme"
CONNECTION = "main"
# Distinctive values, so a leak into any log line is unambiguous.
WEBHOOK_SECRET = "whsec-e2e-5f1d0c7a9b3e4f21"
WHATICKET_TOKEN = "wtok-e2e-8c2b6e0f4a7d1359"
GEMINI_KEY = "test-key-e2e-3a9f7c1b5d"
SECRET_KEY = "e2e-platform-secret-key-0123456789abcdef"
FALLBACK = "Desculpe, estamos com instabilidade. Um atendente vai falar com você em breve."
CUSTOMER = "5511999990001"
ATENDE: list[str] = (
    [str(Path(sys.executable).with_name("atende"))]
    if Path(sys.executable).with_name("atende").exists()
    else [sys.executable, "-m", "services.cli"]
)
STOP_TIMEOUT = 8.0


def answer_for(text: str) -> str:
    return f"Resposta automática: {text}"


def _customer_text(request: RecordedRequest) -> str:
    """The customer's words inside the ``<<cliente id=…>>`` delimiters of the last user turn."""
    text = guard.unwrap(request.last_user_text)
    return " | ".join(line.strip() for line in text.splitlines() if line.strip())


def gemini_responder(request: RecordedRequest) -> str:
    return answer_for(_customer_text(request))


HANDOFF_SPEC = """\
    agent:
      email: bot@example.com
      passwordSecretRef: {name: %s, key: agent-password}
    handoffQueueId: 1
"""


def tenant_yaml(
    whaticket_url: str, *, variant: str = "saas", debounce: float = 0, handoff: bool = False
) -> str:
    """``handoff`` adds the stand-in's agent user and the keyword "atendente"."""
    agent = HANDOFF_SPEC % TENANT if handoff else ""
    keywords = '  handoff: {keywords: ["atendente"]}\n' if handoff else ""
    return f"""\
apiVersion: v1
kind: Secret
metadata: {{name: {TENANT}, labels: {{atende.dev/tenant: {TENANT}}}}}
stringData:
  whaticket-token: "{WHATICKET_TOKEN}"
  webhook-secret: "{WEBHOOK_SECRET}"
  agent-password: bot-password
---
apiVersion: atende.dev/v1alpha1
kind: BotTenant
metadata: {{name: {TENANT}}}
spec:
  displayName: ACME Telecom
  whaticket:
    url: {whaticket_url}
    variant: {variant}
    connections:
      - name: {CONNECTION}
        apiTokenSecretRef: {{name: {TENANT}, key: whaticket-token}}
{agent}  webhook:
    secretRefs: [{{name: {TENANT}, key: webhook-secret}}]
  persona:
    language: pt-BR
    systemPrompt: Você é a assistente virtual da ACME Telecom.
    fallbackMessage: "{FALLBACK}"
  knowledge:
    entries:
      - {{question: "Formas de pagamento?", answer: "Pix, cartão e boleto."}}
  conversation: {{debounceSeconds: {debounce}, contextTtlMinutes: 60}}
{keywords}"""


def baileys_text(msg_id: str, text: str, phone: str = CUSTOMER) -> dict[str, Any]:
    return {
        "key": {"remoteJid": f"{phone}@s.whatsapp.net", "fromMe": False, "id": msg_id},
        "pushName": "Maria",
        "messageTimestamp": int(time.time()),
        "message": {"conversation": text},
    }


async def eventually[T](
    check: Callable[[], Awaitable[T | None]], *, within: float, what: str, interval: float = 0.1
) -> T:
    """Poll ``check`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + within
    last = await check()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {within:.0f}s waiting for {what}; last: {last!r}"
            )
        await asyncio.sleep(interval)
        last = await check()
    assert last is not None
    return last


async def run_atende(
    env: dict[str, str], *args: str, within: float = 60.0, stdin: str | None = None
) -> tuple[int, str, str]:
    """Run ``atende <args>`` with exactly ``env`` to completion: (exit code, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        *ATENDE,
        *args,
        env=env,
        stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        data = None if stdin is None else stdin.encode()
        out, err = await asyncio.wait_for(process.communicate(data), within)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


class Proc:
    """One ``atende`` subprocess with its stderr in a file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.stderr_path = log_dir / f"{name}.stderr.log"
        self.stdout_path = log_dir / f"{name}.stdout.log"
        with self.stderr_path.open("wb") as err, self.stdout_path.open("wb") as out:
            self.popen = subprocess.Popen(
                [*ATENDE, *args],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # a Ctrl-C in the terminal reaches pytest only
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def text(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def logs(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far (anything else on stderr is skipped)."""
        entries: list[dict[str, Any]] = []
        for line in self.text().splitlines():
            if line.startswith("{"):
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line still being written
                if isinstance(entry, dict):
                    entries.append(entry)
        return entries

    def events(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.logs() if e.get("event") == event]

    def kill(self) -> None:
        """SIGKILL, as an OOM kill or a node loss would do."""
        if self.popen.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
        self.popen.wait(STOP_TIMEOUT)

    def terminate(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit code."""
        if self.popen.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                return self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
        return self.popen.wait(STOP_TIMEOUT)

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.text().splitlines()[-lines:])


class Stack:
    """The running product for one test, plus handles on everything it talks to."""

    def __init__(
        self,
        *,
        tmp: Path,
        database_url: str,
        redis_url: str,
        sessionmaker: SessionMaker,
        redis: aioredis.Redis,
        gemini: GeminiStandin,
        whaticket: WhaticketStandIn,
    ) -> None:
        self.tmp = tmp
        self.sessionmaker = sessionmaker
        self.redis = redis
        self.gemini = gemini
        self.whaticket = whaticket
        self.processes: list[Proc] = []
        self.api: Proc | None = None
        self.worker: Proc | None = None
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.http = httpx.AsyncClient(base_url=self.api_url, timeout=10.0)
        self.worker_metrics_ports: dict[int, int] = {}
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATENDE_")}
        env.update(
            {
                "ATENDE_ENVIRONMENT": "test",
                "ATENDE_DATABASE_URL": database_url,
                "ATENDE_REDIS_URL": redis_url,
                "ATENDE_GEMINI_API_KEY": GEMINI_KEY,
                "ATENDE_GEMINI_BASE_URL": gemini.base_url,
                "ATENDE_GEMINI_TIMEOUT_SECONDS": "10",
                "ATENDE_WHATICKET_TIMEOUT_SECONDS": "10",
                "ATENDE_SECRET_KEY": SECRET_KEY,
                "ATENDE_DATA_DIR": str(tmp / "data"),
                "ATENDE_LOG_FORMAT": "json",
                "ATENDE_LOG_LEVEL": "INFO",
                "ATENDE_TENANT_CACHE_SECONDS": "0.2",
                "ATENDE_SWEEP_INTERVAL_SECONDS": "1",
                "ATENDE_STUCK_AFTER_SECONDS": "3",
                "ATENDE_LEASE_SECONDS": "4",
                "ATENDE_BREAKER_OPEN_SECONDS": "1",
                "ATENDE_BREAKER_FAILURE_THRESHOLD": "3",
                "ATENDE_TURN_GIVE_UP_AFTER_SECONDS": "8",
                "ATENDE_SEND_MAX_ATTEMPTS": "3",
                "ATENDE_WORKER_METRICS_PORT": "0",
                # The stand-ins listen on 127.0.0.1; 127.0.0.2 stays an "internal" address.
                "ATENDE_EGRESS_ALLOWED_NETWORKS": '["127.0.0.1/32"]',
                "PYTHONUNBUFFERED": "1",
            }
        )
        self.env = env

    # -- processes -------------------------------------------------------------------------

    def spawn(self, name: str, args: list[str], **overrides: str) -> Proc:
        index = sum(1 for p in self.processes if p.name.startswith(name))
        proc = Proc(f"{name}{index or ''}", args, self.env | overrides, self.tmp)
        self.processes.append(proc)
        return proc

    def start_api(self, **overrides: str) -> Proc:
        self.api = self.spawn("api", ["api", "--port", str(self.api_port)], **overrides)
        return self.api

    def start_worker(self, **overrides: str) -> Proc:
        port = free_port()
        self.worker = self.spawn(
            "worker", ["worker"], ATENDE_WORKER_METRICS_PORT=str(port), **overrides
        )
        self.worker_metrics_ports[self.worker.pid] = port
        return self.worker

    async def wait_api_ready(self, within: float = 30.0) -> None:
        api = self.api
        assert api is not None

        async def ready() -> bool:
            assert api.returncode is None, f"api exited early:\n{api.tail()}"
            try:
                return (await self.http.get("/readyz")).status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(ready, within=within, what="the api's /readyz", interval=0.1)

    async def wait_worker_ready(self, worker: Proc | None = None, within: float = 30.0) -> None:
        proc = worker or self.worker
        assert proc is not None

        async def started() -> bool:
            assert proc.returncode is None, f"{proc.name} exited early:\n{proc.tail()}"
            return bool(proc.events("worker.started"))

        await eventually(started, within=within, what=f"{proc.name} to start", interval=0.1)

    async def run_cli(
        self, *args: str, within: float = 60.0, stdin: str | None = None
    ) -> tuple[int, str, str]:
        """Run ``atende <args>`` to completion; returns (exit code, stdout, stderr)."""
        return await run_atende(self.env, *args, within=within, stdin=stdin)

    async def apply_tenant(self, *, whaticket_url: str | None = None, **options: Any) -> None:
        path = self.tmp / "tenant.yaml"
        path.write_text(tenant_yaml(whaticket_url or self.whaticket.url, **options))
        code, out, err = await self.run_cli("tenants", "apply", "-f", str(path))
        assert code == 0, f"tenants apply failed ({code}):\n{out}\n{err}"
        assert f"bottenant/{TENANT}" in out, out

    def stop_all(self) -> None:
        for proc in reversed(self.processes):
            proc.terminate()

    # -- traffic ---------------------------------------------------------------------------

    def hook_path(self, *, tenant: str = TENANT, secret: str = WEBHOOK_SECRET) -> str:
        return f"/hooks/whaticket/{tenant}/{CONNECTION}/{secret}"

    async def post(self, payload: dict[str, Any]) -> httpx.Response:
        return await self.http.post(self.hook_path(), json=payload)

    # -- observations ----------------------------------------------------------------------

    async def rows[M: Base](self, model: type[M], *where: Any) -> list[M]:
        async with self.sessionmaker() as session:
            stmt = select(model).where(*where).order_by(model.id)  # type: ignore[attr-defined]
            return list(await session.scalars(stmt))

    async def count(self, model: type[Base]) -> int:
        async with self.sessionmaker() as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)

    def sent_to(self, number: str) -> list[dict[str, Any]]:
        return [s for s in self.whaticket.sent() if s["number"] == number]

    async def wait_sent(
        self, count: int, *, number: str | None = None, within: float = 20.0
    ) -> list[dict[str, Any]]:
        async def enough() -> list[dict[str, Any]]:
            sent = self.sent_to(number) if number else self.whaticket.sent()
            return sent if len(sent) >= count else []

        return await eventually(
            enough, within=within, what=f"{count} deliveries to {number or 'anyone'}"
        )

    async def worker_metric(self, worker: Proc, name: str, **labels: str) -> float:
        """The sum of a worker's metric samples matching ``labels``."""
        port = self.worker_metrics_ports[worker.pid]
        async with httpx.AsyncClient(timeout=5.0) as client:
            body = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        total = 0.0
        for family in text_string_to_metric_families(body):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    total += sample.value
        return total

    def all_log_text(self) -> str:
        return "\n".join(p.text() for p in self.processes)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call":
        item.stash[_FAILED] = report.failed


_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def gemini() -> Iterator[GeminiStandin]:
    with GeminiStandin(api_key=GEMINI_KEY, responder=gemini_responder) as standin:
        yield standin


@pytest.fixture
def whaticket_variant() -> str:
    return "saas"


@pytest.fixture
def whaticket(whaticket_variant: str) -> Iterator[WhaticketStandIn]:
    with WhaticketStandIn(whaticket_variant, [WHATICKET_TOKEN]) as standin:
        yield standin


@pytest.fixture
def stack_env() -> dict[str, str]:
    """Extra ``ATENDE_*`` settings for the stack's processes; a test module may override it."""
    return {}


@pytest_asyncio.fixture(loop_scope="session")
async def stack(
    request: pytest.FixtureRequest,
    stack_env: dict[str, str],
    tmp_path: Path,
    database_url: str,
    redis_url: str,
    clean_db: SessionMaker,
    redis_client: aioredis.Redis,
    gemini: GeminiStandin,
    whaticket: WhaticketStandIn,
    whaticket_variant: str,
) -> AsyncIterator[Stack]:
    """Tenant applied, api and worker running (started in parallel with the apply)."""
    stack = Stack(
        tmp=tmp_path,
        database_url=database_url,
        redis_url=redis_url,
        sessionmaker=clean_db,
        redis=redis_client,
        gemini=gemini,
        whaticket=whaticket,
    )
    stack.env.update(stack_env)
    async with running(stack, request, variant=whaticket_variant):
        yield stack


@contextlib.asynccontextmanager
async def running(
    stack: Stack, request: pytest.FixtureRequest, *, variant: str = "saas"
) -> AsyncIterator[Stack]:
    """api and worker started, the tenant applied (in parallel), both ready; afterwards every
    process stopped, and their stderr printed when the test failed. For a test that builds its
    own :class:`Stack` (another database, other roles)."""
    try:
        stack.start_api()
        stack.start_worker()
        await stack.apply_tenant(variant=variant)
        await stack.wait_api_ready()
        await stack.wait_worker_ready()
        yield stack
    finally:
        await stack.http.aclose()
        stack.stop_all()
        if request.node.stash.get(_FAILED, True):
            for proc in stack.processes:
                print(f"\n----- {proc.name} (pid {proc.pid}) stderr: {proc.stderr_path}")
                print(proc.tail())


@pytest_asyncio.fixture(loop_scope="session")
async def invariants(request: pytest.FixtureRequest, stack: Stack) -> AsyncIterator[None]:
    """For tests marked ``chaos``: after the scenario (while its processes still run), the
    invariants must hold."""
    yield
    if request.node.get_closest_marker("chaos") is None or request.node.stash.get(_FAILED, True):
        return
    from .invariants import check_invariants

    await check_invariants(stack)
