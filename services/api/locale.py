"""The panel request's language, outside the panel's page modules so that
:mod:`services.api.security` can apply a signed-in user's choice (routes import security and
must never import the panel).

Who decides, first to last: the user's profile (``users.locale``), this browser's choice on the
sign-in page (the ``atende_lang`` cookie), the browser's ``Accept-Language``, then pt-BR."""

from __future__ import annotations

from contextvars import ContextVar

from babel.core import negotiate_locale

from services.api.state import AppState
from services.core.auth.profile import PANEL_LOCALES, locale_of
from services.core.auth.roles import Principal

DEFAULT_LOCALE = PANEL_LOCALES[0]
LANG_COOKIE = "atende_lang"
_ALIASES = {"pt": "pt_BR", "en": "en"}
_current: ContextVar[str] = ContextVar("panel_locale", default=DEFAULT_LOCALE)


def current_locale() -> str:
    return _current.get()


def set_locale(locale: str | None) -> None:
    """Use ``locale`` for the rest of this request (an unknown one means the default)."""
    _current.set(locale if locale in PANEL_LOCALES else DEFAULT_LOCALE)


def from_accept_language(header: str | None) -> str | None:
    """The best of our languages for an ``Accept-Language`` header (q-values honoured, ``pt``
    and ``pt-PT`` read as pt-BR, any ``en-*`` as English), or None when none fits."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and quality > 0:
            ranked.append((-quality, index, tag.strip().replace("-", "_")))
    preferred = [tag for _, _, tag in sorted(ranked)]
    found = negotiate_locale(preferred, list(PANEL_LOCALES), sep="_", aliases=_ALIASES)
    if found is None:
        for tag in preferred:  # a region we do not list (pt_PT, en_GB): its language
            found = _ALIASES.get(tag.split("_")[0].lower())
            if found:
                break
    return next((ours for ours in PANEL_LOCALES if found and ours.lower() == found.lower()), None)


def negotiate(*, chosen: str | None, cookie: str | None, accept_language: str | None) -> str:
    for candidate in (chosen, cookie):
        if candidate in PANEL_LOCALES:
            return candidate
    return from_accept_language(accept_language) or DEFAULT_LOCALE


async def apply_profile_locale(state: AppState, principal: Principal) -> None:
    """A signed-in user's own choice beats the browser's (read on every page: a change made on
    another device shows on the next request)."""
    async with state.sessionmaker() as session:
        chosen = await locale_of(session, principal.user_id)
    if chosen is not None:
        set_locale(chosen)
