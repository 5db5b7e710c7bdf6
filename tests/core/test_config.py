"""Settings fail fast where a wrong value would bite later."""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr

from services.core.config import DEV_SECRET_KEY, InsecureSecretKey, Settings


def test_plain_postgres_url_gets_the_async_driver() -> None:
    settings = Settings(database_url="postgresql://u@db:5432/atende")
    assert settings.database_url == "postgresql+asyncpg://u@db:5432/atende"


def test_development_accepts_the_built_in_key() -> None:
    assert Settings(environment="development").secret_keys() == [DEV_SECRET_KEY]


@pytest.mark.parametrize("key", [None, "short-key"])
def test_production_refuses_the_development_or_a_short_key_where_it_is_used(
    key: str | None,
) -> None:
    extra = {"secret_key": SecretStr(key)} if key else {}
    settings = Settings(environment="production", **extra)  # type: ignore[arg-type]
    # Reading the settings is fine (`atende migrate` needs only the database URL)...
    assert settings.database_url
    # ...using the key is not.
    with pytest.raises(InsecureSecretKey, match="ATENDE_SECRET_KEY"):
        settings.secret_keys()


def test_production_accepts_a_real_key() -> None:
    key = SecretStr("k" * 40)
    assert Settings(environment="production", secret_key=key).secret_keys() == ["k" * 40]


def test_previous_keys_follow_the_current_one_without_repeats(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ATENDE_SECRET_KEY", "new-" + "n" * 40)
    monkeypatch.setenv(
        "ATENDE_PREVIOUS_SECRET_KEYS", json.dumps(["old-1", "new-" + "n" * 40, "old-1"])
    )
    assert Settings().secret_keys() == ["new-" + "n" * 40, "old-1"]


def test_the_panel_only_name_of_previous_keys_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    """ATENDE_PANEL_PREVIOUS_SECRET_KEYS is the deprecated alias; the new name wins over it."""
    monkeypatch.setenv("ATENDE_PANEL_PREVIOUS_SECRET_KEYS", json.dumps(["legacy"]))
    assert Settings().secret_keys()[1:] == ["legacy"]
    monkeypatch.setenv("ATENDE_PREVIOUS_SECRET_KEYS", json.dumps(["current-name"]))
    assert Settings().secret_keys()[1:] == ["current-name"]
