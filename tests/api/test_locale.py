"""Which language a panel request gets from its browser's Accept-Language, and who wins."""

from __future__ import annotations

import pytest

from services.api.locale import from_accept_language, negotiate


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("pt-BR,pt;q=0.9,en-US;q=0.8,en;q=0.7", "pt_BR"),  # Chrome in Brazil
        ("en-US,en;q=0.9", "en"),
        ("en;q=0.2, pt;q=0.8", "pt_BR"),  # the quality decides, not the order
        ("pt-PT", "pt_BR"),  # a Portuguese we do not have: the one we do
        ("en-GB", "en"),
        ("EN-us", "en"),
        ("de-DE,fr;q=0.9", None),  # nothing we speak
        ("de-DE,en;q=0.1", "en"),
        ("en;q=0, pt-BR", "pt_BR"),  # q=0 means "not this"
        ("en;q=bogus, pt", "pt_BR"),  # a malformed part is skipped
        ("*", None),
        ("", None),
        (None, None),
    ],
)
def test_accept_language(header: str | None, expected: str | None) -> None:
    assert from_accept_language(header) == expected


def test_the_profile_beats_the_cookie_which_beats_the_browser() -> None:
    assert negotiate(chosen="en", cookie="pt_BR", accept_language="pt-BR") == "en"
    assert negotiate(chosen=None, cookie="en", accept_language="pt-BR") == "en"
    assert negotiate(chosen=None, cookie="xx", accept_language="en") == "en"
    assert negotiate(chosen=None, cookie=None, accept_language="de") == "pt_BR"
