"""The platform key as a keyring: credentials written under the current key, read under any;
a re-apply rewrites what an old or unknown key holds; panel tokens survive a rotation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from services.core.auth.roles import Principal, Role
from services.core.auth.tokens import TokenKeys, issue_access_token, read_access_token
from services.core.config import Settings
from services.core.db import SessionMaker, transaction
from services.core.models import Tenant
from services.core.tenants.credentials import (
    CredentialCipher,
    TenantCredentials,
    UndecryptableCredentials,
)
from services.core.tenants.directory import TenantDirectory
from services.core.tenants.manifest import load_manifests
from services.core.tenants.service import ApplyResult, apply_tenant

from .test_apply import GEMINI_KEY, TOKEN, manifest_text

OLD = "old-platform-key-0123456789abcdef-0001"
NEW = "new-platform-key-0123456789abcdef-0002"
CREDENTIALS = TenantCredentials(whaticket_tokens={"main": "wt-1"}, gemini_api_key="g-1")


def test_encrypted_under_the_current_key_and_read_under_any() -> None:
    old_token = CredentialCipher(OLD).encrypt(CREDENTIALS)
    rotated = CredentialCipher(NEW, [OLD])
    assert rotated.decrypt(old_token) == CREDENTIALS
    assert not rotated.is_current(old_token)
    fresh = rotated.encrypt(CREDENTIALS)
    assert rotated.is_current(fresh)
    # Once the old key is dropped, what it encrypted is unreadable; what the new one did is not.
    assert CredentialCipher(NEW).decrypt(fresh) == CREDENTIALS
    with pytest.raises(UndecryptableCredentials, match="ATENDE_PREVIOUS_SECRET_KEYS"):
        CredentialCipher(NEW).decrypt(old_token)


def test_rotate_moves_a_token_to_the_current_key() -> None:
    old_token = CredentialCipher(OLD).encrypt(CREDENTIALS)
    moved = CredentialCipher(NEW, [OLD]).rotate(old_token)
    assert CredentialCipher(NEW).decrypt(moved) == CREDENTIALS
    with pytest.raises(UndecryptableCredentials):
        CredentialCipher(NEW).rotate(old_token)


def test_the_cipher_reads_its_keys_from_the_settings() -> None:
    settings = Settings(secret_key=SecretStr(NEW), previous_secret_keys=[SecretStr(OLD)])
    old_token = CredentialCipher(OLD).encrypt(CREDENTIALS)
    assert CredentialCipher.from_settings(settings).decrypt(old_token) == CREDENTIALS


def test_panel_tokens_signed_before_a_rotation_still_verify() -> None:
    alice = Principal(user_id=7, email="a@x.test", role=Role.PLATFORM_ADMIN, tenant_id=None,
                      session_id="s-1")  # fmt: skip
    before = TokenKeys.from_settings(Settings(secret_key=SecretStr(OLD)))
    after = TokenKeys.from_settings(
        Settings(secret_key=SecretStr(NEW), previous_secret_keys=[SecretStr(OLD)])
    )
    token = issue_access_token(before, alice, datetime.now(UTC), 10)
    assert read_access_token(after, token) == alice


async def _apply(sessionmaker: SessionMaker, cipher: CredentialCipher) -> ApplyResult:
    (manifest,), secrets = load_manifests(manifest_text())
    async with transaction(sessionmaker) as session:
        return await apply_tenant(session, manifest, secrets, cipher)


async def _stored(sessionmaker: SessionMaker) -> bytes:
    async with sessionmaker() as session:
        token = await session.scalar(select(Tenant.credentials).where(Tenant.slug == "acme"))
    assert token is not None
    return token


async def test_after_a_rotation_stored_credentials_still_decrypt(clean_db: SessionMaker) -> None:
    await _apply(clean_db, CredentialCipher(OLD))
    config = await TenantDirectory(clean_db, CredentialCipher(NEW, [OLD]), ttl=0).by_slug("acme")
    assert config is not None
    assert config.credentials.whaticket_tokens == {"main": TOKEN}
    assert config.credentials.gemini_api_key == GEMINI_KEY


async def test_reapplying_under_a_new_key_rewrites_instead_of_unchanged(
    clean_db: SessionMaker,
) -> None:
    """The key was replaced without keeping the old one: the stored credentials are unreadable,
    and applying the same file again must store them anew, not report ``unchanged``."""
    assert (await _apply(clean_db, CredentialCipher(OLD))).outcome == "created"
    replaced = CredentialCipher(NEW)
    with pytest.raises(UndecryptableCredentials):
        await TenantDirectory(clean_db, replaced, ttl=0).by_slug("acme")

    again = await _apply(clean_db, replaced)
    assert (again.outcome, again.version) == ("updated", 2)
    assert replaced.is_current(await _stored(clean_db))
    config = await TenantDirectory(clean_db, replaced, ttl=0).by_slug("acme")
    assert config is not None
    assert config.credentials.whaticket_tokens == {"main": TOKEN}
    # Now current: the next identical apply is a no-op again.
    assert (await _apply(clean_db, replaced)).outcome == "unchanged"
