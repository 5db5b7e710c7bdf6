"""The image, checked without a Docker engine: the Dockerfile's rules, and its build replayed.

The build stage is replayed as Docker would run it: the context filtered by ``.dockerignore``,
the stage's ``COPY`` lines, ``pip wheel``; the runtime stage's install is a fresh venv with the
wheel alone. The installed ``atende`` then migrates a database and serves the panel, which
proves the wheel carries the migrations, the CRD, the templates and the static files the
processes read at run time.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
import uuid
from pathlib import Path

import httpx
import pytest

from services.cli.embedded import free_port
from tests.fixtures.servers import PostgresHandle, create_database, drop_database

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
SECRET = "image-test-secret-key-0123456789abcdef"


def stages() -> list[list[tuple[str, str]]]:
    """Each stage's instructions as (INSTRUCTION, arguments), continuation lines joined."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE)
    result: list[list[tuple[str, str]]] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, arguments = line.partition(" ")
        if instruction.upper() == "FROM":
            result.append([])
        result[-1].append((instruction.upper(), arguments.strip()))
    return result


def test_the_dockerfile_keeps_its_rules() -> None:
    build, runtime = stages()
    [base] = [args for op, args in runtime if op == "FROM"]
    # Pinned: a full patch version and a distribution, never a floating tag.
    assert re.fullmatch(r"python:3\.12\.\d+-slim-\w+", base), base
    assert build[0] == ("FROM", f"{base} AS build")
    runtime_text = " ".join(args for _, args in runtime)
    assert "build-essential" not in runtime_text
    assert "gcc" not in runtime_text
    assert "--mount=type=bind,from=build" in runtime_text  # wheels are mounted, not copied
    [user] = [args for op, args in runtime if op == "USER"]
    uid, _, gid = user.partition(":")
    assert int(uid) >= 10000
    assert int(gid) >= 10000
    assert all(op != "HEALTHCHECK" for stage in (build, runtime) for op, _ in stage)
    assert ("ENTRYPOINT", '["atende"]') in runtime


def dockerignored(relative: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern that matches a path (or one of its parents) decides."""
    parts = relative.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.removeprefix("!").rstrip("/")
        glob = pattern.replace("**/", "*")
        if any(fnmatch.fnmatch(path, glob) for path in candidates):
            ignored = not negate
    return ignored


def build_context(target: Path) -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for relative in tracked:
        if not dockerignored(relative, patterns) and (ROOT / relative).is_file():
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / relative, target / relative)


def replay_build_stage(context: Path, src: Path, wheels: Path) -> Path:
    build, _ = stages()
    for op, args in build:
        if op == "COPY":
            *sources, destination = args.split()
            for source in sources:
                origin = context / source
                into = src / destination.removeprefix("./") if destination != "./" else src
                if origin.is_dir():
                    shutil.copytree(origin, into, dirs_exist_ok=True)
                else:
                    into.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(origin, into / origin.name)
    assert any(op == "RUN" and args.startswith("pip wheel") for op, args in build)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels), "."],
        cwd=src,
        check=True,
        timeout=300,
    )
    [wheel] = wheels.glob("atende-*.whl")
    return wheel


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The runtime stage's venv: the wheel alone, its dependencies from the test environment."""
    tmp = tmp_path_factory.mktemp("image")
    context, src, wheels, venv = tmp / "context", tmp / "src", tmp / "wheels", tmp / "venv"
    context.mkdir()
    src.mkdir()
    build_context(context)
    wheel = replay_build_stage(context, src, wheels)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [venv / "bin" / "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True,
        timeout=300,
    )
    return venv


def run_env(venv: Path, tmp: Path, **settings: str) -> dict[str, str]:
    # Only the dependencies come from the test venv: PYTHONPATH does not read its .pth files,
    # so the editable checkout stays out and the wheel's copy of the project is what runs.
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ATENDE_", "PYTHON"))}
    return environ | {
        "PYTHONPATH": sysconfig.get_paths()["purelib"],
        "PATH": f"{venv / 'bin'}:{environ['PATH']}",
        "ATENDE_ENVIRONMENT": "production",
        "ATENDE_SECRET_KEY": SECRET,
        "ATENDE_DATA_DIR": str(tmp),
        **settings,
    }


def run(env: dict[str, str], cwd: Path, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_context_holds_only_what_the_image_builds_from(tmp_path: Path) -> None:
    build_context(tmp_path)
    top = {path.name for path in tmp_path.iterdir()}
    assert top == {"pyproject.toml", "README.md", "services", "operator", "migrations", "k8s"}
    assert not list(tmp_path.rglob("__pycache__"))
    assert (tmp_path / "k8s" / "crds").is_dir()
    assert not (tmp_path / "k8s" / "examples").exists()


async def test_the_installed_image_migrates_and_serves(
    image: Path, postgres: PostgresHandle, redis_url: str, tmp_path: Path
) -> None:
    name = f"atende_image_{uuid.uuid4().hex[:8]}"
    await create_database(postgres.admin_url, name)
    port = free_port()
    env = run_env(
        image,
        tmp_path,
        ATENDE_DATABASE_URL=postgres.url(name),
        ATENDE_REDIS_URL=redis_url,
        ATENDE_PANEL_SECURE_COOKIES="false",
    )
    try:
        where = await asyncio.to_thread(
            run, env, tmp_path, "python", "-c", "import services; print(services.__file__)"
        )
        assert where.stdout.startswith(str(image)), where.stdout  # the wheel, not the checkout

        migrated = await asyncio.to_thread(run, env, tmp_path, "atende", "migrate", "upgrade")
        assert migrated.returncode == 0, migrated.stderr
        assert re.fullmatch(r"database at \d{4} \(head\)\n", migrated.stdout), migrated.stdout

        api = await asyncio.create_subprocess_exec(
            "atende", "api", "--host", "127.0.0.1", "--port", str(port),
            env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        ready = await client.get("/readyz")
                        break
                    except httpx.TransportError:
                        assert api.returncode is None
                        assert time.monotonic() < deadline
                        await asyncio.sleep(0.2)
                assert ready.status_code == 200
                login = await client.get("/panel/login")
                assert login.status_code == 200
                assert "<form" in login.text
                stylesheet = re.search(r'href="(/panel/static/[^"]+\.css)"', login.text)
                assert stylesheet is not None
                assert (await client.get(stylesheet.group(1))).status_code == 200
        finally:
            api.terminate()
            await asyncio.wait_for(api.wait(), 15)
    finally:
        await drop_database(postgres.admin_url, name)
