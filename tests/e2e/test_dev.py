"""`atende dev` as a developer runs it: its own embedded Postgres and Redis, the demo tenant, the
printed `curl` making the bot answer from the demo knowledge, and Ctrl-C stopping everything."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import psutil

from tests.e2e.conftest import ATENDE
from tests.fixtures.servers import free_port

DEADLINE_SECONDS = 90.0


def _wait_for(log: Path, pattern: str, proc: subprocess.Popen[bytes]) -> re.Match[str]:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        found = re.search(pattern, log.read_text(errors="replace"))
        if found:
            return found
        assert proc.poll() is None, f"atende dev exited early:\n{log.read_text()}"
        time.sleep(0.2)
    raise AssertionError(f"{pattern!r} not seen in time:\n{log.read_text()}")


def test_atende_dev_answers_the_printed_curl_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("ATENDE_") and key not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    }
    env |= {"ATENDE_DATA_DIR": str(tmp_path / "data"), "NO_PROXY": "127.0.0.1,localhost"}
    log = tmp_path / "dev.log"
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*ATENDE, "dev", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        curl = _wait_for(log, r"Make the bot answer:\n  (curl .+)\n", proc).group(1)
        children = psutil.Process(proc.pid).children(recursive=True)
        assert any("redis-server" in " ".join(c.cmdline()) for c in children)

        answer = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, check=True)
        assert answer.stdout == '{"status":"accepted"}'
        reply = _wait_for(log, r"sandbox\.reply\s+.*text=.*", proc).group(0)
        assert "Pix" in reply  # the demo tenant's payment answer, from its knowledge
        assert "demo-webhook-secret" not in reply
        # api and worker run as a role that cannot alter the audit log; migrations as the owner.
        _wait_for(log, r"(database\.role_checked[^\n]*role=atende_app[\s\S]*){2}", proc)
        assert "database.audit_log_alterable" not in log.read_text()

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        assert "stopped." in log.read_text()
        assert not [c for c in children if c.is_running() and c.status() != "zombie"]
        data_dir = str(tmp_path / "data")
        leftovers = [
            p
            for p in psutil.process_iter(["cmdline"])
            if data_dir in " ".join(p.info["cmdline"] or [])
        ]
        assert not leftovers  # the embedded Postgres stopped too
    finally:
        if proc.poll() is None:  # a failed assertion: stop it as Ctrl-C would, then make sure
            survivors = psutil.Process(proc.pid).children(recursive=True)
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for child in survivors:
                if child.is_running():
                    child.kill()
