"""The webhook body parser and the Cloud API reader on anything: what they let through is JSON
Postgres stores as is, and anything else is a refusal with a reason, never another exception."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from services.core.channels import meta_webhook
from services.core.errors import SchemaViolation
from services.core.inbound.refusals import RefusedBody
from services.core.inbound.wire import MAX_DEPTH, parse_body, parse_json

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=30,
)
# JSON text with the constants, escapes and digits json.dumps never writes.
fragments = st.sampled_from(
    ["NaN", "-Infinity", "1e400", '"\\ud800"', '"\\u0000"', "9" * 70, "[" * 70 + "]" * 70]
)


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def depth(value: Any) -> int:
    children = value.values() if isinstance(value, dict) else value
    if isinstance(value, dict | list):
        return 1 + max((depth(v) for v in children), default=0)
    return 0


def check(body: bytes) -> None:
    try:
        parsed, stored = parse_body(body)
    except RefusedBody as exc:
        reason, message = exc.reason, exc.message
        assert message.startswith(f"{reason}:")
        return
    for text in strings(parsed):
        assert "\x00" not in text
        text.encode()  # no lone surrogate left
    assert depth(parsed) <= MAX_DEPTH
    assert json.loads(json.dumps(parsed, allow_nan=False)) == parsed  # no NaN or infinity
    assert json.loads(stored) == parsed  # the text stored in jsonb is the object parsed
    assert stored.encode().count(b"\\u0000") == 0
    assert parse_json(body) == parsed


@given(st.binary(max_size=300))
def test_any_bytes_are_parsed_or_refused(body: bytes) -> None:
    check(body)


@given(json_values)
def test_any_json_python_writes_is_parsed_or_refused(value: Any) -> None:
    check(json.dumps({"v": value}, allow_nan=True).encode())


@given(st.lists(st.one_of(fragments, json_values.map(json.dumps)), min_size=1, max_size=6))
def test_json_text_with_what_python_never_writes_is_parsed_or_refused(parts: list[str]) -> None:
    check(("{" + ", ".join(f'"k{i}": {p}' for i, p in enumerate(parts)) + "}").encode())


@given(json_values)
def test_any_signed_json_is_a_batch_or_a_schema_violation(value: Any) -> None:
    for payload in (value, {"object": "whatsapp_business_account", "entry": value},
                    {"object": "whatsapp_business_account", "entry": [{"changes": [
                        {"field": "messages", "value": value}]}]}):  # fmt: skip
        try:
            meta_webhook.parse(payload)
        except SchemaViolation:
            continue
