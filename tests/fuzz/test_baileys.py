"""The Baileys normalizer on anything a webhook may carry: it never fails but with a schema
error, ignores what is not a customer's, and reads what is, whatever the shape."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from services.core.channels.baileys import Ignored, NormalizedMessage, normalize, parse_timestamp
from services.core.errors import SchemaViolation

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
phones = st.from_regex(r"55[1-9][0-9]{9,10}", fullmatch=True)
texts = st.text(min_size=1, max_size=9000).filter(lambda t: t.strip())


def message(
    msg_id: str, jid: str, body: dict[str, Any], *, from_me: bool = False, ts: Any = None
) -> dict[str, Any]:
    return {
        "key": {"id": msg_id, "remoteJid": jid, "fromMe": from_me},
        "message": body,
        "messageTimestamp": ts if ts is not None else 1_760_000_000,
        "pushName": "Maria",
    }


@given(json_values)
def test_any_json_is_normalized_or_refused_as_a_schema_violation(payload: Any) -> None:
    try:
        result = normalize(payload)
    except SchemaViolation:
        return
    assert isinstance(result, NormalizedMessage | Ignored)


@given(
    st.dictionaries(
        st.sampled_from(["key", "message", "messageTimestamp", "pushName", "broadcast"]),
        json_values,
    )
)
def test_baileys_shaped_junk_never_breaks_the_normalizer(payload: dict[str, Any]) -> None:
    with contextlib.suppress(SchemaViolation):
        normalize(payload)


@given(phones, texts, st.sampled_from(["conversation", "extended", "caption"]))
def test_what_a_customer_wrote_is_read_stripped_and_capped(
    phone: str, text: str, shape: str
) -> None:
    bodies: dict[str, dict[str, Any]] = {
        "conversation": {"conversation": text},
        "extended": {"extendedTextMessage": {"text": text}},
        "caption": {"imageMessage": {"caption": text}},
    }
    body = bodies[shape]
    result = normalize(message("ID1", f"{phone}@s.whatsapp.net", body))
    assert isinstance(result, NormalizedMessage)
    assert result.phone == phone
    assert result.text == text.strip()[:8000]
    assert result.kind == ("image" if shape == "caption" else "text")


@given(phones, texts)
def test_the_business_own_group_and_broadcast_messages_are_not_turns(phone: str, text: str) -> None:
    body = {"conversation": text}
    assert normalize(message("A", f"{phone}@s.whatsapp.net", body, from_me=True)) == Ignored(
        "from_me"
    )
    assert normalize(message("B", f"{phone}-1600000000@g.us", body)) == Ignored("group")
    assert normalize(message("C", "status@broadcast", body)) == Ignored("broadcast")


@given(st.integers(min_value=1, max_value=2**33 - 1))
def test_every_timestamp_shape_means_the_same_instant(seconds: int) -> None:
    expected = datetime.fromtimestamp(seconds, tz=UTC)
    long = {"low": seconds & 0xFFFFFFFF, "high": seconds >> 32, "unsigned": True}
    assert parse_timestamp(seconds) == expected
    assert parse_timestamp(str(seconds)) == expected
    assert parse_timestamp(long) == expected
