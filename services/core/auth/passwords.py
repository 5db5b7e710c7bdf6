"""Passwords, stored only as Argon2id hashes (argon2-cffi's defaults, RFC 9106 low-memory).

A hash takes tens of milliseconds of CPU and 64 MiB of memory. It runs on a small thread pool
of its own, never on the event loop (argon2-cffi releases the GIL): a burst of sign-ins waits
for a hashing thread while webhooks and pages keep being served, and at most
:data:`HASH_THREADS` hashes hold their memory at once.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 12
MAX_LENGTH = 200
HASH_THREADS = max(1, min(4, (os.cpu_count() or 2) // 2))
_hasher = PasswordHasher()
_pool = ThreadPoolExecutor(max_workers=HASH_THREADS, thread_name_prefix="argon2")
# Checked when the e-mail is unknown, so a wrong e-mail costs the same time as a wrong password.
DUMMY_HASH = _hasher.hash("atende-dummy-password-for-timing")


def check_password_policy(password: str) -> list[str]:
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        problems.append(f"a password has at most {MAX_LENGTH} characters")
    if password.strip() != password:
        problems.append("a password cannot start or end with spaces")
    return problems


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def hash_password(password: str) -> str:
    """The Argon2id hash, computed on the hashing pool."""
    return await asyncio.get_running_loop().run_in_executor(_pool, _hasher.hash, password)


async def verify_password(hashed: str, password: str) -> bool:
    """Whether ``password`` matches, checked on the hashing pool."""
    return await asyncio.get_running_loop().run_in_executor(_pool, _verify, hashed, password)


def needs_rehash(hashed: str) -> bool:
    return _hasher.check_needs_rehash(hashed)
