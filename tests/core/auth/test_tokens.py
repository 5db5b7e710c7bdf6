"""Access tokens: what is accepted and every way a forged or stale one is refused."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from services.core.auth.roles import Action, Principal, Role
from services.core.auth.tokens import (
    AUDIENCE,
    ISSUER,
    InvalidToken,
    TokenKeys,
    issue_access_token,
    read_access_token,
)


def now() -> datetime:
    """Read per test: a time taken at import would age while the suite runs."""
    return datetime.now(UTC)


ALICE = Principal(1, "alice@acme.test", Role.AGENT, 7, "s" * 32)
CURRENT, OLD = "current-secret-key-0123456789abcdef", "old-secret-key-0123456789abcdefgh"


def _b64(data: Mapping[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_a_token_round_trips() -> None:
    keys = TokenKeys(CURRENT)
    assert read_access_token(keys, issue_access_token(keys, ALICE, now(), 10)) == ALICE


def test_an_expired_token_is_refused() -> None:
    keys = TokenKeys(CURRENT)
    token = issue_access_token(keys, ALICE, now() - timedelta(minutes=30), 10)
    with pytest.raises(InvalidToken) as caught:
        read_access_token(keys, token)
    assert caught.value.reason == "expired"


def test_a_tampered_token_is_refused() -> None:
    keys = TokenKeys(CURRENT)
    header, _, signature = issue_access_token(keys, ALICE, now(), 10).split(".")
    forged_claims = {
        "iss": ISSUER, "aud": AUDIENCE, "sub": "1", "role": "platform_admin", "tid": None,
        "sid": "s" * 32, "iat": int(now().timestamp()), "exp": int(now().timestamp()) + 600,
    }  # fmt: skip
    with pytest.raises(InvalidToken) as caught:
        read_access_token(keys, f"{header}.{_b64(forged_claims)}.{signature}")
    assert caught.value.reason == "bad_signature"


def test_alg_none_is_refused() -> None:
    keys = TokenKeys(CURRENT)
    _, claims, _ = issue_access_token(keys, ALICE, now(), 10).split(".")
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{claims}."
    with pytest.raises(InvalidToken) as caught:
        read_access_token(keys, unsigned)
    assert caught.value.reason == "bad_algorithm"


def test_a_rotated_out_key_is_refused_and_a_previous_one_accepted() -> None:
    old_token = issue_access_token(TokenKeys(OLD), ALICE, now(), 10)
    assert read_access_token(TokenKeys(CURRENT, [OLD]), old_token) == ALICE
    with pytest.raises(InvalidToken) as caught:
        read_access_token(TokenKeys(CURRENT), old_token)
    assert caught.value.reason == "unknown_key"


def test_a_token_for_another_audience_is_refused() -> None:
    keys = TokenKeys(CURRENT)
    start = int(now().timestamp())
    claims = {"iss": ISSUER, "aud": "elsewhere", "sub": "1", "role": "agent", "sid": "x"}
    token = keys.sign(claims | {"iat": start, "exp": start + 60})
    with pytest.raises(InvalidToken) as caught:
        read_access_token(keys, token)
    assert caught.value.reason == "bad_claims"


def test_garbage_is_malformed() -> None:
    with pytest.raises(InvalidToken) as caught:
        read_access_token(TokenKeys(CURRENT), "not.a.jwt")
    assert caught.value.reason == "malformed"
    assert jwt.__version__  # the library the pinned algorithm relies on


def test_roles_are_scoped_to_their_tenant() -> None:
    viewer = Principal(2, "v@x", Role.VIEWER, 7, "s")
    admin = Principal(3, "a@x", Role.TENANT_ADMIN, 7, "s")
    platform = Principal(4, "p@x", Role.PLATFORM_ADMIN, None, "s")
    assert viewer.can(Action.VIEW, 7)
    assert not viewer.can(Action.REPLAY, 7)
    assert ALICE.can(Action.REPLAY, 7)
    assert not ALICE.can(Action.REPLAY, 8)
    assert not ALICE.can(Action.SWITCH, 7)
    assert admin.can(Action.SWITCH, 7)
    assert not admin.can(Action.SWITCH, None)  # platform-wide: platform admins only
    assert platform.can(Action.MANAGE_PLATFORM)
    assert platform.tenant_scope() is None
    assert admin.tenant_scope() == 7
