"""Open now?, the next opening, and an honest phrase for it, in the tenant's timezone.

Rules (the schema already refuses malformed ``HH:MM-HH:MM`` ranges):

* an empty ``weekly`` map means always open (holidays still close, all day);
* with a non-empty map, a weekday left out (or with no ranges) is closed all day;
* a range opens at its start (inclusive) and closes at its end (exclusive); ``24:00`` ends it at
  midnight; a range that ends at or before its start (past midnight, ``22:00-02:00``) is not
  supported and is ignored — write it as two ranges on the two days instead;
* a date in ``holidays`` (a local date in the tenant's timezone) is closed all day;
* an unknown timezone name falls back to UTC (the schema does not check zone names).

Wall-clock times are interpreted in the tenant's zone, DST included: ``08:00`` is 8h local on
both sides of a transition.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.core.tenants.spec import BusinessHoursSpec, Weekday

# How far ahead the next opening is looked for (a long holiday list may close many days).
HORIZON_DAYS = 400
_WEEKDAYS = list(Weekday)  # date.weekday() order: mon … sun
_DAY = 24 * 60


def zone_of(hours: BusinessHoursSpec) -> tzinfo:
    try:
        return ZoneInfo(hours.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _ranges(hours: BusinessHoursSpec, day: date) -> list[tuple[int, int]]:
    """The day's opening ranges in minutes since local midnight, sorted; [] when closed."""
    if day in hours.holidays:
        return []
    if not hours.weekly:
        return [(0, _DAY)]
    found: list[tuple[int, int]] = []
    for item in hours.weekly.get(_WEEKDAYS[day.weekday()], []):
        start, end = (_minutes(part) for part in item.split("-"))
        end = min(end, _DAY)
        if end > start:  # past-midnight ranges are not supported (see the module docstring)
            found.append((start, end))
    return sorted(found)


def _minutes(hhmm: str) -> int:
    hour, minute = hhmm.split(":")
    return int(hour) * 60 + int(minute)


def _local(moment: datetime, zone: tzinfo) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("an aware datetime is required")
    return moment.astimezone(zone)


def is_open(hours: BusinessHoursSpec, now: datetime) -> bool:
    """Whether humans are at work at ``now`` (an aware datetime)."""
    local = _local(now, zone_of(hours))
    minute = local.hour * 60 + local.minute
    return any(start <= minute < end for start, end in _ranges(hours, local.date()))


def next_opening(hours: BusinessHoursSpec, now: datetime) -> datetime | None:
    """``now`` when open; else the next moment it opens (aware, in the tenant's zone); None when
    it never opens within :data:`HORIZON_DAYS` (every listed day has no ranges)."""
    if is_open(hours, now):
        return now
    zone = zone_of(hours)
    today = _local(now, zone).date()
    for offset in range(HORIZON_DAYS):
        day = today + timedelta(days=offset)
        for start, _ in _ranges(hours, day):
            wall = datetime.combine(day, time(start // 60, start % 60), tzinfo=zone)
            # Normalized through UTC: a start inside a DST gap becomes the first real instant.
            opening = wall.astimezone(UTC).astimezone(zone)
            if opening > now:
                return opening
    return None


def language_key(language: str) -> str:
    """The phrase language of a BCP-47 tag: pt, en or es; anything else gets pt-BR."""
    base = language.lower().replace("_", "-").split("-")[0]
    return base if base in ("pt", "en", "es") else "pt"


_PT_DAYS = ("segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira",
            "sábado", "domingo")  # fmt: skip
_EN_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_ES_DAYS = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")
_EN_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December")  # fmt: skip


def _pt(local: datetime, days: int) -> str:
    clock = f"{local.hour}h" + (f"{local.minute:02d}" if local.minute else "")
    at = ("à " if local.hour in (0, 1) else "às ") + clock
    if days == 0:
        return f"hoje {at}"
    if days == 1:
        return f"amanhã {at}"
    if days < 7:
        return f"{_PT_DAYS[local.weekday()]} {at}"
    return f"no dia {local.day:02d}/{local.month:02d} {at}"


def _en(local: datetime, days: int) -> str:
    hour12 = local.hour % 12 or 12
    clock = f"{hour12}" + (f":{local.minute:02d}" if local.minute else "")
    at = f"at {clock} {'AM' if local.hour < 12 else 'PM'}"
    if days == 0:
        return f"today {at}"
    if days == 1:
        return f"tomorrow {at}"
    if days < 7:
        return f"on {_EN_DAYS[local.weekday()]} {at}"
    return f"on {_EN_MONTHS[local.month - 1]} {local.day} {at}"


def _es(local: datetime, days: int) -> str:
    at = ("a la " if local.hour == 1 else "a las ") + f"{local.hour}:{local.minute:02d}"
    if days == 0:
        return f"hoy {at}"
    if days == 1:
        return f"mañana {at}"
    if days < 7:
        return f"el {_ES_DAYS[local.weekday()]} {at}"
    return f"el {local.day:02d}/{local.month:02d} {at}"


def opening_phrase(
    opening: datetime, now: datetime, language: str, zone: tzinfo | None = None
) -> str:
    """``opening`` told relative to ``now`` in local time: "hoje às 14h", "amanhã às 8h",
    "segunda-feira às 8h" (within a week), "no dia 25/12 às 8h" (later); en and es alike
    ("tomorrow at 8 AM", "mañana a las 8:00"). Other languages get pt-BR."""
    zone = zone or opening.tzinfo or UTC
    local = _local(opening, zone)
    days = (local.date() - _local(now, zone).date()).days
    render = {"pt": _pt, "en": _en, "es": _es}[language_key(language)]
    return render(local, days)


def next_opening_phrase(hours: BusinessHoursSpec, language: str, now: datetime) -> str | None:
    """When humans return, as a phrase for the customer; None when they are at work now or
    never return (no opening within :data:`HORIZON_DAYS`)."""
    if is_open(hours, now):
        return None
    opening = next_opening(hours, now)
    if opening is None:
        return None
    return opening_phrase(opening, now, language, zone_of(hours))


def after_hours_note(hours: BusinessHoursSpec, language: str, now: datetime) -> str | None:
    """A system-prompt section for a turn out of hours (None in hours), so any promise of a
    human is honest about when one will answer."""
    if is_open(hours, now):
        return None
    back = next_opening_phrase(hours, language, now)
    head = (
        "Atendimento humano: agora estamos fora do horário de atendimento e não há atendentes "
        "humanos disponíveis."
    )
    if back is None:
        return (
            f"{head} Não há previsão de retorno: não prometa atendimento humano nem prazo; "
            "diga que a mensagem fica registrada."
        )
    return (
        f"{head} Os atendentes voltam {back}. Se o cliente pedir um humano, ou se você chamar "
        f'transfer_to_human, diga com honestidade que um atendente vai responder "{back}" '
        "(use exatamente esse momento); nunca prometa atendimento humano imediato."
    )
