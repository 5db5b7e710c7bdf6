"""What the customer is told in the bot's own words: the tenant's ``spec.messages``, rendered.

A field the tenant wrote wins, then a deprecated ``persona`` text (literal), then the default
in the persona's language (:mod:`services.core.tenants.messages`), which promises only what
is configured. Placeholders get the same values everywhere: ``{empresa}`` the display name,
``{quando}`` when people are at work ("em breve" in hours, "amanhã às 8h" out of them, "assim
que possível" with no opening ahead), ``{horario}`` the weekly hours ("seg a sex 08:00-18:00"),
``{palavra}`` the first handoff keyword, ``{minutos}`` the wait (messages.wait only).
"""

from __future__ import annotations

import re
from datetime import datetime

from services.core import hours
from services.core.tenants import messages
from services.core.tenants.messages import Kind, language_key
from services.core.tenants.spec import BotTenantSpec, BusinessHoursSpec, Weekday

from .triggers import fold

_SOON = {"pt": "em breve", "en": "soon", "es": "pronto"}
_ASAP = {"pt": "assim que possível", "en": "as soon as possible", "es": "lo antes posible"}
_DAYS = {
    "pt": ("seg", "ter", "qua", "qui", "sex", "sáb", "dom"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "es": ("lun", "mar", "mié", "jue", "vie", "sáb", "dom"),
}
_TO = {"pt": " a ", "en": "-", "es": " a "}
_AND = {"pt": " e ", "en": " and ", "es": " y "}
_MARK = "zqxplaceholderzqx"


def keyword(spec: BotTenantSpec) -> str | None:
    """The handoff keyword a message may name: the first, while handoffs are on."""
    if not spec.features.handoff:
        return None
    return next((k.strip() for k in spec.handoff.keywords if k.strip()), None)


def weekly_phrase(business_hours: BusinessHoursSpec, language: str) -> str:
    """The week's hours, alike days in a row grouped: "seg a sex 08:00-18:00; sáb 08:00-12:00"."""
    lang = language_key(language)
    days, groups = list(Weekday), []
    start = 0
    while start < len(days):
        ranges = business_hours.weekly.get(days[start], [])
        end = start
        while end + 1 < len(days) and business_hours.weekly.get(days[end + 1], []) == ranges:
            end += 1
        if ranges:
            names = _DAYS[lang][start] + (_TO[lang] + _DAYS[lang][end] if end > start else "")
            groups.append(f"{names} {_AND[lang].join(ranges)}")
        start = end + 1
    return "; ".join(groups)


def _facts(spec: BotTenantSpec, now: datetime, person_follows: bool | None) -> messages.Facts:
    features = spec.features
    return messages.Facts(
        keyword=keyword(spec) is not None,
        person_follows=spec.tickets_movable if person_follows is None else person_follows,
        handoff=features.handoff,
        opening_ahead=hours.next_opening(spec.business_hours, now) is not None,
        media_read=features.audio or features.images,
    )


def _template(
    spec: BotTenantSpec, kind: Kind, now: datetime, person_follows: bool | None = None
) -> str:
    custom = spec.messages.custom(kind)
    if custom is not None:
        return custom
    persona = spec.persona
    old = {Kind.FALLBACK: persona.fallback_message, Kind.WAIT: persona.wait_message}.get(kind)
    if old is not None and old != messages.OLD_WAIT_DEFAULT:  # literal text, braces and all
        return old.replace("{", "{{").replace("}", "}}")
    return messages.default(kind, persona.language, _facts(spec, now, person_follows))


def _values(spec: BotTenantSpec, now: datetime, minutes: int | None) -> dict[str, str]:
    language = spec.persona.language
    lang = language_key(language)
    when = hours.next_opening_phrase(spec.business_hours, language, now)
    if when is None:
        when = _SOON[lang] if hours.is_open(spec.business_hours, now) else _ASAP[lang]
    return {
        "company": spec.display_name,
        "when": when,
        "hours": weekly_phrase(spec.business_hours, language),
        "keyword": keyword(spec) or "",
        "minutes": str(max(1, minutes or 1)),
    }


def say(
    spec: BotTenantSpec,
    kind: Kind,
    now: datetime,
    *,
    minutes: int | None = None,
    person_follows: bool | None = None,
) -> str:
    """The text of ``kind`` for this tenant at ``now``. ``person_follows``: whether a person
    takes the conversation with it (left out: whenever tickets can be moved)."""
    template = _template(spec, kind, now, person_follows)
    return messages.render(template, _values(spec, now, minutes))


def handoff_message(spec: BotTenantSpec, now: datetime) -> str:
    """The reply that goes out with a handoff: in hours "soon", out of them when."""
    kind = Kind.HANDOFF if hours.is_open(spec.business_hours, now) else Kind.HANDOFF_AFTER_HOURS
    return say(spec, kind, now)


def still_waiting_message(spec: BotTenantSpec, now: datetime) -> str | None:
    """For a customer who asks again while nobody can answer yet (out of hours); None in
    hours, when a person is about to answer and the bot should keep out of the way."""
    if hours.is_open(spec.business_hours, now):
        return None
    return say(spec, Kind.STILL_WAITING, now)


def media_message(spec: BotTenantSpec, now: datetime) -> str:
    """For media the bot could not read: it asks for words."""
    return say(spec, Kind.MEDIA_NOT_UNDERSTOOD, now)


def is_wait_notice(spec: BotTenantSpec, text: str, now: datetime) -> bool:
    """Whether ``text`` is this tenant's wait notice coming back (it is not stored), whatever
    its placeholders said."""
    anything = dict.fromkeys(messages.ALLOWED[Kind.WAIT], _MARK)
    marked = messages.render(_template(spec, Kind.WAIT, now), anything)
    pattern = ".*".join(re.escape(part) for part in fold(marked).split(_MARK))
    return re.fullmatch(pattern, fold(text)) is not None
