"""`atende dev`: the whole product on one machine, stopped cleanly by Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import click
import httpx

from services.core import db_roles, schema
from services.core.config import get_settings

from . import admin
from .embedded import EmbeddedPostgres, EmbeddedRedis

DEMO_FILE = Path(__file__).resolve().parents[2] / "k8s" / "examples" / "demo.yaml"
DEMO_SECRET = "demo-webhook-secret-for-local-use-only"  # noqa: S105 - the demo file's own
DEV_ADMIN = "admin@atende.local"
# api and worker run as this role; migrations as the superuser that owns the schema.
DEV_RUNTIME_ROLE = "atende_app"


def _curl(port: int) -> str:
    url = f"http://127.0.0.1:{port}/hooks/whaticket/demo/main/{DEMO_SECRET}"
    body = (
        '{"key":{"remoteJid":"5511999998888@s.whatsapp.net","fromMe":false,'
        '"id":"DEMO-\'$(date +%s%N)\'"},"pushName":"Maria","messageTimestamp":\'$(date +%s)\','
        '"message":{"conversation":"Oi! Quais as formas de pagamento?"}}'
    )
    return f"curl -s -X POST '{url}' -H 'content-type: application/json' -d '{body}'"


def _wait_ready(port: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return False


def run_dev(port: int) -> None:
    settings = get_settings()
    data_dir = settings.data_dir.resolve()
    env = dict(os.environ)
    env.setdefault("ATENDE_LOG_FORMAT", "console")
    # Plain http on this machine: Secure cookies would not come back in every browser.
    env.setdefault("ATENDE_PANEL_SECURE_COOKIES", "false")
    # Local stand-ins (a Whaticket, an SMTP catcher) listen on loopback.
    env.setdefault("ATENDE_EGRESS_ALLOWED_NETWORKS", '["127.0.0.0/8", "::1/128"]')
    env.setdefault("ATENDE_DATA_DIR", str(data_dir))
    postgres = EmbeddedPostgres(data_dir / "postgres")
    redis = EmbeddedRedis(data_dir / "redis")
    children: list[subprocess.Popen[bytes]] = []
    try:
        if "ATENDE_DATABASE_URL" not in os.environ:
            click.echo("starting embedded Postgres …")
            env["ATENDE_MIGRATION_DATABASE_URL"] = postgres.start()
            env["ATENDE_DATABASE_URL"] = postgres.login_role(DEV_RUNTIME_ROLE)
        if "ATENDE_REDIS_URL" not in os.environ:
            click.echo("starting Redis …")
            env["ATENDE_REDIS_URL"] = redis.start()
        os.environ.update(env)
        get_settings.cache_clear()
        settings = get_settings()
        owner, runtime = db_roles.migration_target(settings)
        schema.upgrade(owner, runtime_role=runtime)
        for result in asyncio.run(admin.apply_file(settings, DEMO_FILE.read_text())):
            click.echo(f"tenant {result.name}: {result.outcome}")
        password_file = data_dir / "panel-admin.txt"
        password = asyncio.run(admin.ensure_dev_admin(settings, DEV_ADMIN))
        if password is not None:  # only the developer may read it
            password_file.parent.mkdir(parents=True, exist_ok=True)
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
        if "ATENDE_WORKER_METRICS_PORT" not in os.environ:
            env["ATENDE_WORKER_METRICS_PORT"] = "0"  # no fixed port to collide with locally
        atende = [sys.executable, "-m", "services.cli"]
        serving = {k: v for k, v in env.items() if k != "ATENDE_MIGRATION_DATABASE_URL"}
        children.append(subprocess.Popen([*atende, "api", "--port", str(port)], env=serving))  # noqa: S603
        children.append(subprocess.Popen([*atende, "worker"], env=serving))  # noqa: S603
        if not _wait_ready(port):
            raise click.ClickException("the api did not become ready; see the log above")
        llm = (
            "Gemini" if settings.gemini_api_key else "offline responder (no ATENDE_GEMINI_API_KEY)"
        )
        click.echo(
            f"\nAtende is running — {llm}, sandbox channel (replies are logged as sandbox.reply)\n"
            f"  webhook: http://127.0.0.1:{port}/hooks/whaticket/demo/main/{DEMO_SECRET}\n"
            f"  metrics: http://127.0.0.1:{port}/metrics   ready: http://127.0.0.1:{port}/readyz\n"
            f"  panel:   http://127.0.0.1:{port}/panel  as {DEV_ADMIN}, password in {password_file}"
            f"{' (new)' if password else ''}\n"
            f"\nMake the bot answer:\n  {_curl(port)}\n\nCtrl-C stops everything.\n"
        )
        _wait_for_interrupt(children)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        for child in children:
            try:
                child.wait(25)
            except subprocess.TimeoutExpired:
                child.kill()
        redis.stop()
        postgres.stop()
        click.echo("stopped.")


def _wait_for_interrupt(children: list[subprocess.Popen[bytes]]) -> None:
    stop = False

    def _handle(signum: int, frame: FrameType | None) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _handle)
    try:
        while not stop:
            if any(child.poll() is not None for child in children):
                click.echo("a process exited; stopping", err=True)
                return
            time.sleep(0.5)
    except KeyboardInterrupt:
        return
