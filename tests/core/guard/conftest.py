"""The turn-pipeline harness (tests/core/turns/conftest.py), reused for the guard's tests."""

from __future__ import annotations

from tests.core.turns.conftest import (  # noqa: F401 - fixtures
    gemini,
    gemini_server,
    make_harness,
    whaticket,
    whaticket_variant,
)
