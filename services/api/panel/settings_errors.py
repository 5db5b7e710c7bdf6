"""Why a settings value was refused, in the reader's language, from the core's problem."""

from __future__ import annotations

from services.core.tenants.settings import Problem

from .formatting import number
from .i18n import gettext as _

_DATES = ("date_from_datetime_parsing", "date_parsing", "date_type", "date_from_datetime_inexact")


def explain(problem: Problem) -> str:
    kind = problem.kind
    if kind in ("string_too_short", "missing"):
        return _("Cannot be empty.")
    if kind in ("string_too_long", "too_many_chars") and problem.limit is not None:
        return _("Too long: at most %(limit)s characters.") % {"limit": number(problem.limit)}
    if kind == "too_long" and problem.limit is not None:  # a list: the FAQ's entries
        return _("Too many entries: at most %(limit)s.") % {"limit": number(problem.limit)}
    if kind == "placeholder":
        return _(
            "Unknown placeholder or lone brace: use {empresa}, {quando}, {horario} or "
            "{palavra}, and {{ or }} for a literal brace."
        )
    if kind == "wait_only":
        return _("{minutos} can only be used in the waiting message.")
    if kind == "needs_keyword":
        return _(
            "{palavra} names the handoff keyword, but this bot has none "
            "(the platform manages the keywords)."
        )
    if kind == "needs_hours":
        return _("{horario} needs weekly business hours.")
    if kind == "hours_range":
        return _("Use HH:MM-HH:MM ranges separated by commas, e.g. 08:00-12:00, 13:00-18:00.")
    if kind == "timezone":
        return _("Unknown time zone: use a name such as America/Sao_Paulo.")
    if kind in _DATES:
        return _("Not a date: use dd/mm/yyyy, one per line.")
    return _("Not accepted: %(detail)s") % {"detail": problem.message}
