"""The ``atende`` command as platform engineers use kubectl and helm: ``--version``, ``-o json``,
``tenants apply --dry-run``, and one ``error:`` line (exit 1) for what they can fix."""

from __future__ import annotations

import json
import socket
from importlib.metadata import version
from pathlib import Path

from sqlalchemy import func, select

from services.core.db import SessionMaker
from services.core.models import AuditEvent, Tenant
from tests.core.dlq.test_audited import store_dead_letter
from tests.fixtures.servers import free_port

from .conftest import SECRET_KEY, TENANT_FILE, Cli, Ran


def _rewrite(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text().replace(old, new))


def _one_error(ran: Ran, *starts: str) -> str:
    """The command failed with exactly one ``error:`` line on stderr and nothing else."""
    assert ran.code == 1, ran
    assert "Traceback" not in ran.err, ran.err
    assert len(ran.err_lines) == 1, ran.err
    (line,) = ran.err_lines
    assert line.startswith(starts), line
    return line


async def _counts(sessionmaker: SessionMaker) -> tuple[int, int, int]:
    async with sessionmaker() as session:
        tenants = await session.scalar(select(func.count()).select_from(Tenant))
        audit = await session.scalar(select(func.count()).select_from(AuditEvent))
        versions = await session.scalar(select(func.coalesce(func.sum(Tenant.version), 0)))
    return int(tenants or 0), int(audit or 0), int(versions or 0)


def test_version_is_the_package_version(atende: Cli) -> None:
    ran = atende("--version")
    assert ran.code == 0, ran
    assert ran.out == f"atende {version('atende')}\n"


async def test_dry_run_of_a_new_tenant_writes_nothing(
    atende: Cli, clean_db: SessionMaker, acme_file: Path
) -> None:
    ran = atende("tenants", "apply", "-f", str(acme_file), "--dry-run")
    assert ran.code == 0, ran
    assert ran.out == "bottenant/acme created (dry run)\n"
    assert await _counts(clean_db) == (0, 0, 0)
    # The real apply agrees with the dry run.
    applied = atende("tenants", "apply", "-f", str(acme_file))
    assert applied.out == "bottenant/acme created (version 1)\n"


async def test_dry_run_prints_the_spec_diff_and_leaves_the_stored_tenant(
    atende: Cli, clean_db: SessionMaker, applied: Path
) -> None:
    before = await _counts(clean_db)

    same = atende("tenants", "apply", "-f", str(applied), "--dry-run")
    assert same.out == "bottenant/acme unchanged (dry run)\n"

    _rewrite(applied, "displayName: ACME Telecom", "displayName: ACME S.A.")
    ran = atende("tenants", "apply", "-f", str(applied), "--dry-run")
    assert ran.code == 0, ran
    lines = ran.out.splitlines()
    assert lines[:3] == [
        "bottenant/acme updated (dry run)",
        "--- bottenant/acme (stored)",
        "+++ bottenant/acme (file)",
    ]
    changed = [line for line in lines[3:] if line.startswith(("-", "+"))]
    assert changed == ["-displayName: ACME Telecom", "+displayName: ACME S.A."]
    assert "whsec-cli" not in ran.out  # the spec names secrets, never their values
    assert await _counts(clean_db) == before
    async with clean_db() as session:
        tenant = await session.scalar(select(Tenant))
    assert tenant is not None
    assert (tenant.display_name, tenant.version) == ("ACME Telecom", 1)


async def test_dry_run_of_a_new_secret_value_says_the_spec_is_the_same(
    atende: Cli, clean_db: SessionMaker, applied: Path
) -> None:
    _rewrite(applied, "wtok-cli-8c2b6e0f4a7d", "wtok-cli-rotated-1234")
    ran = atende("tenants", "apply", "-f", str(applied), "--dry-run")
    assert (
        ran.out == "bottenant/acme updated (dry run): the spec is the same; secret values differ\n"
    )
    assert await _counts(clean_db) == (1, 0, 1)


async def test_dry_run_after_a_key_rotation_says_the_credentials_are_rewritten(
    atende: Cli, clean_db: SessionMaker, applied: Path
) -> None:
    """The new key is current, the old one previous: the apply would re-encrypt."""
    new_key = "cli-test-rotated-platform-key-9876543210"
    ran = atende(
        "tenants", "apply", "-f", str(applied), "--dry-run",
        ATENDE_SECRET_KEY=new_key, ATENDE_PREVIOUS_SECRET_KEYS=json.dumps([SECRET_KEY]),
    )  # fmt: skip
    note = "the spec is the same; the credentials are re-encrypted under the current key"
    assert ran.out == f"bottenant/acme updated (dry run): {note}\n", ran
    assert await _counts(clean_db) == (1, 0, 1)


async def test_dry_run_validates_like_apply(
    atende: Cli, clean_db: SessionMaker, tmp_path: Path
) -> None:
    """Every problem once, one line each, and nothing written."""
    path = tmp_path / "bad.yaml"
    path.write_text(
        TENANT_FILE.replace("variant", "x")
        .replace("url: https://whaticket.acme.example", "url: https://w.example\n    variant: evo")
        .replace("key: webhook-secret}", "key: missing}")
    )
    ran = atende("tenants", "apply", "-f", str(path), "--dry-run")
    assert ran.code == 1, ran
    assert "Traceback" not in ran.err
    assert ran.out == ""
    assert len(ran.err_lines) == len(set(ran.err_lines)) >= 1
    assert all(line.startswith("error: BotTenant 'acme': spec.") for line in ran.err_lines)
    assert "whaticket.variant" in ran.err
    assert await _counts(clean_db) == (0, 0, 0)


async def test_lists_print_json_with_the_table_columns(
    atende: Cli, clean_db: SessionMaker, applied: Path
) -> None:
    created = atende(
        "users", "create", "--email", "ana@acme.example", "--role", "agent", "--tenant", "acme",
        "--password-stdin", stdin="senha-muito-boa-123\n",
    )  # fmt: skip
    assert created.code == 0, created

    tenants = json.loads(atende("tenants", "list", "-o", "json").out)
    assert tenants == [
        {
            "name": "acme",
            "enabled": True,
            "paused": False,
            "version": 1,
            "display_name": "ACME Telecom",
            "source": "file",
            "model_override": None,
        }
    ]
    table = atende("tenants", "list").out.splitlines()
    assert table[0].split() == ["NAME", "ENABLED", "PAUSED", "VERSION", "DISPLAY", "NAME"]
    assert table[1].split() == ["acme", "True", "False", "1", "ACME", "Telecom"]

    users = json.loads(atende("users", "list", "--output", "json").out)
    assert [(u["email"], u["role"], u["tenant"], u["active"]) for u in users] == [
        ("ana@acme.example", "agent", "acme", True)
    ]
    for command in (
        ["dlq", "list", "--all"],
        ["handoffs", "list", "--all"],
        ["events", "list", "acme"],
    ):
        ran = atende(*command, "-o", "json")
        assert (ran.code, json.loads(ran.out)) == (0, []), (command, ran)


async def test_dead_letter_json_carries_iso_timestamps(
    atende: Cli, clean_db: SessionMaker, applied: Path
) -> None:
    await store_dead_letter(clean_db)
    (letter,) = json.loads(atende("dlq", "list", "-o", "json").out)
    assert letter["tenant"] == "acme"
    assert letter["error_class"] == "gemini_unavailable"
    assert letter["status"] == "open"
    assert letter["created_at"].endswith("+00:00")  # ISO 8601 with its offset
    table = atende("dlq", "list").out.splitlines()
    assert table[1].split()[:6] == ["1", "acme", "llm", "gemini_unavailable", "4", "open"]


def test_down_postgres_is_one_line(atende: Cli) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://atende@127.0.0.1:{port}/atende"
    for command in (["tenants", "list"], ["dlq", "list", "-o", "json"]):
        ran = atende(*command, ATENDE_DATABASE_URL=url)
        line = _one_error(ran, f"error: cannot reach Postgres at 127.0.0.1:{port}/atende: ")
        assert line.endswith(": Connection refused"), line
        assert ran.out == ""


def test_down_postgres_during_apply_is_one_line(atende: Cli, acme_file: Path) -> None:
    url = f"postgresql://atende@127.0.0.1:{free_port()}/atende"
    for flags in ([], ["--dry-run"]):
        ran = atende("tenants", "apply", "-f", str(acme_file), *flags, ATENDE_DATABASE_URL=url)
        _one_error(ran, "error: cannot reach Postgres at 127.0.0.1:")


def test_missing_database_is_one_line(atende: Cli, database_url: str) -> None:
    url = database_url.replace("/atende_test", "/atende_missing")
    ran = atende("tenants", "list", ATENDE_DATABASE_URL=url)
    _one_error(ran, "error: Postgres at ")
    assert 'database "atende_missing" does not exist' in ran.err


def test_unreachable_redis_stops_the_worker_with_one_line(atende: Cli) -> None:
    port = free_port()
    ran = atende(
        "worker", ATENDE_REDIS_URL=f"redis://127.0.0.1:{port}/0", ATENDE_WORKER_METRICS_PORT="0"
    )
    _one_error(ran, f"error: cannot reach Redis at 127.0.0.1:{port}: ")


async def test_unreachable_redis_after_an_apply_is_a_warning(
    atende: Cli, clean_db: SessionMaker, acme_file: Path
) -> None:
    """The change is stored; running processes see it when their cache expires, so the apply
    succeeds and says so on stderr, keeping stdout for its result."""
    redis_url = f"redis://127.0.0.1:{free_port()}/0"
    ran = atende("tenants", "apply", "-f", str(acme_file), ATENDE_REDIS_URL=redis_url)
    assert ran.code == 0, ran
    assert ran.out == "bottenant/acme created (version 1)\n"
    assert "tenants.notify_failed" in ran.err
    assert "Traceback" not in ran.err


def test_bad_yaml_and_missing_file_are_one_line(atende: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: BotTenant\nmetadata: {name: acme\n")
    _one_error(atende("tenants", "apply", "-f", str(bad)), "error: not valid YAML at line ")
    _one_error(atende("tenants", "apply", "-f", str(bad), "--dry-run"), "error: not valid YAML")
    missing = tmp_path / "nope.yaml"
    ran = atende("tenants", "apply", "-f", str(missing))
    assert _one_error(ran, "error: ") == f"error: cannot read {missing}: No such file or directory"


def test_a_bad_setting_is_one_line_naming_it(atende: Cli) -> None:
    ran = atende("tenants", "list", ATENDE_WORKER_MAX_JOBS="many")
    _one_error(ran, "error: ATENDE_WORKER_MAX_JOBS: ")


async def test_an_unknown_tenant_is_one_line(atende: Cli, clean_db: SessionMaker) -> None:
    ran = atende("tenants", "pause", "nobody", "--reason", "teste")
    assert _one_error(ran, "error: ") == "error: no tenant named 'nobody'"
    assert await _counts(clean_db) == (0, 0, 0)


def test_a_wrong_option_is_one_line_naming_the_help(atende: Cli) -> None:
    ran = atende("tenants", "list", "-o", "yaml")
    line = _one_error(ran, "error: Invalid value for '-o' / '--output': 'yaml' is not one of ")
    assert line.endswith("; see 'atende tenants list --help'")
    ran = atende("tenants", "model", "acme")
    assert _one_error(ran, "error: ") == (
        "error: give either MODEL or --clear; see 'atende tenants model --help'"
    )


async def test_tenants_show_prints_the_stored_spec(
    atende: Cli, clean_db: SessionMaker, applied: Path
) -> None:
    shown = json.loads(atende("tenants", "show", "acme", "-o", "json").out)
    assert {k: v for k, v in shown.items() if k != "spec"} == {
        "name": "acme",
        "display_name": "ACME Telecom",
        "enabled": True,
        "paused": False,
        "pause_reason": None,
        "model_override": None,
        "version": 1,
        "source": "file",
    }
    assert shown["spec"]["displayName"] == "ACME Telecom"
    assert shown["spec"]["webhook"]["secretRefs"] == [{"name": "acme", "key": "webhook-secret"}]
    readable = atende("tenants", "show", "acme").out
    assert readable.startswith("name: acme\ndisplay_name: ACME Telecom\n")
    assert "whsec-cli" not in readable + json.dumps(shown)  # secrets only by reference
    missing = atende("tenants", "show", "nobody")
    assert _one_error(missing, "error: ") == "error: no tenant 'nobody'"


def test_a_taken_metrics_port_stops_the_worker_with_one_line(atende: Cli) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))  # where the worker binds
        taken.listen()
        port = taken.getsockname()[1]
        ran = atende("worker", ATENDE_WORKER_METRICS_PORT=str(port))
    line = _one_error(ran, "error: [Errno 98] cannot serve /metrics and /healthz on port ")
    assert line.endswith(f"{port} (ATENDE_WORKER_METRICS_PORT): Address already in use")
