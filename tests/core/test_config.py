"""Settings fail fast where a wrong value would bite later."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from services.core.config import Settings


def test_plain_postgres_url_gets_the_async_driver() -> None:
    settings = Settings(database_url="postgresql://u@db:5432/atende")
    assert settings.database_url == "postgresql+asyncpg://u@db:5432/atende"


def test_development_accepts_the_built_in_key() -> None:
    assert Settings(environment="development").secret_key.get_secret_value()


@pytest.mark.parametrize("key", [None, "short-key"])
def test_production_refuses_the_development_or_a_short_key(key: str | None) -> None:
    extra = {"secret_key": SecretStr(key)} if key else {}
    with pytest.raises(ValidationError, match="ATENDE_SECRET_KEY"):
        Settings(environment="production", **extra)  # type: ignore[arg-type]


def test_production_accepts_a_real_key() -> None:
    key = SecretStr("k" * 40)
    assert Settings(environment="production", secret_key=key).secret_key == key
