"""What a webhook body may hold before it meets another message: JSON Postgres can store, or a
refusal naming its reason."""

from __future__ import annotations

import json

import pytest

from services.core.channels.baileys import NormalizedMessage
from services.core.inbound.fits import check_fits
from services.core.inbound.refusals import RefusedBody, RefusedMessage
from services.core.inbound.wire import MAX_DEPTH, parse_body, parse_json


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"a": NaN}', "json_constant"),
        (b'{"a": [Infinity]}', "json_constant"),
        (b'{"a": -Infinity}', "json_constant"),
        (b'{"a": 1e400}', "json_constant"),
        (b'{"a": -1e309}', "json_constant"),
        (b'{"a": ' + b"9" * 65 + b"}", "number_too_long"),
        (b"[" * 50_000 + b"]" * 50_000, "too_deep"),
        (b'{"a": ' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1), "too_deep"),
        (b"\xff\xfe", "not_json"),
        (b'{"a": ', "not_json"),
        (b"[1]", "not_object"),
    ],
)
def test_bodies_postgres_cannot_hold_are_refused_with_their_reason(
    body: bytes, reason: str
) -> None:
    with pytest.raises(RefusedBody) as refused:
        parse_json(body)
    assert refused.value.reason == reason
    assert refused.value.message.startswith(f"{reason}:")


def test_nesting_up_to_the_bound_is_read() -> None:
    depth = MAX_DEPTH
    parsed = parse_json(b'{"a": ' * depth + b"1" + b"}" * depth)
    assert parsed["a"] is not None


def test_nul_is_dropped_and_lone_surrogates_become_the_replacement_character() -> None:
    parsed = parse_json(
        b'{"t": "oi\\u0000 \\ud800 \\udfff fim", "k\\ud83d": ["\\ud83d\\ude00"], "n": 2.5}'
    )
    assert parsed == {"t": "oi \ufffd \ufffd fim", "k\ufffd": ["\U0001f600"], "n": 2.5}
    "".join(parsed).encode()  # every string now encodes as UTF-8


def test_a_clean_body_is_stored_as_sent_and_a_cleaned_one_as_cleaned() -> None:
    body = '{"key": {"id": "A1"}, "message": {"conversation": "Olá, tudo bem? 😀"}, "n": 1.50}'
    payload, stored = parse_body(body.encode())
    assert stored == body
    assert payload == {"key": {"id": "A1"}, "message": {"conversation": "Olá, tudo bem? 😀"},
                       "n": 1.5}  # fmt: skip
    payload, stored = parse_body(b'{"t": "oi\\u0000 \\ud800", "e": "\\u00e9"}')
    assert payload == {"t": "oi \ufffd", "e": "\u00e9"}
    assert json.loads(stored) == payload
    assert "\\u" not in stored


@pytest.mark.parametrize(
    "body",
    [
        '\ufeff{"a": "b"}'.encode(),  # a byte-order mark
        '{"a": "b"}'.encode("utf-16"),
        b'{"a": "\xed\xa0\x80"}',  # a surrogate written as UTF-8
        b'{"a": [' + b",".join([b"[]"] * MAX_DEPTH) + b"]}",  # more brackets than levels
    ],
)
def test_a_body_that_is_not_plain_utf_8_json_is_stored_re_encoded(body: bytes) -> None:
    payload, stored = parse_body(body)
    assert stored == json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    stored.encode()


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("id", NormalizedMessage("I" * 129, "text", "oi", "5511", None, None, None)),
        ("phone", NormalizedMessage("A", "text", "oi", "9" * 33, None, None, None)),
        ("lid", NormalizedMessage("A", "text", "oi", None, "7" * 65, None, None)),
        ("name", NormalizedMessage("A", "text", "oi", "5511", None, "N" * 201, None)),
    ],
)
def test_a_field_longer_than_its_column_is_refused_by_name(
    field: str, message: NormalizedMessage
) -> None:
    with pytest.raises(RefusedMessage, match=f"too_long: the sender's {field} ") as refused:
        check_fits(message)
    assert refused.value.status_code == 422


def test_a_message_at_every_column_s_length_fits() -> None:
    check_fits(
        NormalizedMessage("I" * 128, "text", "x" * 9000, "9" * 32, "7" * 64, "N" * 200, None)
    )
