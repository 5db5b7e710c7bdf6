"""Core's errors say what went wrong in English (for logs, the CLI and ``/api/v1``); the panel
reads them to its user in their language: the messages a page shows are matched here, and any
other gets a sentence chosen by its error code, with the English detail kept beside it."""

from __future__ import annotations

import re
from collections.abc import Callable

from services.core.errors import AtendeError

from .i18n import gettext as _

_EXACT: dict[str, Callable[[], str]] = {
    "your role does not allow this": lambda: _("Your role does not allow this."),
    "the form expired or did not come from this panel; reload and retry": lambda: _(
        "The form expired or did not come from this panel; reload the page and try again."
    ),
    "a reason is required to discard a dead letter": lambda: _(
        "Say why you discard this dead letter."
    ),
    "conversation not found": lambda: _("Conversation not found."),
    "unknown tenant": lambda: _("Unknown tenant."),
}
_PATTERNS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (
        re.compile(r"dead letter (\d+) not found"),
        lambda m: _("Dead letter %(id)s not found.") % {"id": m[1]},
    ),
    (
        re.compile(r"dead letter (\d+) is (\w+), not open"),
        lambda m: _("Dead letter %(id)s is no longer open.") % {"id": m[1]},
    ),
    (
        re.compile(r"dead letter (\d+) has no message to replay"),
        lambda m: _("Dead letter %(id)s has no message to replay.") % {"id": m[1]},
    ),
    (re.compile(r"no tenant '([^']*)'"), lambda m: _("No tenant “%(slug)s”.") % {"slug": m[1]}),
]


def known_message(message: str) -> str | None:
    """The reader's words for one of core's messages, if it is one the panel knows."""
    exact = _EXACT.get(message)
    if exact is not None:
        return exact()
    for pattern, say in _PATTERNS:
        found = pattern.fullmatch(message)
        if found:
            return say(found)
    return None


def headline(code: str) -> str:
    """One sentence for a kind of error."""
    if code == "not_found":
        return _("Not found: it does not exist, or it is not yours to see.")
    if code in ("forbidden", "unauthorized"):
        return _("You may not do this.")
    if code == "conflict":
        return _("This changed in the meantime; reload the page and try again.")
    if code in ("invalid_input", "schema_violation", "invalid_manifest"):
        return _("Something in the form is not right.")
    if code == "rate_limited":
        return _("Too many requests; wait a little and try again.")
    if code in ("unavailable", "dependency_error", "transient_dependency_error"):
        return _("A service Atende depends on is not answering; try again soon.")
    return _("Something went wrong on our side.")


def explain(exc: AtendeError) -> tuple[str, str | None]:
    """(what the page says, the English detail when there is no translation of it)."""
    known = known_message(exc.message)
    if known is not None:
        return known, None
    return headline(exc.code), exc.message
