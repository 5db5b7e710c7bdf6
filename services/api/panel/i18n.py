"""The panel's languages: pt-BR first, English too, through gettext catalogs.

Source strings are English and live in the templates (``{{ _("…") }}``) and the page modules
(``gettext("…")``); each area of the panel keeps its pt-BR translations in its own catalog,
``locales/pt_BR/LC_MESSAGES/<area>.po``, and all of them are merged at start-up. The request's
language is a context variable, so a page renders in its reader's language while the next
request on the same event loop renders in another."""

from __future__ import annotations

import gettext as _gettext
from contextvars import ContextVar
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.core import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).parent / "locales"
DEFAULT_LOCALE = "pt_BR"
LOCALES = ("pt_BR", "en")  # what a user can choose; English is the source language
_current: ContextVar[str] = ContextVar("panel_locale", default=DEFAULT_LOCALE)


@cache
def translations(locale: str) -> _gettext.NullTranslations:
    """Every catalog of ``locale`` merged into one (English has none: its strings are the ids)."""
    merged: _gettext.NullTranslations = _gettext.NullTranslations()
    folder = LOCALES_DIR / locale / "LC_MESSAGES"
    for po in sorted(folder.glob("*.po")) if folder.is_dir() else []:
        with po.open("rb") as source:
            catalog = read_po(source, locale=locale)
        compiled = BytesIO()
        write_mo(compiled, catalog)
        compiled.seek(0)
        part = _gettext.GNUTranslations(compiled)
        part.add_fallback(merged)
        merged = part
    return merged


def current_locale() -> str:
    return _current.get()


def set_locale(locale: str) -> None:
    """Use ``locale`` for the rest of this request (an unknown one means the default)."""
    _current.set(locale if locale in LOCALES else DEFAULT_LOCALE)


def babel_locale() -> Locale:
    return Locale.parse(current_locale())


def html_lang() -> str:
    """The ``lang`` attribute (BCP 47: ``pt-BR``, ``en``)."""
    return current_locale().replace("_", "-")


def gettext(message: str) -> str:
    return translations(current_locale()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current_locale()).ngettext(singular, plural, n)
