"""Argon2 runs on its own bounded thread pool, never on the event loop."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from services.core.auth import passwords


async def test_hashing_and_checking_run_on_the_hashing_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop_thread = threading.get_ident()
    seen: list[str] = []
    real = passwords._hasher

    class Spy:
        def hash(self, password: str, **kwargs: Any) -> str:
            seen.append(threading.current_thread().name)
            assert threading.get_ident() != loop_thread
            return real.hash(password, **kwargs)

        def verify(self, hashed: str, password: str) -> bool:
            seen.append(threading.current_thread().name)
            assert threading.get_ident() != loop_thread
            return real.verify(hashed, password)

    monkeypatch.setattr(passwords, "_hasher", Spy())
    hashed = await passwords.hash_password("correct horse battery")
    results = await asyncio.gather(
        *(passwords.verify_password(hashed, p) for p in ["correct horse battery", "wrong"] * 4)
    )
    assert results == [True, False] * 4
    assert len(seen) == 9
    assert all(name.startswith("argon2") for name in seen)
    assert len(set(seen)) <= passwords.HASH_THREADS  # bounded, however many ask at once
