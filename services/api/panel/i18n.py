"""The panel's languages: pt-BR first, English too, through gettext catalogs.

Source strings are English and live in the templates (``{{ _("…") }}``) and the page modules
(``gettext("…")``); each area of the panel keeps its pt-BR translations in its own catalog,
``locales/pt_BR/LC_MESSAGES/<area>.po``, and all of them are merged at start-up. The request's
language is a context variable, so a page renders in its reader's language while the next
request on the same event loop renders in another."""

from __future__ import annotations

import gettext as _gettext
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.core import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from services.api.locale import DEFAULT_LOCALE, current_locale, set_locale
from services.core.auth.profile import PANEL_LOCALES as LOCALES

__all__ = [
    "DEFAULT_LOCALE",
    "LOCALES",
    "babel_locale",
    "current_locale",
    "gettext",
    "html_lang",
    "ngettext",
    "set_locale",
    "translations",
]
LOCALES_DIR = Path(__file__).parent / "locales"


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


@cache
def _parsed(locale: str) -> Locale:
    return Locale.parse(locale)


def babel_locale() -> Locale:
    return _parsed(current_locale())


def html_lang() -> str:
    """The ``lang`` attribute (BCP 47: ``pt-BR``, ``en``)."""
    return current_locale().replace("_", "-")


def gettext(message: str) -> str:
    return translations(current_locale()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current_locale()).ngettext(singular, plural, n)
